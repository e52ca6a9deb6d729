//! `GreenPool`, `GreenPile` and `GreenPool::imap`: eventlet's `greenpool` module.
//!
//! A [`GreenPool`] bounds how many green threads run some kind of work at once;
//! a [`GreenPile`] collects the results of a batch of tasks in the order they
//! were spawned; [`GreenPool::imap`] maps a function over a (possibly endless)
//! iterator with bounded concurrency and memory.

use crate::greenthread::{self, GreenResult, GreenThread, GreenThreadError};
use crate::semaphore::Semaphore;
use crate::timeout::{self, TimeoutError};
use crate::waiter::{self, Waiter, Wake};
use std::cell::Cell;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

// The pool a green thread was spawned by (0: none). Coroutine-local, not
// thread-local: a green thread migrates between worker threads.
may::coroutine_local!(static MEMBER_OF: Cell<u64> = Cell::new(0));

static NEXT_POOL_ID: AtomicU64 = AtomicU64::new(1);

/// eventlet's default pool size.
const DEFAULT_SIZE: usize = 1000;

/// A pool of green threads (eventlet's `GreenPool`): at most
/// [`size`](Self::size) functions spawned through it run at once; further
/// spawners wait their turn in arrival order.
///
/// Cloning gives another handle to the same pool, so it can be handed around
/// (to a server as its connection pool, to the tasks themselves).
///
/// ```
/// use std::time::Duration;
/// let pool = eventlet::GreenPool::new(2);
/// let handles: Vec<_> = (0..5u64)
///     .map(|i| {
///         pool.spawn(move || {
///             eventlet::sleep(Duration::from_millis(5));
///             i * i
///         })
///         .unwrap()
///     })
///     .collect();
/// pool.waitall().unwrap();
/// let squares: Vec<u64> = handles.into_iter().map(|gt| gt.join().unwrap()).collect();
/// assert_eq!(squares, [0, 1, 4, 9, 16]);
/// assert_eq!((pool.running(), pool.free()), (0, 2));
/// ```
#[derive(Clone)]
pub struct GreenPool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    id: u64,
    /// One unit per slot: FIFO admission, and the counter may go negative
    /// after a shrinking `resize`, as in eventlet.
    sem: Semaphore,
    state: Mutex<PoolState>,
}

struct PoolState {
    size: usize,
    /// Admitted functions that have not returned (or been dropped unrun).
    running: usize,
    /// Admitted tasks whose [`GreenThread`] has not finished yet: `waitall`
    /// also waits for results and links to be published.
    unfinished: usize,
    /// Green threads parked in `waitall`.
    idle_waiters: Vec<Arc<Waiter>>,
}

impl PoolInner {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// eventlet's `sem.balance == size`: nothing running and no spawner
    /// blocked (a spawner just handed a slot counts until it has started).
    fn is_idle(&self, st: &PoolState) -> bool {
        st.running == 0 && st.unfinished == 0 && self.sem.balance() == st.size as isize
    }

    /// Call after anything that can make the pool idle.
    fn wake_if_idle(&self, st: &mut PoolState) {
        if self.is_idle(st) {
            for w in st.idle_waiters.drain(..) {
                w.notify();
            }
        }
    }

    fn is_member(&self) -> bool {
        MEMBER_OF.with(|m| m.get()) == self.id
    }
}

/// An admitted task's hold on its pool slot. Dropped when the function
/// returns, panics or is killed, or with the closure when it never ran.
struct Slot {
    pool: Arc<PoolInner>,
    /// spawn_n has no handle to finish: leave `unfinished` here too.
    also_finished: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.pool.sem.release();
        let mut st = self.pool.lock();
        st.running -= 1;
        if self.also_finished {
            st.unfinished -= 1;
        }
        self.pool.wake_if_idle(&mut st);
    }
}

/// A blocked spawner that gives up (Timeout) or is killed may be the last
/// thing `waitall` waits for.
struct AdmissionAttempt<'a>(&'a PoolInner);

impl Drop for AdmissionAttempt<'_> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        self.0.wake_if_idle(&mut st);
    }
}

/// Removes a `waitall` waiter from the list however the wait ends.
struct IdleWait<'a> {
    pool: &'a PoolInner,
    w: Arc<Waiter>,
}

impl Drop for IdleWait<'_> {
    fn drop(&mut self) {
        let mut st = self.pool.lock();
        st.idle_waiters.retain(|x| !Arc::ptr_eq(x, &self.w));
    }
}

