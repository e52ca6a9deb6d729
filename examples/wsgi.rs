//! The seed's hello world, one-to-one with eventlet's:
//!
//! ```python
//! from eventlet import wsgi
//! import eventlet
//!
//! def hello_world(env, start_response):
//!     start_response('200 OK', [('Content-Type', 'text/plain')])
//!     return ['Hello, World!\r\n']
//!
//! wsgi.server(eventlet.listen(('', 8090)), hello_world)
//! ```
//!
//! `cargo run --example wsgi`, then `curl localhost:8090`. The access log
//! goes to stderr through `env_logger` (set `RUST_LOG` to change the level),
//! written in batches by the server's log thread (at least once a second).

use eventlet_wsgi::{self as wsgi, Body, Environ, StartResponse};
use std::io::IsTerminal;

fn hello_world(_env: &mut Environ, start_response: &mut StartResponse) -> Body {
    start_response.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(["Hello, World!\r\n"])
}

fn main() -> std::io::Result<()> {
    let mut logger = env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("info,may=warn"),
    );
    // Redirected to a file or a pipe (how servers run), the access log leaves
    // in batches: one write per batch instead of one per line, same bytes.
    if !std::io::stderr().is_terminal() {
        let batched = wsgi::BatchWriter::new(std::io::stderr());
        logger.target(env_logger::Target::Pipe(Box::new(batched)));
    }
    logger.init();
    wsgi::server(eventlet::listen(("", 8090))?, hello_world)
}
