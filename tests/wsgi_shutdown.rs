//! Server shutdown: eventlet's `test_close_idle_connections`,
//! `test_close_idle_connections_listen_socket_closed` and
//! `test_do_not_close_non_idle_connections`, plus what eventlet does not test
//! (the issue asks for it): idle connections closed at once, active requests
//! awaited with `Connection: close`, new connects refused while draining,
//! `eventlet.set_idle`, and the `drain_timeout` deadline.
//!
//! Synchronisation is event-driven (the app signals the test when it runs;
//! the test releases the app); the only fixed waits are the negative checks
//! ("the server has NOT finished yet"), which cannot produce false failures.

mod common;

use common::*;
use eventlet::{Event, GreenPool, Timeout};
use eventlet_wsgi::{App, Body, Environ, ServerOptions, StartResponse};
use std::io::{self, BufReader, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a test waits for something that should happen at once.
const PATIENCE: Duration = Duration::from_secs(10);

/// eventlet's `echo_server`, which also tells the test when it has started
/// (so the request is known to be in flight, not idle).
fn echo_server(entered: Arc<Event<()>>) -> impl App {
    move |env: &mut Environ, sr: &mut StartResponse| {
        let _ = entered.send(());
        let exp_len: usize = env["CONTENT_LENGTH"].parse().unwrap();
        let path = env["PATH_INFO"].to_string();
        let got = env.input().read_n(exp_len).expect("read body");
        sr.start(
            "200 OK",
            vec![
                ("Content-type", "application/octet-stream".to_string()),
                ("Content-Length", got.len().to_string()),
                ("X-Path", path),
            ],
        );
        Body::from([got])
    }
}

/// An app that waits for `release` before answering (an active request).
fn blocked_app(entered: Arc<Event<()>>, release: Arc<Event<()>>) -> impl App {
    move |_env: &mut Environ, sr: &mut StartResponse| {
        let _ = entered.send(());
        let _ = release.wait_timeout(Duration::from_secs(30));
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        Body::from("finished")
    }
}

const PUT_HEAD: &[u8] = b"PUT /foo-bar HTTP/1.1\r\nHost: localhost\r\nContent-Length: 30\r\n\r\n";

fn put_body() -> Vec<u8> {
    b"ABC".repeat(10)
}

/// Wait up to `within` for `Server::run` to return; `None` if it did not.
fn wait_run(srv: &mut TestServer, within: Duration) -> Option<io::Result<()>> {
    let gt = srv.running.as_ref().expect("server running");
    {
        let _t = Timeout::new(within);
        gt.wait_done().ok()?;
    }
    srv.running
        .take()
        .map(|gt| gt.join().expect("server green thread"))
}

/// Close the client's end once the server closed the connection, before
/// waiting for `run()`. The server's close lingers (up to 2 s, in 500 ms
/// reads) for the client to close too; a client that stays makes that read
/// end by timeout, and a wake-up issued by a green thread that a socket
/// timeout resumed is delayed by the runtime until the worker's next IO
/// event, up to the longest socket timeout of any connection on that worker
/// (may runs such green threads inside its timer processing; reported with a
/// repro). `run()` would then return late for reasons that are not the
/// server's shutdown logic. (The race: a stop that lands while the last
/// response is still being finished leaves the connection busy, so it is
/// closed after the response rather than shut down as idle.)
fn release_client(s: TcpStream, r: BufReader<TcpStream>) {
    drop(r);
    drop(s);
}

fn wait_entered(entered: &Event<()>) {
    assert_eq!(
        entered.wait_timeout(PATIENCE),
        Ok(Some(())),
        "the app never ran"
    );
}

/// A second descriptor for the listening socket, to shut it down from the
/// outside like eventlet's `listen_sock.shutdown(SHUT_RDWR); close()` while
/// the server owns the listener. std has no listener `shutdown`, so the
/// duplicate is held as a `TcpStream`, whose `shutdown` is plain shutdown(2).
fn outside_handle(listener: &eventlet::Listener) -> TcpStream {
    // SAFETY: the descriptor belongs to `listener`, which is alive for the
    // whole call; it is only borrowed to be duplicated (dup(2)), never closed.
    let fd = unsafe { BorrowedFd::borrow_raw(listener.as_raw_fd()) };
    TcpStream::from(fd.try_clone_to_owned().expect("dup"))
}

/// Send the echo request and check eventlet's expected answer.
fn echo_round_trip(s: &mut TcpStream, r: &mut BufReader<TcpStream>) -> Response {
    s.write_all(PUT_HEAD).unwrap();
    s.write_all(&put_body()).unwrap();
    let resp = read_http(r).unwrap();
    assert_eq!(resp.status_line, "HTTP/1.1 200 OK");
    assert_eq!(resp.body, put_body());
    assert_eq!(resp.header("x-path"), Some("/foo-bar"));
    resp
}

/// eventlet: `test_close_idle_connections` — ported (a stop replaces the
/// KeyboardInterrupt): the idle keep-alive connection is closed and the
/// custom pool drains within the deadline (eventlet: 1 s; here 10 s, while
/// the idle wait would last 120 s).
#[test]
fn stop_closes_idle_connection_and_drains_custom_pool() {
    let pool = GreenPool::new(1000);
    let entered = Arc::new(Event::new());
    let mut srv = spawn_server(
        echo_server(entered),
        ServerOptions::new()
            .custom_pool(pool.clone())
            .debug(true)
            .head_timeout(Duration::from_secs(120)),
    );
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    echo_round_trip(&mut s, &mut r);

    srv.handle.stop();
    // The idle connection is closed while the client still holds it open.
    assert!(closed_by_server(&mut s));
    release_client(s, r);
    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    {
        let _t = Timeout::new(PATIENCE);
        pool.waitall().expect("pool drained");
    }
    assert_eq!(pool.running(), 0);
}

/// eventlet: `test_close_idle_connections_listen_socket_closed` — ported:
/// shutting the listening socket down from outside ends the accept loop, and
/// the idle connection is closed.
#[test]
fn listener_closed_outside_ends_server_and_closes_idle_connection() {
    let pool = GreenPool::new(1000);
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let outside = outside_handle(&listener);
    let entered = Arc::new(Event::new());
    let mut srv = spawn_on(
        listener,
        echo_server(entered),
        ServerOptions::new()
            .custom_pool(pool.clone())
            .debug(true)
            .head_timeout(Duration::from_secs(120)),
    );
    let mut s = srv.connect();
    let mut r = BufReader::new(s.try_clone().unwrap());
    echo_round_trip(&mut s, &mut r);

    outside.shutdown(Shutdown::Both).unwrap();
    drop(outside);
    assert!(closed_by_server(&mut s));
    release_client(s, r);
    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    {
        let _t = Timeout::new(PATIENCE);
        pool.waitall().expect("pool drained");
    }
}

/// eventlet: `test_do_not_close_non_idle_connections` — ported: with the
/// listener closed while a request waits for its body, the server keeps
/// waiting; once the body arrives the request is answered (here with
/// `Connection: close`, as the server is stopping), then everything ends.
#[test]
fn listener_closed_outside_keeps_in_flight_request() {
    let pool = GreenPool::new(1000);
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let outside = outside_handle(&listener);
    let entered = Arc::new(Event::new());
    let mut srv = spawn_on(
        listener,
        echo_server(entered.clone()),
        ServerOptions::new().custom_pool(pool.clone()).debug(true),
    );
    let mut s = srv.connect();
    s.write_all(PUT_HEAD).unwrap();
    wait_entered(&entered);

    outside.shutdown(Shutdown::Both).unwrap();
    drop(outside);
    // Negative check: the in-flight request holds the server open.
    assert!(
        wait_run(&mut srv, Duration::from_secs(1)).is_none(),
        "server quit early"
    );

    s.write_all(&put_body()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_http(&mut r).unwrap();
    assert_eq!(resp.status_line, "HTTP/1.1 200 OK");
    assert_eq!(resp.body, put_body());
    assert_eq!(resp.header("x-path"), Some("/foo-bar"));
    assert_eq!(resp.header("connection"), Some("close"));
    // The server closed the connection (eventlet: the client's writes fail).
    assert!(matches!(read_http(&mut r), Err(ConnectionClosed)));
    release_client(s, r);

    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    {
        let _t = Timeout::new(PATIENCE);
        pool.waitall().expect("pool drained");
    }
}

/// Not in eventlet: every idle connection — one that finished a request, one
/// that never sent a byte, one halfway through a request head — is closed at
/// once on stop, without a response, and `run()` returns long before the
/// 120 s idle limit.
#[test]
fn stop_closes_every_idle_connection_at_once() {
    let mut srv = spawn_server(
        |_env: &mut Environ, sr: &mut StartResponse| {
            sr.start("200 OK", Vec::<(&str, &str)>::new());
            Body::from("hi")
        },
        ServerOptions::new().head_timeout(Duration::from_secs(120)),
    );
    let mut after_request = srv.connect();
    after_request
        .write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(after_request.try_clone().unwrap());
    assert_eq!(read_http(&mut r).unwrap().body, b"hi");
    let mut silent = srv.connect();
    let mut partial = srv.connect();
    partial.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    // A served request on a fresh connection shows the two above were accepted
    // (connections are accepted in order).
    assert_eq!(
        request(&srv, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .unwrap()
            .body,
        b"hi"
    );

    let started = Instant::now();
    srv.handle.stop();
    for s in [&mut after_request, &mut silent, &mut partial] {
        assert!(closed_by_server(s), "an idle connection was left open");
    }
    release_client(after_request, r);
    drop((silent, partial));
    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    assert!(started.elapsed() < PATIENCE);
}

/// Not in eventlet: on stop an active request is awaited; meanwhile the
/// listener refuses new connections; the request's response says
/// `Connection: close`; then `run()` returns and connects are still refused.
#[test]
fn stop_awaits_active_request_refuses_new_connects() {
    let (entered, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let mut srv = spawn_server(
        blocked_app(entered.clone(), release.clone()),
        ServerOptions::new(),
    );
    let addr = srv.addr;
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    wait_entered(&entered);

    srv.handle.stop();
    assert!(
        wait_run(&mut srv, Duration::from_millis(500)).is_none(),
        "server quit early"
    );
    let refused = TcpStream::connect(addr).expect_err("connect while draining");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);

    release.send(()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_http(&mut r).unwrap();
    assert_eq!(resp.status_line, "HTTP/1.1 200 OK");
    assert_eq!(resp.body, b"finished");
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(matches!(read_http(&mut r), Err(ConnectionClosed)));
    // Close our end at once: see `release_client`.
    release_client(s, r);

    let result = wait_run(&mut srv, PATIENCE).expect("run() returned");
    assert!(result.is_ok(), "{result:?}");
    let refused = TcpStream::connect(addr).expect_err("connect after run()");
    assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
}

/// Not in eventlet: with a `drain_timeout` longer than needed, `run()`
/// returns as soon as the last active request is done, not at the deadline.
#[test]
fn drain_ends_when_last_request_finishes() {
    let (entered, release) = (Arc::new(Event::new()), Arc::new(Event::new()));
    let drain = Duration::from_secs(60);
    let mut srv = spawn_server(
        blocked_app(entered.clone(), release.clone()),
        ServerOptions::new().drain_timeout(Some(drain)),
    );
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    wait_entered(&entered);
    let started = Instant::now();
    srv.handle.stop();
    release.send(()).unwrap();
    let resp = read_http(&mut BufReader::new(s)).unwrap();
    assert_eq!(resp.body, b"finished");
    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    assert!(started.elapsed() < drain / 2);
}

/// Not in eventlet (it has no deadline): an active request that never
/// finishes — the app waits for a body the client never sends — is cut when
/// `drain_timeout` passes, and `run()` returns within the deadline plus a
/// margin, not before the deadline.
#[test]
fn drain_timeout_cuts_request_blocked_on_the_socket() {
    let drain = Duration::from_millis(300);
    let entered = Arc::new(Event::new());
    let mut srv = spawn_server(
        echo_server(entered.clone()),
        ServerOptions::new().debug(false).drain_timeout(Some(drain)),
    );
    let mut s = srv.connect();
    s.write_all(PUT_HEAD).unwrap();
    wait_entered(&entered);

    let started = Instant::now();
    srv.handle.stop();
    assert!(
        wait_run(&mut srv, drain + PATIENCE).is_some(),
        "run() did not return"
    );
    let took = started.elapsed();
    assert!(took >= drain, "returned before the deadline: {took:?}");
    // No response can have been sent: the app never got its body.
    assert!(closed_by_server(&mut s));
    assert!(
        srv.log.text().contains("drain deadline passed"),
        "{}",
        srv.log.text()
    );
}

/// Not in eventlet: an app stuck away from its socket (sleeping) is killed
/// when the drain deadline passes, so `run()` still returns in bounded time.
#[test]
fn drain_timeout_kills_app_stuck_away_from_the_socket() {
    let drain = Duration::from_millis(300);
    let entered = Arc::new(Event::new());
    let e = entered.clone();
    let mut srv = spawn_server(
        move |_env: &mut Environ, sr: &mut StartResponse| {
            let _ = e.send(());
            // "Never" finishes: far longer than the test's patience.
            eventlet::sleep(Duration::from_secs(120));
            sr.start("200 OK", Vec::<(&str, &str)>::new());
            Body::from("too late")
        },
        ServerOptions::new().debug(false).drain_timeout(Some(drain)),
    );
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    wait_entered(&entered);

    let started = Instant::now();
    srv.handle.stop();
    assert!(
        wait_run(&mut srv, drain + PATIENCE).is_some(),
        "run() did not return"
    );
    assert!(started.elapsed() >= drain);
    assert!(closed_by_server(&mut s));
}

/// Not in eventlet's tests (its `eventlet.set_idle`): a request that marked
/// its connection idle (a long-lived stream) is closed on stop instead of
/// being awaited; its app sees the socket go away.
#[test]
fn set_idle_request_is_closed_not_awaited() {
    let entered = Arc::new(Event::new());
    let e = entered.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let mut srv = spawn_server(
        move |env: &mut Environ, sr: &mut StartResponse| {
            env.set_idle();
            let _ = e.send(());
            // Blocks until the server shuts the socket: the client never
            // sends the promised body.
            let got = env.input().read_all();
            let _ = tx.lock().unwrap().send(got.is_err());
            sr.start("200 OK", Vec::<(&str, &str)>::new());
            Body::from("stream over")
        },
        ServerOptions::new()
            .debug(false)
            .socket_timeout(Some(Duration::from_secs(120))),
    );
    let mut s = srv.connect();
    s.write_all(PUT_HEAD).unwrap();
    wait_entered(&entered);

    srv.handle.stop();
    assert!(
        wait_run(&mut srv, PATIENCE).is_some(),
        "run() did not return: {}",
        srv.log.text()
    );
    assert_eq!(
        rx.recv_timeout(PATIENCE),
        Ok(true),
        "the app's read did not fail"
    );
    assert!(closed_by_server(&mut s));
}
