//! eventlet's socket layer: [`listen`], [`connect`], [`serve`] / [`StopServe`],
//! and the [`Listener`] / [`Stream`] types they use (TLS is in [`tls`](crate::tls)).
//!
//! Every blocking call here — `accept`, `connect`, `read`, `write` — parks only
//! the calling green thread, and honours the caller's [`Timeout`](crate::Timeout):
//! when the Timeout expires during the call, the call fails with an
//! [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut) that wraps the
//! [`TimeoutError`] (test it with [`Timeout::is_io`](crate::Timeout::is_io)).
//! The socket and the green thread stay usable afterwards.
//!
//! ```
//! use std::io::{Read, Write};
//! let listener = eventlet::listen("127.0.0.1:0").unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = eventlet::spawn(move || {
//!     let (mut conn, _peer) = listener.accept().unwrap();
//!     let mut buf = [0; 5];
//!     conn.read_exact(&mut buf).unwrap();
//!     conn.write_all(&buf).unwrap();
//! });
//! let mut client = eventlet::connect(&addr).unwrap();
//! client.write_all(b"hello").unwrap();
//! let mut echo = [0; 5];
//! client.read_exact(&mut echo).unwrap();
//! assert_eq!(&echo, b"hello");
//! server.wait().unwrap();
//! ```
//!
//! # Differences from eventlet
//! - **`reuse_port` is off by default.** eventlet sets `SO_REUSEPORT` for every
//!   fixed port, so a second server started on a busy port silently takes half
//!   of the connections. Here a busy port fails with
//!   [`AddrInUse`](io::ErrorKind::AddrInUse); opt in with
//!   [`ListenOptions::reuse_port`].
//! - **IPv6 listeners are IPv6-only** (`IPV6_V6ONLY` set, like Python's
//!   `socket.create_server`), so `[::]:80` and `0.0.0.0:80` can be bound side by
//!   side whatever the system default. [`ListenOptions::only_v6`] turns it off.
//! - Host names (`("localhost", 80)`, `"example.com:443"`) are resolved with the
//!   system resolver on the [`tpool`](crate::tpool) ([`green::dns`](crate::green::dns)):
//!   only the calling green thread waits, and its [`Timeout`](crate::Timeout)
//!   cuts the lookup. Like eventlet (family `AF_INET`), IPv4 results come first.
//! - Timeouts (per-operation and Timeout deadlines) have millisecond
//!   granularity, the resolution of the scheduler's IO timers.
//! - [`serve`] waits for a free slot *before* accepting (the next client waits in
//!   the backlog rather than in an accepted socket), and it retries transient
//!   accept errors such as `EMFILE` after a short pause instead of dying.
//! - [`Listener::shutdown`] exists to stop an accept loop from another green thread.
//!
//! # Never use std's blocking IO in a green thread
//! `std::net`, `std::fs` on slow devices, `std::thread::sleep` and DNS lookups
//! block the whole worker thread and every green thread queued on it. There is
//! no monkey-patching: use this module's sockets and [`sleep`](crate::sleep).

use crate::greenthread::{GreenThread, GreenThreadError};
use crate::semaphore::Semaphore;
use crate::timeout::{Deadline, TimeoutError};
#[cfg(feature = "tls")]
use crate::tls::TlsStream;
use may::io::CoIo;
use socket2::{Domain, SockAddr, Socket, Type};
use std::error::Error;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::mem::ManuallyDrop;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

// ===== Addr =====

/// A socket address: IP (v4 or v6) or a Unix socket path.
///
/// ```
/// use eventlet::net::Addr;
/// let a = Addr::Inet("[::1]:80".parse().unwrap());
/// assert_eq!(a.to_string(), "[::1]:80");
/// assert_eq!(Addr::Unix("/tmp/s.sock".into()).to_string(), "/tmp/s.sock");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Addr {
    /// An IPv4 or IPv6 address with its port.
    Inet(SocketAddr),
    /// A Unix socket path; empty for an unnamed peer (a client that did not bind).
    Unix(PathBuf),
}

impl Addr {
    /// The IP address and port, if this is one.
    pub fn inet(&self) -> Option<SocketAddr> {
        match self {
            Addr::Inet(a) => Some(*a),
            Addr::Unix(_) => None,
        }
    }

    /// True for a Unix socket address.
    pub fn is_unix(&self) -> bool {
        matches!(self, Addr::Unix(_))
    }

    fn from_sockaddr(sa: &SockAddr) -> Addr {
        match sa.as_socket() {
            Some(inet) => Addr::Inet(inet),
            None => Addr::Unix(sa.as_pathname().map(Path::to_path_buf).unwrap_or_default()),
        }
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Inet(a) => a.fmt(f),
            Addr::Unix(p) => p.display().fmt(f),
        }
    }
}

impl From<SocketAddr> for Addr {
    fn from(a: SocketAddr) -> Addr {
        Addr::Inet(a)
    }
}

// ===== ToListenAddr =====

/// Everything [`listen`] and [`connect`] accept as an address.
///
/// - `("", 8090)`: all IPv4 interfaces (eventlet's `('', 8090)`); `("::", 8090)`:
///   all IPv6 interfaces; `("127.0.0.1", 0)`; `("localhost", 80)` (resolved);
/// - `"127.0.0.1:0"`, `"[::1]:0"`, `"localhost:80"` (resolved), and
///   `"unix:/path/to.sock"` for a Unix socket;
/// - a [`SocketAddr`], an [`Addr`], or a [`Path`]/[`PathBuf`] (Unix socket).
///
/// Host names are looked up with [`green::dns::resolve`](crate::green::dns::resolve)
/// (the system resolver, run off the worker threads); IPv4 results come first.
pub trait ToListenAddr {
    /// The addresses this names, in the order to try them.
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>>;
}

/// Off the workers, honouring the caller's Timeout, IPv4 first (eventlet's
/// sockets default to `AF_INET`).
fn resolve(host: &str, port: u16) -> io::Result<Vec<Addr>> {
    let found = crate::green::dns::resolve(host, port)?;
    Ok(found.into_iter().map(Addr::Inet).collect())
}

