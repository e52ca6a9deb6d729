//! The two example apps over real sockets: `examples/websocket.rs` (page,
//! `/echo`, `/data`) and `examples/websocket_chat.rs` (broadcast from the
//! sender's green thread to every participant).

mod common;
mod ws_common;

#[path = "../examples/websocket.rs"]
#[allow(dead_code)]
mod echo_example;

#[path = "../examples/websocket_chat.rs"]
#[allow(dead_code)]
mod chat_example;

use common::*;
use eventlet_wsgi::ServerOptions;
use ws_common::*;

#[test]
fn echo_example_serves_page_echo_and_data() {
    let srv = spawn_server(echo_example::app(), ServerOptions::new());
    let r = request(
        &srv,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.body_str().contains("new WebSocket(base + \"/echo\")"));
    let mut c = Client::connect(srv.addr, "/echo");
    c.send(&frame(0x81, b"text"));
    c.send(&frame(0x82, b"\x00bin"));
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x81,
            payload: b"text".to_vec()
        }
    );
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x82,
            payload: b"\x00bin".to_vec()
        }
    );
    let mut d = Client::connect(srv.addr, "/data");
    for i in 0..3 {
        let f = d.read_frame().unwrap();
        let line = String::from_utf8(f.payload).unwrap();
        let parts: Vec<&str> = line.trim_end().split(' ').collect();
        assert_eq!(parts.len(), 3, "{line:?}");
        assert_eq!(parts[1], i.to_string());
        let y: f64 = parts[2].parse().unwrap();
        assert!((0.0..1.0).contains(&y));
    }
}

#[test]
fn chat_example_broadcasts_to_every_participant() {
    let srv = spawn_server(chat_example::app(), ServerOptions::new());
    let r = request(
        &srv,
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .unwrap();
    assert!(r.body_str().contains("/chat"));
    let mut a = Client::connect(srv.addr, "/chat");
    a.send(&frame(0x81, b"a joined"));
    assert_eq!(a.read_frame().unwrap().payload, b"a joined");
    let mut b = Client::connect(srv.addr, "/chat");
    b.send(&frame(0x81, b"b joined"));
    assert_eq!(a.read_frame().unwrap().payload, b"b joined");
    assert_eq!(b.read_frame().unwrap().payload, b"b joined");
    for i in 0..20 {
        let msg = format!("from a {i}");
        a.send(&frame(0x81, msg.as_bytes()));
        assert_eq!(a.read_frame().unwrap().payload, msg.as_bytes());
        assert_eq!(b.read_frame().unwrap().payload, msg.as_bytes());
    }
    // b leaves; a keeps chatting alone
    b.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(b.expect_close(), Some(1000));
    a.send(&frame(0x81, b"alone"));
    assert_eq!(a.read_frame().unwrap().payload, b"alone");
}
