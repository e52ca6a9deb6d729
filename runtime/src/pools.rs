//! eventlet's `pools`: a [`Pool`] of reusable items (connections, clients),
//! created on demand up to a maximum, and [`TokenPool`].
//!
//! [`Pool::get`] hands out an item inside a [`PoolItem`] that returns it when
//! dropped (eventlet's `with pool.item() as x:`). If the holder panics, the
//! item is dropped instead of returned — it may be half-used (a connection in
//! the middle of a request) — and the pool creates a fresh one when needed.
//! Waiting for an item is fair (arrival order) and honours the caller's
//! [`Timeout`](crate::Timeout).

use crate::semaphore::Semaphore;
use crate::timeout::TimeoutError;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

struct State<T> {
    free: VecDeque<T>,
    /// Items that exist: free plus handed out (eventlet's `current_size`).
    current_size: usize,
    max_size: usize,
}

/// A pool of items created by a function on demand (eventlet's `pools.Pool`).
///
/// ```
/// use eventlet::pools::Pool;
/// let created = std::sync::atomic::AtomicUsize::new(0);
/// let pool = Pool::new(0, 2, move || created.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
/// let a = pool.get().unwrap();
/// let b = pool.get().unwrap();
/// assert_eq!((*a, *b), (0, 1));
/// assert!(pool.try_get().is_none()); // max_size reached
/// drop(a); // back to the pool
/// drop(b);
/// assert_eq!(pool.free(), 2);
/// assert_eq!(*pool.get().unwrap(), 0); // reused, least recently returned first
/// ```
pub struct Pool<T> {
    state: Mutex<State<T>>,
    /// One unit per item that may be handed out now: `max_size` minus the
    /// items out. Waiting on it is what makes `get` fair.
    capacity: Semaphore,
    order_as_stack: bool,
    create: Box<dyn Fn() -> T + Send + Sync>,
}

impl<T> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("Pool")
            .field("current_size", &st.current_size)
            .field("free", &st.free.len())
            .field("max_size", &st.max_size)
            .field("waiting", &self.capacity.waiting())
            .finish()
    }
}

/// An item on loan from a [`Pool`]; goes back when dropped, or is dropped
/// with the pool's count adjusted when the holder panics.
pub struct PoolItem<'a, T> {
    pool: &'a Pool<T>,
    item: Option<T>,
}

impl<T> Pool<T> {
    /// A pool that creates items with `create`, `min_size` of them at once,
    /// and at most `max_size` in all (eventlet's `Pool(min_size, max_size)`).
    pub fn new(
        min_size: usize,
        max_size: usize,
        create: impl Fn() -> T + Send + Sync + 'static,
    ) -> Pool<T> {
        let free: VecDeque<T> = (0..min_size).map(|_| create()).collect();
        Pool {
            state: Mutex::new(State {
                current_size: free.len(),
                free,
                max_size,
            }),
            capacity: Semaphore::new(max_size),
            order_as_stack: false,
            create: Box::new(create),
        }
    }

    /// Hand out the most recently returned item first (eventlet's
    /// `order_as_stack=True`); by default the least recently returned.
    pub fn order_as_stack(mut self, on: bool) -> Pool<T> {
        self.order_as_stack = on;
        self
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An item: a free one, a new one while fewer than `max_size` exist, or
    /// else the next one returned, in arrival order. Fails only when a
    /// [`Timeout`](crate::Timeout) of the caller expires.
    pub fn get(&self) -> Result<PoolItem<'_, T>, TimeoutError> {
        self.capacity.acquire()?;
        Ok(self.checkout())
    }