impl ToListenAddr for (&str, u16) {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        let (host, port) = *self;
        if host.is_empty() {
            return Ok(vec![Addr::Inet((Ipv4Addr::UNSPECIFIED, port).into())]);
        }
        match host.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![Addr::Inet((ip, port).into())]),
            Err(_) => resolve(host, port),
        }
    }
}

impl ToListenAddr for (String, u16) {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        (self.0.as_str(), self.1).to_listen_addrs()
    }
}

impl ToListenAddr for (IpAddr, u16) {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![Addr::Inet((*self).into())])
    }
}

impl ToListenAddr for (Ipv4Addr, u16) {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![Addr::Inet((*self).into())])
    }
}

impl ToListenAddr for (Ipv6Addr, u16) {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![Addr::Inet((*self).into())])
    }
}

impl ToListenAddr for str {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        if let Some(path) = self.strip_prefix("unix:") {
            return Ok(vec![Addr::Unix(PathBuf::from(path))]);
        }
        if let Ok(a) = self.parse::<SocketAddr>() {
            return Ok(vec![Addr::Inet(a)]);
        }
        let (host, port) = self.rsplit_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{self:?} is not host:port or unix:/path"),
            )
        })?;
        let port = port.parse::<u16>().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad port in {self:?}"))
        })?;
        (host, port).to_listen_addrs()
    }
}

impl ToListenAddr for String {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        self.as_str().to_listen_addrs()
    }
}

impl ToListenAddr for SocketAddr {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![Addr::Inet(*self)])
    }
}

impl ToListenAddr for Addr {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![self.clone()])
    }
}

impl ToListenAddr for Path {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        Ok(vec![Addr::Unix(self.to_path_buf())])
    }
}

impl ToListenAddr for PathBuf {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        self.as_path().to_listen_addrs()
    }
}

impl<T: ToListenAddr + ?Sized> ToListenAddr for &T {
    fn to_listen_addrs(&self) -> io::Result<Vec<Addr>> {
        (**self).to_listen_addrs()
    }
}

fn first_addr(addr: &impl ToListenAddr) -> io::Result<Addr> {
    addr.to_listen_addrs()?
        .into_iter()
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address given"))
}

// ===== Deadlines =====

/// may's IO timers count whole milliseconds and treat 0 as "no timeout", so
/// every timeout handed to may is rounded up to at least 1 ms.
pub(crate) fn ceil_ms(d: Duration) -> Duration {
    let ms = d.as_nanos().div_ceil(1_000_000).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
}

/// The per-operation timeout to give may: the socket's own idle timeout or the
/// time left of the caller's Timeout, whichever is shorter.
pub(crate) fn op_timeout(own: Option<Duration>, d: &Deadline) -> Option<Duration> {
    match d.remaining() {
        None => own,
        Some(left) => {
            let left = ceil_ms(left);
            Some(own.map_or(left, |o| o.min(left)))
        }
    }
}

/// True for the expiry of one of may's IO timers (the kernel's own
/// `ETIMEDOUT`, after failed retransmissions, carries an OS error code).
pub(crate) fn is_timer_expiry(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::TimedOut && err.raw_os_error().is_none()
}

/// may's timer expiry as this crate's error: the caller's [`TimeoutError`] when
/// the Timeout's deadline is what ran out, else an anonymous one (the socket's
/// own idle timeout; no Timeout claims it).
pub(crate) fn op_error(err: io::Error, d: &Deadline) -> io::Error {
    if !is_timer_expiry(&err) {
        return err;
    }
    // We may be running inside may's IO-timer processing: make sure what
    // the caller wakes next is run soon.
    crate::nudge::nudge_workers();
    match d.timeout {
        Some(t) if d.remaining() == Some(Duration::ZERO) => t.into(),
        _ => TimeoutError::anonymous().into(),
    }
}

/// The Timeout error, once the caller's Timeout has expired.
pub(crate) fn expired_timeout() -> Option<TimeoutError> {
    let d = Deadline::for_op(None);
    match d.timeout {
        Some(t) if d.remaining() == Some(Duration::ZERO) => Some(t),
        _ => None,
    }
}

pub(crate) fn validate_timeout(t: Option<Duration>) -> io::Result<Option<Duration>> {
    match t {
        Some(d) if d.is_zero() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot set a 0 duration timeout",
        )),
        other => Ok(other.map(ceil_ms)),
    }
}

// ===== ListenOptions / listen =====

/// eventlet's `listen(addr, backlog=50, reuse_addr=True, reuse_port=None)` as a
/// builder; [`listen`] uses the defaults.
///
/// ```
/// let a = eventlet::ListenOptions::new().backlog(128).listen(("127.0.0.1", 0)).unwrap();
/// let port = a.local_addr().unwrap().inet().unwrap().port();
/// // A busy port is an error...
/// assert!(eventlet::listen(("127.0.0.1", port)).is_err());
/// // ...unless every socket on it opts in to sharing.
/// let opts = eventlet::ListenOptions::new().reuse_port(true);
/// let b = opts.listen(("127.0.0.1", 0)).unwrap();
/// let port_b = b.local_addr().unwrap().inet().unwrap().port();
/// assert!(opts.listen(("127.0.0.1", port_b)).is_ok());
/// ```
#[derive(Clone, Debug)]
#[must_use = "ListenOptions do nothing until `.listen(addr)` is called"]
pub struct ListenOptions {
    backlog: i32,
    reuse_addr: bool,
    reuse_port: bool,
    only_v6: bool,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 50,
            reuse_addr: true,
            reuse_port: false,
            only_v6: true,
        }
    }
}

