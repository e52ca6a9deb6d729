//! `eventlet.queue`: [`Queue`], [`LightQueue`], [`PriorityQueue`] and
//! [`LifoQueue`] for passing items between green threads.
//!
//! As in eventlet, `maxsize` is unbounded by default, and a `maxsize` of **0 is
//! a channel** (a rendezvous): [`put`](Queue::put) blocks until a getter takes
//! the item. Blocked getters and putters are served in arrival order. An item
//! is handed straight to the longest-waiting getter, so a late
//! [`get_nowait`](Queue::get_nowait) cannot snatch it; an item handed to a
//! getter that is killed before it runs goes to the next getter, or back into
//! the queue, and is never lost.
//!
//! Every blocking call stops early when a [`Timeout`](crate::Timeout) of the
//! caller expires. The `_timeout` variants also take their own time limit,
//! reported apart from an outer Timeout ([`Empty`] / [`PutError::Full`]
//! vs. `Timeout`).
//!
//! ```
//! use std::sync::Arc;
//! let q = Arc::new(eventlet::queue::Queue::new());
//! let q2 = q.clone();
//! let worker = eventlet::spawn(move || {
//!     let mut sum = 0;
//!     while let Ok(n) = q2.get() {
//!         if n == 0 {
//!             break;
//!         }
//!         sum += n;
//!         q2.task_done().unwrap();
//!     }
//!     sum
//! });
//! for n in [1, 2, 3, 0] {
//!     q.put(n).unwrap();
//! }
//! assert_eq!(worker.wait(), Ok(6));
//! ```

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------
// Errors

/// [`put_nowait`](Queue::put_nowait) found no room; the item comes back.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Full<T>(pub T);

impl<T> Full<T> {
    /// The item that could not be put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Full(..)")
    }
}

impl<T> fmt::Display for Full<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full")
    }
}

impl<T> std::error::Error for Full<T> {}

/// [`get_nowait`](Queue::get_nowait) or [`get_timeout`](Queue::get_timeout)
/// found no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Empty;

impl fmt::Display for Empty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty")
    }
}

impl std::error::Error for Empty {}

/// Why a blocking put failed; the item comes back either way.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PutError<T> {
    /// The put's own time limit ran out with the queue still full (eventlet's
    /// `queue.Full`).
    Full(T),
    /// A [`Timeout`](crate::Timeout) of the caller expired.
    Timeout(T, TimeoutError),
}

impl<T> PutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(item) | PutError::Timeout(item, _) => item,
        }
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Timeout(_, t) => write!(f, "Timeout(.., {t:?})"),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue is full"),
            PutError::Timeout(_, t) => t.fmt(f),
        }
    }
}

impl<T> std::error::Error for PutError<T> {}

impl<T> From<Full<T>> for PutError<T> {
    fn from(e: Full<T>) -> Self {
        PutError::Full(e.0)
    }
}

/// Why [`get_timeout`](Queue::get_timeout) returned no item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetError {
    /// Its own time limit ran out (eventlet's `queue.Empty`).
    Empty,
    /// A [`Timeout`](crate::Timeout) of the caller expired.
    Timeout(TimeoutError),
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => Empty.fmt(f),
            GetError::Timeout(t) => t.fmt(f),
        }
    }
}

impl std::error::Error for GetError {}

impl From<TimeoutError> for GetError {
    fn from(t: TimeoutError) -> Self {
        GetError::Timeout(t)
    }
}

impl From<Empty> for GetError {
    fn from(_: Empty) -> Self {
        GetError::Empty
    }
}

/// [`Queue::task_done`] called more times than items were put.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskDoneTooManyTimes;

impl fmt::Display for TaskDoneTooManyTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneTooManyTimes {}

// ---------------------------------------------------------------------------
// Storage: the only thing the four queue kinds differ in.

trait Storage<T> {
    fn push(&mut self, item: T);
    fn pop(&mut self) -> Option<T>;
    fn len(&self) -> usize;
    /// Put back an item that was popped but never reached its getter, where
    /// the next `pop` finds it again.
    fn unpop(&mut self, item: T);
}

/// FIFO.
impl<T> Storage<T> for VecDeque<T> {
    fn push(&mut self, item: T) {
        self.push_back(item)
    }
    fn pop(&mut self) -> Option<T> {
        self.pop_front()
    }
    fn len(&self) -> usize {
        VecDeque::len(self)
    }
    fn unpop(&mut self, item: T) {
        self.push_front(item)
    }
}

