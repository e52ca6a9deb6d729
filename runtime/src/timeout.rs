//! `eventlet.Timeout` and `with_timeout`: deadlines that interrupt blocking calls.
//!
//! eventlet's `Timeout` throws an exception into the green thread when it
//! expires. Rust has no asynchronous exceptions, and `may`'s `cancel()` is a
//! sticky kill (every later blocking call would fail too), so a timeout here is a
//! *deadline*: creating a [`Timeout`] pushes it on a per-green-thread stack, and
//! every blocking primitive of this crate (sockets, [`sleep`](crate::sleep),
//! [`Event::wait`](crate::Event::wait), queue `get`/`put`, semaphore `acquire`,
//! pool `spawn`) waits at most until the earliest live deadline. When that
//! deadline passes the call returns [`TimeoutError`] (sockets: an
//! [`io::Error`] of kind [`io::ErrorKind::TimedOut`] wrapping it), naming the
//! Timeout that fired, so the code can tell its own timeout from an outer one
//! (eventlet's `except Timeout as t: if t is not mine: raise`).
//!
//! No timer and no polling is involved: the deadline is handed to the parking
//! call itself. A cancelled or dropped `Timeout` is removed from the stack and
//! can never fire afterwards. Like eventlet, a Timeout only interrupts code at a
//! blocking call; a busy CPU loop runs on.
//!
//! ```
//! use std::time::Duration;
//! let queue = eventlet::queue::Queue::<u32>::new();
//! let t = eventlet::Timeout::new(Duration::from_millis(20));
//! let err = queue.get().unwrap_err();
//! assert!(t.is(&err));
//! ```

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

may::coroutine_local!(static DEADLINES: RefCell<Vec<(u64, Instant)>> = RefCell::new(Vec::new()));

/// Live Timeouts with a deadline in the whole process: when zero, blocking
/// calls skip the per-green-thread lookup entirely (the common server case).
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The error a blocking call returns when a [`Timeout`] expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeoutError {
    id: u64,
}

impl TimeoutError {
    /// The [`TimeoutError`] inside an [`io::Error`], if it is one.
    pub fn from_io(err: &io::Error) -> Option<TimeoutError> {
        err.get_ref()
            .and_then(|inner| inner.downcast_ref::<TimeoutError>())
            .copied()
    }
    /// An error not tied to any [`Timeout`] (an operation's own time limit).
    pub(crate) fn anonymous() -> TimeoutError {
        TimeoutError { id: 0 }
    }

    /// True when no [`Timeout`] fired but the operation's own time limit
    /// ran out (a socket's [`set_read_timeout`](crate::net::Stream::set_read_timeout)).
    ///
    /// ```
    /// use std::io::Read;
    /// use std::time::Duration;
    /// use eventlet::TimeoutError;
    /// let l = eventlet::listen("127.0.0.1:0").unwrap();
    /// let mut c = eventlet::connect(l.local_addr().unwrap()).unwrap();
    /// c.set_read_timeout(Some(Duration::from_millis(10))).unwrap();
    /// let err = c.read(&mut [0u8; 1]).unwrap_err();
    /// assert!(TimeoutError::from_io(&err).unwrap().is_operation_limit());
    /// c.set_read_timeout(None).unwrap();
    /// let _t = eventlet::Timeout::new(Duration::from_millis(10));
    /// let err = c.read(&mut [0u8; 1]).unwrap_err();
    /// assert!(!TimeoutError::from_io(&err).unwrap().is_operation_limit());
    /// ```
    pub fn is_operation_limit(&self) -> bool {
        self.id == 0
    }
}

impl fmt::Display for TimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for TimeoutError {}

impl From<TimeoutError> for io::Error {
    fn from(e: TimeoutError) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, e)
    }
}

/// A deadline for the current green thread (eventlet's `Timeout`, as a
/// deadline rather than an exception): while it is live, every blocking call of
/// this crate (sockets, [`sleep`](crate::sleep), [`Event::wait`](crate::Event::wait),
/// queue `get`/`put`, semaphore `acquire`, pool `spawn`) waits at most until the
/// earliest live deadline, then returns [`TimeoutError`] (sockets: an
/// [`io::Error`] of kind [`TimedOut`](io::ErrorKind::TimedOut) wrapping it).
/// [`is`](Timeout::is) tells this timeout from an outer one. Like eventlet's, it
/// only interrupts blocking calls, never a busy loop.
///
/// It starts when created and stops when cancelled or dropped. It belongs to the
/// green thread that made it, so it is neither `Send` nor `Sync`.
///
/// ```
/// use std::time::{Duration, Instant};
/// // eventlet: `with Timeout(0.05, False): sleep(10)` — a silent timeout.
/// let start = Instant::now();
/// {
///     let t = eventlet::Timeout::new(Duration::from_millis(50));
///     eventlet::sleep(Duration::from_secs(10));
///     assert!(t.expired());
/// }
/// assert!(start.elapsed() < Duration::from_secs(5));
/// ```
#[must_use = "a Timeout stops when dropped: keep it in a variable (`let _t = ...`) for as long as it should run"]
pub struct Timeout {
    id: u64,
    deadline: Option<Instant>,
    armed: bool,
    expired_at_cancel: bool,
    _not_send: PhantomData<*const ()>,
}