/// How a spawn is carried out.
enum Admission {
    /// A slot is held: start a green thread.
    Slot,
    /// The caller belongs to this full pool: run in the caller.
    Inline,
}

impl Default for GreenPool {
    /// A pool of 1000, eventlet's default size.
    fn default() -> Self {
        GreenPool::new(DEFAULT_SIZE)
    }
}

impl fmt::Debug for GreenPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenPool")
            .field("size", &self.size())
            .field("running", &self.running())
            .field("free", &self.free())
            .field("waiting", &self.waiting())
            .finish()
    }
}

impl GreenPool {
    /// A pool running at most `size` green threads at once. A pool of 0
    /// admits nothing until [`resize`](Self::resize)d.
    pub fn new(size: usize) -> GreenPool {
        GreenPool {
            inner: Arc::new(PoolInner {
                id: NEXT_POOL_ID.fetch_add(1, Ordering::Relaxed),
                sem: Semaphore::new(size),
                state: Mutex::new(PoolState {
                    size,
                    running: 0,
                    unfinished: 0,
                    idle_waiters: Vec::new(),
                }),
            }),
        }
    }

    /// The most green threads that may run at once.
    pub fn size(&self) -> usize {
        self.inner.lock().size
    }

    /// Change the size. Shrinking stops no running green thread: new spawns
    /// wait until enough have finished, and [`free`](Self::free) is negative
    /// until then. Growing admits blocked spawners at once.
    ///
    /// ```
    /// let pool = eventlet::GreenPool::new(4);
    /// pool.resize(1);
    /// assert_eq!((pool.size(), pool.free()), (1, 1));
    /// ```
    pub fn resize(&self, new_size: usize) {
        let mut st = self.inner.lock();
        let delta = new_size as isize - st.size as isize;
        st.size = new_size;
        self.inner.sem.adjust(delta);
    }

    /// Green threads of this pool whose function is running now.
    pub fn running(&self) -> usize {
        self.inner.lock().running
    }

    /// Slots free right now (eventlet's `free`); zero or less means the next
    /// spawn blocks, negative after shrinking below `running()`.
    pub fn free(&self) -> isize {
        self.inner.sem.counter()
    }

    /// Spawners blocked in [`spawn`](Self::spawn) or
    /// [`spawn_n`](Self::spawn_n) waiting for a slot.
    pub fn waiting(&self) -> usize {
        self.inner.sem.waiting()
    }

