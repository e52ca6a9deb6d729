//! Connection takeover (`Environ::upgrade`), the generic layer under
//! eventlet.websocket: the 101 is written exactly as given, bytes the client
//! sent right after the head reach the app (eventlet loses them), no HTTP
//! timeout applies afterwards, the server never writes or reads HTTP on the
//! connection again, stop() treats it as idle, one access-log line at the
//! end, and it works under middleware.

mod common;

use common::*;
use eventlet::Event;
use eventlet_wsgi::{App, Body, Environ, ServerOptions, StartResponse, UpgradeError};
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

const HEAD: &[u8] = b"GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
const SWITCH: &[u8] =
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";

/// Upgrades, then echoes bytes until EOF.
fn echo_upgrade(env: &mut Environ, _sr: &mut StartResponse) -> Body {
    let mut conn = match env.upgrade(
        "101 Switching Protocols",
        [("Upgrade", "echo"), ("Connection", "Upgrade")],
    ) {
        Ok(c) => c,
        Err(e) => panic!("upgrade failed: {e}"),
    };
    let mut buf = [0u8; 4096];
    loop {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    Body::from("never sent")
}

fn read_exact_timeout(s: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).expect("read");
    v
}

#[test]
fn switch_is_written_exactly_and_early_bytes_are_handed_over() {
    let srv = spawn_server(echo_upgrade, default_opts());
    let mut c = srv.connect();
    // Head and first protocol bytes in one write: the server buffers both.
    let mut first = HEAD.to_vec();
    first.extend_from_slice(b"early bytes|");
    c.write_all(&first).unwrap();
    assert_eq!(read_exact_timeout(&mut c, SWITCH.len()), SWITCH);
    assert_eq!(read_exact_timeout(&mut c, 12), b"early bytes|");
    // A second HTTP request is just data for the app now.
    let again = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    c.write_all(again).unwrap();
    assert_eq!(read_exact_timeout(&mut c, again.len()), again);
    c.shutdown(std::net::Shutdown::Write).unwrap();
    // Nothing else from the server: no response body, no 500, then EOF.
    assert_eq!(recvall(&mut c), b"");
}

#[test]
fn no_http_timeouts_after_the_switch() {
    let opts = ServerOptions::new()
        .socket_timeout(Some(Duration::from_millis(300)))
        .head_timeout(Duration::from_millis(300));
    let srv = spawn_server(echo_upgrade, opts);
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    assert_eq!(read_exact_timeout(&mut c, SWITCH.len()), SWITCH);
    std::thread::sleep(Duration::from_millis(1500));
    c.write_all(b"still here").unwrap();
    assert_eq!(read_exact_timeout(&mut c, 10), b"still here");
}

#[test]
fn one_access_log_line_when_the_connection_ends() {
    let srv = spawn_server(echo_upgrade, default_opts());
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    assert_eq!(read_exact_timeout(&mut c, SWITCH.len()), SWITCH);
    c.write_all(b"x").unwrap();
    assert_eq!(read_exact_timeout(&mut c, 1), b"x");
    assert!(!srv.log.text().contains("GET /up"), "logged before the end");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.log.text().contains("GET /up") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = srv.log.text();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("GET /up")).collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("\" 101 "), "{log}");
    assert!(
        !log.contains("Traceback") && !log.contains("panicked"),
        "{log}"
    );
}

/// A middleware that replaces the app's body and sets a variable: the takeover
/// does not depend on the returned body.
struct Wrapping<A>(A);
impl<A: App> App for Wrapping<A> {
    fn call(&self, env: &mut Environ, sr: &mut StartResponse) -> Body {
        env.set("HTTP_X_MIDDLEWARE", "1");
        // Replaces the app's body altogether (a sentinel would be lost here).
        drop(self.0.call(env, sr));
        Body::from("middleware body")
    }
}