impl ListenOptions {
    /// The defaults: backlog 50, `SO_REUSEADDR` on, `SO_REUSEPORT` off, IPv6-only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Maximum number of connections queued before `accept` (eventlet's
    /// default: 50; the kernel caps it at `net.core.somaxconn`).
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        self
    }

    /// `SO_REUSEADDR`: rebind a port whose old connections linger in
    /// `TIME_WAIT` (default on, like eventlet).
    pub fn reuse_addr(mut self, on: bool) -> Self {
        self.reuse_addr = on;
        self
    }

    /// `SO_REUSEPORT`: let several sockets that all set it listen on one port,
    /// the kernel spreading connections between them. Default **off** (eventlet
    /// turns it on for fixed ports): a second server on a busy port should fail.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// `IPV6_V6ONLY` for IPv6 addresses (default on). Off, `[::]` also accepts
    /// IPv4 clients as `::ffff:a.b.c.d`.
    pub fn only_v6(mut self, on: bool) -> Self {
        self.only_v6 = on;
        self
    }

    /// Bind and listen on the first address `addr` names. A Unix socket's file
    /// stays behind when the listener closes (as in eventlet): remove a stale
    /// one before listening on its path again.
    pub fn listen(&self, addr: impl ToListenAddr) -> io::Result<Listener> {
        crate::config::ensure_started();
        let sock = match first_addr(&addr)? {
            Addr::Inet(sa) => self.inet_socket(&sa)?,
            Addr::Unix(path) => self.unix_socket(&path)?,
        };
        Listener::new(sock)
    }

    fn inet_socket(&self, sa: &SocketAddr) -> io::Result<Socket> {
        let sock = Socket::new(Domain::for_address(*sa), Type::STREAM, None)?;
        if sa.is_ipv6() {
            sock.set_only_v6(self.only_v6)?;
        }
        sock.set_reuse_address(self.reuse_addr)?;
        if self.reuse_port {
            sock.set_reuse_port(true)?;
        }
        sock.bind(&(*sa).into())?;
        sock.listen(self.backlog)?;
        Ok(sock)
    }

    fn unix_socket(&self, path: &Path) -> io::Result<Socket> {
        let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
        sock.bind(&SockAddr::unix(path)?)?;
        sock.listen(self.backlog)?;
        Ok(sock)
    }
}

/// eventlet's `listen(addr)`: a listening socket with the default
/// [`ListenOptions`] (backlog 50, `SO_REUSEADDR`, no `SO_REUSEPORT`).
/// Fails with [`AddrInUse`](io::ErrorKind::AddrInUse) on a busy port.
///
/// ```
/// let l = eventlet::listen(("", 0)).unwrap(); // eventlet: listen(('', 0))
/// assert!(l.local_addr().unwrap().inet().unwrap().ip().is_unspecified());
/// ```
pub fn listen(addr: impl ToListenAddr) -> io::Result<Listener> {
    ListenOptions::default().listen(addr)
}

// ===== Listener =====

/// The error `accept` returns once [`Listener::shutdown`] was called.
fn shut_down_error() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "the listener was shut down")
}

/// True for `accept` errors that concern one connection or a momentary lack of
/// resources (`EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, `ECONNABORTED`, `EPROTO`,
/// `EPERM`): an accept loop should pause briefly and go on, not stop.
///
/// ```
/// let e = std::io::Error::from_raw_os_error(libc::EMFILE);
/// assert!(eventlet::net::is_transient_accept_error(&e));
/// let e = std::io::Error::from_raw_os_error(libc::EBADF);
/// assert!(!eventlet::net::is_transient_accept_error(&e));
/// ```
pub fn is_transient_accept_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(
            libc::EMFILE
                | libc::ENFILE
                | libc::ENOBUFS
                | libc::ENOMEM
                | libc::ECONNABORTED
                | libc::EPROTO
                | libc::EPERM
        )
    )
}

/// What the listening socket looks like to may: `CoIo` wants a `Read` type, so
/// "reading" is accepting. `CoIo::read` first calls this `read` (a nonblocking
/// `accept`); on `EAGAIN` it parks the green thread until the socket is ready or
/// the per-op timeout ran out, then does a raw `read(2)`, which on a listening
/// socket fails at once (`ENOTCONN`/`EINVAL`) and only tells us to try again.
/// This gives `accept` may's IO timeouts and kill support, which may's own
/// `accept` lacks.
struct Acceptor {
    sock: Arc<Socket>,
    /// Checked right before each attempt: a shutdown that lands between this
    /// check and the wait still wakes the wait (its poller event comes after).
    closed: Arc<AtomicBool>,
    accepted: Option<(Socket, SockAddr)>,
    /// The last attempt found nothing to accept, so CoIo went on to wait.
    waited: bool,
}

impl AsRawFd for Acceptor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl Read for Acceptor {
    fn read(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        if self.closed.load(Ordering::SeqCst) {
            return Err(shut_down_error());
        }
        match self.sock.accept() {
            Ok(pair) => {
                self.accepted = Some(pair);
                Ok(1)
            }
            Err(e) => {
                self.waited = e.kind() == io::ErrorKind::WouldBlock;
                Err(e)
            }
        }
    }
}

/// The accept side of a [`Listener`], used by one green thread at a time.
struct AcceptIo {
    io: CoIo<Acceptor>,
    /// The per-op timeout last handed to may (it only changes under a Timeout).
    timeout: Option<Duration>,
    /// For a socket shared with other processes: wake this often to look at
    /// the `closed` flag (shutdown(2) would stop the socket for all of them).
    poll: Option<Duration>,
}

impl AcceptIo {
    fn accept(&mut self) -> io::Result<(Socket, SockAddr)> {
        loop {
            let d = Deadline::for_op(None);
            let t = op_timeout(self.poll, &d);
            if t != self.timeout {
                self.io.set_read_timeout(t)?;
                self.timeout = t;
            }
            let acc = self.io.inner_mut();
            acc.accepted = None;
            acc.waited = false;
            let r = self.io.read(&mut [0u8; 1]);
            let acc = self.io.inner_mut();
            if let Some(pair) = acc.accepted.take() {
                return Ok(pair);
            }
            match r {
                Err(e) if !acc.waited && e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if !acc.waited => return Err(e),
                Err(e) if is_timer_expiry(&e) => {
                    crate::nudge::nudge_workers();
                    if let Some(t) = expired_timeout() {
                        return Err(t.into());
                    }
                }
                // Woken by a new connection, a shutdown, or nothing: look again.
                _ => {}
            }
        }
    }
}

