//! # eventlet-wsgi — eventlet's WSGI server, in Rust
//!
//! A strict, fast HTTP/1.1 server with WSGI's application interface, written
//! as blocking-style per-connection code on green threads (one per
//! connection), like eventlet's `HttpProtocol`.
//!
//! ```no_run
//! use eventlet_wsgi::{self as wsgi, Body, Environ, StartResponse};
//!
//! fn hello_world(_env: &mut Environ, start_response: &mut StartResponse) -> Body {
//!     start_response.start("200 OK", [("Content-Type", "text/plain")]);
//!     Body::from(["Hello, World!\r\n"])
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     wsgi::server(eventlet::listen(("", 8090))?, hello_world)
//! }
//! ```
//!
//! The application interface: an app is anything implementing [`App`] —
//! every `Fn(&mut Environ, &mut StartResponse) -> Body + Send + Sync` closure
//! or function does; middleware is an app wrapping an app. [`Environ`] holds
//! the CGI variables and `wsgi.input` ([`Input`]); [`StartResponse`] is
//! `start_response` (and its legacy `write`); [`Body`] is the returned iterable.
//!
//! Server options mirror every keyword of eventlet's `wsgi.server()`: see
//! [`ServerOptions`]. The README lists the deviations from eventlet (all of
//! them stricter or safer) and the HTTP strictness decisions.
//!
//! # Start here
//!
//! - Write an app: a function `fn(&mut Environ, &mut StartResponse) -> Body`.
//! - Serve it: [`server`] (defaults, until SIGINT/SIGTERM), [`server_with`]
//!   ([`ServerOptions`]), or [`Server::new`] + [`Server::run`] with a
//!   [`ServerHandle`] to stop it from code.
//! - Read the request from [`Environ`] (`env["PATH_INFO"]`, [`Environ::input`]
//!   for the body) and answer with [`StartResponse::start`] and a [`Body`].
//!
//! ```
//! use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
//! use std::io::{Read, Write};
//!
//! fn app(env: &mut Environ, start_response: &mut StartResponse) -> Body {
//!     let path = env["PATH_INFO"].to_string();
//!     start_response.start("200 OK", [("Content-Type", "text/plain")]);
//!     Body::from([format!("you asked for {path}")])
//! }
//!
//! let listener = eventlet::listen("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap().to_string();
//! let opts = ServerOptions::new().handle_signals(false).log_output(false);
//! let server = Server::new(listener, app, opts);
//! let handle = server.handle();
//! let running = eventlet::spawn(move || server.run());
//!
//! let mut client = std::net::TcpStream::connect(&addr).unwrap();
//! client
//!     .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
//!     .unwrap();
//! let mut response = String::new();
//! client.read_to_string(&mut response).unwrap();
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.ends_with("you asked for /hello"));
//!
//! handle.stop();
//! running.join().unwrap().unwrap();
//! ```
//!
//! # WSGI → Rust
//!
//! | WSGI / eventlet | here |
//! |---|---|
//! | `environ` dict | [`Environ`]: `env["PATH_INFO"]`, [`get`](Environ::get), [`set`](Environ::set) |
//! | `environ['wsgi.input']` | [`Environ::input`] → [`Input`] (`Read` + `BufRead`) |
//! | `start_response(status, headers)` | [`StartResponse::start`] |
//! | the `write` callable | [`StartResponse::write`] |
//! | the returned iterable | [`Body`]: sized → `Content-Length`, lazy → chunked |
//! | `wsgi.server(sock, site, **kw)` | [`server`], [`server_with`], [`Server`] |
//! | `wsgi.server()` keywords | [`ServerOptions`] methods, one per keyword |
//! | `format_date_time`, `ChunkReadError` | [`format_date_time`], [`ChunkReadError`] |
//!
//! # Deviations from eventlet.wsgi
//!
//! All stricter or safer; what they replace was a bug or a hazard.
//! - **Strict request parsing** (RFC 9112): bare LF/CR, obs-fold, bad
//!   `Content-Length` or `Transfer-Encoding`, both together, a missing `Host` on
//!   HTTP/1.1 → 400 (eventlet let a body run as a second request).
//! - **Limits**: header line, header count and head size → 431; long URL → 414;
//!   [`ServerOptions::max_body_size`] → 413.
//! - **Timeouts by default**: 30 s for a request head (408) and an idle
//!   keep-alive connection, 60 s of body or send inactivity.
//! - **Response headers are validated** (no CR/LF/NUL: no response splitting);
//!   an invalid one gives a 500 and is never written.
//! - **Framing belongs to the server**; HEAD, 1xx, 204 and 304 carry no body; an
//!   app's `Content-Length` is enforced.
//! - **`debug` is off in release builds**; access-log dates are UTC; shutdown
//!   can cut stragglers ([`ServerOptions::drain_timeout`]).
//!
//! # Cargo features
//!
//! | feature | default | adds |
//! |---|---|---|
//! | `tls` | yes | HTTPS on a listener from `eventlet::wrap_ssl` (forwards `eventlet/tls`) |
//! | `env-logger` | yes | `logging`: `env_logger` in one call, with a cheap batched access log |
//!
//! The minimum supported Rust version is 1.95; the crate is Linux only.

