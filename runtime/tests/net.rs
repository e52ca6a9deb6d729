//! eventlet's socket layer over real sockets (all bound to port 0 or a fresh
//! Unix path): `listen`, `connect`, `serve`/`StopServe`, timeouts, shutdown.

use eventlet::net::{is_transient_accept_error, Addr, HandlerResult};
use eventlet::{connect, listen, serve, ListenOptions, Listener, StopServe, Stream, Timeout};
use std::io::{self, ErrorKind, IoSlice, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn local_listener() -> Listener {
    listen(("127.0.0.1", 0)).unwrap()
}

fn port_of(l: &Listener) -> u16 {
    l.local_addr().unwrap().inet().unwrap().port()
}

/// A fresh Unix socket path, removed when dropped.
struct TempSock(PathBuf);

impl TempSock {
    fn new(tag: &str) -> TempSock {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("evnet-{}-{tag}-{n}.sock", std::process::id()));
        let _ = std::fs::remove_file(&p);
        TempSock(p)
    }
}

impl Drop for TempSock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Read until EOF or error; the bytes read and whether it ended in a clean EOF.
fn read_all(s: &mut Stream) -> (Vec<u8>, io::Result<()>) {
    let mut out = Vec::new();
    let r = s.read_to_end(&mut out).map(|_| ());
    (out, r)
}

/// Echo one connection until EOF.
fn echo_once(l: Listener) -> eventlet::GreenThread<io::Result<Addr>> {
    eventlet::spawn(move || {
        let (mut s, peer) = l.accept()?;
        let mut buf = [0u8; 1024];
        loop {
            let n = s.read(&mut buf)?;
            if n == 0 {
                return Ok(peer);
            }
            s.write_all(&buf[..n])?;
        }
    })
}

fn roundtrip(client: &mut Stream, msg: &[u8]) -> Vec<u8> {
    client.write_all(msg).unwrap();
    let mut back = vec![0u8; msg.len()];
    client.read_exact(&mut back).unwrap();
    back
}

// ---- serve: eventlet's convenience_test.py TestServe ----

// Port of TestServe.test_exiting_server.
#[test]
fn serve_closes_client_socket_when_handler_returns() {
    let l = Arc::new(local_listener());
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn({
        let l = l.clone();
        move || serve(l, 1000, |_conn, _peer| Ok(()))
    });
    let mut client = connect(&addr).unwrap();
    client.write_all(b"a").unwrap();
    let (got, _) = read_all(&mut client);
    assert!(got.is_empty());
    server.kill();
}

// Port of TestServe.test_excepting_server.
#[test]
fn serve_returns_handler_error_and_closes_its_socket() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        serve(l, 1000, |mut conn, _peer| -> HandlerResult {
            let mut b = [0u8; 16];
            let _ = conn.read(&mut b)?;
            Err("division by zero".into())
        })
    });
    let mut client = connect(&addr).unwrap();
    client.write_all(b"a").unwrap();
    let err = server.join().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "division by zero");
    let (got, _) = read_all(&mut client);
    assert!(got.is_empty());
}

// Port of TestServe.test_excepting_server_already_closed.
#[test]
fn serve_returns_handler_error_after_handler_shut_its_socket() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        serve(l, 1000, |mut conn, _peer| -> HandlerResult {
            let mut b = [0u8; 16];
            let _ = conn.read(&mut b)?;
            conn.shutdown(Shutdown::Both)?;
            Err("division by zero".into())
        })
    });
    let mut client = connect(&addr).unwrap();
    client.write_all(b"a").unwrap();
    let err = server.join().unwrap().unwrap_err();
    assert_eq!(err.to_string(), "division by zero");
    let (got, _) = read_all(&mut client);
    assert!(got.is_empty());
}

#[test]
fn serve_returns_an_error_when_a_handler_panics() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server =
        eventlet::spawn(move || serve(l, 10, |_c, _a| -> HandlerResult { panic!("boom") }));
    let _client = connect(&addr).unwrap();
    let err = server.join().unwrap().unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
}