/// A listening socket (TCP or Unix, optionally TLS); from [`listen`] or
/// [`ListenOptions::listen`]. It is `Send + Sync`: several green threads may
/// call [`accept`](Listener::accept) on one listener (through an `Arc`); they
/// are served one at a time, in order.
pub struct Listener {
    /// One green thread waits in the OS accept at a time (may's IO object has a
    /// single waiter slot); the others queue here, honouring their Timeouts.
    turn: Semaphore,
    // Field order matters: `io` deregisters the fd from may's poller when
    // dropped, and must do so before `sock`, the last owner, closes it.
    io: may::sync::Mutex<AcceptIo>,
    sock: Arc<Socket>,
    closed: Arc<AtomicBool>,
    unix: bool,
    /// Inherited from elsewhere (systemd, a master process): other
    /// processes may accept on it too, so `shutdown` must not touch it.
    shared: bool,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<Arc<rustls::ServerConfig>>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("fd", &self.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .field("tls", &self.is_tls())
            .field("shut_down", &self.is_shut_down())
            .finish()
    }
}

impl Listener {
    fn new(sock: Socket) -> io::Result<Listener> {
        let unix = sock.domain()? == Domain::UNIX;
        let sock = Arc::new(sock);
        let closed = Arc::new(AtomicBool::new(false));
        let acceptor = Acceptor {
            sock: sock.clone(),
            closed: closed.clone(),
            accepted: None,
            waited: false,
        };
        let io = CoIo::new(acceptor).map_err(io::Error::from)?;
        Ok(Listener {
            turn: Semaphore::new(1),
            io: may::sync::Mutex::new(AcceptIo {
                io,
                timeout: None,
                poll: None,
            }),
            sock,
            closed,
            unix,
            shared: false,
            #[cfg(feature = "tls")]
            tls: None,
        })
    }

    /// A listener from a listening socket this process inherited (systemd
    /// socket activation, a master process, `fd://N`). The socket may be
    /// shared with other processes, so [`shutdown`](Self::shutdown) only
    /// stops this listener's accepts (within 100 ms) and leaves the socket
    /// listening for the others; dropping the listener closes this
    /// process's descriptor only. Fails unless `fd` is a listening stream
    /// socket.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    /// let l = eventlet::net::Listener::from_fd(OwnedFd::from(std_listener)).unwrap();
    /// assert!(l.local_addr().unwrap().inet().is_some());
    /// ```
    pub fn from_fd(fd: std::os::fd::OwnedFd) -> io::Result<Listener> {
        crate::config::ensure_started();
        let sock = Socket::from(fd);
        if sock.r#type()? != Type::STREAM || !sock.is_listener()? {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a listening stream socket",
            ));
        }
        sock.set_cloexec(true)?;
        let mut l = Listener::new(sock)?;
        l.shared = true;
        l.io.get_mut().unwrap_or_else(PoisonError::into_inner).poll =
            Some(Duration::from_millis(100));
        Ok(l)
    }

    /// Wait for a connection: the new stream and the peer's address (an empty
    /// path for an unnamed Unix peer). On a TLS listener the handshake is *not*
    /// done here but on the stream's first read or write, in the connection's
    /// own green thread, so a slow client cannot stall the accept loop.
    ///
    /// Fails when the caller's [`Timeout`](crate::Timeout) expires, after
    /// [`shutdown`](Self::shutdown), or with the OS error (see
    /// [`is_transient_accept_error`]).
    pub fn accept(&self) -> io::Result<(Stream, Addr)> {
        if self.is_shut_down() {
            return Err(shut_down_error());
        }
        let _turn = self.turn.guard()?;
        let mut io = self.io.lock().unwrap_or_else(PoisonError::into_inner);
        let (sock, peer) = io.accept()?;
        drop(io);
        let sock = Sock::new(sock, self.unix)?;
        #[cfg(feature = "tls")]
        let stream = match &self.tls {
            None => Stream::plain(sock),
            Some(cfg) => Stream::tls(TlsStream::server(sock, cfg.clone())?),
        };
        #[cfg(not(feature = "tls"))]
        let stream = Stream::plain(sock);
        Ok((stream, Addr::from_sockaddr(&peer)))
    }

    /// The address the listener is bound to (with the real port after binding
    /// port 0).
    pub fn local_addr(&self) -> io::Result<Addr> {
        Ok(Addr::from_sockaddr(&self.sock.local_addr()?))
    }

    /// True for a listener made by [`wrap_ssl`](crate::wrap_ssl).
    pub fn is_tls(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }

    /// Stop accepting: a green thread blocked in [`accept`](Self::accept) wakes
    /// up with an error, and every later `accept` fails. Connections already
    /// accepted are not affected. The socket is closed when the listener is
    /// dropped.
    pub fn shutdown(&self) {
        if !self.closed.swap(true, Ordering::SeqCst) && !self.shared {
            // The kernel wakes the poller (EPOLLHUP) for TCP and Unix listeners;
            // the woken accept sees `closed`. An error only means nothing to wake.
            let _ = self.sock.shutdown(Shutdown::Both);
        }
    }

    /// True once [`shutdown`](Self::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }
}

impl AsRawFd for Listener {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

// ===== Stream =====

/// A connected socket's reads and writes, one system call each.
///
/// On x86-64 Linux they bypass libc's `read`/`send`: those are
/// thread-cancellation points, and in a multi-threaded process glibc
/// brackets each system call with `__pthread_enable_asynccancel` /
/// `__pthread_disable_asynccancel` (~30 instructions a call, two calls per
/// keep-alive request). Nothing in a Rust program uses `pthread_cancel`.
/// The system call is made inline, as vendor/may's patched socket reads do.
/// Elsewhere (not built or tested here) libc's calls stay.
#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
))]
mod sys {
    use socket2::Socket;
    use std::io;
    use std::os::fd::AsRawFd;

    /// A system call's return value: `-errno` (-4095..-1) on failure.
    #[inline(always)]
    fn result(r: isize) -> io::Result<usize> {
        if r < 0 {
            Err(io::Error::from_raw_os_error(-r as i32))
        } else {
            Ok(r as usize)
        }
    }

