//! The one parking primitive every blocking call of this crate is built on.
//!
//! A [`Waiter`] is registered in some primitive's wait list under that
//! primitive's lock, the lock is released, then the green thread parks with
//! [`wait`]. The notifier sets the flag and unparks under the same lock, so no
//! wake-up is lost. The parking itself is `may`'s `Blocker`, which works both in
//! green threads and in plain threads (such as `main`); deadlines come from the
//! runtime's own [timer](crate::timer).

use crate::timeout::{Deadline, TimeoutError};
use crate::timer;
use may::sync::Blocker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// One parked green thread (or OS thread).
#[derive(Debug)]
pub(crate) struct Waiter {
    blocker: Arc<Blocker>,
    notified: AtomicBool,
    fired: AtomicBool,
}

impl Waiter {
    /// A waiter for the calling context; it must be waited on from there.
    pub fn new() -> Arc<Waiter> {
        crate::config::ensure_started();
        Arc::new(Waiter {
            blocker: Blocker::current(),
            notified: AtomicBool::new(false),
            fired: AtomicBool::new(false),
        })
    }

    /// Wake the waiter. Call with the owning primitive's lock held.
    pub fn notify(&self) {
        self.notified.store(true, Ordering::Release);
        self.blocker.unpark();
    }

    pub fn is_notified(&self) -> bool {
        self.notified.load(Ordering::Acquire)
    }

    /// Called by the timer at the deadline.
    pub(crate) fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.blocker.unpark();
    }
}

/// Why [`wait`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    Notified,
    /// The operation's own deadline passed.
    OpTimeout,
    /// A [`Timeout`](crate::Timeout) of this green thread expired.
    Timeout(TimeoutError),
}

/// Removes the timer registration however `wait` ends (also when the green
/// thread is killed while parked).
struct Registration(Option<timer::TimerKey>);

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(k) = self.0.take() {
            timer::cancel(k);
        }
    }
}

/// Park until notified or until the earlier of `op_deadline` and the green
/// thread's Timeout. The caller must re-check `is_notified` under its lock after
/// a timeout: a notification can race with the deadline.
pub(crate) fn wait(w: &Arc<Waiter>, op_deadline: Option<Instant>) -> Wake {
    let deadline = Deadline::for_op(op_deadline);
    let _reg = match deadline.at {
        Some(at) if at <= Instant::now() => return expired(&deadline),
        Some(at) => Registration(Some(timer::register(at, w.clone()))),
        None => Registration(None),
    };
    loop {
        if w.is_notified() {
            return Wake::Notified;
        }
        if w.fired.load(Ordering::Acquire) {
            return expired(&deadline);
        }
        // Ok, or Canceled (a kill: the coroutine unwinds from inside park).
        let _ = w.blocker.park(None);
    }
}

fn expired(d: &Deadline) -> Wake {
    match d.timeout {
        Some(t) => Wake::Timeout(t),
        None => Wake::OpTimeout,
    }
}
