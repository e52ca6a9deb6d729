//! eventlet's `hubs.trampoline`: wait green-ly until a foreign file descriptor
//! is readable or writable.
//!
//! C libraries and crates that own their sockets (zmq, database drivers) hand
//! out a raw fd to poll. [`trampoline`] parks the calling green thread until that
//! fd is ready, while the other green threads keep running; it honours its own
//! `timeout` and every [`Timeout`](crate::Timeout) of the green thread, and a
//! [`kill`](crate::kill) while it waits. It also works from plain OS threads.
//!
//! ```
//! use eventlet::hubs::{trampoline, Interest};
//! use std::io::Write;
//! use std::os::unix::net::UnixStream;
//! use std::time::Duration;
//!
//! let (a, mut b) = UnixStream::pair().unwrap();
//! // Nothing to read yet: the wait ends with its timeout.
//! let err = trampoline(&a, Interest::Read, Some(Duration::from_millis(20))).unwrap_err();
//! assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
//! // A green thread writes; the wait ends as soon as the byte arrives.
//! let writer = eventlet::spawn(move || b.write_all(b"x").map(|_| b));
//! let ready = trampoline(&a, Interest::Read, Some(Duration::from_secs(10))).unwrap();
//! assert!(ready.readable());
//! # writer.join().unwrap().unwrap();
//! ```
//!
//! # How it waits
//!
//! The runtime keeps one *hub* OS thread blocked in `epoll_wait` on an epoll
//! instance of its own; nothing polls in a loop. A call first asks the kernel
//! (`poll` with a zero timeout) whether the fd is ready already and returns at
//! once if so. Otherwise it registers a duplicate of the fd (`F_DUPFD_CLOEXEC`)
//! one-shot and level-triggered for the wanted direction only, parks on the
//! runtime's waiter (the same parking every other blocking call
//! uses, so `Timeout`, kill and plain threads behave alike), and deregisters and
//! closes the duplicate however the wait ends.
//!
//! Why not `may`'s own registration (`may::io::CoIo` + `WaitIo`): it registers
//! an fd edge-triggered for reading *and* writing at once (a read wait would be
//! woken by every writable edge), sets `O_NONBLOCK` on the fd's shared file
//! description (changing how the library that owns the fd sees it), fails with
//! `EEXIST` for an fd `may` already watches (a socket of this runtime), and
//! `wait_io` has no timeout. The duplicate makes any number of concurrent
//! waits on one fd legal (a reader and a writer, as in eventlet, or more).
//! The price is one hop through the hub thread per wait that has to park.
//!
//! As in eventlet's hub, an error or hang-up on the fd ends the wait whatever
//! the direction asked for; [`Ready`] says which it was.

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The direction [`trampoline`] waits for (eventlet's `read=True` / `write=True`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interest {
    /// Readable (or at end of file / hung up).
    Read,
    /// Writable.
    Write,
    /// Either direction.
    ReadWrite,
}

impl Interest {
    /// A half-close by the peer ends a read wait only: a writer whose send
    /// buffer is full must keep waiting, or its retry loop would spin.
    fn poll_events(self) -> libc::c_short {
        match self {
            Interest::Read => libc::POLLIN | libc::POLLRDHUP,
            Interest::Write => libc::POLLOUT,
            Interest::ReadWrite => libc::POLLIN | libc::POLLRDHUP | libc::POLLOUT,
        }
    }

    fn epoll_events(self) -> u32 {
        match self {
            Interest::Read => libc::EPOLLIN as u32 | libc::EPOLLRDHUP as u32,
            Interest::Write => libc::EPOLLOUT as u32,
            Interest::ReadWrite => {
                libc::EPOLLIN as u32 | libc::EPOLLOUT as u32 | libc::EPOLLRDHUP as u32
            }
        }
    }
}

/// What the fd was ready for when [`trampoline`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ready {
    readable: bool,
    writable: bool,
    hangup: bool,
    error: bool,
}