#[test]
fn works_under_middleware() {
    let srv = spawn_server(Wrapping(echo_upgrade), default_opts());
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    assert_eq!(read_exact_timeout(&mut c, SWITCH.len()), SWITCH);
    c.write_all(b"abc").unwrap();
    assert_eq!(read_exact_timeout(&mut c, 3), b"abc");
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(recvall(&mut c), b"");
}

#[test]
fn panic_after_the_switch_writes_no_500() {
    let app = |env: &mut Environ, _sr: &mut StartResponse| -> Body {
        let mut conn = env
            .upgrade("101 Switching Protocols", [("Upgrade", "x")])
            .unwrap();
        conn.write_all(b"hi").unwrap();
        panic!("handler bug");
    };
    let srv = spawn_server(app, default_opts());
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    let got = recvall(&mut c);
    assert_eq!(
        got,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\nhi"
    );
}

#[test]
fn refused_upgrades_leave_http_working() {
    let app = |env: &mut Environ, sr: &mut StartResponse| -> Body {
        let e = env
            .upgrade("101 Switching Protocols", [("Bad Header", "x")])
            .unwrap_err();
        assert!(matches!(e, UpgradeError::Header(_)));
        let e = env.upgrade("1O1 nope", [("Upgrade", "x")]).unwrap_err();
        assert!(matches!(e, UpgradeError::Status(_)));
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        Body::from(e.to_string())
    };
    let srv = spawn_server(app, default_opts());
    let r = request(&srv, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(r.status(), 200);
    // HTTP/1.0 cannot switch protocols.
    let app10 = |env: &mut Environ, sr: &mut StartResponse| -> Body {
        let e = env
            .upgrade("101 Switching Protocols", [("Upgrade", "x")])
            .unwrap_err();
        assert!(matches!(e, UpgradeError::NotHttp11), "{e}");
        sr.start("400 Bad Request", [("Content-Type", "text/plain")]);
        Body::empty()
    };
    let srv10 = spawn_server(app10, default_opts());
    let r = request(&srv10, b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn stop_shuts_down_an_upgraded_connection_without_hook() {
    let entered = Arc::new(Event::<()>::new());
    let e2 = entered.clone();
    let app = move |env: &mut Environ, sr: &mut StartResponse| -> Body {
        let _ = e2.send(());
        echo_upgrade(env, sr)
    };
    let mut srv = spawn_server(app, default_opts());
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    assert_eq!(read_exact_timeout(&mut c, SWITCH.len()), SWITCH);
    entered.wait().unwrap();
    let t = Instant::now();
    srv.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(recvall(&mut c), b"");
}

#[test]
fn stop_runs_the_hook_of_an_upgraded_connection() {
    // The 101 reaches the client before the app registers its hook: stop
    // only once the hook is in place (a stop before it shuts the socket down).
    let hooked = Arc::new(Event::<()>::new());
    let h2 = hooked.clone();
    let app = move |env: &mut Environ, _sr: &mut StartResponse| -> Body {
        let mut conn = env
            .upgrade("101 Switching Protocols", [("Upgrade", "x")])
            .unwrap();
        let mut writer = conn.try_clone_stream().unwrap();
        conn.on_server_stop(move || {
            let _ = writer.write_all(b"bye");
            let _ = writer.shutdown(std::net::Shutdown::Both);
        });
        let _ = h2.send(());
        let mut buf = [0u8; 16];
        while let Ok(1..) = conn.read(&mut buf) {}
        Body::empty()
    };
    let mut srv = spawn_server(app, default_opts());
    let mut c = srv.connect();
    c.write_all(HEAD).unwrap();
    let expect = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n";
    assert_eq!(read_exact_timeout(&mut c, expect.len()), expect);
    hooked.wait().unwrap();
    // The app is now (about to be) blocked in read: stop the server.
    let t = Instant::now();
    srv.stop().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
    assert_eq!(recvall(&mut c), b"bye");
}
