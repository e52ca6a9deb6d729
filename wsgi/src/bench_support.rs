//! Hooks for `benches/micro.rs`: the connection's environ building and
//! response encoding, timed without socket IO. Not part of the API.

use crate::server::Shared;
use crate::{Body, ServerOptions};
use std::io;

pub use crate::conn::BenchConn;

/// Run `f` with a [`BenchConn`]: a real accepted connection (loopback), a
/// server with default options and an app that is never called.
pub fn with_conn<R>(f: impl FnOnce(&mut BenchConn<'_, '_>) -> R) -> io::Result<R> {
    let listener = eventlet::listen("127.0.0.1:0")?;
    let addr = listener
        .local_addr()?
        .inet()
        .ok_or_else(|| io::Error::other("not a TCP listener"))?;
    let _client = std::net::TcpStream::connect(addr)?;
    let (stream, peer) = listener.accept()?;
    let app = |_: &mut crate::Environ<'_>, _: &mut crate::StartResponse<'_>| Body::empty();
    let shared = Shared::new(listener, Box::new(app), ServerOptions::new());
    Ok(crate::conn::with_bench_conn(stream, peer, &shared, f))
}
