//! A green HTTP client: eventlet's `green.urllib.request` / `green.http.client`.
//!
//! The client is [`ureq`] 3 (re-exported here as `green::http::ureq`, use
//! that path so the versions match) running over this crate's green sockets:
//! [`GreenConnector`] opens connections with [`connect`](crate::connect) and
//! [`GreenResolver`] looks names up with [`dns`](super::dns). A fetch
//! therefore parks only its green thread, many fetches share one worker, and a
//! [`Timeout`] cuts a fetch on time (connect, TLS handshake,
//! request, response head or body). What ureq brings is kept: keep-alive
//! connection reuse (per agent), redirects (10 by default), https through
//! rustls with the Mozilla roots (`webpki-roots`), ureq's own timeouts.
//!
//! ```no_run
//! // eventlet: body = urllib.request.urlopen(url).read()
//! let body = eventlet::green::http::urlopen("http://example.com/").unwrap();
//!
//! // Anything ureq does, through a green agent:
//! let agent = eventlet::green::http::agent();
//! let mut res = agent.get("https://example.com/").call().unwrap();
//! let text = res.body_mut().read_to_string().unwrap();
//! ```
//!
//! A fetch cut by a `Timeout` fails with [`ureq::Error::Io`] holding an
//! [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut); test it with
//! [`Timeout::is_io`](crate::Timeout::is_io). The agent's own timeouts
//! (`ureq::config::Config::timeout_*`) still fail with [`ureq::Error::Timeout`].
//!
//! Stack: ureq and rustls need more stack than the scheduler's default 64 KiB
//! in debug builds (`tests/http_client.rs` overflows it there; in release
//! builds all of it passes with 64 KiB). Give green threads that fetch 256 KiB
//! with [`configure`](crate::configure)`(Config::default().stack_size(256 * 1024))`.
//!
//! [`ureq::Agent::shutdown`] interrupts the agent's transfers under way (their
//! sockets are shut down) and makes its later requests fail.

use crate::net::Stream;
use crate::timeout::{Timeout, TimeoutError};
use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration as StdDuration;
use ureq::config::Config;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    RustlsConnector, ShutdownHandle, Transport,
};
use ureq::Agent;

pub use ureq;

/// A ureq [`Agent`] whose connections are green: plain TCP through
/// [`GreenConnector`], TLS through ureq's rustls connector on top of it,
/// names through [`GreenResolver`]. Connections it opens are kept alive and
/// reused by later requests of the same agent (clones share them).
pub fn agent() -> Agent {
    agent_with_config(Config::default())
}

/// [`agent`] with ureq settings (timeouts, redirects, TLS roots, proxy).
///
/// ```
/// use eventlet::green::http::ureq;
/// let config = ureq::Agent::config_builder()
///     .max_redirects(3)
///     .timeout_global(Some(std::time::Duration::from_secs(30)))
///     .build();
/// let agent = eventlet::green::http::agent_with_config(config);
/// # drop(agent);
/// ```
pub fn agent_with_config(config: Config) -> Agent {
    // ureq's own chain with the TCP step made green: a CONNECT proxy (from
    // the config or `HTTPS_PROXY`/`ALL_PROXY`) reaches its proxy through this
    // same chain, so it is green too.
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(GreenConnector::default())
            .chain(RustlsConnector::default());
    Agent::with_parts(config, connector, GreenResolver::default())
}

fn shared_agent() -> &'static Agent {
    static AGENT: OnceLock<Agent> = OnceLock::new();
    AGENT.get_or_init(agent)
}

/// A GET request through one process-wide green [`agent`] (its
/// connections are reused across calls): `get(url).call()`.
pub fn get(url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
    shared_agent().get(url)
}

/// eventlet's `urllib.request.urlopen(url).read()`: GET `url` and return the
/// body (at most 10 MiB, ureq's default limit). A status of 400 or more is an
/// error, as with urllib's `HTTPError`; so is a [`Timeout`]
/// expiring (kind [`TimedOut`](io::ErrorKind::TimedOut)).
pub fn urlopen(url: &str) -> io::Result<Vec<u8>> {
    let mut res = get(url).call().map_err(ureq::Error::into_io)?;
    res.body_mut().read_to_vec().map_err(ureq::Error::into_io)
}

