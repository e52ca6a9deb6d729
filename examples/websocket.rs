//! Port of eventlet's `examples/websocket.py`: `/echo` echoes every message
//! with its type (text stays text, binary stays binary), `/data` streams
//! numbers for the page's plot, `/` serves `websocket.html`.
//!
//! ```text
//! cargo run --example websocket                    # 127.0.0.1:7000, as eventlet
//! cargo run --example websocket -- 127.0.0.1:0     # any address; prints it
//! cargo run --example websocket -- 127.0.0.1:0 20000   # and a connection limit (default 1024)
//! ```
//!
//! Limits as eventlet's defaults (8 MiB per frame, and here per message too),
//! permessage-deflate on. This is the target of the Autobahn run (README).

use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::{App, Body, Environ, StartResponse};
use std::time::Duration;

const PAGE: &str = include_str!("websocket.html");

/// The WebSocket handler: dispatch on the path, as eventlet's `handle`.
pub fn handle(ws: WebSocket) {
    match ws.path() {
        "/echo" => {
            // `feed`, not eventlet's `send`: the echo is queued, and `wait`
            // writes the queue before it blocks for the next message, so a
            // burst of pipelined messages is answered with one write instead
            // of one per message. Nothing waits longer than with `send`.
            while let Some(m) = ws.wait() {
                if ws.feed(m).is_err() {
                    break;
                }
            }
        }
        "/data" => {
            // A small xorshift instead of `random.random()`: no extra crate.
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            for i in 0..10_000 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let y = (seed >> 11) as f64 / (1u64 << 53) as f64;
                if ws.send(format!("0 {i} {y}\n")).is_err() {
                    break;
                }
                eventlet::sleep(Duration::from_millis(100));
            }
        }
        _ => {}
    }
}

/// eventlet's `dispatch`: WebSocket paths to the handler, anything else the page.
pub fn app() -> impl App {
    let ws = WebSocketWsgi::new(handle);
    move |env: &mut Environ, sr: &mut StartResponse| -> Body {
        match env.get("PATH_INFO") {
            Some("/echo" | "/data") => ws.call(env, sr),
            _ => {
                sr.start("200 OK", [("Content-Type", "text/html; charset=utf-8")]);
                Body::from(PAGE)
            }
        }
    }
}

#[allow(dead_code)]
fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    // zlib's state (permessage-deflate) takes far more stack in unoptimised
    // builds than the 64 KiB default: give debug builds room.
    if cfg!(debug_assertions) {
        let _ = eventlet::configure(eventlet::Config::default().stack_size(512 * 1024));
    }
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".into());
    let listener = eventlet::listen(addr.as_str())?;
    println!(
        "Visit http://{}/ in your websocket-capable browser.",
        listener.local_addr()?
    );
    // Second argument: the connection limit (eventlet's `max_size`, 1024);
    // the idle-memory benchmark holds 10,000 WebSockets.
    let max_size = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1024);
    let opts = eventlet_wsgi::ServerOptions::new().max_size(max_size);
    eventlet_wsgi::server_with(listener, app(), opts)
}