impl Timeout {
    /// Start a timeout that expires `dur` from now.
    pub fn new(dur: Duration) -> Timeout {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let deadline = Instant::now().checked_add(dur);
        if let Some(d) = deadline {
            ACTIVE.fetch_add(1, Ordering::Relaxed);
            DEADLINES.with(|s| s.borrow_mut().push((id, d)));
        }
        Timeout {
            id,
            deadline,
            armed: deadline.is_some(),
            expired_at_cancel: false,
            _not_send: PhantomData,
        }
    }

    /// eventlet's `Timeout(None)`: never fires.
    pub fn never() -> Timeout {
        Timeout {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            deadline: None,
            armed: false,
            expired_at_cancel: false,
            _not_send: PhantomData,
        }
    }

    /// Stop the timeout; it will never fire afterwards. Idempotent.
    pub fn cancel(&mut self) {
        if !self.armed {
            return;
        }
        self.armed = false;
        self.expired_at_cancel = self.deadline_passed();
        ACTIVE.fetch_sub(1, Ordering::Relaxed);
        let id = self.id;
        DEADLINES.with(|s| s.borrow_mut().retain(|(i, _)| *i != id));
    }

    /// True while the timeout is running and has not expired yet.
    pub fn pending(&self) -> bool {
        self.armed && !self.deadline_passed()
    }

    /// True once the deadline passed while the timeout was running.
    pub fn expired(&self) -> bool {
        if self.armed {
            self.deadline_passed()
        } else {
            self.expired_at_cancel
        }
    }

    /// Whether `err` was caused by this timeout (and not an outer one).
    pub fn is(&self, err: &TimeoutError) -> bool {
        err.id == self.id
    }

    /// Whether the IO error `err` was caused by this timeout.
    pub fn is_io(&self, err: &io::Error) -> bool {
        TimeoutError::from_io(err).is_some_and(|e| self.is(&e))
    }

    /// The error this timeout makes blocking calls return.
    pub fn error(&self) -> TimeoutError {
        TimeoutError { id: self.id }
    }

    fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl fmt::Debug for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timeout")
            .field("id", &self.id)
            .field("pending", &self.pending())
            .field("expired", &self.expired())
            .finish()
    }
}

/// Run `f` under a [`Timeout`] of `dur`: `Err` if the timeout expired while `f`
/// ran (an outer timeout's expiry is passed through inside `Ok`, never swallowed).
///
/// eventlet's `timeout_value=` is `.unwrap_or(value)`.
///
/// ```
/// use std::time::Duration;
/// let r = eventlet::with_timeout(Duration::from_millis(10), || {
///     eventlet::sleep(Duration::from_secs(10));
///     "done"
/// });
/// assert!(r.is_err());
/// let r = eventlet::with_timeout(Duration::from_secs(10), || "fast");
/// assert_eq!(r, Ok("fast"));
/// ```
pub fn with_timeout<R>(dur: Duration, f: impl FnOnce() -> R) -> Result<R, TimeoutError> {
    let t = Timeout::new(dur);
    let r = f();
    if t.expired() {
        Err(t.error())
    } else {
        Ok(r)
    }
}

/// Run `f` with the current green thread's Timeouts suspended, for internal
/// waits that have no way to report one (`GreenThread::wait`,
/// `Iterator::next` of a pile). Retrying such a wait under an expired Timeout
/// would spin, and spinning (even with `yield_now`) starves the worker.
/// `f` must not cancel the caller's Timeouts.
pub(crate) fn shielded<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(Vec<(u64, Instant)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let outer = std::mem::take(&mut self.0);
            DEADLINES.with(|s| {
                let mut s = s.borrow_mut();
                let inner = std::mem::replace(&mut *s, outer);
                s.extend(inner);
            });
        }
    }
    let _restore = Restore(DEADLINES.with(|s| std::mem::take(&mut *s.borrow_mut())));
    f()
}

/// The earliest live deadline of the current green thread, with its Timeout id.
// Inlined into every socket operation: the common case (no Timeout running
// anywhere) is one relaxed load.
#[inline]
pub(crate) fn current_deadline() -> Option<(Instant, u64)> {
    if ACTIVE.load(Ordering::Relaxed) == 0 {
        return None;
    }
    earliest_deadline()
}

#[cold]
#[inline(never)]
fn earliest_deadline() -> Option<(Instant, u64)> {
    DEADLINES.with(|s| {
        s.borrow()
            .iter()
            .min_by_key(|(_, d)| *d)
            .map(|(id, d)| (*d, *id))
    })
}

/// The deadline a blocking call must honour: its own limit or the Timeout's,
/// whichever comes first. `timeout` is `Some` when the Timeout's is the earlier.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub at: Option<Instant>,
    pub timeout: Option<TimeoutError>,
}

impl Deadline {
    #[inline]
    pub fn for_op(op: Option<Instant>) -> Deadline {
        match (current_deadline(), op) {
            (Some((d, id)), Some(o)) if d <= o => Deadline {
                at: Some(d),
                timeout: Some(TimeoutError { id }),
            },
            (Some((d, id)), None) => Deadline {
                at: Some(d),
                timeout: Some(TimeoutError { id }),
            },
            (_, o) => Deadline {
                at: o,
                timeout: None,
            },
        }
    }

    /// Time left, `None` for no deadline, `Some(ZERO)` once passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.at.map(|d| d.saturating_duration_since(Instant::now()))
    }
}
