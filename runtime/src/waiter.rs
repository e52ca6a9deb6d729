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
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

/// One parked green thread (or OS thread).
#[derive(Debug)]
pub(crate) struct Waiter {
    /// Dropped by hand: see `Drop for Waiter`.
    blocker: ManuallyDrop<Arc<Blocker>>,
    notified: AtomicBool,
    fired: AtomicBool,
}

impl Waiter {
    /// A waiter for the calling context; it must be waited on from there.
    pub fn new() -> Arc<Waiter> {
        crate::config::ensure_started();
        Arc::new(Waiter {
            blocker: ManuallyDrop::new(Blocker::current()),
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

impl Drop for Waiter {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once and `blocker` is not used after this.
        let blocker = unsafe { ManuallyDrop::take(&mut self.blocker) };
        // may's `Park::drop` spins on `yield_now` while a `Park::subscribe` of
        // that park is still running, and that subscribe can be the very frame
        // that resumed this green thread (its fast wake-up path). If the green
        // thread was killed meanwhile, `yield_now` either never yields (a
        // livelock) or raises the kill right here, after the caller already
        // took a unit or an item (which is then lost). A plain thread can wait
        // for the subscribe to finish, so the reaper thread drops it.
        if may::coroutine::is_coroutine() {
            drop_later(blocker);
        }
    }
}

struct Graveyard {
    parks: Mutex<Vec<Arc<Blocker>>>,
    ready: Condvar,
}

/// Hand `b` to the reaper thread, which drops parks in batches.
fn drop_later(b: Arc<Blocker>) {
    static GRAVEYARD: OnceLock<&'static Graveyard> = OnceLock::new();
    let g = GRAVEYARD.get_or_init(|| {
        let g: &'static Graveyard = Box::leak(Box::new(Graveyard {
            parks: Mutex::new(Vec::new()),
            ready: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("eventlet-reaper".into())
            .spawn(move || reap(g))
            .expect("cannot start the eventlet reaper thread");
        g
    });
    let mut parks = g.parks.lock().unwrap_or_else(|p| p.into_inner());
    parks.push(b);
    if parks.len() == 1 {
        g.ready.notify_one();
    }
}

fn reap(g: &'static Graveyard) {
    loop {
        let batch = {
            let mut parks = g.parks.lock().unwrap_or_else(|p| p.into_inner());
            while parks.is_empty() {
                parks = g.ready.wait(parks).unwrap_or_else(|p| p.into_inner());
            }
            std::mem::take(&mut *parks)
        };
        drop(batch);
        // Let the next batch gather: one wake-up per millisecond at most.
        std::thread::sleep(std::time::Duration::from_millis(1));
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
