//! TLS (rustls) over real sockets: `wrap_ssl`, lazy server handshakes, client
//! verification, close_notify, and Timeouts on TLS streams.

use eventlet::tls::{self, TlsClientConfig, TlsServerConfig};
use eventlet::{connect, listen, serve, wrap_ssl, Listener, StopServe, Stream, Timeout};
use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A self-signed certificate for "localhost", made at test time.
struct Cert {
    cert_pem: String,
    key_pem: String,
}

fn self_signed() -> Cert {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    Cert {
        cert_pem: c.cert.pem(),
        key_pem: c.key_pair.serialize_pem(),
    }
}

fn server_config(c: &Cert) -> TlsServerConfig {
    TlsServerConfig::from_pem(c.cert_pem.as_bytes(), c.key_pem.as_bytes()).unwrap()
}

fn client_config(c: &Cert) -> TlsClientConfig {
    TlsClientConfig::with_root_pem(c.cert_pem.as_bytes()).unwrap()
}

fn tls_listener(c: &Cert) -> Listener {
    wrap_ssl(listen(("127.0.0.1", 0)).unwrap(), server_config(c)).unwrap()
}

/// Echo every connection until EOF, each in its own green thread. A failed
/// connection only ends its own handler (an `Err` would stop `serve`).
fn spawn_echo_server(l: Listener) -> eventlet::GreenThread<std::io::Result<()>> {
    fn echo_until_eof(s: &mut Stream) -> std::io::Result<()> {
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            s.write_all(&buf[..n])?;
            s.flush()?;
        }
    }
    eventlet::spawn(move || {
        serve(l, 100, |mut s, _| {
            let _ = echo_until_eof(&mut s);
            Ok(())
        })
    })
}

fn echo(client: &mut Stream, msg: &[u8]) -> Vec<u8> {
    client.write_all(msg).unwrap();
    client.flush().unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).unwrap();
    back
}

// Port of convenience_test.py TestServe.test_wrap_ssl.
#[test]
fn wrap_ssl_echoes_over_tls_on_both_sides() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    assert!(l.is_tls());
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        serve(l, 1000, |mut s, _| {
            assert!(s.is_tls());
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf)?;
            s.write_all(&buf[..n])?;
            s.flush()?;
            Err(StopServe.into())
        })
    });
    let plain = connect(&addr).unwrap();
    let mut client = tls::wrap_ssl_client(plain, "localhost", &client_config(&cert)).unwrap();
    assert!(client.is_tls());
    assert_eq!(echo(&mut client, b"echo"), b"echo");
    server.join().unwrap().unwrap();
}

#[test]
fn tls_moves_a_megabyte_each_way() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = spawn_echo_server(l);
    let mut client = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    // Write and read in turns so neither side's buffers fill up.
    let mut back = Vec::with_capacity(data.len());
    for chunk in data.chunks(64 * 1024) {
        back.extend(echo(&mut client, chunk));
    }
    assert!(back == data);
    server.kill();
}

#[test]
fn a_client_that_never_handshakes_does_not_block_the_accept_loop() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = spawn_echo_server(l);
    // Connects over TCP and then says nothing at all.
    let silent = connect(&addr).unwrap();
    let t = Timeout::new(Duration::from_secs(5));
    let mut second = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    assert_eq!(echo(&mut second, b"still served"), b"still served");
    assert!(!t.expired());
    drop(silent);
    server.kill();
}

#[test]
fn the_server_handshake_runs_in_the_connection_green_thread() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    // accept returns before the client even starts its handshake...
    let plain = connect(&addr).unwrap();
    let (mut server_side, _) = l.accept().unwrap();
    assert!(server_side.is_tls());
    let cfg = client_config(&cert);
    let client = eventlet::spawn(move || {
        let mut c = tls::wrap_ssl_client(plain, "localhost", &cfg)?;
        let mut b = [0u8; 2];
        c.read_exact(&mut b)?;
        Ok::<_, std::io::Error>(b)
    });
    // ...and the handshake runs when the server side asks for it.
    server_side.handshake().unwrap();
    server_side.write_all(b"ok").unwrap();
    assert_eq!(&client.join().unwrap().unwrap(), b"ok");
}

#[test]
fn plaintext_to_a_tls_listener_fails_only_that_connection() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let failures = std::sync::Arc::new(AtomicUsize::new(0));
    let f = failures.clone();
    let server = eventlet::spawn(move || {
        serve(l, 100, move |mut s, _| {
            let mut buf = [0u8; 1024];
            loop {
                match s.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => s.write_all(&buf[..n])?,
                    Err(e) => {
                        assert_eq!(e.kind(), ErrorKind::InvalidData, "{e}");
                        f.fetch_add(1, Ordering::SeqCst);
                        return Ok(());
                    }
                }
            }
        })
    });
    let mut plain = connect(&addr).unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // The server gives up on this connection: an alert at most, then EOF.
    let mut junk = Vec::new();
    let _ = plain.read_to_end(&mut junk);
    assert!(!junk.starts_with(b"GET"));
    assert_eq!(failures.load(Ordering::SeqCst), 1);
    // The server is still up for real TLS clients.
    let mut good = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    assert_eq!(echo(&mut good, b"fine"), b"fine");
    assert!(!server.dead());
    server.kill();
}

