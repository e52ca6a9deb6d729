//! permessage-deflate over real sockets: negotiation in the 101, compressed
//! messages in both directions (RSV1), control frames never compressed, and a
//! decompression bomb closed with 1009 without inflating it all.

mod common;
mod ws_common;

use common::*;
use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use flate2::{Compress, Compression, Decompress, FlushCompress};
use ws_common::*;

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::default(), false);
    let mut out = Vec::with_capacity(data.len() + 64);
    c.compress_vec(data, &mut out, FlushCompress::Sync).unwrap();
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

fn echo_app() -> WebSocketWsgi<impl Fn(WebSocket) + Send + Sync> {
    WebSocketWsgi::new(|ws: WebSocket| {
        while let Some(m) = ws.wait() {
            if ws.send(m).is_err() {
                break;
            }
        }
    })
    .max_message_length(1 << 20)
}

#[test]
fn negotiated_and_used_both_ways() {
    big_stacks();
    let srv = spawn_server(echo_app(), ServerOptions::new());
    let req = handshake_request(
        "/",
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; server_no_context_takeover"],
    );
    let mut c = Client::open(srv.addr, &req, b"");
    assert_eq!(c.status, 101, "{}", c.head);
    assert_eq!(
        c.header("Sec-WebSocket-Extensions").as_deref(),
        Some("permessage-deflate; server_no_context_takeover")
    );
    let text = "compress me ".repeat(100);
    c.send(&frame(0xc1, &deflate(text.as_bytes())));
    let f = c.read_frame().unwrap();
    assert_eq!(f.first, 0xc1, "text with RSV1");
    assert!(f.payload.len() < text.len() / 4);
    // server_no_context_takeover: each message inflates on a fresh inflater
    assert_eq!(
        inflate(&mut Decompress::new(false), &f.payload),
        text.as_bytes()
    );
    // an uncompressed message is fine too; pings stay uncompressed
    c.send(&frame(0x82, b"plain"));
    c.send(&frame(0x89, b"p"));
    let f = c.read_frame().unwrap();
    assert_eq!(f.first, 0xc2);
    assert_eq!(inflate(&mut Decompress::new(false), &f.payload), b"plain");
    assert_eq!(
        c.read_frame().unwrap(),
        Frame {
            first: 0x8a,
            payload: b"p".to_vec()
        }
    );
    // RSV1 on a continuation or control frame is a protocol error
    c.send(&frame(0xc9, b""));
    assert_eq!(c.expect_close(), Some(1002));
}

#[test]
fn no_offer_no_extension() {
    big_stacks();
    let srv = spawn_server(echo_app().permessage_deflate(false), ServerOptions::new());
    let req = handshake_request("/", &["Sec-WebSocket-Extensions: permessage-deflate"]);
    let mut c = Client::open(srv.addr, &req, b"");
    assert_eq!(c.header("Sec-WebSocket-Extensions"), None);
    c.send(&frame(0xc1, &deflate(b"x")));
    assert_eq!(c.expect_close(), Some(1002));
}

#[test]
fn decompression_bomb_closes_with_1009() {
    big_stacks();
    let srv = spawn_server(echo_app(), ServerOptions::new());
    let req = handshake_request("/", &["Sec-WebSocket-Extensions: permessage-deflate"]);
    let mut c = Client::open(srv.addr, &req, b"");
    assert_eq!(c.status, 101);
    // 16 MiB of zeros in a few KiB: far over the 1 MiB message limit once inflated.
    let bomb = deflate(&vec![0u8; 16 << 20]);
    assert!(bomb.len() < 64 * 1024, "{}", bomb.len());
    c.send(&frame(0xc2, &bomb));
    assert_eq!(c.expect_close(), Some(1009));
}

#[test]
fn idle_compressor_is_dropped_and_the_stream_stays_valid() {
    // Context takeover both ways (what browsers negotiate): the server's
    // compressor refers back to earlier messages while it lives, and is
    // dropped after ~2 s without messages (its ~300 KiB are most of an idle
    // WebSocket). The client's inflater keeps its window throughout.
    big_stacks();
    let srv = spawn_server(echo_app(), ServerOptions::new());
    let mut c = connect_deflate(srv.addr);
    let text: String = (0..300)
        .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
        .collect();
    let mut client_inflater = Decompress::new(false);
    let mut echo = |c: &mut Client| {
        c.send(&frame(0x81, text.as_bytes()));
        let f = c.read_frame().unwrap();
        assert_eq!(f.first, 0xc1, "compressed text");
        assert_eq!(inflate(&mut client_inflater, &f.payload), text.as_bytes());
        f.payload.len()
    };
    let fresh = echo(&mut c);
    let again = echo(&mut c);
    assert!(again < fresh / 2, "a back-reference: {again} vs {fresh}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    // A fresh compressor: the same bytes as the first time, still valid for
    // the client's inflater that kept its window.
    assert_eq!(echo(&mut c), fresh);
    assert!(echo(&mut c) < fresh / 2);
    c.send(&frame(0x88, &close_payload(1000, "")));
    assert_eq!(c.expect_close(), Some(1000));
}