/// eventlet's `urlopen(url, data).read()`: POST `data` (sent as
/// `application/x-www-form-urlencoded`, as urllib does) and return the
/// response body; errors as [`urlopen`].
pub fn urlopen_post(url: &str, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut res = shared_agent()
        .post(url)
        .content_type("application/x-www-form-urlencoded")
        .send(data)
        .map_err(ureq::Error::into_io)?;
    res.body_mut().read_to_vec().map_err(ureq::Error::into_io)
}

// ===== transport =====

/// A ureq [`Connector`] that opens plain TCP connections with
/// [`connect`](crate::connect): every address the resolver gave, in turn,
/// within ureq's connect timeout and the caller's [`Timeout`].
/// Chain ureq's `RustlsConnector` after it for https, and its
/// `ConnectProxyConnector` before it for CONNECT proxies ([`agent`] does both);
/// a transport an earlier step made is passed on as it is.
#[derive(Debug, Default)]
pub struct GreenConnector(());

impl<In: Transport> Connector<In> for GreenConnector {
    type Out = Either<In, GreenTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        if let Some(t) = chained {
            // A connection an earlier step made (a CONNECT proxy tunnel).
            return Ok(Some(Either::A(t)));
        }
        let own = details.timeout.not_zero().map(|d| Timeout::new(*d));
        let mut last = None;
        for addr in details.addrs.iter() {
            match crate::net::connect(*addr) {
                Ok(stream) => {
                    if details.config.no_delay() {
                        stream.set_nodelay(true)?;
                    }
                    let config = details.config;
                    let buffers =
                        LazyBuffers::new(config.input_buffer_size(), config.output_buffer_size());
                    let transport = GreenTransport::new(stream, buffers);
                    let handle: Arc<dyn ShutdownHandle> = transport.shutdown.clone();
                    (details.register_shutdown)(Arc::downgrade(&handle))?;
                    return Ok(Some(Either::B(transport)));
                }
                Err(e) => {
                    if own.as_ref().is_some_and(|t| t.is_io(&e)) {
                        return Err(ureq::Error::Timeout(details.timeout.reason));
                    }
                    if TimeoutError::from_io(&e).is_some() {
                        // The caller's Timeout: stop, keep its identity.
                        return Err(ureq::Error::Io(e));
                    }
                    last = Some(e);
                }
            }
        }
        Err(last.map_or(ureq::Error::ConnectionFailed, ureq::Error::Io))
    }
}

/// A connection made by [`GreenConnector`]: a green [`Stream`] with ureq's
/// buffers. ureq's per-read and per-write timeouts become the stream's idle
/// timeouts; the caller's [`Timeout`] applies as on any stream.
pub struct GreenTransport {
    /// Declared first: `Drop` retires it before `stream` closes the fd.
    shutdown: Arc<SocketShutdown>,
    stream: Exclusive<Stream>,
    buffers: LazyBuffers,
    peer: Option<std::net::SocketAddr>,
}

