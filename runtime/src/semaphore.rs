//! `Semaphore`, `BoundedSemaphore` and `CappedSemaphore`, fair (FIFO) like eventlet's.

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

struct SemState {
    counter: isize,
    waiters: VecDeque<Arc<Waiter>>,
}

impl SemState {
    /// Hand free units to waiters in arrival order (fairness: eventlet's
    /// `test_semaphore_contention`).
    fn hand_off(&mut self) {
        while self.counter > 0 {
            match self.waiters.pop_front() {
                Some(w) => {
                    self.counter -= 1;
                    w.notify();
                }
                None => break,
            }
        }
    }
}

/// A counting semaphore (eventlet's `Semaphore`): `acquire` blocks while the
/// counter is zero *or anyone is already waiting*, so waiters are served in order.
///
/// ```
/// let sem = eventlet::Semaphore::new(1);
/// {
///     let _g = sem.guard().unwrap(); // eventlet: `with sem:`
///     assert!(!sem.try_acquire());
/// }
/// assert!(sem.try_acquire());
/// sem.release();
/// assert_eq!(sem.counter(), 1);
/// ```
pub struct Semaphore {
    state: Mutex<SemState>,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("counter", &self.counter())
            .field("balance", &self.balance())
            .finish()
    }
}

/// Releases its unit when dropped; from [`Semaphore::guard`].
#[must_use = "the semaphore is released when the guard is dropped"]
#[derive(Debug)]
pub struct SemaphoreGuard<'a> {
    sem: &'a Semaphore,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        self.sem.release();
    }
}

/// Cleans up a waiter whose green thread unwinds (killed) while parked.
struct Pending<'a> {
    sem: &'a Semaphore,
    w: Arc<Waiter>,
    armed: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.sem.lock();
            if self.w.is_notified() {
                st.counter += 1;
                st.hand_off();
            } else {
                st.waiters.retain(|x| !Arc::ptr_eq(x, &self.w));
            }
        }
    }
}

impl Semaphore {
    /// A semaphore with `value` units.
    pub fn new(value: usize) -> Semaphore {
        Semaphore {
            state: Mutex::new(SemState {
                counter: value as isize,
                waiters: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SemState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Take a unit, blocking until one is free. Fails only when a
    /// [`Timeout`](crate::Timeout) of the caller expires.
    pub fn acquire(&self) -> Result<(), TimeoutError> {
        self.acquire_until(None).map(|_| ())
    }

    /// Take a unit if one is free right now and nobody is waiting.
    pub fn try_acquire(&self) -> bool {
        let mut st = self.lock();
        if st.waiters.is_empty() && st.counter > 0 {
            st.counter -= 1;
            true
        } else {
            false
        }
    }

    /// Take a unit, waiting at most `dur`: `Ok(false)` when `dur` ran out
    /// (eventlet's `acquire(timeout=...)` returning False).
    pub fn acquire_timeout(&self, dur: Duration) -> Result<bool, TimeoutError> {
        self.acquire_until(Some(Instant::now() + dur))
    }

    /// [`acquire`](Self::acquire) and get a guard that releases on drop.
    pub fn guard(&self) -> Result<SemaphoreGuard<'_>, TimeoutError> {
        self.acquire()?;
        Ok(SemaphoreGuard { sem: self })
    }

    pub(crate) fn acquire_until(&self, deadline: Option<Instant>) -> Result<bool, TimeoutError> {
        let w = {
            let mut st = self.lock();
            if st.waiters.is_empty() && st.counter > 0 {
                st.counter -= 1;
                return Ok(true);
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Ok(false);
            }
            let w = Waiter::new();
            st.waiters.push_back(w.clone());
            w
        };
        let mut pending = Pending {
            sem: self,
            w,
            armed: true,
        };
        let wake = waiter::wait(&pending.w, deadline);
        pending.armed = false;
        let mut st = self.lock();
        if pending.w.is_notified() {
            return Ok(true);
        }
        st.waiters.retain(|x| !Arc::ptr_eq(x, &pending.w));
        match wake {
            Wake::Timeout(t) => Err(t),
            _ => Ok(false),
        }
    }

    /// Give a unit back, waking the longest waiter. No upper bound (see
    /// [`BoundedSemaphore`]).
    pub fn release(&self) {
        self.adjust(1);
    }

    /// Add `delta` units (negative: remove; the counter may go below zero).
    pub(crate) fn adjust(&self, delta: isize) {
        let mut st = self.lock();
        st.counter += delta;
        st.hand_off();
    }

    /// Free units right now (eventlet's `counter`); negative after shrinking.
    pub fn counter(&self) -> isize {
        self.lock().counter
    }

    /// `counter` minus the number of waiters (eventlet's `balance`).
    pub fn balance(&self) -> isize {
        let st = self.lock();
        st.counter - st.waiters.len() as isize
    }

    /// Green threads blocked in `acquire`.
    pub fn waiting(&self) -> usize {
        self.lock().waiters.len()
    }

    /// True when `acquire` would block.
    pub fn locked(&self) -> bool {
        let st = self.lock();
        st.counter <= 0 || !st.waiters.is_empty()
    }
}

/// [`BoundedSemaphore::release`] beyond the initial value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReleasedTooManyTimes;

impl fmt::Display for ReleasedTooManyTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Semaphore released too many times")
    }
}

impl std::error::Error for ReleasedTooManyTimes {}

/// A [`Semaphore`] that refuses to be released above its initial value.
///
/// ```
/// let sem = eventlet::BoundedSemaphore::new(1);
/// assert!(sem.release().is_err());
/// sem.acquire().unwrap();
/// assert!(sem.release().is_ok());
/// ```
#[derive(Debug)]
pub struct BoundedSemaphore {
    sem: Semaphore,
    limit: isize,
}

impl BoundedSemaphore {
    /// Green threads blocked in `acquire`.
    pub(crate) fn waiting(&self) -> usize {
        self.sem.waiting()
    }

