//! eventlet.websocket over real sockets, one test per rule: the handshake's
//! strictness, framing violations and their close codes, limits, the close
//! handshake, handler return / panic, sends from other green threads, and
//! bytes sent right after the handshake. A raw-socket client writes the
//! malformed frames (`ws_common`).

mod common;
mod ws_common;

#[path = "../examples/websocket.rs"]
#[allow(dead_code)]
mod example;

use common::*;
use eventlet_wsgi::websocket::{Message, WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use ws_common::*;

fn echo_server() -> TestServer {
    spawn_server(example::app(), ServerOptions::new())
}

#[test]
fn handshake_answer_is_exact() {
    let srv = echo_server();
    let c = Client::open(srv.addr, &handshake_request("/echo", &[]), b"");
    assert_eq!(
        c.head,
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"
        )
    );
}

#[test]
fn handshake_refusals() {
    let srv = echo_server();
    let good = String::from_utf8(handshake_request("/echo", &[])).unwrap();
    let rows: Vec<(String, u16)> = vec![
        (
            good.replacen("GET", "POST", 1).replacen(
                "\r\n\r\n",
                "\r\nContent-Length: 0\r\n\r\n",
                1,
            ),
            400,
        ),
        (good.replacen("HTTP/1.1", "HTTP/1.0", 1), 400),
        (good.replacen("Upgrade: websocket\r\n", "", 1), 400),
        (good.replacen("Upgrade: websocket", "Upgrade: h2c", 1), 400),
        (
            good.replacen("Connection: Upgrade", "Connection: keep-alive", 1),
            400,
        ),
        (
            good.replacen("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8", 1),
            426,
        ),
        (
            good.replacen(&format!("Sec-WebSocket-Key: {KEY}\r\n"), "", 1),
            400,
        ),
        (good.replacen(KEY, "dGhlIHNhbXBsZQ==", 1), 400),
        // token lists in any case are fine
        (
            good.replacen("Connection: Upgrade", "Connection: keep-alive, UPGRADE", 1),
            101,
        ),
        (
            good.replacen("Upgrade: websocket", "Upgrade: WebSocket", 1),
            101,
        ),
    ];
    for (req, want) in rows {
        let mut c = Client::open(srv.addr, req.as_bytes(), b"");
        assert_eq!(c.status, want, "{req:?}\n{}", c.head);
        if want == 426 {
            assert_eq!(c.header("Sec-WebSocket-Version").as_deref(), Some("13"));
        }
        if want != 101 {
            assert_eq!(c.header("Connection").as_deref(), Some("close"));
            c.rest();
        }
    }
}

#[test]
fn origin_checker_and_subprotocols() {
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        let _ = ws.send(ws.protocol().unwrap_or("none").to_string());
    })
    .supported_protocols(["chat", "superchat"])
    .origin_checker(|host, origin| origin == format!("http://{host}"));
    let srv = spawn_server(app, ServerOptions::new());
    let c = Client::open(
        srv.addr,
        &handshake_request("/", &["Origin: http://evil"]),
        b"",
    );
    assert_eq!(c.status, 403);
    let mut c = Client::open(
        srv.addr,
        &handshake_request(
            "/",
            &[
                "Origin: http://localhost",
                "Sec-WebSocket-Protocol: v1, superchat, chat",
            ],
        ),
        b"",
    );
    assert_eq!(c.status, 101, "{}", c.head);
    assert_eq!(
        c.header("Sec-WebSocket-Protocol").as_deref(),
        Some("superchat")
    );
    assert_eq!(c.read_frame().unwrap().payload, b"superchat");
    let mut c = Client::open(
        srv.addr,
        &handshake_request(
            "/",
            &["Origin: http://localhost", "Sec-WebSocket-Protocol: mqtt"],
        ),
        b"",
    );
    assert_eq!(c.status, 101);
    assert_eq!(c.header("Sec-WebSocket-Protocol"), None);
    assert_eq!(c.read_frame().unwrap().payload, b"none");
}

