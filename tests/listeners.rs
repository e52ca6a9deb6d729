//! Several listeners in one server (TCP, Unix, TLS), a listener from a raw
//! inherited descriptor whose socket outlives the server, over real sockets.

mod common;

use common::*;
use eventlet_wsgi::{Body, Environ, LogSink, Server, StartResponse};
use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::IntoRawFd;
use std::time::Duration;

fn where_(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let body = format!(
        "{} {}",
        env.get("wsgi.url_scheme").unwrap_or("-"),
        env.get("REMOTE_ADDR").unwrap_or("-")
    );
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(body)
}

fn get_over(s: impl Read + Write) -> String {
    let mut s = s;
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
        .unwrap();
    read_http(&mut BufReader::new(s))
        .expect("response")
        .body_str()
}

#[test]
fn one_server_many_listeners() {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let tls_cfg =
        eventlet::tls::TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let client_cfg = eventlet::tls::TlsClientConfig::with_root_pem(cert_pem.as_bytes()).unwrap();
    let dir = std::env::temp_dir().join(format!("evwsgi-listeners-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("a.sock");
    let _ = std::fs::remove_file(&path);

    let tcp = eventlet::listen("127.0.0.1:0").unwrap();
    let tcp6 = eventlet::listen("[::1]:0").ok();
    let unix = eventlet::listen(format!("unix:{}", path.display())).unwrap();
    let tls = eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), tls_cfg).unwrap();
    let tcp_addr = tcp.local_addr().unwrap().inet().unwrap();
    let tls_addr = tls.local_addr().unwrap().inet().unwrap();
    let tcp6_addr = tcp6
        .as_ref()
        .map(|l| l.local_addr().unwrap().inet().unwrap());
    let mut all = vec![tcp, unix, tls];
    all.extend(tcp6);
    let log = SharedLog::default();
    let server = Server::with_listeners(
        all,
        where_,
        default_opts()
            .handle_signals(false)
            .log(LogSink::writer(log.clone())),
    );
    let handle = server.handle();
    assert_eq!(handle.local_addr().unwrap().inet(), Some(tcp_addr));
    let running = eventlet::spawn(move || server.run());

    assert_eq!(
        get_over(TcpStream::connect(tcp_addr).unwrap()),
        "http 127.0.0.1"
    );
    let u = std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert_eq!(get_over(u), "http unix");
    let t = eventlet::tls::connect(tls_addr, "localhost", &client_cfg).unwrap();
    assert_eq!(get_over(t), "https 127.0.0.1");
    if let Some(a) = tcp6_addr {
        assert_eq!(get_over(TcpStream::connect(a).unwrap()), "http ::1");
    }
    let text = log.text();
    assert!(text.matches("wsgi starting up on").count() >= 3, "{text}");

    handle.stop();
    running.join().unwrap().unwrap();
    // Every listener is closed after run() returns.
    assert!(TcpStream::connect(tcp_addr).is_err());
    assert!(TcpStream::connect(tls_addr).is_err());
    assert!(std::os::unix::net::UnixStream::connect(&path).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listener_from_raw_fd_leaves_the_shared_socket_listening() {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    // Another owner of the same socket (another process, in production).
    let other = std_listener.try_clone().unwrap();
    let fd = std_listener.into_raw_fd();
    // SAFETY: `fd` came from `into_raw_fd`: nothing else owns it.
    let listener = unsafe { eventlet_wsgi::listeners::listener_from_raw_fd(fd) }.unwrap();
    let srv = spawn_on(listener, where_, default_opts());
    assert_eq!(
        get_over(TcpStream::connect(addr).unwrap()),
        "http 127.0.0.1"
    );

    let mut srv = srv;
    let t = std::time::Instant::now();
    srv.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    // The socket still listens for its other owner, which accepts and answers.
    let mut c = TcpStream::connect(addr).expect("still listening");
    let (mut s, _) = other.accept().unwrap();
    s.write_all(b"still here").unwrap();
    drop(s);
    let mut got = String::new();
    c.read_to_string(&mut got).unwrap();
    assert_eq!(got, "still here");
}

#[test]
fn from_fd_refuses_what_is_not_a_listener() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let conn = TcpStream::connect(l.local_addr().unwrap()).unwrap();
    let err = eventlet::net::Listener::from_fd(conn.into()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    let unbound = socket_fd();
    assert!(eventlet::net::Listener::from_fd(unbound).is_err());
}

fn socket_fd() -> std::os::fd::OwnedFd {
    let f = std::fs::File::open("/dev/null").unwrap();
    f.into()
}
