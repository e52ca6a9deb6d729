//! The runtime's own timer: one OS thread that wakes parked waiters at their
//! deadlines.
//!
//! Why not `may`'s park timeout: measured here, (a) a very short timeout can
//! fire before the coroutine is registered with the park and the wake-up is
//! lost for good (a 1 µs `park_timeout` never returned), and (b) may's timer
//! thread resumes the woken coroutine *on itself*, so whatever runs after the
//! timeout delays every other timer in the process. This timer only sets a flag
//! and calls `unpark`, which puts the green thread back on a worker's queue; a
//! wake-up that comes before the park is kept by the park's token, so none is
//! lost.

use crate::waiter::Waiter;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Instant;

/// Identifies one registration, for [`cancel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct TimerKey(Instant, u64);

struct Timer {
    entries: Mutex<BTreeMap<TimerKey, Arc<Waiter>>>,
    changed: Condvar,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn timer() -> &'static Timer {
    static TIMER: OnceLock<&'static Timer> = OnceLock::new();
    TIMER.get_or_init(|| {
        let t: &'static Timer = Box::leak(Box::new(Timer {
            entries: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("eventlet-timer".into())
            .spawn(move || run(t))
            .expect("cannot start the eventlet timer thread");
        t
    })
}

/// Wake `w` (as timed out) at `at` unless cancelled first.
pub(crate) fn register(at: Instant, w: Arc<Waiter>) -> TimerKey {
    let t = timer();
    let key = TimerKey(at, NEXT.fetch_add(1, Ordering::Relaxed));
    let mut entries = t.entries.lock().unwrap_or_else(|p| p.into_inner());
    let earliest = entries.keys().next().is_none_or(|first| key < *first);
    entries.insert(key, w);
    drop(entries);
    if earliest {
        t.changed.notify_one();
    }
    key
}

/// Forget a registration (no-op if it already fired).
pub(crate) fn cancel(key: TimerKey) {
    let t = timer();
    t.entries
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
}

fn run(t: &'static Timer) {
    let mut entries = t.entries.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let now = Instant::now();
        while let Some(entry) = entries.first_entry() {
            if entry.key().0 > now {
                break;
            }
            entry.remove().fire();
        }
        entries = match entries.keys().next() {
            Some(first) => {
                let wait = first.0.saturating_duration_since(now);
                t.changed
                    .wait_timeout(entries, wait)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => t.changed.wait(entries).unwrap_or_else(|p| p.into_inner()),
        };
    }
}
