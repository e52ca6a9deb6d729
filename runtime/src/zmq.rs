//! eventlet's `green.zmq`: ZeroMQ sockets whose blocking sends and receives
//! park only the calling green thread (cargo feature `zmq`).
//!
//! Built on the `zmq` crate (libzmq, compiled from source by its
//! `zmq-sys`). A [`Socket`] does every operation non-blocking; when libzmq
//! answers `EAGAIN` it waits on the socket's `ZMQ_FD` with
//! [`hubs::trampoline`](crate::hubs::trampoline) and re-reads `ZMQ_EVENTS`, as
//! eventlet's `green.zmq` does. `ZMQ_FD` only signals that libzmq's internal
//! state changed, so readiness is always taken from `ZMQ_EVENTS`, never from the
//! fd. Waits honour [`Timeout`](crate::Timeout) (an [`io::Error`] of kind
//! `TimedOut`) and a kill.
//!
//! A libzmq socket must be used by one thread at a time, so [`Socket`] is
//! `Send` but not `Sync`: give each socket to one green thread, and funnel other
//! green threads' messages to it through a [`queue`](crate::queue).
//!
//! ```
//! use eventlet::zmq::{Context, Socket, REP, REQ};
//! let ctx = Context::new();
//! let rep = Socket::new(&ctx, REP).unwrap();
//! rep.bind("inproc://doc").unwrap();
//! let server = eventlet::spawn(move || {
//!     let msg = rep.recv_bytes(0).unwrap();
//!     rep.send(&[b"re: ", &msg[..]].concat(), 0).unwrap();
//! });
//! let req = Socket::new(&ctx, REQ).unwrap();
//! req.connect("inproc://doc").unwrap();
//! req.send("hi", 0).unwrap();
//! assert_eq!(req.recv_bytes(0).unwrap(), b"re: hi");
//! server.join().unwrap();
//! ```

use crate::hubs::{trampoline, Interest};
use std::io;
use std::ops::Deref;
use std::os::fd::{AsRawFd, RawFd};

pub use ::zmq::{
    Context, Message, PollEvents, SocketType, DEALER, DONTWAIT, PAIR, POLLIN, POLLOUT, PUB, PULL,
    PUSH, REP, REQ, ROUTER, SNDMORE, SUB, XPUB, XSUB,
};

/// A ZeroMQ socket with green blocking calls. Everything else of
/// [`zmq::Socket`] (bind, connect, options) is reached through
/// `Deref`.
pub struct Socket {
    inner: ::zmq::Socket,
}

impl Socket {
    /// `ctx.socket(kind)`.
    pub fn new(ctx: &Context, kind: SocketType) -> io::Result<Socket> {
        Ok(Socket {
            inner: ctx.socket(kind)?,
        })
    }

    /// Wrap a socket made by the `zmq` crate.
    pub fn from_zmq(inner: ::zmq::Socket) -> Socket {
        Socket { inner }
    }

    /// The `zmq` crate's socket (for calls that never block).
    pub fn into_inner(self) -> ::zmq::Socket {
        self.inner
    }

    /// Send one message part. With [`DONTWAIT`] in `flags` this never waits
    /// (`EAGAIN` comes back as `WouldBlock`); otherwise it waits green-ly until
    /// libzmq takes the message.
    pub fn send(&self, data: impl Into<Message>, flags: i32) -> io::Result<()> {
        let msg: Message = data.into();
        loop {
            // The binding's `send` consumes its message even on EAGAIN, so
            // each try sends a copy and `msg` stays for the retry.
            match self.inner.send(&msg[..], flags | DONTWAIT) {
                Ok(()) => return Ok(()),
                Err(::zmq::Error::EAGAIN) if flags & DONTWAIT == 0 => self.wait(POLLOUT)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Send the parts as one multipart message.
    pub fn send_multipart<I, T>(&self, parts: I, flags: i32) -> io::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<Message>,
    {
        let mut parts = parts.into_iter().peekable();
        while let Some(part) = parts.next() {
            let more = if parts.peek().is_some() { SNDMORE } else { 0 };
            self.send(part, flags | more)?;
        }
        Ok(())
    }

    /// Receive one message part, waiting green-ly unless `flags` has
    /// [`DONTWAIT`].
    pub fn recv_bytes(&self, flags: i32) -> io::Result<Vec<u8>> {
        loop {
            match self.inner.recv_bytes(flags | DONTWAIT) {
                Ok(b) => return Ok(b),
                Err(::zmq::Error::EAGAIN) if flags & DONTWAIT == 0 => self.wait(POLLIN)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Receive all parts of one multipart message.
    pub fn recv_multipart(&self, flags: i32) -> io::Result<Vec<Vec<u8>>> {
        let mut parts = vec![self.recv_bytes(flags)?];
        while self.inner.get_rcvmore()? {
            // The other parts arrived with the first (libzmq delivers a
            // multipart message whole).
            parts.push(self.recv_bytes(flags)?);
        }
        Ok(parts)
    }

    /// Wait green-ly until `ZMQ_EVENTS` has `want`.
    fn wait(&self, want: PollEvents) -> io::Result<()> {
        loop {
            // Reading ZMQ_EVENTS also processes libzmq's pending commands and
            // re-arms ZMQ_FD, so the fd wait below cannot miss a change.
            if self.inner.get_events()?.contains(want) {
                return Ok(());
            }
            trampoline(&self.inner.get_fd()?, Interest::Read, None)?;
        }
    }
}

impl Deref for Socket {
    type Target = ::zmq::Socket;
    fn deref(&self) -> &::zmq::Socket {
        &self.inner
    }
}

impl AsRawFd for Socket {
    /// `ZMQ_FD`.
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("type", &self.inner.get_socket_type().ok())
            .finish()
    }
}
