//! Green name resolution (eventlet's `green.socket.getaddrinfo`).
//!
//! The system resolver (`getaddrinfo`: `/etc/hosts`, `nsswitch.conf`, the
//! DNS servers of `resolv.conf`) is a blocking C call that can take seconds.
//! Here it runs on the [`tpool`](crate::tpool), so only the calling green thread
//! waits, and a [`Timeout`](crate::Timeout) of the caller cuts the wait (the
//! lookup itself finishes on its pool thread and is thrown away).
//!
//! Every name the runtime resolves goes through [`resolve`]: [`connect`](crate::connect),
//! [`listen`](crate::listen), [`tls::connect`](crate::tls::connect), UDP sockets and the
//! [HTTP client](super::http). IP literals never reach the resolver.
//!
//! ```
//! let addrs = eventlet::green::dns::resolve("localhost", 80).unwrap();
//! assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 80));
//! ```

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, RwLock};

/// A name resolver: host and port in, addresses out. It runs on a
/// [`tpool`](crate::tpool) thread, so it may block.
pub type Resolver = dyn Fn(&str, u16) -> io::Result<Vec<SocketAddr>> + Send + Sync;

static CUSTOM: RwLock<Option<Arc<Resolver>>> = RwLock::new(None);

/// Replace the system resolver for the whole process (eventlet's
/// `green.dns` lets you configure its resolver, e.g. a hosts file or a fixed
/// name server); `None` restores the system's. The function runs on a pool
/// thread and may block. Useful for service discovery, pinning names in tests,
/// or a resolver crate of your choice.
///
/// ```
/// use std::net::SocketAddr;
/// eventlet::green::dns::set_resolver(Some(Box::new(|host: &str, port: u16| {
///     if host == "db.internal" {
///         return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
///     }
///     eventlet::green::dns::system_resolve(host, port)
/// })));
/// let a = eventlet::green::dns::resolve("db.internal", 5432).unwrap();
/// assert_eq!(a, vec![SocketAddr::from(([127, 0, 0, 1], 5432))]);
/// eventlet::green::dns::set_resolver(None);
/// ```
pub fn set_resolver(resolver: Option<Box<Resolver>>) {
    let mut slot = CUSTOM.write().unwrap_or_else(|p| p.into_inner());
    *slot = resolver.map(Arc::from);
}

/// `getaddrinfo` through std's `ToSocketAddrs`, blocking the calling thread:
/// what [`resolve`] runs on the pool unless [`set_resolver`] replaced it.
pub fn system_resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// eventlet's `getaddrinfo(host, port)`: every address `host` has, in the
/// resolver's order, looked up off the worker threads. An IP literal comes
/// back at once. Fails with the resolver's error, with
/// [`NotFound`](io::ErrorKind::NotFound) when there is no address, or with
/// [`TimedOut`](io::ErrorKind::TimedOut) (wrapping the
/// [`TimeoutError`](crate::TimeoutError)) when a [`Timeout`](crate::Timeout)
/// of the caller expires first.
pub fn getaddrinfo(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let literal = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = literal.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let custom = CUSTOM.read().unwrap_or_else(|p| p.into_inner()).clone();
    let owned = host.to_string();
    let found = crate::tpool::execute(move || match custom {
        Some(r) => r(&owned, port),
        None => system_resolve(&owned, port),
    })??;
    if found.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no address found for {host:?}"),
        ));
    }
    Ok(found)
}

/// [`getaddrinfo`] with IPv4 addresses first (eventlet's sockets default to
/// `AF_INET`); what `connect` and `listen` use.
pub fn resolve(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    let mut found = getaddrinfo(host, port)?;
    found.sort_by_key(SocketAddr::is_ipv6);
    Ok(found)
}

/// eventlet's `gethostbyname(host)`: the first IPv4 address of `host`.
///
/// ```
/// let ip = eventlet::green::dns::gethostbyname("localhost").unwrap();
/// assert!(ip.is_loopback());
/// ```
pub fn gethostbyname(host: &str) -> io::Result<Ipv4Addr> {
    getaddrinfo(host, 0)?
        .into_iter()
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("no IPv4 address for {host:?}"),
            )
        })
}