    /// System call `n` with up to six arguments, by the kernel's x86-64 ABI
    /// (number and result in rax; rcx and r11 clobbered).
    ///
    /// # Safety
    /// The arguments must be valid for system call `n`: any memory it reads
    /// or writes through them must be valid for that for the whole call.
    #[inline(always)]
    unsafe fn syscall6(n: libc::c_long, a: [usize; 6]) -> isize {
        let r: isize;
        // SAFETY: the caller vouches for the arguments; the instruction uses
        // no stack and restores the flags from r11. Memory is not declared
        // untouched (no `nomem`): the kernel may write through the pointers.
        unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") n as isize => r,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack, preserves_flags)
            );
        }
        r
    }

    /// `recv(2)` without flags (`recvfrom` without an address): `read(2)`
    /// on a socket without the VFS layer in front (~90 ns a call, perf).
    #[inline]
    pub(super) fn read(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        let fd = sock.as_raw_fd();
        // SAFETY: `buf` is valid for writes of `buf.len()` bytes for the
        // whole call and the kernel writes at most that many; null address
        // pointers mean none is written; `sock` keeps the descriptor open.
        let r = unsafe {
            syscall6(
                libc::SYS_recvfrom,
                [fd as usize, buf.as_mut_ptr() as usize, buf.len(), 0, 0, 0],
            )
        };
        result(r)
    }

    /// `send(2)` with `MSG_NOSIGNAL` (a closed peer is `EPIPE`, not
    /// SIGPIPE), as socket2's `write`; `send` is `sendto` without an address.
    #[inline]
    pub(super) fn send(sock: &Socket, buf: &[u8]) -> io::Result<usize> {
        let fd = sock.as_raw_fd();
        // SAFETY: `buf` is valid for reads of `buf.len()` bytes for the whole
        // call; a null address of length 0 is `send`; `sock` keeps the
        // descriptor open.
        let r = unsafe {
            syscall6(
                libc::SYS_sendto,
                [
                    fd as usize,
                    buf.as_ptr() as usize,
                    buf.len(),
                    libc::MSG_NOSIGNAL as usize,
                    0,
                    0,
                ],
            )
        };
        result(r)
    }
}

#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    target_arch = "x86_64"
)))]
mod sys {
    use socket2::Socket;
    use std::io::{self, Read, Write};

    #[inline]
    pub(super) fn read(sock: &Socket, buf: &mut [u8]) -> io::Result<usize> {
        (&*sock).read(buf)
    }

    #[inline]
    pub(super) fn send(sock: &Socket, buf: &[u8]) -> io::Result<usize> {
        (&*sock).write(buf)
    }
}

/// The descriptor shared by every handle of one connection
/// ([`Stream::try_clone`]): closed when the last handle is dropped.
#[derive(Debug)]
struct SharedFd(Arc<Socket>);

impl AsRawFd for SharedFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Read for SharedFd {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        sys::read(&self.0, buf)
    }
}

impl Write for SharedFd {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        sys::send(&self.0, buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A may registration, dropped in the safe order: deregister, then let the
/// descriptor go (`CoIo`'s own field order would close first: a new socket
/// could reuse the number and lose its registration).
struct Registration(ManuallyDrop<CoIo<SharedFd>>);

impl Registration {
    fn new(sock: Arc<Socket>) -> io::Result<Registration> {
        let io = CoIo::new(SharedFd(sock)).map_err(io::Error::from)?;
        Ok(Registration(ManuallyDrop::new(io)))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: `self.0` is taken exactly once, here, and never used afterwards.
        let io = unsafe { ManuallyDrop::take(&mut self.0) };
        // `into_inner` drops the registration first; the descriptor after.
        drop(io.into_inner());
    }
}

/// A connected socket registered with may, with the timeout bookkeeping that
/// turns the caller's Timeout into may's per-operation timeouts.
///
/// may keeps one parked green thread per registered descriptor (one waiter
/// slot and one readiness flag for both directions), so two handles of one
/// socket cannot wait on the same registration. The first handle owns the
/// socket's registration; a clone ([`Stream::try_clone`]) reads and writes
/// the shared descriptor directly and, only when it has to wait, registers a
/// `dup` of it for that one wait. An idle clone costs no descriptor (a
/// WebSocket's writer handle, 10,000 of them).
// `repr(C)`: what a direct read or write touches (the registration, the
// socket, the flags) leads, on one cache line; the timeouts, read only when
// they change or a `Timeout` runs, follow.
#[repr(C)]
pub(crate) struct Sock {
    /// This handle's own registration (`None` for a clone).
    io: Option<Registration>,
    sock: Arc<Socket>,
    /// This handle owns the registration and may holds the socket's own
    /// read (write) timeout: without a Timeout running, a read (write) goes
    /// straight to may. Kept in step by [`sync_direct`](Self::sync_direct).
    direct_read: bool,
    direct_write: bool,
    unix: bool,
    read_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    /// The per-op timeouts last handed to may, to skip redundant stores.
    cur_read: Option<Duration>,
    cur_write: Option<Duration>,
}

impl Sock {
    pub(crate) fn new(sock: Socket, unix: bool) -> io::Result<Sock> {
        let sock = Arc::new(sock);
        #[cfg_attr(not(feature = "may-read-drain"), allow(unused_mut))]
        let mut io = Registration::new(sock.clone())?;
        // A TCP stream: after a short read, the next read waits for the
        // next event without first failing with EAGAIN (vendor/may patch 6;
        // one read system call per keep-alive request instead of two). Not
        // for Unix sockets: their reads also stop short at a boundary between
        // writers' credentials or passed descriptors with data still queued,
        // and no new event would announce it. Needs the patched may
        // (feature `may-read-drain`).
        #[cfg(feature = "may-read-drain")]
        io.0.set_read_drain_hint(!unix);
        Ok(Sock {
            io: Some(io),
            sock,
            unix,
            read_timeout: None,
            write_timeout: None,
            cur_read: None,
            cur_write: None,
            direct_read: true,
            direct_write: true,
        })
    }

    /// Another handle to the same descriptor, registered only while it waits.
    fn clone_handle(&self) -> Sock {
        Sock {
            io: None,
            sock: self.sock.clone(),
            unix: self.unix,
            read_timeout: None,
            write_timeout: None,
            cur_read: None,
            cur_write: None,
            direct_read: false,
            direct_write: false,
        }
    }

    /// Recompute the direct flags after a timeout or the may side changed.
    fn sync_direct(&mut self) {
        let own = self.io.is_some();
        self.direct_read = own && self.read_timeout == self.cur_read;
        self.direct_write = own && self.write_timeout == self.cur_write;
    }

    pub(crate) fn socket(&self) -> &Socket {
        &self.sock
    }

    fn arm_read(&mut self, d: &Deadline) {
        let t = op_timeout(self.read_timeout, d);
        if t != self.cur_read {
            if let Some(io) = &self.io {
                // CoIo's setter only stores the value; it cannot fail.
                let _ = io.0.set_read_timeout(t);
            }
            self.cur_read = t;
            self.sync_direct();
        }
    }

    fn arm_write(&mut self, d: &Deadline) {
        let t = op_timeout(self.write_timeout, d);
        if t != self.cur_write {
            if let Some(io) = &self.io {
                let _ = io.0.set_write_timeout(t);
            }
            self.cur_write = t;
            self.sync_direct();
        }
    }

    /// A clone's wait: register a `dup` of the descriptor, run `op` through
    /// it (may retries until ready or timed out), deregister and close it.
    fn wait_with_dup<R>(
        &self,
        op: impl FnOnce(&mut CoIo<SharedFd>) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut reg = Registration::new(Arc::new(self.sock.try_clone()?))?;
        let io = &mut *reg.0;
        let _ = io.set_read_timeout(self.cur_read);
        let _ = io.set_write_timeout(self.cur_write);
        op(io)
    }
}

/// The result of a nonblocking attempt: `None` when it would block.
fn ready<R>(r: io::Result<R>) -> Option<io::Result<R>> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        r => Some(r),
    }
}