// Port of TestServe.test_called_for_each_connection.
#[test]
fn serve_calls_the_handler_for_each_of_100_connections() {
    let hits = Arc::new(AtomicUsize::new(0));
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let h = hits.clone();
    let server = eventlet::spawn(move || {
        serve(l, 1000, move |_c, _a| {
            h.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
    });
    for _ in 0..100 {
        let mut client = connect(&addr).unwrap();
        // EOF means the handler ran and returned.
        let (got, _) = read_all(&mut client);
        assert!(got.is_empty());
    }
    server.kill();
    assert_eq!(hits.load(Ordering::SeqCst), 100);
}

// Port of TestServe.test_blocking.
#[test]
fn serve_blocks_until_the_callers_timeout() {
    let l = local_listener();
    let r = eventlet::with_timeout(Duration::from_millis(10), || {
        serve(l, 1000, |_c, _a| Ok(()))
    });
    assert!(r.is_err());
}

#[test]
fn serve_under_timeout_returns_the_timeout_error() {
    let l = local_listener();
    let t = Timeout::new(Duration::from_millis(20));
    let err = serve(l, 10, |_c, _a| Ok(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(t.is_io(&err));
}

// Port of TestServe.test_raising_stopserve.
#[test]
fn serve_returns_ok_when_a_handler_raises_stopserve() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let client = eventlet::spawn(move || connect(&addr).map(|_| ()));
    let r = serve(l, 1000, |_c, _a| Err(StopServe.into()));
    assert!(r.is_ok());
    client.join().unwrap().unwrap();
}

// Port of TestServe.test_concurrency.
#[test]
fn serve_runs_at_most_concurrency_handlers() {
    let release = Arc::new(eventlet::Event::<()>::new());
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let rel = release.clone();
    let server = eventlet::spawn(move || {
        serve(l, 5, move |mut c, _a| {
            c.write_all(b"hi")?;
            let _ = rel.wait();
            Ok(())
        })
    });
    let greet = |c: &mut Stream| {
        let mut b = [0u8; 2];
        c.read_exact(&mut b).map(|_| b)
    };
    let mut held = Vec::new();
    for _ in 0..5 {
        let mut c = connect(&addr).unwrap();
        assert_eq!(&greet(&mut c).unwrap(), b"hi");
        held.push(c);
    }
    let mut sixth = connect(&addr).unwrap();
    {
        let t = Timeout::new(Duration::from_millis(100));
        let err = greet(&mut sixth).unwrap_err();
        assert!(t.is_io(&err), "{err}");
    }
    // Once the five are released, the sixth gets its turn.
    release.send(()).unwrap();
    assert_eq!(&greet(&mut sixth).unwrap(), b"hi");
    server.kill();
}

#[test]
fn serve_rejects_zero_concurrency() {
    let err = serve(local_listener(), 0, |_c, _a| Ok(())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
}

#[test]
fn serve_returns_when_its_listener_is_shut_down() {
    let l = Arc::new(local_listener());
    let server = eventlet::spawn({
        let l = l.clone();
        move || serve(l, 10, |_c, _a| Ok(()))
    });
    eventlet::sleep(Duration::from_millis(20));
    l.shutdown();
    let err = server.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(l.is_shut_down());
}

// ---- listen ----

#[test]
fn listen_on_a_busy_port_fails_with_addr_in_use() {
    let first = local_listener();
    let err = listen(("127.0.0.1", port_of(&first))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

// The deviation from eventlet's test_socket_reuse: SO_REUSEPORT is opt-in.
#[test]
fn reuse_port_on_both_listeners_lets_them_share_a_port() {
    let opts = ListenOptions::new().reuse_port(true);
    let first = opts.listen(("127.0.0.1", 0)).unwrap();
    let port = port_of(&first);
    let second = opts.listen(("127.0.0.1", port)).unwrap();
    assert_eq!(port_of(&second), port);
    // Opting in on one side only is not enough.
    let err = listen(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AddrInUse);
}

/// The accept-queue limit the kernel applied to a listening TCP socket:
/// for listeners `TCP_INFO` reports it in `tcpi_sacked`.
fn kernel_backlog(l: &Listener) -> u32 {
    // SAFETY: `tcp_info` is a plain C struct of integers; all zeroes is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` and `len` are valid for writes and `len` is the size of
    // `info`; the fd is the listener's open socket.
    let rc = unsafe {
        libc::getsockopt(
            l.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        )
    };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    info.tcpi_sacked
}

#[test]
fn listen_applies_the_backlog_option() {
    assert_eq!(kernel_backlog(&local_listener()), 50, "eventlet's default");
    let l = ListenOptions::new()
        .backlog(7)
        .listen("127.0.0.1:0")
        .unwrap();
    assert_eq!(kernel_backlog(&l), 7);
}

#[test]
fn listen_with_an_empty_host_binds_all_ipv4_interfaces() {
    let l = listen(("", 0)).unwrap();
    let a = l.local_addr().unwrap().inet().unwrap();
    assert!(a.is_ipv4() && a.ip().is_unspecified());
    let mut c = connect(("127.0.0.1", a.port())).unwrap();
    let server = echo_once(l);
    assert_eq!(roundtrip(&mut c, b"all"), b"all");
    drop(c);
    server.join().unwrap().unwrap();
}

#[test]
fn listen_accepts_the_address_forms() {
    let a = listen("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(a.inet().unwrap().ip().to_string(), "127.0.0.1");
    let a = listen(String::from("localhost:0"))
        .unwrap()
        .local_addr()
        .unwrap();
    assert!(a.inet().unwrap().ip().is_loopback());
    let a = listen("127.0.0.1:0".parse::<std::net::SocketAddr>().unwrap()).unwrap();
    assert_ne!(port_of(&a), 0);
    let path = TempSock::new("forms");
    let l = listen(format!("unix:{}", path.0.display())).unwrap();
    assert_eq!(l.local_addr().unwrap(), Addr::Unix(path.0.clone()));
    assert!(listen("no-port-here").is_err());
}

#[test]
fn addr_displays_like_python_would_print_it() {
    assert_eq!(
        Addr::Inet("1.2.3.4:80".parse().unwrap()).to_string(),
        "1.2.3.4:80"
    );
    assert_eq!(
        Addr::Inet("[::1]:80".parse().unwrap()).to_string(),
        "[::1]:80"
    );
    assert_eq!(Addr::Unix("/run/x.sock".into()).to_string(), "/run/x.sock");
}

// ---- connections over each family ----

#[test]
fn echo_over_ipv4() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server = echo_once(l);
    let mut c = connect(&addr).unwrap();
    assert_eq!(roundtrip(&mut c, b"hello v4"), b"hello v4");
    let client_addr = c.local_addr().unwrap();
    drop(c);
    assert_eq!(server.join().unwrap().unwrap(), client_addr);
}

#[test]
fn echo_over_ipv6_loopback() {
    let l = match listen("[::1]:0") {
        Ok(l) => l,
        Err(e) => {
            eprintln!("skipping: no IPv6 loopback here ({e})");
            return;
        }
    };
    let addr = l.local_addr().unwrap();
    assert!(addr.inet().unwrap().is_ipv6());
    assert!(addr.to_string().starts_with("[::1]:"));
    let server = echo_once(l);
    let mut c = connect(&addr).unwrap();
    assert_eq!(roundtrip(&mut c, b"hello v6"), b"hello v6");
    drop(c);
    server.join().unwrap().unwrap();
}

#[test]
fn echo_over_a_unix_socket() {
    let path = TempSock::new("echo");
    let l = listen(path.0.as_path()).unwrap();
    assert_eq!(l.local_addr().unwrap(), Addr::Unix(path.0.clone()));
    let server = echo_once(l);
    let mut c = connect(path.0.as_path()).unwrap();
    assert_eq!(c.peer_addr().unwrap(), Addr::Unix(path.0.clone()));
    c.set_nodelay(true).unwrap(); // a no-op, not an error, on Unix sockets
    assert_eq!(roundtrip(&mut c, b"hello unix"), b"hello unix");
    drop(c);
    // The client never bound a name: its address is an empty path.
    assert_eq!(server.join().unwrap().unwrap(), Addr::Unix(PathBuf::new()));
}

#[test]
fn peer_and_local_addresses_match_across_the_connection() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let c = connect(&addr).unwrap();
    let (s, peer) = l.accept().unwrap();
    assert_eq!(c.peer_addr().unwrap(), addr);
    assert_eq!(s.local_addr().unwrap(), addr);
    assert_eq!(s.peer_addr().unwrap(), c.local_addr().unwrap());
    assert_eq!(peer, c.local_addr().unwrap());
    assert!(!s.is_tls() && !l.is_tls());
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let port = port_of(&local_listener()); // closed again when dropped
    let err = connect(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused);
}

#[test]
fn several_green_threads_can_accept_on_one_listener() {
    let l = Arc::new(local_listener());
    let addr = l.local_addr().unwrap();
    let acceptors: Vec<_> = (0..3)
        .map(|_| {
            let l = l.clone();
            eventlet::spawn(move || l.accept().map(|(mut s, _)| roundtrip(&mut s, b"x")))
        })
        .collect();
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&addr).unwrap();
        let mut b = [0u8; 1];
        c.read_exact(&mut b).unwrap();
        c.write_all(&b).unwrap();
        clients.push(c);
    }
    for a in acceptors {
        assert_eq!(a.join().unwrap().unwrap(), b"x");
    }
}

#[test]
fn try_clone_writes_from_one_handle_and_reads_from_the_other() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server = echo_once(l);
    let mut reader = connect(&addr).unwrap();
    let mut writer = reader.try_clone().unwrap();
    let w = eventlet::spawn(move || writer.write_all(b"cloned"));
    let mut back = [0u8; 6];
    reader.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"cloned");
    w.join().unwrap().unwrap();
    reader.shutdown(Shutdown::Write).unwrap();
    server.join().unwrap().unwrap();
}

#[test]
fn write_vectored_sends_every_slice() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let server = eventlet::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        read_all(&mut s).0
    });
    let mut c = connect(&addr).unwrap();
    let parts: [&[u8]; 3] = [b"head ", b"", b"body"];
    let slices: Vec<IoSlice> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let n = c.write_vectored(&slices).unwrap();
    assert!(n > 0);
    // Whatever one call did not take goes out with write_all.
    c.write_all(&parts.concat()[n..]).unwrap();
    drop(c);
    assert_eq!(server.join().unwrap(), b"head body");
}