    /// Run `f` in a green thread of the pool and return its handle, blocking
    /// (first come, first served) while the pool is full.
    ///
    /// Re-entrant, like eventlet: when a green thread of this very pool spawns
    /// into it while it is full, `f` runs at once in the caller (waiting for a
    /// slot that only the caller could free would deadlock) and the handle
    /// returned has already finished.
    ///
    /// Fails only when a [`Timeout`](crate::Timeout) of the caller expires
    /// while it waits for a slot; `f` is then dropped without running.
    ///
    /// ```
    /// let pool = eventlet::GreenPool::new(10);
    /// let gt = pool.spawn(|| "hi").unwrap();
    /// assert_eq!(gt.wait(), Ok("hi"));
    /// ```
    pub fn spawn<T, F>(&self, f: F) -> Result<GreenThread<T>, TimeoutError>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        if let Admission::Inline = self.admit()? {
            return Ok(GreenThread::finished(run_inline(f)));
        }
        let slot = Slot {
            pool: self.inner.clone(),
            also_finished: false,
        };
        let id = self.inner.id;
        let gt = greenthread::spawn(move || {
            let _slot = slot;
            MEMBER_OF.with(|m| m.set(id));
            f()
        });
        // The first link of the handle: it runs once the result is published,
        // so `waitall` returning means every handle is dead.
        let pool = self.inner.clone();
        gt.link(move |_| {
            let mut st = pool.lock();
            st.unfinished -= 1;
            pool.wake_if_idle(&mut st);
        });
        Ok(gt)
    }

    /// [`spawn`](Self::spawn) without a handle (eventlet's `spawn_n`). A panic
    /// of `f` is printed by the panic hook and frees the slot like a return.
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// let pool = eventlet::GreenPool::new(3);
    /// let n = Arc::new(AtomicU32::new(0));
    /// for _ in 0..10 {
    ///     let n = n.clone();
    ///     pool.spawn_n(move || { n.fetch_add(1, Ordering::SeqCst); }).unwrap();
    /// }
    /// pool.waitall().unwrap();
    /// assert_eq!(n.load(Ordering::SeqCst), 10);
    /// ```
    pub fn spawn_n<F>(&self, f: F) -> Result<(), TimeoutError>
    where
        F: FnOnce() + Send + 'static,
    {
        if let Admission::Inline = self.admit()? {
            let _ = run_inline(f);
            return Ok(());
        }
        let slot = Slot {
            pool: self.inner.clone(),
            also_finished: true,
        };
        let id = self.inner.id;
        greenthread::spawn_n(move || {
            let _slot = slot;
            MEMBER_OF.with(|m| m.set(id));
            f()
        });
        Ok(())
    }

    /// Take a slot (counting the task as running), or decide to run inline.
    fn admit(&self) -> Result<Admission, TimeoutError> {
        let inner = &*self.inner;
        if inner.is_member() {
            // A member never blocks on its own pool: that could deadlock.
            if !inner.sem.try_acquire() {
                return Ok(Admission::Inline);
            }
        } else {
            let attempt = AdmissionAttempt(inner);
            inner.sem.acquire()?;
            // Admitted: the pool is busy, so there is no idleness to report.
            std::mem::forget(attempt);
        }
        let mut st = inner.lock();
        st.running += 1;
        st.unfinished += 1;
        Ok(Admission::Slot)
    }

    /// Wait until no green thread of the pool is running and no spawner is
    /// blocked on it. Fails only when a [`Timeout`](crate::Timeout) of the
    /// caller expires first.
    ///
    /// # Panics
    /// When called from one of the pool's own green threads, which would wait
    /// for itself forever (eventlet asserts the same).
    pub fn waitall(&self) -> Result<(), TimeoutError> {
        let inner = &*self.inner;
        assert!(
            !inner.is_member(),
            "GreenPool::waitall() called from one of the pool's own green threads \
             would wait for itself forever"
        );
        loop {
            let w = {
                let mut st = inner.lock();
                if inner.is_idle(&st) {
                    return Ok(());
                }
                let w = Waiter::new();
                st.idle_waiters.push(w.clone());
                w
            };
            let registration = IdleWait {
                pool: inner,
                w: w.clone(),
            };
            let wake = waiter::wait(&w, None);
            drop(registration);
            if let Wake::Timeout(t) = wake {
                return if inner.is_idle(&inner.lock()) {
                    Ok(())
                } else {
                    Err(t)
                };
            }
        }
    }

    /// eventlet's `imap`/`starmap`: the results of `f` over `items`, each
    /// computed in its own green thread, yielded in input order.
    ///
    /// At most [`size`](Self::size) (at the time of the call, at least 1) calls
    /// are in flight or finished-but-unread at once, so memory stays bounded
    /// however long `items` is; `items` is pulled lazily by a feeder green
    /// thread. As in eventlet (`GreenMap(self.size)`), the calls run beside the
    /// pool rather than in its slots: they do not count in
    /// [`running`](Self::running) and [`waitall`](Self::waitall) does not wait
    /// for them, which keeps an `imap` inside a full pool's green thread from
    /// deadlocking.
    ///
    /// A call that panics yields `Err(GreenThreadError::Panicked(msg))` in its
    /// place and iteration goes on. Multi-argument `imap(f, a, b)` and
    /// `starmap(f, pairs)` are this with tuples: `imap(|(a, b)| .., a.zip(b))`;
    /// eventlet's `imap(None, ..)` is `imap(|x| x, ..)`.
    ///
    /// Waiting for the next result is not cut short by a
    /// [`Timeout`](crate::Timeout) of the caller (an iterator cannot report
    /// one). Dropping the iterator stops the feeding; calls already started
    /// run to their end.
    ///
    /// ```
    /// let pool = eventlet::GreenPool::new(4);
    /// let sums: Vec<u32> = pool
    ///     .imap(|(a, b)| a + b, (0..5).zip(10..15))
    ///     .map(Result::unwrap)
    ///     .collect();
    /// assert_eq!(sums, [10, 12, 14, 16, 18]);
    /// ```
    pub fn imap<A, R, F, I>(&self, f: F, items: I) -> impl Iterator<Item = GreenResult<R>> + Send
    where
        F: Fn(A) -> R + Send + Sync + 'static,
        I: IntoIterator<Item = A>,
        I::IntoIter: Send + 'static,
        A: Send + 'static,
        R: Send + 'static,
    {
        let shared = Arc::new(MapShared {
            state: Mutex::new(MapState {
                ready: VecDeque::new(),
                fed: false,
                closed: false,
                consumer: None,
            }),
            room: Semaphore::new(self.size().max(1)),
        });
        let feeder = shared.clone();
        let items = items.into_iter();
        greenthread::spawn_n(move || feed(feeder, Arc::new(f), items));
        GreenMap { shared }
    }
}

