//! Green locks: [`Mutex<T>`] (data-carrying) and eventlet's [`Lock`].
//!
//! Waiting parks the green thread, not the worker thread, so a guard may be
//! held across blocking calls (a socket write to a shared peer: the pattern a
//! `std::sync::Mutex` must never be used for here). Both are fair: waiters get
//! the lock in arrival order, handed over directly on unlock. Waiting honours
//! the caller's [`Timeout`](crate::Timeout) and a kill.
//!
//! Unlike `std::sync::Mutex` there is no poisoning (like eventlet's lock and
//! `parking_lot`): a panic while holding the guard unlocks the mutex.

use crate::semaphore::{BoundedSemaphore, ReleasedTooManyTimes, Semaphore};
use crate::timeout::TimeoutError;
use std::cell::UnsafeCell;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

/// A mutual-exclusion lock around `T` for green threads.
///
/// ```
/// use std::sync::Arc;
/// let log = Arc::new(eventlet::sync::Mutex::new(Vec::new()));
/// let pool = eventlet::GreenPool::new(10);
/// for i in 0..10 {
///     let log = log.clone();
///     pool.spawn_n(move || {
///         let mut g = log.lock().unwrap();
///         eventlet::sleep(std::time::Duration::from_millis(1)); // still held
///         g.push(i);
///     }).unwrap();
/// }
/// pool.waitall().unwrap();
/// assert_eq!(log.lock().unwrap().len(), 10);
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the semaphore admits one holder at a time, so `&Mutex<T>` only ever
// hands out one `&mut T`; moving that access between threads needs `T: Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Access to the data of a locked [`Mutex`]; unlocks when dropped.
#[must_use = "the mutex unlocks as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    // `&mut T`'s auto traits: Send if T: Send, Sync if T: Sync.
    _marker: PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Mutex<T> {
        Mutex {
            sem: Semaphore::new(1),
            data: UnsafeCell::new(value),
        }
    }

    /// The data, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    fn guard(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            mutex: self,
            _marker: PhantomData,
        }
    }

    /// Lock, parking the green thread until it is this one's turn. Fails only
    /// when a [`Timeout`](crate::Timeout) of the caller expires.
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, TimeoutError> {
        self.sem.acquire()?;
        Ok(self.guard())
    }

    /// Lock, waiting at most `dur`: `Ok(None)` when `dur` ran out.
    ///
    /// ```
    /// use std::time::Duration;
    /// let m = eventlet::sync::Mutex::new(0);
    /// let _held = m.lock().unwrap();
    /// assert!(m.lock_timeout(Duration::from_millis(10)).unwrap().is_none());
    /// ```
    pub fn lock_timeout(&self, dur: Duration) -> Result<Option<MutexGuard<'_, T>>, TimeoutError> {
        Ok(self.sem.acquire_timeout(dur)?.then(|| self.guard()))
    }

    /// Lock if it is free now and nobody is waiting.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sem.try_acquire().then(|| self.guard())
    }

    /// True while someone holds the lock or waits for it.
    pub fn is_locked(&self) -> bool {
        self.sem.locked()
    }

    /// Green threads waiting for the lock.
    pub fn waiting(&self) -> usize {
        self.sem.waiting()
    }

    /// The data, through exclusive access to the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Some(g) => d.field("data", &&*g),
            None => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard exists only while this holder owns the semaphore's
        // single unit, so no other reference to the data exists.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`; `&mut self` makes this the only borrow.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // Hands the unit to the longest waiter, if any.
        self.mutex.sem.release();
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// eventlet's `Lock`: a fair binary lock whose `release` fails when it is not
/// locked. Any green thread may release it (it is a semaphore, not an owner
/// lock), as in eventlet.
///
/// ```
/// let lock = eventlet::sync::Lock::new();
/// lock.acquire().unwrap();
/// assert!(lock.locked());
/// lock.release().unwrap();
/// assert!(lock.release().is_err()); // eventlet: RuntimeError
/// {
///     let _g = lock.guard().unwrap(); // eventlet: `with lock:`
///     assert!(!lock.try_acquire());
/// }
/// assert!(!lock.locked());
/// ```
#[derive(Debug)]
pub struct Lock {
    sem: BoundedSemaphore,
}

/// Releases the [`Lock`] when dropped; from [`Lock::guard`].
#[must_use = "the lock is released as soon as the guard is dropped"]
#[derive(Debug)]
pub struct LockGuard<'a> {
    lock: &'a Lock,
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        let _ = self.lock.release();
    }
}

impl Default for Lock {
    fn default() -> Self {
        Lock::new()
    }
}

impl Lock {
    /// An unlocked lock.
    pub fn new() -> Lock {
        Lock {
            sem: BoundedSemaphore::new(1),
        }
    }

    /// Take the lock, waiting for it. Fails only when a
    /// [`Timeout`](crate::Timeout) of the caller expires.
    pub fn acquire(&self) -> Result<(), TimeoutError> {
        self.sem.acquire()
    }

    /// Take the lock, waiting at most `dur`: `Ok(false)` when `dur` ran out.
    pub fn acquire_timeout(&self, dur: Duration) -> Result<bool, TimeoutError> {
        self.sem.acquire_timeout(dur)
    }

    /// Take the lock if it is free now (eventlet's `acquire(blocking=False)`).
    pub fn try_acquire(&self) -> bool {
        self.sem.try_acquire()
    }

    /// Release it, waking the longest waiter; `Err` if it was not locked.
    pub fn release(&self) -> Result<(), ReleasedTooManyTimes> {
        self.sem.release()
    }

    /// [`acquire`](Self::acquire) and get a guard that releases on drop.
    pub fn guard(&self) -> Result<LockGuard<'_>, TimeoutError> {
        self.acquire()?;
        Ok(LockGuard { lock: self })
    }

    /// True while it is held (or waited for).
    pub fn locked(&self) -> bool {
        self.sem.locked()
    }

    /// Green threads waiting for it.
    pub fn waiting(&self) -> usize {
        self.sem.waiting()
    }
}