// ---- timeouts ----

#[test]
fn timeout_interrupts_a_blocked_read_and_the_stream_reads_again_after() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let reader = eventlet::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut b = [0u8; 4];
        let started = Instant::now();
        let first = {
            let t = Timeout::new(Duration::from_millis(50));
            let err = s.read(&mut b).unwrap_err();
            (t.is_io(&err), err.kind())
        };
        let waited = started.elapsed();
        // No Timeout now: the same green thread blocks until the data comes.
        s.read_exact(&mut b).unwrap();
        (first, waited, b)
    });
    let mut c = connect(&addr).unwrap();
    eventlet::sleep(Duration::from_millis(300));
    c.write_all(b"late").unwrap();
    let ((was_mine, kind), waited, got) = reader.join().unwrap();
    assert!(was_mine);
    assert_eq!(kind, ErrorKind::TimedOut);
    assert!(waited >= Duration::from_millis(50), "{waited:?}");
    assert!(waited < Duration::from_millis(290), "{waited:?}");
    assert_eq!(&got, b"late");
}

#[test]
fn an_outer_timeout_is_reported_as_the_outer_one() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let _c = connect(&addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let outer = Timeout::new(Duration::from_millis(30));
    let inner = Timeout::new(Duration::from_secs(60));
    let err = s.read(&mut [0u8; 1]).unwrap_err();
    assert!(outer.is_io(&err));
    assert!(!inner.is_io(&err));
}