impl Sock {
    /// The common case of a read or write: this handle's own registration,
    /// may already holding this socket's own timeout (`ok`: the direct
    /// flag), and no [`Timeout`](crate::Timeout) running anywhere in the
    /// process. The caller then goes straight to may; anything else takes
    /// the general path, which works the deadlines out.
    #[inline(always)]
    fn direct(io: &mut Option<Registration>, ok: bool) -> Option<&mut CoIo<SharedFd>> {
        match io {
            Some(io) if ok && crate::timeout::current_deadline().is_none() => Some(&mut io.0),
            _ => None,
        }
    }

    #[inline(never)]
    fn read_general(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let d = Deadline::for_op(None);
        self.arm_read(&d);
        let r = match &mut self.io {
            Some(io) => io.0.read(buf),
            None => match ready(sys::read(&self.sock, buf)) {
                Some(r) => r,
                None => self.wait_with_dup(|io| io.read(buf)),
            },
        };
        r.map_err(|e| op_error(e, &d))
    }

    #[inline(never)]
    fn write_general(&mut self, buf: &[u8]) -> io::Result<usize> {
        let d = Deadline::for_op(None);
        self.arm_write(&d);
        let r = match &mut self.io {
            Some(io) => io.0.write(buf),
            None => match ready(sys::send(&self.sock, buf)) {
                Some(r) => r,
                None => self.wait_with_dup(|io| io.write(buf)),
            },
        };
        r.map_err(|e| op_error(e, &d))
    }
}

/// [`op_error`] for an operation without a caller's deadline.
#[cold]
#[inline(never)]
fn direct_error(e: io::Error) -> io::Error {
    let none = Deadline {
        at: None,
        timeout: None,
    };
    op_error(e, &none)
}

impl Read for Sock {
    // Inlined into the caller (the server's connection loop): the common
    // case costs no call frame of its own.
    #[inline(always)]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match Sock::direct(&mut self.io, self.direct_read) {
            Some(io) => io.read(buf).map_err(direct_error),
            None => self.read_general(buf),
        }
    }
}

impl Write for Sock {
    #[inline(always)]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match Sock::direct(&mut self.io, self.direct_write) {
            Some(io) => io.write(buf).map_err(direct_error),
            None => self.write_general(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // One `sendmsg` when the socket has room; otherwise wait through `write`.
        match self.sock.send_vectored(bufs) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                match bufs.iter().find(|b| !b.is_empty()) {
                    Some(first) => self.write(first),
                    None => Ok(0),
                }
            }
            r => r,
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

enum Inner {
    Plain(Sock),
    #[cfg(feature = "tls")]
    Tls(Box<TlsStream>),
}

/// A connected socket: TCP, Unix, or TLS over TCP (server or client side).
/// From [`Listener::accept`], [`connect`] or [`tls::connect`](crate::tls::connect).
///
/// Reads and writes park only the calling green thread. Each one fails with
/// kind [`TimedOut`](io::ErrorKind::TimedOut) when the socket's own idle
/// timeout ([`set_read_timeout`](Self::set_read_timeout)) or the caller's
/// [`Timeout`](crate::Timeout) runs out first; the stream stays usable. The
/// socket is closed when the stream is dropped (a TLS stream first tries to
/// send `close_notify` without waiting).
pub struct Stream {
    inner: Inner,
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream")
            .field("fd", &self.as_raw_fd())
            .field("peer_addr", &self.peer_addr().ok())
            .field("tls", &self.is_tls())
            .finish()
    }
}

impl Stream {
    fn plain(sock: Sock) -> Stream {
        Stream {
            inner: Inner::Plain(sock),
        }
    }

    #[cfg(feature = "tls")]
    pub(crate) fn tls(tls: TlsStream) -> Stream {
        Stream {
            inner: Inner::Tls(Box::new(tls)),
        }
    }

    /// The plain socket, or `None` for a TLS stream (then `self` comes back).
    #[cfg(feature = "tls")]
    pub(crate) fn into_plain(self) -> Result<Sock, Stream> {
        match self.inner {
            Inner::Plain(sock) => Ok(sock),
            inner @ Inner::Tls(_) => Err(Stream { inner }),
        }
    }

    fn sock(&self) -> &Sock {
        match &self.inner {
            Inner::Plain(s) => s,
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.sock(),
        }
    }