#![deny(missing_docs)]
#![warn(missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access_record;
mod accesslog;
#[doc(hidden)]
pub mod bench_support;
mod body;
pub mod chunked;
mod conn;
mod connio;
pub mod date;
mod environ;
pub mod head;
mod headers;
mod input;
pub mod listeners;
pub mod logfmt;
#[cfg(feature = "env-logger")]
pub mod logging;
pub mod metrics;
mod options;
pub mod proxy;
mod reaper;
mod response;
mod server;
mod signals;
pub mod stats;
pub mod status;
#[cfg(test)]
mod test_rng;
pub mod upgrade;
#[cfg(feature = "websocket")]
pub mod websocket;
pub mod workers;

pub use accesslog::BatchWriter;
pub use body::{Body, Chunk, IntoChunk};
pub use chunked::ChunkError;
pub use date::format_date_time;
pub use environ::{Environ, ErrorsSink, Posthook};
pub use headers::{FromIter, Headers};
pub use input::{is_chunk_read_error, BodyTooLarge, ChunkReadError, Input};
pub use logfmt::{LogFormat, LogFormatError, DEFAULT_LOG_FORMAT};
pub use options::{HttpVersion, Keepalive, LogSink, ServerOptions};
pub use response::{HeadersAlreadySent, InvalidResponse, StartResponse};
pub use server::{Server, ServerHandle};
pub use upgrade::{UpgradeError, Upgraded};

use eventlet::net::Listener;

/// A WSGI application. Implemented for every
/// `Fn(&mut Environ, &mut StartResponse) -> Body + Send + Sync + 'static`;
/// implement it on a struct for a stateful app or a middleware.
///
/// ```
/// use eventlet_wsgi::{App, Body, Environ, StartResponse};
/// /// A middleware that adds a header to every response.
/// struct Tagged<A>(A);
/// impl<A: App> App for Tagged<A> {
///     fn call(&self, env: &mut Environ, sr: &mut StartResponse) -> Body {
///         env.set("HTTP_X_TAGGED", "1");
///         self.0.call(env, sr)
///     }
/// }
/// ```
pub trait App: Send + Sync + 'static {
    /// Handle one request.
    fn call(&self, env: &mut Environ<'_>, start_response: &mut StartResponse<'_>) -> Body;
}

impl<F> App for F
where
    F: Fn(&mut Environ<'_>, &mut StartResponse<'_>) -> Body + Send + Sync + 'static,
{
    fn call(&self, env: &mut Environ<'_>, start_response: &mut StartResponse<'_>) -> Body {
        self(env, start_response)
    }
}

/// eventlet's `wsgi.server(sock, site)`: serve `app` on `listener` with the
/// default options until SIGINT/SIGTERM, then shut down gracefully.
pub fn server(listener: Listener, app: impl App) -> std::io::Result<()> {
    Server::new(listener, app, ServerOptions::default()).run()
}

/// `wsgi.server(sock, site, **options)`.
pub fn server_with(listener: Listener, app: impl App, opts: ServerOptions) -> std::io::Result<()> {
    Server::new(listener, app, opts).run()
}

/// The README's examples are compiled as doc tests, so the crates.io page
/// cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