#[test]
fn read_timeout_fails_a_read_with_timed_out() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let mut c = connect(&addr).unwrap();
    let _server_side = l.accept().unwrap();
    c.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
    assert_eq!(c.read_timeout(), Some(Duration::from_millis(30)));
    let started = Instant::now();
    let err = c.read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(30));
    // A longer Timeout does not claim the socket's own timeout.
    let t = Timeout::new(Duration::from_secs(30));
    let err = c.read(&mut [0u8; 1]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(!t.is_io(&err));
}

#[test]
fn write_timeout_fails_a_write_the_peer_does_not_drain() {
    let l = local_listener();
    let addr = l.local_addr().unwrap();
    let mut c = connect(&addr).unwrap();
    let _server_side = l.accept().unwrap(); // never reads
    c.set_write_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let err = loop {
        match c.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) => break e,
        }
        assert!(sent < 1 << 30, "the kernel buffers never filled up");
    };
    assert_eq!(err.kind(), ErrorKind::TimedOut);
}

#[test]
fn a_zero_timeout_is_rejected_like_std() {
    let l = local_listener();
    let mut c = connect(l.local_addr().unwrap()).unwrap();
    let err = c.set_read_timeout(Some(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout(), None);
}

#[test]
fn timeout_interrupts_a_blocked_accept() {
    let l = local_listener();
    let t = Timeout::new(Duration::from_millis(30));
    let err = l.accept().unwrap_err();
    assert!(t.is_io(&err));
    drop(t);
    // The listener still works afterwards.
    let addr = l.local_addr().unwrap();
    let _c = connect(&addr).unwrap();
    assert!(l.accept().is_ok());
}

#[test]
fn timeout_interrupts_a_connect_the_server_does_not_answer() {
    // With a full accept queue the kernel drops new SYNs, so connect hangs.
    let l = ListenOptions::new()
        .backlog(1)
        .listen(("127.0.0.1", 0))
        .unwrap();
    let addr = l.local_addr().unwrap();
    let mut held = Vec::new();
    let mut timed_out = None;
    for _ in 0..16 {
        let t = Timeout::new(Duration::from_millis(200));
        match connect(&addr) {
            Ok(c) => held.push(c),
            Err(e) => {
                timed_out = Some(t.is_io(&e));
                break;
            }
        }
    }
    assert_eq!(timed_out, Some(true), "connected {} times", held.len());
}

// ---- shutdown and kill ----

fn shutdown_wakes_blocked_accept(l: Listener) {
    let l = Arc::new(l);
    let acceptor = eventlet::spawn({
        let l = l.clone();
        move || {
            let r = l.accept().map(|_| ());
            (r, Instant::now())
        }
    });
    eventlet::sleep(Duration::from_millis(50));
    let shut_at = Instant::now();
    l.shutdown();
    let (r, woke_at) = acceptor.join().unwrap();
    assert!(r.is_err());
    assert!(woke_at.duration_since(shut_at) < Duration::from_secs(1));
    assert!(l.accept().is_err(), "later accepts fail too");
    assert!(!is_transient_accept_error(&r.unwrap_err()));
}

#[test]
fn listener_shutdown_wakes_a_blocked_tcp_accept() {
    shutdown_wakes_blocked_accept(local_listener());
}

#[test]
fn listener_shutdown_wakes_a_blocked_unix_accept() {
    let path = TempSock::new("shutdown");
    shutdown_wakes_blocked_accept(listen(path.0.as_path()).unwrap());
}

#[test]
fn killing_a_green_thread_blocked_in_accept_leaves_the_listener_usable() {
    let l = Arc::new(local_listener());
    let addr = l.local_addr().unwrap();
    let blocked = eventlet::spawn({
        let l = l.clone();
        move || l.accept().is_ok()
    });
    eventlet::sleep(Duration::from_millis(30));
    blocked.kill();
    assert_eq!(blocked.wait(), Err(eventlet::GreenThreadError::Killed));
    let _c = connect(&addr).unwrap();
    let t = Timeout::new(Duration::from_secs(5));
    let r = l.accept();
    assert!(r.is_ok(), "{:?} (timed out: {})", r.err(), t.expired());
}