/// Run `f` in the caller and capture its outcome like a green thread would.
fn run_inline<T>(f: impl FnOnce() -> T) -> GreenResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(v) => Ok(v),
        Err(payload) => {
            // A kill of the caller also unwinds as a panic. `may`'s kill is
            // sticky, so this yield unwinds the caller again instead of the
            // kill being swallowed into a result.
            may::coroutine::yield_now();
            Err(GreenThreadError::Panicked(greenthread::panic_message(
                &*payload,
            )))
        }
    }
}

/// The state `imap`'s feeder and its iterator share (eventlet's `GreenMap`).
struct MapShared<R> {
    state: Mutex<MapState<R>>,
    /// Calls spawned but not yet read: bounds both concurrency and memory.
    room: Semaphore,
}

struct MapState<R> {
    /// Spawned calls in input order.
    ready: VecDeque<GreenThread<R>>,
    /// The feeder is done: nothing more will be pushed.
    fed: bool,
    /// The iterator was dropped: stop feeding.
    closed: bool,
    /// The iterator, parked for the next result.
    consumer: Option<Arc<Waiter>>,
}

impl<R> MapShared<R> {
    fn lock(&self) -> MutexGuard<'_, MapState<R>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wake_consumer(st: &mut MapState<R>) {
        if let Some(w) = st.consumer.take() {
            w.notify();
        }
    }

    fn push(&self, gt: GreenThread<R>) {
        let mut st = self.lock();
        st.ready.push_back(gt);
        Self::wake_consumer(&mut st);
    }
}

/// Marks the feeding done however the feeder ends.
struct FeedDone<R>(Arc<MapShared<R>>);

impl<R> Drop for FeedDone<R> {
    fn drop(&mut self) {
        let mut st = self.0.lock();
        st.fed = true;
        MapShared::wake_consumer(&mut st);
    }
}

/// The body of `imap`'s feeder green thread.
fn feed<A, R, F, It>(shared: Arc<MapShared<R>>, f: Arc<F>, mut items: It)
where
    F: Fn(A) -> R + Send + Sync + 'static,
    It: Iterator<Item = A>,
    A: Send + 'static,
    R: Send + 'static,
{
    let _done = FeedDone(shared.clone());
    let fed = catch_unwind(AssertUnwindSafe(|| loop {
        // Wait for room before pulling the next item: laziness.
        if shared.room.acquire().is_err() || shared.lock().closed {
            return;
        }
        let Some(item) = items.next() else { return };
        let f = f.clone();
        shared.push(greenthread::spawn(move || f(item)));
    }));
    if let Err(payload) = fed {
        // The input iterator panicked: report it as the last result.
        let msg = greenthread::panic_message(&*payload);
        shared.push(GreenThread::finished(Err(GreenThreadError::Panicked(msg))));
    }
}

/// The iterator [`GreenPool::imap`] returns.
struct GreenMap<R> {
    shared: Arc<MapShared<R>>,
}

/// Clears the consumer registration however the wait ends.
struct ConsumerWait<'a, R>(&'a MapShared<R>);

impl<R> Drop for ConsumerWait<'_, R> {
    fn drop(&mut self) {
        self.0.lock().consumer = None;
    }
}

impl<R> Iterator for GreenMap<R> {
    type Item = GreenResult<R>;

    fn next(&mut self) -> Option<GreenResult<R>> {
        loop {
            let w = {
                let mut st = self.shared.lock();
                if let Some(gt) = st.ready.pop_front() {
                    drop(st);
                    let result = gt.take();
                    self.shared.room.release();
                    return Some(result);
                }
                if st.fed {
                    return None;
                }
                let w = Waiter::new();
                st.consumer = Some(w.clone());
                w
            };
            let _registered = ConsumerWait(&self.shared);
            // An iterator cannot report a Timeout of the caller: wait through it.
            timeout::shielded(|| waiter::wait(&w, None));
        }
    }
}

impl<R> Drop for GreenMap<R> {
    fn drop(&mut self) {
        let mut st = self.shared.lock();
        st.closed = true;
        st.ready.clear();
        drop(st);
        // Unblock the feeder whatever it holds; it sees `closed` and ends.
        self.shared.room.adjust(isize::MAX / 2);
    }
}