/// LIFO.
impl<T> Storage<T> for Vec<T> {
    fn push(&mut self, item: T) {
        Vec::push(self, item)
    }
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
    fn len(&self) -> usize {
        Vec::len(self)
    }
    fn unpop(&mut self, item: T) {
        Vec::push(self, item)
    }
}

/// Lowest first.
type MinHeap<T> = BinaryHeap<Reverse<T>>;

impl<T: Ord> Storage<T> for MinHeap<T> {
    fn push(&mut self, item: T) {
        BinaryHeap::push(self, Reverse(item))
    }
    fn pop(&mut self) -> Option<T> {
        BinaryHeap::pop(self).map(|r| r.0)
    }
    fn len(&self) -> usize {
        BinaryHeap::len(self)
    }
    fn unpop(&mut self, item: T) {
        BinaryHeap::push(self, Reverse(item))
    }
}

// ---------------------------------------------------------------------------
// The core shared by all queue kinds.

/// A blocked getter or putter with the item in transit. The slot is only
/// touched under the queue's lock.
struct Parked<T> {
    w: Arc<Waiter>,
    slot: Mutex<Option<T>>,
}

impl<T> Parked<T> {
    fn new(item: Option<T>) -> Arc<Parked<T>> {
        Arc::new(Parked {
            w: Waiter::new(),
            slot: Mutex::new(item),
        })
    }
    fn slot(&self) -> MutexGuard<'_, Option<T>> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn take(&self) -> Option<T> {
        self.slot().take()
    }
}

/// Invariants: getters wait only while `items` is empty; putters wait only
/// while there is no room (or the queue is a channel).
struct State<T, S> {
    items: S,
    maxsize: Option<usize>,
    getters: VecDeque<Arc<Parked<T>>>,
    putters: VecDeque<Arc<Parked<T>>>,
    unfinished: usize,
    joiners: Vec<Arc<Waiter>>,
}

fn remove<X>(list: &mut VecDeque<Arc<X>>, me: &Arc<X>) {
    list.retain(|x| !Arc::ptr_eq(x, me));
}

impl<T, S: Storage<T>> State<T, S> {
    fn has_room(&self) -> bool {
        self.maxsize.is_none_or(|m| self.items.len() < m)
    }

    /// Give `item` to the longest-waiting getter, if any.
    fn hand_to_getter(&mut self, item: T) -> Result<(), T> {
        match self.getters.pop_front() {
            Some(g) => {
                *g.slot() = Some(item);
                g.w.notify();
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Take the item of the longest-waiting putter, releasing it; the item is
    /// now in the queue's hands, so it counts as an unfinished task.
    fn take_from_putter(&mut self) -> Option<T> {
        while let Some(p) = self.putters.pop_front() {
            if let Some(item) = p.take() {
                p.w.notify();
                self.unfinished += 1;
                return Some(item);
            }
        }
        None
    }

    /// Move blocked putters' items in while there is room.
    fn admit_putters(&mut self) {
        while self.has_room() {
            match self.take_from_putter() {
                Some(item) => self.items.push(item),
                None => break,
            }
        }
    }

    fn put_now(&mut self, item: T) -> Result<(), T> {
        let item = match self.hand_to_getter(item) {
            Ok(()) => {
                self.unfinished += 1;
                return Ok(());
            }
            Err(item) => item,
        };
        if self.has_room() {
            self.items.push(item);
            self.unfinished += 1;
            Ok(())
        } else {
            Err(item)
        }
    }

    fn get_now(&mut self) -> Option<T> {
        match self.items.pop() {
            Some(item) => {
                self.admit_putters();
                Some(item)
            }
            // A channel: take the item straight from a blocked putter.
            None => self.take_from_putter(),
        }
    }

    /// An item reached a getter that died before returning it: pass it on.
    fn give_back(&mut self, item: T) {
        if let Err(item) = self.hand_to_getter(item) {
            self.items.unpop(item);
        }
    }
}

struct Core<T, S> {
    state: Mutex<State<T, S>>,
}

/// Cleans up a getter whose green thread unwinds (killed) while parked.
struct GetterGuard<'a, T, S: Storage<T>> {
    core: &'a Core<T, S>,
    me: Arc<Parked<T>>,
    armed: bool,
}

impl<T, S: Storage<T>> Drop for GetterGuard<'_, T, S> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.core.lock();
            match self.me.take() {
                Some(item) => st.give_back(item),
                None => remove(&mut st.getters, &self.me),
            }
        }
    }
}

