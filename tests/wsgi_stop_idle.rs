//! `ServerHandle::stop()` with 2,000 idle keep-alive connections and a few
//! requests in flight: every idle connection is closed at once (the server
//! shuts them down on several threads when it has many), the requests in
//! flight still get their responses (`Connection: close`), `run()` returns,
//! and every descriptor the server had is closed again.
//!
//! The time bounds are wide (a loaded 2-core CI machine): they catch a hang or
//! work that grows with the square of the connections, not a slow machine.
//! The figures for 10,000 connections come from `examples/stop_idle.rs`.

mod common;

use common::read_http;
use eventlet::Event;
use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IDLE: usize = 2_000;
const IN_FLIGHT: usize = 3;

/// Descriptors open in this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// True once the connection ended (EOF or reset) within `within`.
fn ended(s: &mut TcpStream, within: Duration) -> bool {
    s.set_read_timeout(Some(within)).unwrap();
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
        ),
    }
}

/// A keep-alive connection that has had one `200 hi` response.
fn idle_connection(addr: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"\r\n\r\nhi") {
        let n = s.read(&mut buf).expect("response");
        assert!(n > 0, "closed before the response");
        got.extend_from_slice(&buf[..n]);
    }
    s
}

#[test]
fn stop_closes_2000_idle_connections_and_finishes_requests_in_flight() {
    // The runtime's own descriptors (epoll, wake-up pipes) open with its
    // first use: start it before counting.
    eventlet::spawn(|| ()).join().unwrap();
    let fds_before = open_fds();

    let (entered_tx, entered) = std::sync::mpsc::channel::<()>();
    let release = Arc::new(Event::<()>::new());
    let app = {
        let release = release.clone();
        move |env: &mut Environ, sr: &mut StartResponse| {
            if env.get("PATH_INFO") == Some("/slow") {
                let _ = entered_tx.send(());
                let _ = release.wait_timeout(Duration::from_secs(60));
                sr.start("200 OK", [("Content-Type", "text/plain")]);
                return Body::from("finished");
            }
            sr.start("200 OK", [("Content-Type", "text/plain")]);
            Body::from("hi")
        }
    };
    let listener = eventlet::listen("127.0.0.1:0").expect("listen");
    let addr = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("not inet: {other}"),
    };
    let opts = ServerOptions::new()
        .handle_signals(false)
        .log_output(false)
        .debug(false)
        .max_size(IDLE * 2)
        .drain_timeout(Some(Duration::from_secs(60)));
    let server = Server::new(listener, app, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());

    let mut idle: Vec<TcpStream> = (0..IDLE).map(|_| idle_connection(addr)).collect();
    let mut busy: Vec<TcpStream> = (0..IN_FLIGHT)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    for _ in 0..IN_FLIGHT {
        assert!(
            entered.recv_timeout(Duration::from_secs(30)).is_ok(),
            "a slow request never reached the app"
        );
    }

    let started = Instant::now();
    handle.stop();
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(
            ended(s, Duration::from_secs(20)),
            "idle connection {i} of {IDLE} was not closed by stop()"
        );
    }
    let all_closed = started.elapsed();
    assert!(
        all_closed < Duration::from_secs(20),
        "closing {IDLE} idle connections took {all_closed:?}"
    );
    drop(idle);
    // The requests in flight hold the server up; then they are answered.
    assert!(
        !running.is_done(),
        "run() returned before the requests in flight ended"
    );
    release.send(()).unwrap();
    for s in busy.iter_mut() {
        let mut r = BufReader::new(s.try_clone().unwrap());
        let resp = read_http(&mut r).expect("the request in flight was answered");
        assert_eq!(resp.status_line, "HTTP/1.1 200 OK");
        assert_eq!(resp.body, b"finished");
        assert_eq!(resp.header("connection"), Some("close"));
        assert!(
            ended(s, Duration::from_secs(20)),
            "closed after the response"
        );
    }
    drop(busy);
    let result = {
        let _t = eventlet::Timeout::new(Duration::from_secs(30));
        running.join()
    };
    assert!(
        matches!(result, Ok(Ok(()))),
        "run() did not return cleanly: {result:?}"
    );

    // Every connection's socket (and the listener) is closed again. A few
    // descriptors of slack: other tests' clients are not in this binary, but
    // the runtime may open one lazily (e.g. a timer wake-up).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut fds_after = open_fds();
    while fds_after > fds_before + 4 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        fds_after = open_fds();
    }
    assert!(
        fds_after <= fds_before + 4,
        "descriptors leaked: {fds_before} before, {fds_after} after"
    );
}
