//! A lazy, chunked response body (eventlet's generator apps): the server
//! sends each piece as it is produced, as HTTP/1.1 chunks.
//!
//! `cargo run --example streaming`, then `curl -N localhost:8092`.

use eventlet_wsgi::{Body, Environ, ServerOptions, StartResponse};
use std::time::Duration;

fn countdown(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from_iter((0..=5).rev().map(|i| {
        if i < 5 {
            // Blocks only this green thread; other requests go on.
            eventlet::sleep(Duration::from_millis(300));
        }
        format!("{i}...\n")
    }))
}

fn main() -> std::io::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info,may=warn"))
        .init();
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8092".into());
    // Flush every piece at once instead of coalescing to 4 KiB.
    let opts = ServerOptions::new().minimum_chunk_size(0);
    eventlet_wsgi::server_with(eventlet::listen(addr.as_str())?, countdown, opts)
}