#[test]
fn close_notify_reads_as_eof() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.write_all(b"last words").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        // Keep the TCP socket open: the client's EOF must come from TLS.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).map(|_| rest)
    });
    let mut client = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    let mut got = Vec::new();
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"last words");
    assert_eq!(client.read(&mut [0u8; 8]).unwrap(), 0);
    client.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap().unwrap(), b"");
}

#[test]
fn dropping_a_tls_stream_sends_close_notify() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        serve(l, 10, |mut s, _| {
            s.write_all(b"bye")?;
            Ok(())
        })
    });
    let mut client = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    let mut got = Vec::new();
    // read_to_end only succeeds on a clean EOF.
    client.read_to_end(&mut got).unwrap();
    assert_eq!(got, b"bye");
    server.kill();
}

#[test]
fn a_client_rejects_a_certificate_it_does_not_trust() {
    let cert = self_signed();
    let stranger = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = spawn_echo_server(l);
    let err = tls::connect(&addr, "localhost", &client_config(&stranger)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    // A name the certificate does not cover is refused too.
    let err = tls::connect(&addr, "example.com", &client_config(&cert)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err}");
    server.kill();
}

#[test]
fn timeout_interrupts_a_tls_read_and_the_stream_reads_again_after() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let (tx, rx) = (
        std::sync::Arc::new(eventlet::Event::<()>::new()),
        std::sync::Arc::new(eventlet::Event::<()>::new()),
    );
    let (go, ready) = (tx.clone(), rx.clone());
    let server = eventlet::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.handshake().unwrap();
        ready.send(()).unwrap();
        go.wait().unwrap();
        s.write_all(b"now").unwrap();
        s.flush()
    });
    let mut client = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    rx.wait().unwrap();
    {
        let t = Timeout::new(Duration::from_millis(50));
        let err = client.read(&mut [0u8; 3]).unwrap_err();
        assert!(t.is_io(&err), "{err}");
    }
    tx.send(()).unwrap();
    let mut b = [0u8; 3];
    client.read_exact(&mut b).unwrap();
    assert_eq!(&b, b"now");
    server.join().unwrap().unwrap();
}

#[test]
fn server_config_loads_from_pem_files() {
    let cert = self_signed();
    let dir = std::env::temp_dir();
    let stem = format!("evtls-{}", std::process::id());
    let (cp, kp) = (
        dir.join(format!("{stem}.crt")),
        dir.join(format!("{stem}.key")),
    );
    std::fs::write(&cp, &cert.cert_pem).unwrap();
    std::fs::write(&kp, &cert.key_pem).unwrap();
    let cfg = TlsServerConfig::from_pem_files(&cp, &kp);
    let _ = (std::fs::remove_file(&cp), std::fs::remove_file(&kp));
    let l = wrap_ssl(listen("127.0.0.1:0").unwrap(), cfg.unwrap()).unwrap();
    let addr = l.local_addr().unwrap();
    let server = spawn_echo_server(l);
    let mut c = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    assert_eq!(echo(&mut c, b"files"), b"files");
    server.kill();
}

#[test]
fn bad_pem_is_an_invalid_input_error() {
    let cert = self_signed();
    let err = TlsServerConfig::from_pem(b"not pem", cert.key_pem.as_bytes()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = TlsServerConfig::from_pem(cert.cert_pem.as_bytes(), b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    let err = TlsClientConfig::with_root_pem(b"").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn wrapping_a_tls_stream_again_is_refused() {
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = spawn_echo_server(l);
    let c = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    let err = tls::wrap_ssl_client(c, "localhost", &client_config(&cert)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    server.kill();
}

/// A TLS stream split with `try_clone`: one green thread blocks in a read
/// while others write, on both ends, and everything arrives in order.
#[test]
fn tls_split_reads_and_writes_at_once() {
    const N: usize = 300;
    let cert = self_signed();
    let l = tls_listener(&cert);
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        let (mut r, _) = l.accept().unwrap();
        let mut w = r.try_clone().unwrap();
        // The writer starts before anything was read: the reader below is
        // blocked in read (or in the handshake) while it writes.
        let writer = eventlet::spawn(move || {
            for i in 0..N {
                w.write_all(format!("s{i:05}\n").as_bytes()).unwrap();
                if i % 16 == 0 {
                    eventlet::sleep(Duration::from_millis(1));
                }
            }
            w
        });
        let mut got = Vec::new();
        let mut buf = [0u8; 1000];
        while got.len() < N * 7 {
            let n = r.read(&mut buf).unwrap();
            assert!(n > 0, "early EOF");
            got.extend_from_slice(&buf[..n]);
        }
        let _w = writer.join().unwrap();
        got
    });
    let mut cr = tls::connect(&addr, "localhost", &client_config(&cert)).unwrap();
    let mut cw = cr.try_clone().unwrap();
    let client_writer = eventlet::spawn(move || {
        for i in 0..N {
            cw.write_all(format!("c{i:05}\n").as_bytes()).unwrap();
        }
        cw
    });
    let mut got = Vec::new();
    let mut buf = [0u8; 777];
    while got.len() < N * 7 {
        let n = cr.read(&mut buf).unwrap();
        assert!(n > 0, "early EOF");
        got.extend_from_slice(&buf[..n]);
    }
    let want = |p: char| (0..N).map(|i| format!("{p}{i:05}\n")).collect::<String>();
    assert_eq!(String::from_utf8(got).unwrap(), want('s'));
    let server_got = server.join().unwrap();
    assert_eq!(String::from_utf8(server_got).unwrap(), want('c'));
    drop(client_writer.join().unwrap());
}