/// Cleans up a putter whose green thread unwinds (killed) while parked; its
/// item, if not taken yet, dies with it.
struct PutterGuard<'a, T, S: Storage<T>> {
    core: &'a Core<T, S>,
    me: Arc<Parked<T>>,
    armed: bool,
}

impl<T, S: Storage<T>> Drop for PutterGuard<'_, T, S> {
    fn drop(&mut self) {
        if self.armed {
            let mut st = self.core.lock();
            if self.me.take().is_some() {
                remove(&mut st.putters, &self.me);
            }
        }
    }
}

/// Cleans up a `join` waiter whose green thread unwinds while parked.
struct JoinGuard<'a, T, S: Storage<T>> {
    core: &'a Core<T, S>,
    w: Arc<Waiter>,
    armed: bool,
}

impl<T, S: Storage<T>> Drop for JoinGuard<'_, T, S> {
    fn drop(&mut self) {
        if self.armed {
            self.core
                .lock()
                .joiners
                .retain(|x| !Arc::ptr_eq(x, &self.w));
        }
    }
}

fn deadline_after(dur: Duration) -> Option<Instant> {
    Instant::now().checked_add(dur)
}

impl<T, S: Storage<T> + Default> Core<T, S> {
    fn new(maxsize: Option<usize>) -> Self {
        Core {
            state: Mutex::new(State {
                items: S::default(),
                maxsize,
                getters: VecDeque::new(),
                putters: VecDeque::new(),
                unfinished: 0,
                joiners: Vec::new(),
            }),
        }
    }
}

impl<T, S: Storage<T>> Core<T, S> {
    fn lock(&self) -> MutexGuard<'_, State<T, S>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
        self.lock().put_now(item).map_err(Full)
    }

    fn put_until(&self, item: T, deadline: Option<Instant>) -> Result<(), PutError<T>> {
        let me = {
            let mut st = self.lock();
            let item = match st.put_now(item) {
                Ok(()) => return Ok(()),
                Err(item) => item,
            };
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(PutError::Full(item));
            }
            let me = Parked::new(Some(item));
            st.putters.push_back(me.clone());
            me
        };
        let mut guard = PutterGuard {
            core: self,
            me,
            armed: true,
        };
        let wake = waiter::wait(&guard.me.w, deadline);
        guard.armed = false;
        let mut st = self.lock();
        // An empty slot means a getter took the item, even if the deadline
        // passed meanwhile.
        let Some(item) = guard.me.take() else {
            return Ok(());
        };
        remove(&mut st.putters, &guard.me);
        Err(match wake {
            Wake::Timeout(t) => PutError::Timeout(item, t),
            // Notified always comes with the item taken.
            Wake::Notified | Wake::OpTimeout => PutError::Full(item),
        })
    }

    fn get_nowait(&self) -> Result<T, Empty> {
        self.lock().get_now().ok_or(Empty)
    }

    fn get(&self) -> Result<T, TimeoutError> {
        loop {
            // Without an own deadline only an item or a Timeout comes back.
            match self.get_until(None) {
                Ok(item) => return Ok(item),
                Err(GetError::Timeout(t)) => return Err(t),
                Err(GetError::Empty) => {}
            }
        }
    }

    fn get_until(&self, deadline: Option<Instant>) -> Result<T, GetError> {
        let me = {
            let mut st = self.lock();
            if let Some(item) = st.get_now() {
                return Ok(item);
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(GetError::Empty);
            }
            let me = Parked::new(None);
            st.getters.push_back(me.clone());
            me
        };
        let mut guard = GetterGuard {
            core: self,
            me,
            armed: true,
        };
        let wake = waiter::wait(&guard.me.w, deadline);
        guard.armed = false;
        let mut st = self.lock();
        // An item handed over while the deadline passed is still ours.
        if let Some(item) = guard.me.take() {
            return Ok(item);
        }
        remove(&mut st.getters, &guard.me);
        Err(match wake {
            Wake::Timeout(t) => GetError::Timeout(t),
            // Notified always comes with an item.
            Wake::Notified | Wake::OpTimeout => GetError::Empty,
        })
    }

    fn resize(&self, maxsize: Option<usize>) {
        let mut st = self.lock();
        st.maxsize = maxsize;
        st.admit_putters();
    }

    fn task_done(&self) -> Result<(), TaskDoneTooManyTimes> {
        let mut st = self.lock();
        if st.unfinished == 0 {
            return Err(TaskDoneTooManyTimes);
        }
        st.unfinished -= 1;
        if st.unfinished == 0 {
            for w in std::mem::take(&mut st.joiners) {
                w.notify();
            }
        }
        Ok(())
    }

    fn join(&self) -> Result<(), TimeoutError> {
        let w = {
            let mut st = self.lock();
            if st.unfinished == 0 {
                return Ok(());
            }
            let w = Waiter::new();
            st.joiners.push(w.clone());
            w
        };
        let mut guard = JoinGuard {
            core: self,
            w,
            armed: true,
        };
        let wake = waiter::wait(&guard.w, None);
        guard.armed = false;
        let mut st = self.lock();
        // Once the count reached zero the join is over, even if new items
        // arrived before this green thread ran (eventlet's `_cond` Event).
        if guard.w.is_notified() {
            return Ok(());
        }
        st.joiners.retain(|x| !Arc::ptr_eq(x, &guard.w));
        match wake {
            Wake::Timeout(t) => Err(t),
            Wake::Notified | Wake::OpTimeout => Ok(()),
        }
    }

    fn fmt_debug(&self, name: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct(name)
            .field("maxsize", &st.maxsize)
            .field("qsize", &st.items.len())
            .field("getting", &st.getters.len())
            .field("putting", &st.putters.len())
            .field("unfinished_tasks", &st.unfinished)
            .finish()
    }
}

