//! `eventlet.event.Event`: a one-shot value (or error) that any number of green
//! threads can wait for.
//!
//! Waiters park on the runtime's [`Waiter`]; [`Event::send`] wakes them all and
//! does not yield. Each woken waiter reads the outcome of the very send that woke
//! it, even if the event is [reset](Event::reset) (and sent again) before it got
//! to run: eventlet schedules each wake-up with the value captured at send time.

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::error::Error;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What an [`Event`] was sent.
enum Outcome<T> {
    Value(T),
    Exception(Arc<dyn Error + Send + Sync>),
}

impl<T: Clone> Outcome<T> {
    fn read(&self) -> Result<T, Arc<dyn Error + Send + Sync>> {
        match self {
            Outcome::Value(v) => Ok(v.clone()),
            Outcome::Exception(e) => Err(e.clone()),
        }
    }
}

/// An outcome taken away by `reset` while waiters it woke had not read it yet.
struct Retired<T> {
    send: u64,
    outcome: Outcome<T>,
    readers: usize,
}

struct State<T> {
    outcome: Option<Outcome<T>>,
    /// Sends so far; a waiter registered now is woken by send number `sends + 1`.
    sends: u64,
    waiters: Vec<Arc<Waiter>>,
    /// Waiters woken by the current send that have not read the outcome yet.
    readers: usize,
    retired: Vec<Retired<T>>,
}

impl<T> State<T> {
    /// Read the outcome of send number `send` for a waiter it woke, counting
    /// that waiter as served. `None` only if no such send reached this waiter.
    fn claim<R>(&mut self, send: u64, read: impl FnOnce(&Outcome<T>) -> R) -> Option<R> {
        if self.sends == send {
            if let Some(o) = &self.outcome {
                let r = read(o);
                self.readers -= 1;
                return Some(r);
            }
        }
        let i = self.retired.iter().position(|r| r.send == send)?;
        let r = read(&self.retired[i].outcome);
        self.retired[i].readers -= 1;
        if self.retired[i].readers == 0 {
            self.retired.swap_remove(i);
        }
        Some(r)
    }
}

/// [`Event::send`] or [`Event::send_exception`] on an event that was already
/// sent (eventlet's `AssertionError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadySent;

impl fmt::Display for AlreadySent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event was already sent")
    }
}

impl Error for AlreadySent {}

/// [`Event::reset`] on an event that was never sent (eventlet's
/// `AssertionError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotSent;

impl fmt::Display for NotSent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the event was not sent, so it cannot be reset")
    }
}

impl Error for NotSent {}

/// Why [`Event::wait`] returned no value.
///
/// Equality is identity, like Python's `is`: two `Exception`s are equal when
/// they hold the very same error object, two `Timeout`s when the same
/// [`Timeout`](crate::Timeout) fired.
#[derive(Debug, Clone)]
pub enum EventError {
    /// The event was sent this error with [`Event::send_exception`]; every
    /// waiter gets the same shared error.
    Exception(Arc<dyn Error + Send + Sync>),
    /// A [`Timeout`](crate::Timeout) of the waiting green thread expired.
    Timeout(TimeoutError),
}

impl PartialEq for EventError {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (EventError::Exception(a), EventError::Exception(b)) => Arc::ptr_eq(a, b),
            (EventError::Timeout(a), EventError::Timeout(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for EventError {}

impl fmt::Display for EventError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // Transparent: the sent error is the real failure.
            EventError::Exception(e) => e.fmt(f),
            EventError::Timeout(t) => t.fmt(f),
        }
    }
}

impl Error for EventError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            EventError::Exception(e) => e.source(),
            EventError::Timeout(_) => None,
        }
    }
}

impl From<TimeoutError> for EventError {
    fn from(t: TimeoutError) -> Self {
        EventError::Timeout(t)
    }
}

/// A one-shot result that green threads can wait for (eventlet's `Event`).
///
/// Share it with an [`Arc`]; it is `Send + Sync` whenever `T: Send`.
///
/// ```
/// use std::sync::Arc;
/// let ev = Arc::new(eventlet::Event::new());
/// let ev2 = ev.clone();
/// let waiter = eventlet::spawn(move || ev2.wait().unwrap());
/// ev.send("hello").unwrap();
/// assert_eq!(waiter.wait(), Ok("hello"));
/// assert!(ev.send("again").is_err()); // one-shot until reset
/// assert_eq!(ev.wait(), Ok("hello")); // returns at once once sent
/// ```
pub struct Event<T> {
    state: Mutex<State<T>>,
}

/// Cleans up after a waiter whose green thread unwinds (killed) while parked.
struct Pending<'a, T> {
    event: &'a Event<T>,
    w: Arc<Waiter>,
    send: u64,
    armed: bool,
}

impl<T> Drop for Pending<'_, T> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.event.lock();
            if self.w.is_notified() {
                // Woken but never read: stop counting it as a pending reader.
                st.claim(self.send, |_| ());
            } else {
                st.waiters.retain(|x| !Arc::ptr_eq(x, &self.w));
            }
        }
    }
}