impl Ready {
    /// Data (or end of file) can be read without blocking.
    pub fn readable(&self) -> bool {
        self.readable
    }
    /// Data can be written without blocking.
    pub fn writable(&self) -> bool {
        self.writable
    }
    /// The peer hung up (one or both directions).
    pub fn hangup(&self) -> bool {
        self.hangup
    }
    /// An error is pending on the fd (read it with `SO_ERROR` or the next call).
    pub fn error(&self) -> bool {
        self.error
    }

    fn from_poll(revents: libc::c_short) -> Ready {
        Ready {
            readable: revents & libc::POLLIN != 0,
            writable: revents & libc::POLLOUT != 0,
            hangup: revents & (libc::POLLHUP | libc::POLLRDHUP) != 0,
            error: revents & libc::POLLERR != 0,
        }
    }

    fn from_epoll(events: u32) -> Ready {
        Ready {
            readable: events & libc::EPOLLIN as u32 != 0,
            writable: events & libc::EPOLLOUT as u32 != 0,
            hangup: events & (libc::EPOLLHUP as u32 | libc::EPOLLRDHUP as u32) != 0,
            error: events & libc::EPOLLERR as u32 != 0,
        }
    }

    fn any(&self) -> bool {
        self.readable || self.writable || self.hangup || self.error
    }
}

/// Wait until `fd` is ready for `interest`, green-ly: other green threads run
/// meanwhile. eventlet's `hubs.trampoline(fd, read=.., write=.., timeout=..)`.
///
/// Returns at once if the fd is ready already. Ends with an [`io::Error`] of
/// kind [`TimedOut`](io::ErrorKind::TimedOut) when `timeout` passes (an
/// anonymous [`TimeoutError`] inside) or when a [`Timeout`](crate::Timeout) of
/// the green thread expires (that Timeout's error inside: `t.is_io(&err)`).
/// An fd that is not open gives `EBADF`. The fd is only polled, never read,
/// written, closed or changed (no `O_NONBLOCK` is set on it).
///
/// The fd must stay open until the call returns; closing it from elsewhere
/// meanwhile does not end the wait (the runtime waits on its own duplicate),
/// so pair such a close with a [`kill`](crate::kill) or a timeout.
pub fn trampoline(
    fd: &impl AsRawFd,
    interest: Interest,
    timeout: Option<Duration>,
) -> io::Result<Ready> {
    let fd = fd.as_raw_fd();
    let op_deadline = timeout.map(|t| Instant::now() + t);
    if let Some(ready) = poll_now(fd, interest)? {
        return Ok(ready);
    }
    let hub = hub()?;
    let waiter = Waiter::new();
    let slot = Arc::new(Slot {
        waiter: waiter.clone(),
        events: AtomicU32::new(0),
    });
    let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
    let reg = Registration {
        hub,
        token,
        fd: dup(fd)?,
    };
    hub.lock().insert(token, slot.clone());
    let mut ev = libc::epoll_event {
        events: interest.epoll_events() | libc::EPOLLONESHOT as u32,
        u64: token,
    };
    // SAFETY: `hub.epfd` and `reg.fd` are open fds owned by this module; `ev`
    // is a valid epoll_event for the duration of the call.
    if unsafe {
        libc::epoll_ctl(
            hub.epfd.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            reg.fd.as_raw_fd(),
            &mut ev,
        )
    } < 0
    {
        let err = io::Error::last_os_error();
        // epoll refuses regular files and directories, which are always ready.
        if err.raw_os_error() == Some(libc::EPERM) {
            return Ok(Ready::from_poll(interest.poll_events() & !libc::POLLRDHUP));
        }
        return Err(err);
    }
    let wake = waiter::wait(&waiter, op_deadline);
    let fired = match wake {
        Wake::Notified => true,
        // The hub may have fired between the deadline and now: it removes the
        // entry under the lock before notifying, so its absence means it did.
        Wake::OpTimeout | Wake::Timeout(_) => hub.lock().remove(&token).is_none(),
    };
    drop(reg);
    if fired {
        return Ok(Ready::from_epoll(slot.events.load(Ordering::Acquire)));
    }
    Err(match wake {
        Wake::Timeout(t) => t.into(),
        _ => TimeoutError::anonymous().into(),
    })
}