// ---------------------------------------------------------------------------
// The public queue kinds.

/// A FIFO queue with `task_done`/`join` (eventlet's `Queue`).
///
/// ```
/// use eventlet::queue::Queue;
/// let q = Queue::with_maxsize(2);
/// q.put("a").unwrap();
/// q.put("b").unwrap();
/// assert!(q.full());
/// assert!(q.put_nowait("c").is_err());
/// assert_eq!(q.get(), Ok("a"));
/// assert_eq!(q.get_nowait(), Ok("b"));
/// assert!(q.get_nowait().is_err());
/// ```
pub struct Queue<T> {
    core: Core<T, VecDeque<T>>,
}

/// A FIFO queue without `task_done`/`join` (eventlet's `LightQueue`).
///
/// ```
/// use std::sync::Arc;
/// // maxsize 0: a channel, `put` returns once a getter took the item.
/// let ch = Arc::new(eventlet::queue::LightQueue::with_maxsize(0));
/// let ch2 = ch.clone();
/// let sender = eventlet::spawn(move || ch2.put("hi").is_ok());
/// assert_eq!(ch.get(), Ok("hi"));
/// assert_eq!(sender.wait(), Ok(true));
/// ```
pub struct LightQueue<T> {
    core: Core<T, VecDeque<T>>,
}

/// A queue that returns the lowest item first (eventlet's `PriorityQueue`);
/// use `(priority, data)` tuples to order by priority.
///
/// ```
/// let q = eventlet::queue::PriorityQueue::new();
/// for item in [(3, "c"), (1, "a"), (2, "b")] {
///     q.put(item).unwrap();
/// }
/// assert_eq!(q.get(), Ok((1, "a")));
/// assert_eq!(q.get(), Ok((2, "b")));
/// ```
pub struct PriorityQueue<T> {
    core: Core<T, MinHeap<T>>,
}

/// A queue that returns the most recently put item first (eventlet's
/// `LifoQueue`).
///
/// ```
/// let q = eventlet::queue::LifoQueue::new();
/// q.put(1).unwrap();
/// q.put(2).unwrap();
/// assert_eq!(q.get(), Ok(2));
/// assert_eq!(q.get(), Ok(1));
/// ```
pub struct LifoQueue<T> {
    core: Core<T, Vec<T>>,
}

