//! Port of eventlet's `examples/wsgi.py`, one-to-one:
//!
//! ```python
//! from eventlet import wsgi
//! import eventlet
//!
//! def hello_world(env, start_response):
//!     if env['PATH_INFO'] != '/':
//!         start_response('404 Not Found', [('Content-Type', 'text/plain')])
//!         return ['Not Found\r\n']
//!     start_response('200 OK', [('Content-Type', 'text/plain')])
//!     return ['Hello, World!\r\n']
//!
//! wsgi.server(eventlet.listen(('', 8090)), hello_world)
//! ```
//!
//! ```text
//! cargo run --example wsgi                    # serves on port 8090: curl localhost:8090
//! cargo run --example wsgi -- 127.0.0.1:0     # any address; the log says which port
//! ```
//!
//! The access log goes to stderr through `env_logger` (set `RUST_LOG` to
//! change the level), set up by `eventlet_wsgi::logging::init`: redirected to
//! a file or a pipe, lines leave in batches (one write per batch, at least once
//! a second) in `env_logger`'s default format, formatted cheaply.

use eventlet_wsgi::{self as wsgi, Body, Environ, StartResponse};

fn hello_world(env: &mut Environ, start_response: &mut StartResponse) -> Body {
    if &env["PATH_INFO"] != "/" {
        start_response.start("404 Not Found", [("Content-Type", "text/plain")]);
        return Body::from(["Not Found\r\n"]);
    }
    start_response.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from(["Hello, World!\r\n"])
}

fn main() -> std::io::Result<()> {
    wsgi::logging::init("info,may=warn");
    let listener = match std::env::args().nth(1) {
        Some(addr) => eventlet::listen(addr.as_str())?,
        None => eventlet::listen(("", 8090))?,
    };
    wsgi::server(listener, hello_world)
}