#[test]
fn echo_keeps_types_fragments_and_answers_pings() {
    let srv = echo_server();
    let mut c = Client::connect(srv.addr, "/echo");
    c.send(&frame(0x81, "héllo".as_bytes()));
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x81,
            payload: "héllo".into()
        }
    );
    c.send(&frame(0x82, &[0, 159, 146, 150]));
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x82,
            payload: vec![0, 159, 146, 150]
        }
    );
    // fragmented, with a ping in the middle: the pong comes first
    c.send(&frame(0x01, b"frag"));
    c.send(&frame(0x89, b"ping!"));
    c.send(&frame(0x80, b"mented"));
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x8a,
            payload: b"ping!".to_vec()
        }
    );
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x81,
            payload: b"fragmented".to_vec()
        }
    );
    // 64 KiB + 1: the 8-byte length form
    let big = vec![7u8; 65_537];
    c.send(&frame(0x82, &big));
    assert_eq!(c.read_frame().unwrap().payload, big);
    // the client closes: its code is echoed, then the TCP connection closes
    c.send(&frame(0x88, &close_payload(1000, "bye")));
    assert_eq!(c.expect_close(), Some(1000));
    assert!(c.at_eof());
}

#[test]
fn bytes_sent_with_the_handshake_are_kept() {
    let srv = echo_server();
    let mut c = Client::open(
        srv.addr,
        &handshake_request("/echo", &[]),
        &frame(0x81, b"early"),
    );
    assert_eq!(c.status, 101);
    assert_eq!(c.read_frame().unwrap().payload, b"early");
}

fn limited_server() -> TestServer {
    let app = WebSocketWsgi::new(|ws: WebSocket| while ws.wait().is_some() {})
        .max_frame_length(1000)
        .max_message_length(2500)
        .close_timeout(Duration::from_secs(2));
    spawn_server(app, ServerOptions::new())
}

#[test]
fn violations_close_with_their_codes() {
    let srv = limited_server();
    let rows: Vec<(&str, Vec<u8>, u16)> = vec![
        ("unmasked frame", frame_with(0x81, b"hi", false), 1002),
        ("RSV1 without deflate", frame(0xc1, b"x"), 1002),
        ("RSV2", frame(0xa1, b"x"), 1002),
        ("RSV3", frame(0x91, b"x"), 1002),
        ("reserved data opcode", frame(0x83, b""), 1002),
        ("reserved control opcode", frame(0x8b, b""), 1002),
        ("ping over 125 bytes", frame(0x89, &[0; 126]), 1002),
        ("fragmented ping", frame(0x09, b""), 1002),
        ("continuation without start", frame(0x80, b"x"), 1002),
        (
            "new message inside a fragmented one",
            [frame(0x01, b"a"), frame(0x81, b"b")].concat(),
            1002,
        ),
        (
            "close code 1005",
            frame(0x88, &close_payload(1005, "")),
            1002,
        ),
        ("close code 999", frame(0x88, &close_payload(999, "")), 1002),
        (
            "close code 5000",
            frame(0x88, &close_payload(5000, "")),
            1002,
        ),
        ("one-byte close", frame(0x88, &[3]), 1002),
        (
            "invalid UTF-8 text",
            frame(0x81, &[0xce, 0xba, 0xed, 0xa0, 0x80]),
            1007,
        ),
        (
            "invalid UTF-8 in close reason",
            frame(0x88, &[0x03, 0xe8, 0xff]),
            1007,
        ),
        ("frame over max_frame_length", frame(0x82, &[0; 1001]), 1009),
        (
            "message over max_message_length in small frames",
            [
                frame(0x02, &[0; 1000]),
                frame(0x00, &[0; 1000]),
                frame(0x80, &[0; 501]),
            ]
            .concat(),
            1009,
        ),
    ];
    for (name, bytes, code) in rows {
        let mut c = Client::connect(srv.addr, "/");
        c.send(&bytes);
        assert_eq!(c.expect_close(), Some(code), "{name}");
        // our close is answered; then the server closes the connection
        let _ = std::io::Write::write_all(&mut c.s, &frame(0x88, &close_payload(code, "")));
        assert!(c.at_eof(), "{name}");
    }
    assert!(!srv.log.text().contains("panicked"), "{}", srv.log.text());
}