/// A batch of tasks whose results are read in spawn order (eventlet's
/// `GreenPile`), run in a [`GreenPool`] of its own or a shared one.
///
/// Iterating yields one [`GreenResult`] per spawned task, waiting for each in
/// turn; a task that panicked yields `Err` in its place and iteration goes on.
/// Spawning takes `&mut self`, so a pile is filled and read by one green
/// thread at a time (eventlet advises the same); it can be moved to another.
///
/// ```
/// let mut pile = eventlet::GreenPile::new(4);
/// for word in ["a", "bb", "ccc"] {
///     pile.spawn(move || word.len()).unwrap();
/// }
/// assert_eq!(pile.len(), 3);
/// let lens: Vec<usize> = pile.map(Result::unwrap).collect();
/// assert_eq!(lens, [1, 2, 3]);
/// ```
pub struct GreenPile<T> {
    pool: GreenPool,
    pending: VecDeque<GreenThread<T>>,
}

impl<T> fmt::Debug for GreenPile<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenPile")
            .field("pool", &self.pool)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl<T: Send + 'static> GreenPile<T> {
    /// A pile with a new pool of `size` (eventlet's `GreenPile(size)`).
    pub fn new(size: usize) -> GreenPile<T> {
        GreenPile::with_pool(GreenPool::new(size))
    }

    /// A pile spawning into `pool`, which several piles may share
    /// (eventlet's `GreenPile(pool)`).
    pub fn with_pool(pool: GreenPool) -> GreenPile<T> {
        GreenPile {
            pool,
            pending: VecDeque::new(),
        }
    }

    /// The pool the pile spawns into.
    pub fn pool(&self) -> &GreenPool {
        &self.pool
    }

    /// Run `f` in the pool (see [`GreenPool::spawn`]: it blocks while the pool
    /// is full); its result comes after those of the earlier spawns. On `Err`
    /// (a [`Timeout`](crate::Timeout) of the caller expired while blocked)
    /// nothing was added.
    pub fn spawn<F>(&mut self, f: F) -> Result<(), TimeoutError>
    where
        F: FnOnce() -> T + Send + 'static,
    {
        let gt = self.pool.spawn(f)?;
        self.pending.push_back(gt);
        Ok(())
    }

    /// Results not read yet (eventlet's `counter`).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True when every result has been read.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Like [`Iterator::next`], but a [`Timeout`](crate::Timeout) of the caller
    /// that expires while waiting returns `Err` and keeps the result for later.
    ///
    /// ```
    /// use std::time::Duration;
    /// let mut pile = eventlet::GreenPile::new(1);
    /// pile.spawn(|| { eventlet::sleep(Duration::from_millis(200)); 7 }).unwrap();
    /// {
    ///     let t = eventlet::Timeout::new(Duration::from_millis(10));
    ///     assert!(t.is(&pile.try_next().unwrap_err()));
    /// }
    /// assert_eq!(pile.try_next(), Ok(Some(Ok(7))));
    /// assert_eq!(pile.try_next(), Ok(None));
    /// ```
    pub fn try_next(&mut self) -> Result<Option<GreenResult<T>>, TimeoutError> {
        let Some(gt) = self.pending.front() else {
            return Ok(None);
        };
        gt.wait_done()?;
        Ok(self.pending.pop_front().map(|gt| gt.take()))
    }
}

impl<T: Send + 'static> Default for GreenPile<T> {
    /// eventlet's `GreenPile()`: a new pool of 1000.
    ///
    /// ```
    /// let mut pile = eventlet::GreenPile::default();
    /// for i in 0..3 {
    ///     pile.spawn(move || i * 2).unwrap();
    /// }
    /// assert_eq!(pile.map(Result::unwrap).collect::<Vec<_>>(), [0, 2, 4]);
    /// ```
    fn default() -> Self {
        GreenPile::new(GreenPile::<T>::DEFAULT_SIZE)
    }
}

impl<T> GreenPile<T> {
    /// The pool size of [`GreenPile::default`] (eventlet's default, 1000).
    pub const DEFAULT_SIZE: usize = 1000;
}

impl<T> Iterator for GreenPile<T> {
    type Item = GreenResult<T>;

    /// The next result in spawn order, waiting for it; `None` once all were
    /// read. Not cut short by a Timeout of the caller: see
    /// [`try_next`](GreenPile::try_next).
    fn next(&mut self) -> Option<GreenResult<T>> {
        // `take` waits through the caller's Timeouts.
        Some(self.pending.pop_front()?.take())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.pending.len(), Some(self.pending.len()))
    }
}