/// The API every queue kind shares, written once.
macro_rules! queue_api {
    ($name:ident $(, $bound:path)?) => {
        impl<T $(: $bound)?> $name<T> {
            /// An unbounded queue.
            pub fn new() -> Self {
                $name { core: Core::new(None) }
            }

            /// A queue holding at most `maxsize` items; `0` makes it a
            /// channel, where `put` blocks until a getter takes the item.
            pub fn with_maxsize(maxsize: usize) -> Self {
                $name { core: Core::new(Some(maxsize)) }
            }

            /// Change the maximum size (`None`: unbounded). Growing lets
            /// blocked putters in; shrinking keeps the items already queued.
            pub fn resize(&self, maxsize: Option<usize>) {
                self.core.resize(maxsize)
            }

            /// Put `item`, blocking while the queue is full (on a channel:
            /// until a getter takes it). Fails, giving the item back, only
            /// when a [`Timeout`](crate::Timeout) of the caller expires.
            pub fn put(&self, item: T) -> Result<(), PutError<T>> {
                self.core.put_until(item, None)
            }

            /// Like [`put`](Self::put) but waiting at most `dur`:
            /// [`PutError::Full`] when `dur` ran out.
            pub fn put_timeout(&self, item: T, dur: Duration) -> Result<(), PutError<T>> {
                self.core.put_until(item, deadline_after(dur))
            }

            /// Put `item` only if there is room now, or (on a channel) a
            /// getter is waiting to take it.
            pub fn put_nowait(&self, item: T) -> Result<(), Full<T>> {
                self.core.put_nowait(item)
            }

            /// Take an item, blocking until there is one. Fails only when a
            /// [`Timeout`](crate::Timeout) of the caller expires.
            pub fn get(&self) -> Result<T, TimeoutError> {
                self.core.get()
            }

            /// Like [`get`](Self::get) but waiting at most `dur`:
            /// [`GetError::Empty`] when `dur` ran out.
            pub fn get_timeout(&self, dur: Duration) -> Result<T, GetError> {
                self.core.get_until(deadline_after(dur))
            }

            /// Take an item if there is one now, or (on a channel) a blocked
            /// putter offers one.
            pub fn get_nowait(&self) -> Result<T, Empty> {
                self.core.get_nowait()
            }

            /// Items in the queue now (never counts a channel's putters).
            pub fn qsize(&self) -> usize {
                self.core.lock().items.len()
            }

            /// True when [`qsize`](Self::qsize) is 0.
            pub fn empty(&self) -> bool {
                self.qsize() == 0
            }

            /// True when the queue has no room; a channel always is full.
            pub fn full(&self) -> bool {
                !self.core.lock().has_room()
            }

            /// The maximum size; `None` for unbounded.
            pub fn maxsize(&self) -> Option<usize> {
                self.core.lock().maxsize
            }

            /// Green threads blocked in `get`.
            pub fn getting(&self) -> usize {
                self.core.lock().getters.len()
            }

            /// Green threads blocked in `put`.
            pub fn putting(&self) -> usize {
                self.core.lock().putters.len()
            }
        }

        impl<T $(: $bound)?> Default for $name<T> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<T $(: $bound)?> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.core.fmt_debug(stringify!($name), f)
            }
        }
    };
}

/// `task_done`/`join`, for every kind but [`LightQueue`].
macro_rules! task_api {
    ($name:ident $(, $bound:path)?) => {
        impl<T $(: $bound)?> $name<T> {
            /// Mark one item taken with `get` as processed. An error if
            /// called more often than items were put.
            pub fn task_done(&self) -> Result<(), TaskDoneTooManyTimes> {
                self.core.task_done()
            }

            /// Block until every item put so far was marked with
            /// [`task_done`](Self::task_done); at once if none is pending.
            /// Fails only when a [`Timeout`](crate::Timeout) of the caller
            /// expires.
            pub fn join(&self) -> Result<(), TimeoutError> {
                self.core.join()
            }

            /// Items put but not yet marked with
            /// [`task_done`](Self::task_done) (eventlet's
            /// `unfinished_tasks`).
            pub fn unfinished_tasks(&self) -> usize {
                self.core.lock().unfinished
            }
        }
    };
}

queue_api!(Queue);
queue_api!(LightQueue);
queue_api!(PriorityQueue, Ord);
queue_api!(LifoQueue);
task_api!(Queue);
task_api!(PriorityQueue, Ord);
task_api!(LifoQueue);

/// Queues are shareable across green threads as soon as `T: Send`.
fn assert_send_sync<X: Send + Sync>() {}
const _: fn() = assert_send_sync::<Queue<std::cell::Cell<u8>>>;
const _: fn() = assert_send_sync::<LightQueue<std::cell::Cell<u8>>>;
const _: fn() = assert_send_sync::<LifoQueue<std::cell::Cell<u8>>>;
const _: fn() = assert_send_sync::<PriorityQueue<u8>>;
