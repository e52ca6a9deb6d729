//! Port of eventlet's `examples/websocket_chat.py`: every message a
//! participant sends is broadcast to all participants (the sender too) from
//! the sender's green thread; `/` serves `websocket_chat.html`.
//!
//! ```text
//! cargo run --example websocket_chat                  # 127.0.0.1:7000, as eventlet
//! cargo run --example websocket_chat -- 127.0.0.1:0   # any address; prints it
//! ```
//!
//! Open the page in two browser tabs and type in one. A participant whose
//! socket fails is skipped (its own handler ends it); the participant list
//! is copied out of its lock before sending, so no lock is held across a
//! blocking send.

use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
use eventlet_wsgi::{App, Body, Environ, StartResponse};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

const PAGE: &str = include_str!("websocket_chat.html");

/// eventlet's `participants` set.
#[derive(Clone, Default)]
pub struct Participants(Arc<Mutex<HashMap<u64, WebSocket>>>);

impl Participants {
    fn snapshot(&self) -> Vec<WebSocket> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// eventlet's `handle(ws)`.
    pub fn handle(&self, ws: WebSocket) {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, ws.clone());
        while let Some(m) = ws.wait() {
            for p in self.snapshot() {
                let _ = p.send(m.clone());
            }
        }
        self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
    }
}

/// eventlet's `dispatch`: `/chat` is the WebSocket, anything else the page.
pub fn app() -> impl App {
    let participants = Participants::default();
    let chat = WebSocketWsgi::new(move |ws| participants.handle(ws));
    move |env: &mut Environ, sr: &mut StartResponse| -> Body {
        if env.get("PATH_INFO") == Some("/chat") {
            chat.call(env, sr)
        } else {
            sr.start("200 OK", [("Content-Type", "text/html; charset=utf-8")]);
            Body::from(PAGE)
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
    eventlet_wsgi::server(listener, app())
}