    fn sock_mut(&mut self) -> &mut Sock {
        match &mut self.inner {
            Inner::Plain(s) => s,
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.sock_mut(),
        }
    }

    /// Idle timeout for each read (like `SO_RCVTIMEO`): a read that waits this
    /// long for data fails with [`TimedOut`](io::ErrorKind::TimedOut). `None`
    /// waits forever; `Some(ZERO)` is an error, as in std. Millisecond
    /// granularity (rounded up).
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let sock = self.sock_mut();
        sock.read_timeout = validate_timeout(timeout)?;
        sock.sync_direct();
        Ok(())
    }

    /// Idle timeout for each write; see [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let sock = self.sock_mut();
        sock.write_timeout = validate_timeout(timeout)?;
        sock.sync_direct();
        Ok(())
    }

    /// The read timeout set by [`set_read_timeout`](Self::set_read_timeout).
    pub fn read_timeout(&self) -> Option<Duration> {
        self.sock().read_timeout
    }

    /// The write timeout set by [`set_write_timeout`](Self::set_write_timeout).
    pub fn write_timeout(&self) -> Option<Duration> {
        self.sock().write_timeout
    }

    /// Shut down reading, writing or both. On a TLS stream, shutting down the
    /// write side first sends `close_notify` (the peer reads a clean EOF).
    pub fn shutdown(&mut self, how: Shutdown) -> io::Result<()> {
        #[cfg(feature = "tls")]
        if let Inner::Tls(t) = &mut self.inner {
            if how != Shutdown::Read {
                t.close_notify()?;
            }
        }
        self.sock().socket().shutdown(how)
    }

    /// The peer's address (an empty path for an unnamed Unix peer).
    pub fn peer_addr(&self) -> io::Result<Addr> {
        Ok(Addr::from_sockaddr(&self.sock().socket().peer_addr()?))
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<Addr> {
        Ok(Addr::from_sockaddr(&self.sock().socket().local_addr()?))
    }

    /// `TCP_NODELAY` (send small writes at once); a no-op on Unix sockets.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        let sock = self.sock();
        if sock.unix {
            Ok(())
        } else {
            sock.socket().set_nodelay(nodelay)
        }
    }

    /// True for a TLS stream.
    pub fn is_tls(&self) -> bool {
        match self.inner {
            Inner::Plain(_) => false,
            #[cfg(feature = "tls")]
            Inner::Tls(_) => true,
        }
    }

    /// Complete the TLS handshake now instead of on the first read or write; a
    /// no-op for plain streams and finished handshakes.
    pub fn handshake(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.handshake(),
        }
    }

    /// Read from the socket itself, under any TLS layer: for bytes a client
    /// sends before its TLS handshake, such as a PROXY protocol header. On a
    /// TLS stream, call it only before the first [`read`](Read::read),
    /// [`write`](Write::write) or [`handshake`](Self::handshake): bytes taken
    /// from the handshake would break it. Honours the timeouts like `read`.
    pub fn read_raw(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.sock_mut().read(buf)
    }

    /// A second handle to the same socket, e.g. to write from one green
    /// thread while another reads. The handles share one descriptor (so
    /// [`as_raw_fd`](AsRawFd::as_raw_fd) is the same), closed when the last
    /// handle is dropped. A clone registers a `dup` of it with the hub only
    /// while it has to wait for the socket, so an idle clone costs no
    /// descriptor; the handle it was cloned from keeps the socket's own
    /// registration (give the clone to the side that waits less, usually
    /// the writer). Timeouts are not copied. A TLS stream's handles share one TLS session: a read and
    /// writes may run at the same time on different green threads (records
    /// are written in order under a green lock; no lock is held while a read
    /// waits for the socket). `close_notify` is sent by an explicit
    /// [`shutdown`](Self::shutdown) or when the last handle is dropped.
    pub fn try_clone(&self) -> io::Result<Stream> {
        match &self.inner {
            Inner::Plain(s) => Ok(Stream::plain(s.clone_handle())),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => Ok(Stream::tls(t.clone_with(t.sock().clone_handle()))),
        }
    }
}

impl Read for Stream {
    #[inline]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(s) => s.read(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.read(buf),
        }
    }
}

impl Write for Stream {
    #[inline]
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(s) => s.write(buf),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.write_vectored(bufs),
        }
    }

    #[inline]
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.inner {
            Inner::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Inner::Tls(t) => t.flush(),
        }
    }
}

impl AsRawFd for Stream {
    /// The socket's fd (for TLS, the TCP socket's).
    fn as_raw_fd(&self) -> RawFd {
        self.sock().socket().as_raw_fd()
    }
}

// ===== connect =====

