//! Green UDP sockets (eventlet's `green.socket.socket(AF_INET, SOCK_DGRAM)`).
//!
//! Sends and receives park only the calling green thread and honour its
//! [`Timeout`](crate::Timeout) (an [`io::Error`] of kind
//! [`TimedOut`](io::ErrorKind::TimedOut) wrapping the
//! [`TimeoutError`](crate::TimeoutError)); host names go through
//! [`green::dns`](super::dns).
//!
//! ```
//! use eventlet::green::udp::UdpSocket;
//! let server = UdpSocket::bind("127.0.0.1:0").unwrap();
//! let addr = server.local_addr().unwrap();
//! let client = UdpSocket::bind("127.0.0.1:0").unwrap();
//! client.send_to(b"ping", addr).unwrap();
//! let mut buf = [0; 16];
//! let (n, from) = server.recv_from(&mut buf).unwrap();
//! assert_eq!(&buf[..n], b"ping");
//! assert_eq!(from, client.local_addr().unwrap());
//! ```
//!
//! Several green threads may share one socket (through an `Arc`): receivers
//! take turns, as do senders, because the scheduler's IO object has a single
//! waiter slot per direction.

use crate::net::{op_error, op_timeout, validate_timeout, ToListenAddr};
use crate::semaphore::Semaphore;
use crate::timeout::Deadline;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Timeouts of one direction: the user's idle timeout and the value last
/// handed to may.
#[derive(Default)]
struct Timeouts {
    own: Option<Duration>,
    armed: Option<Duration>,
}

/// A green datagram socket; see the [module docs](self).
pub struct UdpSocket {
    sock: may::net::UdpSocket,
    recv_turn: Semaphore,
    send_turn: Semaphore,
    read: Mutex<Timeouts>,
    write: Mutex<Timeouts>,
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

fn inet(addr: impl ToListenAddr) -> io::Result<SocketAddr> {
    addr.to_listen_addrs()?
        .into_iter()
        .find_map(|a| a.inet())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not an IP address"))
}

impl UdpSocket {
    /// Bind to the first IP address `addr` names (port 0: any free port).
    pub fn bind(addr: impl ToListenAddr) -> io::Result<UdpSocket> {
        crate::config::ensure_started();
        let sa = inet(addr)?;
        Ok(UdpSocket {
            sock: may::net::UdpSocket::bind(sa)?,
            recv_turn: Semaphore::new(1),
            send_turn: Semaphore::new(1),
            read: Mutex::new(Timeouts::default()),
            write: Mutex::new(Timeouts::default()),
        })
    }

    /// Set the default peer: [`send`](Self::send) goes there and
    /// [`recv`](Self::recv) only takes its datagrams. Does not block (beyond
    /// resolving a name).
    pub fn connect(&self, addr: impl ToListenAddr) -> io::Result<()> {
        self.sock.connect(inet(addr)?)
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()
    }

    /// The connected peer, if [`connect`](Self::connect) was called.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.inner().peer_addr()
    }

    /// Idle timeout of each receive (`None`: wait for ever). Millisecond
    /// granularity; `Some(ZERO)` is an error, as in std.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        lock(&self.read).own = validate_timeout(t)?;
        Ok(())
    }

    /// Idle timeout of each send; see [`set_read_timeout`](Self::set_read_timeout).
    pub fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        lock(&self.write).own = validate_timeout(t)?;
        Ok(())
    }

    /// `SO_BROADCAST`: allow sending to a broadcast address.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock.set_broadcast(on)
    }

    /// Send one datagram to `addr`; the number of bytes sent.
    pub fn send_to(&self, buf: &[u8], addr: impl ToListenAddr) -> io::Result<usize> {
        let to = inet(addr)?;
        self.with_write(|s| s.send_to(buf, to))
    }

    /// Send one datagram to the [connected](Self::connect) peer.
    pub fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.with_write(|s| s.send(buf))
    }

    /// Receive one datagram and its sender. A datagram longer than `buf` is
    /// cut to fit (the rest is lost, as with any UDP socket).
    pub fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.with_read(|s| s.recv_from(buf))
    }

    /// Receive one datagram from the [connected](Self::connect) peer.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.with_read(|s| s.recv(buf))
    }

    fn with_read<R>(
        &self,
        op: impl FnOnce(&may::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        let _turn = self.recv_turn.guard()?;
        let d = Deadline::for_op(None);
        self.arm(&self.read, &d, |s, t| s.set_read_timeout(t))?;
        op(&self.sock).map_err(|e| udp_error(e, &d))
    }

    fn with_write<R>(
        &self,
        op: impl FnOnce(&may::net::UdpSocket) -> io::Result<R>,
    ) -> io::Result<R> {
        let _turn = self.send_turn.guard()?;
        let d = Deadline::for_op(None);
        self.arm(&self.write, &d, |s, t| s.set_write_timeout(t))?;
        op(&self.sock).map_err(|e| udp_error(e, &d))
    }

    fn arm(
        &self,
        which: &Mutex<Timeouts>,
        d: &Deadline,
        set: impl FnOnce(&may::net::UdpSocket, Option<Duration>) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut t = lock(which);
        let want = op_timeout(t.own, d);
        if want != t.armed {
            set(&self.sock, want)?;
            t.armed = want;
        }
        Ok(())
    }
}

/// Outside green threads may blocks on the socket's `SO_RCVTIMEO`, whose
/// expiry reads as `WouldBlock`: the same per-op timeout as may's own timer.
fn udp_error(e: io::Error, d: &Deadline) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        return op_error(io::Error::new(io::ErrorKind::TimedOut, "timeout"), d);
    }
    op_error(e, d)
}

fn lock(m: &Mutex<Timeouts>) -> std::sync::MutexGuard<'_, Timeouts> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl AsRawFd for UdpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.inner().as_raw_fd()
    }
}
