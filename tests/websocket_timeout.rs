//! A caller's `eventlet::Timeout` around WebSocket calls, over real sockets:
//! `send` that times out waiting for another sender's frame fails cleanly and
//! leaves the WebSocket usable; one that times out in the middle of its own
//! frame closes the connection (the client sees the torn frame, then EOF,
//! never another frame after it); `wait` returns `None` with the WebSocket
//! still open, and the next `wait` gets the next message.

mod common;
mod ws_common;

use common::*;
use eventlet::Timeout;
use eventlet_wsgi::websocket::{Message, WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;
use ws_common::*;

/// Larger than every socket buffer of a loopback connection together, so a
/// send of it blocks until the client reads.
const BIG: usize = 64 << 20;

fn recv<T>(rx: &mpsc::Receiver<T>) -> T {
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the handler reported")
}

#[test]
fn send_timing_out_behind_another_sender_leaves_the_websocket_usable() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        let big = ws.clone();
        let sender = eventlet::spawn(move || big.send(vec![7u8; BIG]).is_ok());
        // The client saw the big frame start: its send holds the writer, and
        // cannot end before the client reads (it reads nothing yet).
        assert_eq!(ws.wait(), Some(Message::Text("go".into())));
        let t = Timeout::new(Duration::from_millis(200));
        let r = ws.send("small");
        let timed_out = matches!(&r, Err(e) if t.is_io(e));
        drop(t);
        tx.lock().unwrap().send((timed_out, ws.closed())).unwrap();
        let big_ok = sender.wait().unwrap_or(false);
        let after = ws.send("after").is_ok();
        tx.lock().unwrap().send((big_ok, after)).unwrap();
        while ws.wait().is_some() {}
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    // Bytes of the big frame are arriving (nothing else is sent before it).
    assert_eq!(c.s.peek(&mut [0u8; 1]).unwrap(), 1);
    c.send(&frame(0x81, b"go"));
    assert_eq!(recv(&rx), (true, false), "send timed out, WebSocket open");
    // Now read: the big frame arrives whole, then the next message.
    let f = c.read_frame().unwrap();
    assert_eq!((f.opcode(), f.payload.len()), (2, BIG));
    assert!(f.payload.iter().all(|&b| b == 7));
    let f = c.read_frame().unwrap();
    assert_eq!((f.opcode(), f.payload.as_slice()), (1, &b"after"[..]));
    assert_eq!(recv(&rx), (true, true));
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
    assert!(c.at_eof());
}

#[test]
fn send_timing_out_in_its_own_frame_closes_the_connection() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        let big = vec![9u8; BIG];
        let t = Timeout::new(Duration::from_millis(300));
        let r = ws.send(big);
        let timed_out = matches!(&r, Err(e) if t.is_io(e));
        drop(t);
        let later_fails = ws.send("later").is_err();
        let ended = ws.wait().is_none();
        tx.lock()
            .unwrap()
            .send((timed_out, later_fails, ended, ws.closed()))
            .unwrap();
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    assert_eq!(recv(&rx), (true, true, true, true));
    // Part of the big frame, then EOF: no complete frame, nothing after it.
    c.s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    assert_eq!(c.try_read_frame().unwrap(), None);
}

#[test]
fn wait_returns_none_on_the_callers_timeout_and_goes_on_after() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        let t = Timeout::new(Duration::from_millis(200));
        let first = ws.wait();
        let expired = t.expired();
        drop(t);
        // Another green thread in wait() holds the reader: a Timeout
        // also ends the wait for it.
        let other = ws.clone();
        let reader = eventlet::spawn(move || other.wait());
        eventlet::sleep(Duration::from_millis(200));
        let t = Timeout::new(Duration::from_millis(200));
        let second = ws.wait();
        let expired2 = t.expired();
        drop(t);
        tx.lock()
            .unwrap()
            .send((
                first.is_none() && second.is_none(),
                expired && expired2,
                ws.closed(),
            ))
            .unwrap();
        // The other green thread gets the client's next message.
        if let Ok(Some(m)) = reader.wait() {
            let _ = ws.send(m);
        }
        while let Some(m) = ws.wait() {
            let _ = ws.send(m);
        }
    })
    .permessage_deflate(false);
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    assert_eq!(recv(&rx), (true, true, false));
    for text in ["hi", "again"] {
        c.send(&frame(0x81, text.as_bytes()));
        let f = c.read_frame().unwrap();
        assert_eq!((f.opcode(), f.payload.as_slice()), (1, text.as_bytes()));
    }
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}