/// eventlet's `connect(addr)`: a connected TCP or Unix stream. Tries each
/// address `addr` names in turn. Honours the caller's [`Timeout`](crate::Timeout).
///
/// ```
/// let l = eventlet::listen("127.0.0.1:0").unwrap();
/// let c = eventlet::connect(l.local_addr().unwrap()).unwrap();
/// assert_eq!(c.peer_addr().unwrap(), l.local_addr().unwrap());
/// ```
pub fn connect(addr: impl ToListenAddr) -> io::Result<Stream> {
    crate::config::ensure_started();
    let mut last = None;
    for a in addr.to_listen_addrs()? {
        let r = match &a {
            Addr::Inet(sa) => connect_tcp(sa),
            Addr::Unix(path) => connect_unix(path),
        };
        match r {
            Ok(sock) => return Ok(Stream::plain(sock)),
            Err(e) if TimeoutError::from_io(&e).is_some() => return Err(e),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address given")))
}

fn connect_tcp(sa: &SocketAddr) -> io::Result<Sock> {
    let d = Deadline::for_op(None);
    let stream = match op_timeout(None, &d) {
        None => may::net::TcpStream::connect(sa),
        Some(t) => may::net::TcpStream::connect_timeout(sa, t),
    }
    .map_err(|e| op_error(e, &d))?;
    // may's stream deregisters itself in `into_raw_fd`; `Sock` registers again.
    let fd = stream.into_raw_fd();
    // SAFETY: `into_raw_fd` handed over ownership of this open socket fd, and
    // nothing else will close it.
    let sock = unsafe { Socket::from_raw_fd(fd) };
    Sock::new(sock, false)
}

fn connect_unix(path: &Path) -> io::Result<Sock> {
    let sock = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    sock.set_nonblocking(true)?;
    let sa = SockAddr::unix(path)?;
    let mut pause = Duration::from_millis(1);
    loop {
        match sock.connect(&sa) {
            Ok(()) => return Sock::new(sock, true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A Unix connect only waits when the listener's backlog is full,
            // and the kernel gives no readiness event for it: back off.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Some(t) = expired_timeout() {
                    return Err(t.into());
                }
                crate::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

// ===== serve =====

/// Return this error from a [`serve`] handler to stop the server gracefully:
/// `serve` then returns `Ok(())` (eventlet's `StopServe`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StopServe;

impl fmt::Display for StopServe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StopServe")
    }
}

impl Error for StopServe {}

/// What a [`serve`] handler returns.
pub type HandlerResult = Result<(), Box<dyn Error + Send + Sync>>;

/// How the server ended, reported once by whoever ends it first.
struct ServeState {
    outcome: Mutex<Option<io::Result<()>>>,
    done: Semaphore,
}

impl ServeState {
    fn report(&self, r: io::Result<()>) {
        let mut slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.is_none() {
            *slot = Some(r);
            self.done.release();
        }
    }

    fn take(&self) -> io::Result<()> {
        let mut slot = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        slot.take().unwrap_or(Ok(()))
    }
}

/// A concurrency slot of [`serve`], given back when the handler ends.
struct Slot(Arc<Semaphore>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// Reports an accept loop that ended without saying why (it panicked).
struct LoopExit(Arc<ServeState>);

impl Drop for LoopExit {
    fn drop(&mut self) {
        self.0
            .report(Err(io::Error::other("serve's accept loop stopped")));
    }
}

/// Kills the accept loop when `serve` returns, or (without waiting) when the
/// green thread running `serve` is killed.
struct StopLoop(Option<GreenThread<()>>);

impl StopLoop {
    fn stop(mut self) {
        if let Some(gt) = self.0.take() {
            gt.kill();
        }
    }
}

impl Drop for StopLoop {
    fn drop(&mut self) {
        if let Some(gt) = self.0.take() {
            // We are unwinding: waiting here could spin, so kill from elsewhere.
            crate::spawn_n(move || gt.kill());
        }
    }
}

/// eventlet's `serve(sock, handle, concurrency)`: accept connections on
/// `listener` forever, calling `handler(stream, peer)` in a new green thread
/// for each, at most `concurrency` at once (when full, the next connection
/// waits until a handler returns). The stream is closed when its handler returns.
///
/// `serve` blocks the calling green thread. It returns `Ok(())` when a handler
/// returns `Err(StopServe)`, and `Err` when a handler returns another error or
/// panics, when accepting fails (other than [transiently](is_transient_accept_error)),
/// or when a [`Timeout`](crate::Timeout) of the caller expires. Handlers still
/// running are left to finish on their own, as in eventlet.
///
/// Pass an `Arc<Listener>` to keep a handle for [`Listener::shutdown`].
///
/// ```
/// use std::io::{Read, Write};
/// let listener = eventlet::listen("127.0.0.1:0").unwrap();
/// let addr = listener.local_addr().unwrap();
/// let server = eventlet::spawn(move || {
///     eventlet::serve(listener, 100, |mut conn, _peer| {
///         conn.write_all(b"bye")?;
///         Err(eventlet::StopServe.into())
///     })
/// });
/// let mut client = eventlet::connect(addr).unwrap();
/// let mut reply = String::new();
/// client.read_to_string(&mut reply).unwrap();
/// assert_eq!(reply, "bye");
/// assert!(server.join().unwrap().is_ok());
/// ```
pub fn serve<L, H>(listener: L, concurrency: usize, handler: H) -> io::Result<()>
where
    L: Into<Arc<Listener>>,
    H: Fn(Stream, Addr) -> HandlerResult + Send + Sync + 'static,
{
    if concurrency == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "serve needs a concurrency of at least 1",
        ));
    }
    let listener = listener.into();
    let state = Arc::new(ServeState {
        outcome: Mutex::new(None),
        done: Semaphore::new(0),
    });
    let loop_state = state.clone();
    let handler = Arc::new(handler);
    let acceptor = crate::spawn(move || accept_loop(&listener, concurrency, handler, loop_state));
    let guard = StopLoop(Some(acceptor));
    let waited = state.done.acquire();
    guard.stop();
    waited?;
    state.take()
}

fn accept_loop<H>(listener: &Listener, concurrency: usize, handler: Arc<H>, state: Arc<ServeState>)
where
    H: Fn(Stream, Addr) -> HandlerResult + Send + Sync + 'static,
{
    let _exit = LoopExit(state.clone());
    let slots = Arc::new(Semaphore::new(concurrency));
    loop {
        if let Err(t) = slots.acquire() {
            return state.report(Err(t.into()));
        }
        let slot = Slot(slots.clone());
        match listener.accept() {
            Ok((stream, peer)) => spawn_handler(stream, peer, slot, handler.clone(), state.clone()),
            Err(e) if is_transient_accept_error(&e) => {
                log::warn!("serve: accept failed, retrying: {e}");
                drop(slot);
                crate::sleep(Duration::from_millis(10));
            }
            Err(e) => return state.report(Err(e)),
        }
    }
}

fn spawn_handler<H>(stream: Stream, peer: Addr, slot: Slot, handler: Arc<H>, state: Arc<ServeState>)
where
    H: Fn(Stream, Addr) -> HandlerResult + Send + Sync + 'static,
{
    let gt = crate::spawn(move || {
        let _slot = slot;
        handler(stream, peer)
    });
    gt.link(move |gt| match gt.clone().join() {
        Ok(Ok(())) | Err(GreenThreadError::Killed) => {}
        Ok(Err(e)) if e.is::<StopServe>() => state.report(Ok(())),
        Ok(Err(e)) => state.report(Err(io::Error::other(e))),
        Err(e) => state.report(Err(io::Error::other(e))),
    });
}