#[test]
fn handler_return_closes_with_1000_and_panic_with_1011() {
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        if ws.path() == "/panic" {
            panic!("handler bug");
        }
        ws.send("bye").unwrap();
    });
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/return");
    assert_eq!(c.read_frame().unwrap().payload, b"bye");
    assert_eq!(c.expect_close(), Some(1000));
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert!(c.at_eof());
    let mut c = Client::connect(srv.addr, "/panic");
    assert_eq!(c.expect_close(), Some(1011));
    c.send(&frame(0x88, &close_payload(1011, "")));
    // no HTTP 500 in the stream: only the close frame, then EOF
    assert!(c.at_eof());
    let log = srv.log.text();
    assert!(log.contains("handler bug"), "{log}");
    assert!(!log.contains(" 500 "), "{log}");
}

#[test]
fn peer_close_code_and_reason_are_visible() {
    let seen = Arc::new(Mutex::new(None));
    let s2 = seen.clone();
    let app = WebSocketWsgi::new(move |ws: WebSocket| {
        assert_eq!(ws.wait(), None);
        *s2.lock().unwrap() = Some((ws.close_code(), ws.close_reason()));
    });
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    c.send(&frame(0x88, &close_payload(4001, "done here")));
    assert_eq!(c.expect_close(), Some(4001));
    assert!(c.at_eof());
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        *seen.lock().unwrap(),
        Some((Some(4001), Some("done here".to_string())))
    );
}

#[test]
fn handler_close_waits_for_the_client() {
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        ws.close(4000, "my reason").unwrap();
        assert_eq!(ws.wait(), None);
        assert_eq!(ws.close_code(), Some(4000));
    });
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    let f = c.read_frame().unwrap();
    assert_eq!(f.close_code(), Some(4000));
    assert_eq!(&f.payload[2..], b"my reason");
    c.send(&frame(0x81, b"ignored while closing"));
    c.send(&frame(0x88, &close_payload(4000, "")));
    assert!(c.at_eof());
    assert!(!srv.log.text().contains("panicked"), "{}", srv.log.text());
}

#[test]
fn send_from_other_green_threads_while_waiting() {
    // Every message is broadcast from the sender's green thread, as the chat
    // example; here a helper green thread also sends while the handler waits.
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        let w = ws.clone();
        let ticker = eventlet::spawn(move || {
            for i in 0..50 {
                if w.send(format!("tick {i}")).is_err() {
                    return;
                }
                eventlet::sleep(Duration::from_millis(2));
            }
        });
        while let Some(m) = ws.wait() {
            let _ = ws.send(m);
        }
        let _ = ticker.wait();
    });
    let srv = spawn_server(app, ServerOptions::new());
    let mut c = Client::connect(srv.addr, "/");
    for i in 0..20 {
        c.send(&frame(0x81, format!("echo {i}").as_bytes()));
    }
    let (mut ticks, mut echoes) = (0, 0);
    while ticks < 50 || echoes < 20 {
        let f = c.read_frame().expect("frame");
        let text = String::from_utf8(f.payload).unwrap();
        if text.starts_with("tick") {
            assert_eq!(text, format!("tick {ticks}"));
            ticks += 1;
        } else {
            assert_eq!(text, format!("echo {echoes}"));
            echoes += 1;
        }
    }
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}

#[test]
fn client_disconnect_is_not_an_error() {
    let srv = echo_server();
    let mut c = Client::connect(srv.addr, "/echo");
    c.send(&frame(0x81, b"x"));
    assert_eq!(c.read_frame().unwrap().payload, b"x");
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !srv.log.text().contains("GET /echo") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let log = srv.log.text();
    assert!(log.contains("\"GET /echo HTTP/1.1\" 101"), "{log}");
    assert!(
        !log.to_lowercase().contains("error") && !log.contains("panicked"),
        "{log}"
    );
}

#[test]
fn message_type_conversions() {
    assert_eq!(Message::from("a"), Message::Text("a".into()));
    assert_eq!(Message::from(vec![1u8]), Message::Binary(vec![1]));
    assert_eq!(Message::from(&b"ab"[..]).as_bytes(), b"ab");
    assert_eq!(Message::Text("t".into()).as_text(), Some("t"));
}