    /// A bounded semaphore with `value` units, at most `value` free.
    pub fn new(value: usize) -> Self {
        BoundedSemaphore {
            sem: Semaphore::new(value),
            limit: value as isize,
        }
    }
    /// See [`Semaphore::acquire`].
    pub fn acquire(&self) -> Result<(), TimeoutError> {
        self.sem.acquire()
    }
    /// See [`Semaphore::try_acquire`].
    pub fn try_acquire(&self) -> bool {
        self.sem.try_acquire()
    }
    /// See [`Semaphore::acquire_timeout`].
    pub fn acquire_timeout(&self, dur: Duration) -> Result<bool, TimeoutError> {
        self.sem.acquire_timeout(dur)
    }
    /// Give a unit back; an error if all units are already free.
    pub fn release(&self) -> Result<(), ReleasedTooManyTimes> {
        let mut st = self.sem.lock();
        if st.counter >= self.limit {
            return Err(ReleasedTooManyTimes);
        }
        st.counter += 1;
        st.hand_off();
        Ok(())
    }
    /// See [`Semaphore::counter`].
    pub fn counter(&self) -> isize {
        self.sem.counter()
    }
    /// See [`Semaphore::balance`].
    pub fn balance(&self) -> isize {
        self.sem.balance()
    }
    /// See [`Semaphore::locked`].
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }
}

/// Takes back a unit given to `0` unless forgotten: the first half of a
/// two-step [`CappedSemaphore`] operation whose second half did not happen.
struct Undo<'a>(&'a Semaphore);

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        self.0.adjust(-1);
    }
}

/// Why [`CappedSemaphore::new`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountAboveLimit;

impl fmt::Display for CountAboveLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CappedSemaphore count must not exceed its limit")
    }
}

impl std::error::Error for CountAboveLimit {}

/// eventlet's `CappedSemaphore(count, limit)`: `acquire` blocks at zero and
/// `release` blocks while the counter is at `limit`.
///
/// ```
/// let sem = eventlet::CappedSemaphore::new(1, 2).unwrap();
/// sem.release().unwrap(); // 2: at the cap now
/// assert!(!sem.try_release());
/// sem.acquire().unwrap();
/// assert!(!sem.locked());
/// ```
#[derive(Debug)]
pub struct CappedSemaphore {
    lower: Semaphore,
    upper: Semaphore,
}

impl CappedSemaphore {
    /// `count` free units, at most `limit`.
    pub fn new(count: usize, limit: usize) -> Result<Self, CountAboveLimit> {
        if count > limit {
            return Err(CountAboveLimit);
        }
        Ok(CappedSemaphore {
            lower: Semaphore::new(count),
            upper: Semaphore::new(limit - count),
        })
    }
    /// Take a unit, blocking at zero.
    pub fn acquire(&self) -> Result<(), TimeoutError> {
        self.upper.release();
        // Undo the first half if the second fails or the green thread is
        // killed while it waits.
        let undo = Undo(&self.upper);
        self.lower.acquire()?;
        std::mem::forget(undo);
        Ok(())
    }
    /// Take a unit if one is free now.
    pub fn try_acquire(&self) -> bool {
        if self.lower.try_acquire() {
            self.upper.release();
            true
        } else {
            false
        }
    }
    /// Give a unit back, blocking while the counter is at the limit.
    pub fn release(&self) -> Result<(), TimeoutError> {
        self.lower.release();
        let undo = Undo(&self.lower);
        self.upper.acquire()?;
        std::mem::forget(undo);
        Ok(())
    }
    /// Give a unit back if below the limit now.
    pub fn try_release(&self) -> bool {
        if self.upper.try_acquire() {
            self.lower.release();
            true
        } else {
            false
        }
    }
    /// True when `acquire` would block.
    pub fn locked(&self) -> bool {
        self.lower.locked()
    }
    /// True when `release` would block.
    pub fn bounded(&self) -> bool {
        self.upper.locked()
    }
    /// eventlet's `balance`: lower balance minus upper balance.
    pub fn balance(&self) -> isize {
        self.lower.balance() - self.upper.balance()
    }
}
