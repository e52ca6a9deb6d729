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

#![warn(missing_docs)]

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
mod input;
pub mod logfmt;
mod options;
mod response;
mod server;
mod signals;
pub mod status;

pub use accesslog::BatchWriter;
pub use body::{Body, Chunk, IntoChunk};
pub use chunked::ChunkError;
pub use date::format_date_time;
pub use environ::{Environ, ErrorsSink, Posthook};
pub use input::{is_chunk_read_error, BodyTooLarge, ChunkReadError, Input};
pub use logfmt::{LogFormat, LogFormatError, DEFAULT_LOG_FORMAT};
pub use options::{HttpVersion, Keepalive, LogSink, ServerOptions};
pub use response::{HeadersAlreadySent, InvalidResponse, StartResponse};
pub use server::{Server, ServerHandle};

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