impl Drop for GreenTransport {
    fn drop(&mut self) {
        // From now on the fd number may be reused: the handle must not touch it.
        *self
            .shutdown
            .fd
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// What [`ureq::Agent::shutdown`] uses to interrupt a transfer under way: a
/// `shutdown(2)` of the socket, which wakes the green thread blocked on it.
/// It holds the fd number only while the transport is alive (the lock makes
/// sure the number is not reused under it).
struct SocketShutdown {
    fd: Mutex<Option<RawFd>>,
}

impl ShutdownHandle for SocketShutdown {
    fn shutdown(&self) {
        if let Some(fd) = *self.fd.lock().unwrap_or_else(PoisonError::into_inner) {
            // SAFETY: `fd` is open: the transport owning it clears this slot
            // under the same lock before it closes the socket.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }
}

impl fmt::Debug for GreenTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenTransport")
            .field("peer", &self.peer)
            .finish()
    }
}

impl GreenTransport {
    fn new(stream: Stream, buffers: LazyBuffers) -> GreenTransport {
        let peer = stream.peer_addr().ok().and_then(|a| a.inet());
        let shutdown = Arc::new(SocketShutdown {
            fd: Mutex::new(Some(stream.as_raw_fd())),
        });
        GreenTransport {
            shutdown,
            stream: Exclusive(stream),
            buffers,
            peer,
        }
    }
}

/// ureq's "time is up" check (its own is private).
fn check(t: NextTimeout) -> Result<Option<StdDuration>, ureq::Error> {
    if t.after.is_zero() {
        return Err(ureq::Error::Timeout(t.reason));
    }
    Ok(t.not_zero().map(|d| *d))
}

/// A stream error as ureq's: the expiry of ureq's own timeout (the stream's
/// idle timeout, an anonymous [`TimeoutError`]) is `Error::Timeout`; the
/// caller's [`Timeout`] stays an `Io` error carrying it.
fn transport_error(e: io::Error, reason: ureq::Timeout) -> ureq::Error {
    match TimeoutError::from_io(&e) {
        Some(t) if t == TimeoutError::anonymous() => ureq::Error::Timeout(reason),
        _ => ureq::Error::Io(e),
    }
}

impl Transport for GreenTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        let timeout = timeout.for_write();
        let limit = check(timeout)?;
        let stream = &mut self.stream.0;
        stream.set_write_timeout(limit)?;
        let output = &self.buffers.output()[..amount];
        stream
            .write_all(output)
            .map_err(|e| transport_error(e, timeout.reason))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let timeout = timeout.for_read();
        let limit = check(timeout)?;
        let stream = &mut self.stream.0;
        stream.set_read_timeout(limit)?;
        let input = self.buffers.input_append_buf();
        let n = loop {
            match stream.read(input) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r.map_err(|e| transport_error(e, timeout.reason))?,
            }
        };
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        // A pooled connection is fit for reuse when nothing is waiting on it:
        // neither data the server should not have sent nor an EOF.
        let fd = self.stream.0.as_raw_fd();
        let mut byte = 0u8;
        // SAFETY: recv into one valid byte of our own, on our open socket, never blocking.
        let n = unsafe {
            libc::recv(
                fd,
                (&mut byte as *mut u8).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock
    }
}

/// `T` behind exclusive access only: `Sync` for any `Send` value, because no
/// `&Exclusive<T>` gives access to the `T` (std's unstable `Exclusive`). ureq
/// wants `Sync` transports; a [`Stream`] is used by one green thread at a time.
struct Exclusive<T>(T);

// SAFETY: every access to the inner value goes through `&mut Exclusive` (the
// field is only reached via `&mut self` of `GreenTransport`), so sharing an
// `&Exclusive<T>` between threads exposes nothing.
unsafe impl<T: Send> Sync for Exclusive<T> {}

// ===== resolver =====

/// A ureq [`Resolver`] that looks names up with
/// [`green::dns::getaddrinfo`](super::dns::getaddrinfo) (off the worker
/// threads), within ureq's resolve timeout and the caller's
/// [`Timeout`].
#[derive(Debug, Default)]
pub struct GreenResolver(());

impl Resolver for GreenResolver {
    fn resolve(
        &self,
        uri: &ureq::http::Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        let bad = || ureq::Error::BadUri(uri.to_string());
        let scheme = uri.scheme().ok_or_else(bad)?;
        let authority = uri.authority().ok_or_else(bad)?;
        let hostport = DefaultResolver::host_and_port(scheme, authority).ok_or_else(bad)?;
        let port = authority
            .port_u16()
            .or_else(|| hostport.rsplit_once(':').and_then(|(_, p)| p.parse().ok()))
            .ok_or_else(bad)?;
        let own = timeout.not_zero().map(|d| Timeout::new(*d));
        let found = match super::dns::getaddrinfo(authority.host(), port) {
            Ok(found) => found,
            Err(e) if own.as_ref().is_some_and(|t| t.is_io(&e)) => {
                return Err(ureq::Error::Timeout(timeout.reason));
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(ureq::Error::Io(e)),
            Err(_) => return Err(ureq::Error::HostNotFound),
        };
        let mut result = self.empty();
        for addr in config.ip_family().keep_wanted(found.into_iter()) {
            if result.try_push(addr).is_err() {
                break; // ureq keeps 16 at most
            }
        }
        if result.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(result)
    }
}