/// `poll` with a zero timeout: `Some` if `fd` is ready now.
fn poll_now(fd: RawFd, interest: Interest) -> io::Result<Option<Ready>> {
    let mut p = libc::pollfd {
        fd,
        events: interest.poll_events(),
        revents: 0,
    };
    loop {
        // SAFETY: `p` is one valid pollfd; poll only reads fd and writes revents.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n >= 0 {
            break;
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
    if p.revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let ready = Ready::from_poll(p.revents);
    Ok(ready.any().then_some(ready))
}

fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only duplicates `fd` (EBADF if it is not open).
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` is a freshly created fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// One parked wait, found by its token when the hub sees the event.
struct Slot {
    waiter: Arc<Waiter>,
    events: AtomicU32,
}

/// Undoes a registration however the wait ends (also when the green thread is
/// killed while parked): forget the token, deregister, then close the duplicate
/// (an fd must leave the epoll set before its last duplicate closes, or the
/// kernel keeps watching the file).
struct Registration {
    hub: &'static Hub,
    token: u64,
    fd: OwnedFd,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.lock().remove(&self.token);
        // SAFETY: both fds are open; DEL takes no event pointer since Linux 2.6.9.
        unsafe {
            libc::epoll_ctl(
                self.hub.epfd.as_raw_fd(),
                libc::EPOLL_CTL_DEL,
                self.fd.as_raw_fd(),
                std::ptr::null_mut(),
            );
        }
    }
}

static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1);

struct Hub {
    epfd: OwnedFd,
    waiting: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Hub {
    /// Held only to look up or change the table, never across a wait.
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The hub, started on first use. A failed start (out of fds) is reported to
/// that caller and tried again by the next.
fn hub() -> io::Result<&'static Hub> {
    static HUB: OnceLock<&'static Hub> = OnceLock::new();
    static START: Mutex<()> = Mutex::new(());
    if let Some(h) = HUB.get() {
        return Ok(h);
    }
    let _one = START.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(h) = HUB.get() {
        return Ok(h);
    }
    // SAFETY: plain syscall; the result is checked.
    let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    if epfd < 0 {
        return Err(io::Error::last_os_error());
    }
    let hub: &'static Hub = Box::leak(Box::new(Hub {
        // SAFETY: `epfd` is a fresh fd owned by nobody else.
        epfd: unsafe { OwnedFd::from_raw_fd(epfd) },
        waiting: Mutex::new(HashMap::new()),
    }));
    std::thread::Builder::new()
        .name("eventlet-hub".into())
        .spawn(move || run(hub))?;
    let _ = HUB.set(hub);
    Ok(hub)
}

fn run(hub: &'static Hub) {
    const BATCH: usize = 64;
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; BATCH];
    loop {
        // SAFETY: `events` has room for BATCH entries; the epoll fd lives for
        // the whole process.
        let n = unsafe {
            libc::epoll_wait(
                hub.epfd.as_raw_fd(),
                events.as_mut_ptr(),
                BATCH as libc::c_int,
                -1,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                log::error!("eventlet hub: epoll_wait failed: {err}");
                std::thread::sleep(Duration::from_millis(10));
            }
            continue;
        }
        let mut waiting = hub.lock();
        for ev in &events[..n as usize] {
            // Copies out of the (packed) struct.
            let (token, bits) = (ev.u64, ev.events);
            // Absent when the wait already ended (timeout, kill): ignore.
            if let Some(slot) = waiting.remove(&token) {
                slot.events.store(bits, Ordering::Release);
                slot.waiter.notify();
            }
        }
    }
}
