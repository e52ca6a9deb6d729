//! `wss://` through `wrap_ssl`: the handshake and frames over TLS, and sends
//! from another green thread while the handler blocks in `wait()` (the TLS
//! stream is split with `Stream::try_clone`, one session for both handles).

mod common;
mod ws_common;

use common::*;
use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::ServerOptions;
use std::time::Duration;
use ws_common::*;

#[test]
fn wss_echo_with_sends_from_another_green_thread() {
    let (listener, client_cfg) = tls_listener();
    let app = WebSocketWsgi::new(|ws: WebSocket| {
        assert_eq!(ws.environ_get("wsgi.url_scheme"), Some("https"));
        let w = ws.clone();
        // Sends while the handler below is blocked in wait().
        let ticker = eventlet::spawn(move || {
            for i in 0..100 {
                if w.send(format!("tick {i}")).is_err() {
                    return;
                }
                eventlet::sleep(Duration::from_millis(1));
            }
        });
        while let Some(m) = ws.wait() {
            if ws.send(m).is_err() {
                break;
            }
        }
        let _ = ticker.wait();
    });
    let srv = spawn_on(listener, app, ServerOptions::new());
    let addr = srv.addr;
    // The client is a green thread too (eventlet's TLS client stream).
    let client = eventlet::spawn(move || {
        let s = eventlet::tls::connect(addr, "localhost", &client_cfg).unwrap();
        let mut c = Client::over(s, &handshake_request("/", &[]), b"");
        assert_eq!(c.status, 101, "{}", c.head);
        for i in 0..30 {
            c.send(&frame(0x82, format!("echo {i}").as_bytes()));
        }
        let (mut ticks, mut echoes) = (0, 0);
        while ticks < 100 || echoes < 30 {
            let f = c.read_frame().expect("frame");
            let text = String::from_utf8(f.payload).unwrap();
            if text.starts_with("tick") {
                assert_eq!(f.first, 0x81);
                assert_eq!(text, format!("tick {ticks}"));
                ticks += 1;
            } else {
                assert_eq!(f.first, 0x82);
                assert_eq!(text, format!("echo {echoes}"));
                echoes += 1;
            }
        }
        c.send(&frame(0x88, &close_payload(1000, "done")));
        let code = c.expect_close();
        let eof = c.at_eof();
        (code, eof)
    });
    let (code, eof) = client.join().unwrap();
    assert_eq!(code, Some(1000));
    assert!(eof);
}