impl<T> Event<T> {
    /// A fresh event, not sent yet.
    pub fn new() -> Self {
        Event {
            state: Mutex::new(State {
                outcome: None,
                sends: 0,
                waiters: Vec::new(),
                readers: 0,
                retired: Vec::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store `value` and wake every waiter; does not yield. An error if the
    /// event was already sent (and not [reset](Self::reset) since).
    pub fn send(&self, value: T) -> Result<(), AlreadySent> {
        self.send_outcome(Outcome::Value(value))
    }

    /// Make every waiter (present and future, until a reset) get `err` as
    /// [`EventError::Exception`].
    ///
    /// ```
    /// let ev = eventlet::Event::<u32>::new();
    /// ev.send_exception("boom").unwrap();
    /// let err = ev.wait().unwrap_err();
    /// assert_eq!(err.to_string(), "boom");
    /// ```
    pub fn send_exception(
        &self,
        err: impl Into<Box<dyn Error + Send + Sync>>,
    ) -> Result<(), AlreadySent> {
        self.send_outcome(Outcome::Exception(Arc::from(err.into())))
    }

    fn send_outcome(&self, outcome: Outcome<T>) -> Result<(), AlreadySent> {
        let mut st = self.lock();
        if st.outcome.is_some() {
            return Err(AlreadySent);
        }
        st.sends += 1;
        st.outcome = Some(outcome);
        st.readers = st.waiters.len();
        for w in std::mem::take(&mut st.waiters) {
            w.notify();
        }
        Ok(())
    }

    /// Make the event sendable again (eventlet's undocumented `reset`). Waiters
    /// already woken by the previous send still get its outcome. An error on an
    /// event that is not sent.
    pub fn reset(&self) -> Result<(), NotSent> {
        let mut st = self.lock();
        let outcome = st.outcome.take().ok_or(NotSent)?;
        if st.readers > 0 {
            let retired = Retired {
                send: st.sends,
                outcome,
                readers: st.readers,
            };
            st.retired.push(retired);
            st.readers = 0;
        }
        Ok(())
    }

    /// True once sent (a value or an exception).
    pub fn ready(&self) -> bool {
        self.lock().outcome.is_some()
    }

    /// True when sent a value.
    pub fn has_result(&self) -> bool {
        matches!(self.lock().outcome, Some(Outcome::Value(_)))
    }

    /// True when sent an exception.
    pub fn has_exception(&self) -> bool {
        matches!(self.lock().outcome, Some(Outcome::Exception(_)))
    }

    /// Green threads blocked in `wait` now (not in eventlet; like
    /// [`Semaphore::waiting`](crate::Semaphore::waiting)).
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }
}

impl<T: Clone> Event<T> {
    /// Block until the event is sent and return its value; at once if it
    /// already was. Fails with the sent exception, or when a
    /// [`Timeout`](crate::Timeout) of the caller expires.
    pub fn wait(&self) -> Result<T, EventError> {
        loop {
            // Without an own deadline only a value or an error comes back.
            if let Some(v) = self.wait_until(None)? {
                return Ok(v);
            }
        }
    }

    /// Like [`wait`](Self::wait) but waiting at most `dur`: `Ok(None)` when
    /// `dur` ran out (eventlet's `wait(timeout)` returning `None`), while an
    /// expiring [`Timeout`](crate::Timeout) of the caller is still an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// let ev = eventlet::Event::<u32>::new();
    /// assert_eq!(ev.wait_timeout(Duration::from_millis(10)), Ok(None));
    /// ev.send(3).unwrap();
    /// assert_eq!(ev.wait_timeout(Duration::from_millis(10)), Ok(Some(3)));
    /// ```
    pub fn wait_timeout(&self, dur: Duration) -> Result<Option<T>, EventError> {
        self.wait_until(Instant::now().checked_add(dur))
    }

    /// The outcome if sent, without blocking (eventlet's `poll`).
    pub fn poll(&self) -> Option<Result<T, Arc<dyn Error + Send + Sync>>> {
        self.lock().outcome.as_ref().map(Outcome::read)
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<Option<T>, EventError> {
        let (w, send) = {
            let mut st = self.lock();
            if let Some(o) = &st.outcome {
                return o.read().map(Some).map_err(EventError::Exception);
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Ok(None);
            }
            let w = Waiter::new();
            st.waiters.push(w.clone());
            (w, st.sends + 1)
        };
        let mut pending = Pending {
            event: self,
            w,
            send,
            armed: true,
        };
        let wake = waiter::wait(&pending.w, deadline);
        pending.armed = false;
        let mut st = self.lock();
        // Checked even after a timeout: a send can race the deadline.
        if pending.w.is_notified() {
            if let Some(r) = st.claim(send, Outcome::read) {
                return r.map(Some).map_err(EventError::Exception);
            }
        }
        st.waiters.retain(|x| !Arc::ptr_eq(x, &pending.w));
        match wake {
            Wake::Timeout(t) => Err(EventError::Timeout(t)),
            Wake::Notified | Wake::OpTimeout => Ok(None),
        }
    }
}

impl<T> Default for Event<T> {
    fn default() -> Self {
        Event::new()
    }
}

impl<T> fmt::Debug for Event<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Event")
            .field("ready", &st.outcome.is_some())
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// `Event<T>` is shareable across green threads as soon as `T: Send`.
fn assert_send_sync<X: Send + Sync>() {}
const _: fn() = assert_send_sync::<Event<std::cell::Cell<u8>>>;