    /// Like [`get`](Self::get), waiting at most `dur`: `Ok(None)` when it ran out.
    pub fn get_timeout(&self, dur: Duration) -> Result<Option<PoolItem<'_, T>>, TimeoutError> {
        if self.capacity.acquire_timeout(dur)? {
            Ok(Some(self.checkout()))
        } else {
            Ok(None)
        }
    }

    /// An item if one can be had without waiting.
    pub fn try_get(&self) -> Option<PoolItem<'_, T>> {
        self.capacity.try_acquire().then(|| self.checkout())
    }

    /// Take an item after a capacity unit was acquired.
    fn checkout(&self) -> PoolItem<'_, T> {
        // Hands the unit back if `create` panics.
        struct Unit<'a, T>(&'a Pool<T>, bool);
        impl<T> Drop for Unit<'_, T> {
            fn drop(&mut self) {
                if self.1 {
                    self.0.lock().current_size -= 1;
                    self.0.capacity.release();
                }
            }
        }
        let reused = {
            let mut st = self.lock();
            let item = st.free.pop_front();
            if item.is_none() {
                st.current_size += 1;
            }
            item
        };
        let item = match reused {
            Some(item) => item,
            None => {
                // Created outside the lock: creation may block (connect).
                let mut unit = Unit(self, true);
                let item = (self.create)();
                unit.1 = false;
                item
            }
        };
        PoolItem {
            pool: self,
            item: Some(item),
        }
    }

    /// Give an item to the pool (eventlet's `put`): it serves the next `get`.
    /// Items beyond `max_size` (after a [`resize`](Self::resize) down) are
    /// dropped. Items from [`PoolItem::detach`] come back this way.
    pub fn put(&self, item: T) {
        let mut st = self.lock();
        st.current_size += 1;
        self.put_locked(st, item, false);
    }

    fn put_locked(&self, mut st: MutexGuard<'_, State<T>>, item: T, was_out: bool) {
        if st.current_size > st.max_size {
            st.current_size -= 1;
            drop(st);
            drop(item);
        } else {
            if self.order_as_stack {
                st.free.push_front(item);
            } else {
                st.free.push_back(item);
            }
            drop(st);
            if !was_out {
                // A new item adds what it can serve, up to max_size.
                return;
            }
        }
        if was_out {
            self.capacity.release();
        }
    }

    /// Change `max_size`; items in use stay out, extra ones are dropped as
    /// they come back.
    pub fn resize(&self, new_max: usize) {
        let mut st = self.lock();
        let delta = new_max as isize - st.max_size as isize;
        st.max_size = new_max;
        while st.current_size > new_max && !st.free.is_empty() {
            st.free.pop_back();
            st.current_size -= 1;
        }
        drop(st);
        self.capacity.adjust(delta);
    }

    /// Items that `get` could hand out without waiting (eventlet's `free()`):
    /// free ones plus those it may still create.
    pub fn free(&self) -> usize {
        let st = self.lock();
        st.free.len() + st.max_size.saturating_sub(st.current_size)
    }

    /// Items that exist, free or in use (eventlet's `current_size`).
    pub fn current_size(&self) -> usize {
        self.lock().current_size
    }

    /// Green threads waiting in `get` (eventlet's `waiting()`).
    pub fn waiting(&self) -> usize {
        self.capacity.waiting()
    }

    /// The maximum number of items.
    pub fn max_size(&self) -> usize {
        self.lock().max_size
    }
}

impl<T> PoolItem<'_, T> {
    /// Keep the item for good: it leaves the pool, which may create another.
    pub fn detach(mut self) -> T {
        let item = self.item.take().expect("item present until drop");
        self.pool.lock().current_size -= 1;
        self.pool.capacity.release();
        item
    }
}

impl<T> Deref for PoolItem<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item.as_ref().expect("item present until drop")
    }
}

impl<T> DerefMut for PoolItem<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item.as_mut().expect("item present until drop")
    }
}

impl<T: fmt::Debug> fmt::Debug for PoolItem<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T> Drop for PoolItem<'_, T> {
    fn drop(&mut self) {
        let Some(item) = self.item.take() else {
            return;
        };
        if std::thread::panicking() {
            // Possibly half-used: never hand it to someone else.
            self.pool.lock().current_size -= 1;
            drop(item);
            self.pool.capacity.release();
            return;
        }
        let st = self.pool.lock();
        self.pool.put_locked(st, item, true);
    }
}

/// An opaque unique token from a [`TokenPool`].
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Token(u64);

/// A pool of tokens (eventlet's `TokenPool`): holding one is the right to use
/// some limited resource.
///
/// ```
/// let tokens = eventlet::pools::TokenPool::new(2);
/// let a = tokens.get().unwrap();
/// let _b = tokens.get().unwrap();
/// assert!(tokens.try_get().is_none());
/// drop(a);
/// assert!(tokens.try_get().is_some());
/// ```
pub struct TokenPool(Pool<Token>);

impl fmt::Debug for TokenPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TokenPool").field(&self.0).finish()
    }
}

impl TokenPool {
    /// At most `max_size` tokens out at once.
    pub fn new(max_size: usize) -> TokenPool {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        TokenPool(Pool::new(0, max_size, || {
            Token(NEXT.fetch_add(1, Ordering::Relaxed))
        }))
    }
}

impl Deref for TokenPool {
    type Target = Pool<Token>;
    fn deref(&self) -> &Pool<Token> {
        &self.0
    }
}
