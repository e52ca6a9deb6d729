//! Server shutdown with open WebSockets (the seed's warning: long-lived
//! connections made eventlet's `server()` hang): `stop()` sends every
//! WebSocket `1001 Going Away`, the handlers' `wait()` returns `None`, clients
//! that answer the close are drained, and the drain deadline (or the close
//! timeout) cuts the rest.

mod common;
mod ws_common;

use common::*;
use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use ws_common::*;

const N: usize = 100;

/// An echo handler that counts the `wait()`s that returned `None`.
fn counting_echo(
    ended: Arc<AtomicUsize>,
    close_timeout: Duration,
) -> WebSocketWsgi<impl Fn(WebSocket) + Send + Sync> {
    WebSocketWsgi::new(move |ws: WebSocket| {
        while let Some(m) = ws.wait() {
            if ws.send(m).is_err() {
                break;
            }
        }
        ended.fetch_add(1, Ordering::SeqCst);
    })
    .close_timeout(close_timeout)
}

/// Open `N` WebSockets and check each one works.
fn open_all(srv: &TestServer) -> Vec<Client> {
    (0..N)
        .map(|i| {
            let mut c = Client::connect(srv.addr, "/");
            c.send(&frame(0x81, format!("hi {i}").as_bytes()));
            assert_eq!(
                c.read_frame().unwrap().payload,
                format!("hi {i}").as_bytes()
            );
            c
        })
        .collect()
}

#[test]
fn stop_sends_1001_to_100_websockets_and_returns() {
    let ended = Arc::new(AtomicUsize::new(0));
    let mut srv = spawn_server(
        counting_echo(ended.clone(), Duration::from_secs(30)),
        ServerOptions::new(),
    );
    let mut clients = open_all(&srv);
    let handle = srv.handle.clone();
    let running = srv.running.take().unwrap();
    let t = Instant::now();
    handle.stop();
    for c in &mut clients {
        let f = c.read_frame().expect("a close frame");
        assert_eq!(f.close_code(), Some(1001));
        c.send(&frame(0x88, &close_payload(1001, "")));
    }
    for c in &mut clients {
        assert!(c.at_eof());
    }
    running.join().unwrap().unwrap();
    let took = t.elapsed();
    // Every client answered: no timeout was needed (30 s close timeout).
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_eq!(ended.load(Ordering::SeqCst), N);
}

#[test]
fn silent_clients_are_cut_at_the_drain_deadline() {
    let ended = Arc::new(AtomicUsize::new(0));
    let mut srv = spawn_server(
        counting_echo(ended.clone(), Duration::from_secs(60)),
        ServerOptions::new().drain_timeout(Some(Duration::from_secs(2))),
    );
    let mut clients = open_all(&srv);
    let handle = srv.handle.clone();
    let running = srv.running.take().unwrap();
    let t = Instant::now();
    handle.stop();
    // The clients read the 1001 but never answer.
    for c in &mut clients {
        assert_eq!(c.read_frame().expect("close").close_code(), Some(1001));
    }
    running.join().unwrap().unwrap();
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(1900), "{took:?}");
    assert!(took < Duration::from_secs(15), "{took:?}");
    for c in &mut clients {
        assert!(c.at_eof());
    }
    assert_eq!(ended.load(Ordering::SeqCst), N);
}

#[test]
fn silent_clients_are_cut_at_the_close_timeout() {
    let ended = Arc::new(AtomicUsize::new(0));
    let mut srv = spawn_server(
        counting_echo(ended.clone(), Duration::from_secs(1)),
        ServerOptions::new(),
    );
    let mut clients = open_all(&srv);
    let handle = srv.handle.clone();
    let running = srv.running.take().unwrap();
    let t = Instant::now();
    handle.stop();
    running.join().unwrap().unwrap();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(12), "{took:?}");
    for c in &mut clients {
        assert_eq!(c.expect_close(), Some(1001));
        assert!(c.at_eof());
    }
    assert_eq!(ended.load(Ordering::SeqCst), N);
}
