//! `eventlet.tpool`: run blocking code on a pool of OS threads while the
//! calling green thread waits green-ly.
//!
//! A green thread that calls a blocking function — a C library, a crate doing
//! std IO, `getaddrinfo`, a CPU-heavy computation — holds its whole worker
//! thread, and every green thread queued on that worker stalls. [`execute`]
//! hands the closure to a pool of plain OS threads instead and parks only the
//! caller; the others keep running.
//!
//! ```
//! use std::time::Duration;
//! // eventlet: tpool.execute(time.sleep, 0.05) — blocking, but off the workers.
//! let slept = eventlet::spawn(|| {
//!     eventlet::tpool::execute(|| std::thread::sleep(Duration::from_millis(50)))
//! });
//! // Meanwhile other green threads run.
//! eventlet::sleep(Duration::from_millis(1));
//! assert!(slept.wait().unwrap().is_ok());
//! ```
//!
//! - The pool has [`DEFAULT_THREADS`] threads (eventlet's 20) unless the
//!   environment variable `EVENTLET_THREADPOOL_SIZE` says otherwise or
//!   [`set_num_threads`] is called. Threads start on demand and stay.
//! - Jobs wait in a FIFO queue when every thread is busy.
//! - A panic in the closure comes back as [`TpoolError::Panicked`]; the pool
//!   thread survives it.
//! - A [`Timeout`](crate::Timeout) of the caller stops the **wait**, not the
//!   call: [`execute`] returns [`TpoolError::Timeout`] on time, a job that had
//!   not started yet is dropped without running, and a job already running
//!   finishes on its OS thread on its own (its result is thrown away). The same
//!   holds when the waiting green thread is killed. That is why the closure must
//!   be `'static`: nothing it borrows may go away while it still runs.
//! - Called from a pool thread (a job that calls `execute`), the closure runs
//!   in place, as in eventlet: queueing it could deadlock a full pool.
//!
//! # Which primitives work from plain OS threads
//! `tpool` jobs, `main` before or outside green threads, and threads you start
//! yourself may use these, which park the OS thread instead of a green thread:
//! [`Event`](crate::Event) (`send`, `wait`, `wait_timeout`), every queue in
//! [`queue`](crate::queue) (`put`, `get`, their `_timeout`/`_nowait` forms),
//! the semaphores (`acquire`, `release`), [`GreenThread::wait`](crate::GreenThread::wait),
//! [`sleep`](crate::sleep) (a plain `thread::sleep` there) and this crate's
//! sockets. A green thread waiting on one of them is woken by an OS thread's
//! `send`/`put`/`release` as by a green one (tests: `tests/tpool.rs`).
//! A [`Timeout`](crate::Timeout) belongs to the context that made it; one made
//! on an OS thread bounds that thread's waits.

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::any::Any;
use std::collections::VecDeque;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

/// eventlet's default pool size.
pub const DEFAULT_THREADS: usize = 20;

/// Why [`execute`] returned no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpoolError {
    /// A [`Timeout`](crate::Timeout) of the waiting green thread expired. A
    /// job that had started keeps running on its OS thread until it returns.
    Timeout(TimeoutError),
    /// The closure panicked; the panic message.
    Panicked(String),
}

impl fmt::Display for TpoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TpoolError::Timeout(t) => t.fmt(f),
            TpoolError::Panicked(msg) => write!(f, "the tpool job panicked: {msg}"),
        }
    }
}

impl std::error::Error for TpoolError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TpoolError::Timeout(t) => Some(t),
            TpoolError::Panicked(_) => None,
        }
    }
}

impl From<TimeoutError> for TpoolError {
    fn from(t: TimeoutError) -> Self {
        TpoolError::Timeout(t)
    }
}

impl From<TpoolError> for std::io::Error {
    /// A Timeout keeps its identity ([`Timeout::is_io`](crate::Timeout::is_io)
    /// recognises it); a panic becomes [`Other`](std::io::ErrorKind::Other).
    fn from(e: TpoolError) -> std::io::Error {
        match e {
            TpoolError::Timeout(t) => t.into(),
            TpoolError::Panicked(_) => std::io::Error::other(e),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    queue: Mutex<PoolState>,
    ready: Condvar,
}

struct PoolState {
    jobs: VecDeque<Job>,
    /// Threads alive, and how many of them wait for a job.
    threads: usize,
    idle: usize,
}

static LIMIT: AtomicUsize = AtomicUsize::new(0);

fn limit() -> usize {
    match LIMIT.load(Ordering::Relaxed) {
        0 => {
            let n = std::env::var("EVENTLET_THREADPOOL_SIZE")
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .filter(|n| *n > 0)
                .unwrap_or(DEFAULT_THREADS);
            // A concurrent `set_num_threads` wins.
            match LIMIT.compare_exchange(0, n, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => n,
                Err(set) => set,
            }
        }
        n => n,
    }
}

/// Set the number of pool threads (eventlet's `tpool.set_num_threads`; at
/// least 1). Growing takes effect at once; when shrinking, threads beyond the
/// new size exit once their current job is done.
///
/// ```
/// eventlet::tpool::set_num_threads(4);
/// assert_eq!(eventlet::tpool::num_threads(), 4);
/// ```
pub fn set_num_threads(n: usize) {
    LIMIT.store(n.max(1), Ordering::Relaxed);
    // Wake idle threads so that surplus ones can leave.
    pool().ready.notify_all();
}

/// The pool's size: [`set_num_threads`], else `EVENTLET_THREADPOOL_SIZE`, else 20.
pub fn num_threads() -> usize {
    limit()
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        queue: Mutex::new(PoolState {
            jobs: VecDeque::new(),
            threads: 0,
            idle: 0,
        }),
        ready: Condvar::new(),
    })
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&'static self, job: Job) {
        let mut st = self.lock();
        st.jobs.push_back(job);
        if st.idle >= st.jobs.len() {
            drop(st);
            self.ready.notify_one();
        } else if st.threads < limit() {
            st.threads += 1;
            drop(st);
            let started = std::thread::Builder::new()
                .name("eventlet-tpool".into())
                .spawn(move || self.work());
            if let Err(e) = started {
                // The job stays queued for the threads there are.
                self.lock().threads -= 1;
                log::error!("tpool: cannot start a thread: {e}");
            }
        }
    }

    fn work(&'static self) {
        IN_POOL.with(|p| p.set(true));
        let mut st = self.lock();
        loop {
            if st.threads > limit() {
                st.threads -= 1;
                return;
            }
            match st.jobs.pop_front() {
                Some(job) => {
                    drop(st);
                    job();
                    st = self.lock();
                }
                None => {
                    st.idle += 1;
                    st = self.ready.wait(st).unwrap_or_else(PoisonError::into_inner);
                    st.idle -= 1;
                }
            }
        }
    }
}

std::thread_local! {
    static IN_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Where one job stands; shared by the waiting caller and the pool thread.
enum Slot<R> {
    Queued,
    Running,
    Done(Result<R, TpoolError>),
    /// The caller stopped waiting before the job started: skip it.
    Abandoned,
}

struct Shared<R> {
    slot: Mutex<Slot<R>>,
    waiter: Arc<Waiter>,
}

impl<R> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, Slot<R>> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Marks the job abandoned if the caller stops waiting for any reason (a
/// Timeout, or a kill unwinding it).
struct Abandon<'a, R>(&'a Shared<R>);

impl<R> Drop for Abandon<'_, R> {
    fn drop(&mut self) {
        let mut slot = self.0.lock();
        if matches!(*slot, Slot::Queued) {
            *slot = Slot::Abandoned;
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    crate::greenthread::panic_message(payload)
}

/// eventlet's `tpool.execute(f)`: run `f` on a pool thread and wait for it
/// green-ly; see the [module docs](self).
///
/// ```
/// let n = eventlet::tpool::execute(|| (1..=10u64).product::<u64>()).unwrap();
/// assert_eq!(n, 3_628_800);
/// let err = eventlet::tpool::execute(|| panic!("boom")).map(|()| ()).unwrap_err();
/// assert_eq!(err, eventlet::tpool::TpoolError::Panicked("boom".into()));
/// ```
pub fn execute<F, R>(f: F) -> Result<R, TpoolError>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    if IN_POOL.with(|p| p.get()) {
        return panic::catch_unwind(AssertUnwindSafe(f))
            .map_err(|p| TpoolError::Panicked(panic_text(&*p)));
    }
    let shared = Arc::new(Shared {
        slot: Mutex::new(Slot::Queued),
        waiter: Waiter::new(),
    });
    let job_side = shared.clone();
    pool().submit(Box::new(move || {
        {
            let mut slot = job_side.lock();
            if matches!(*slot, Slot::Abandoned) {
                return;
            }
            *slot = Slot::Running;
        }
        let r = panic::catch_unwind(AssertUnwindSafe(f))
            .map_err(|p| TpoolError::Panicked(panic_text(&*p)));
        let mut slot = job_side.lock();
        *slot = Slot::Done(r);
        job_side.waiter.notify();
    }));
    let _abandon = Abandon(&shared);
    loop {
        let wake = waiter::wait(&shared.waiter, None);
        let mut slot = shared.lock();
        if let Slot::Done(_) = &*slot {
            match std::mem::replace(&mut *slot, Slot::Abandoned) {
                Slot::Done(r) => return r,
                _ => unreachable!("checked just above"),
            }
        }
        if let Wake::Timeout(t) = wake {
            return Err(TpoolError::Timeout(t));
        }
    }
}

/// eventlet's `tpool.Proxy`: an object whose every use runs on the pool.
///
/// Wrap a value owned by blocking code (a database connection of a blocking
/// driver, a handle of a C library); [`call`](Self::call) runs a closure on
/// it in a pool thread and waits green-ly. Calls are serialised (the value is
/// behind a lock taken on the pool thread, never on a green thread). Cloning a
/// `Proxy` shares the value.
///
/// ```
/// let conn = eventlet::tpool::Proxy::new(Vec::<u32>::new());
/// conn.call(|v| v.push(7)).unwrap();
/// assert_eq!(conn.call(|v| v.len()).unwrap(), 1);
/// ```
pub struct Proxy<T> {
    inner: Arc<Mutex<T>>,
}

impl<T> Clone for Proxy<T> {
    fn clone(&self) -> Self {
        Proxy {
            inner: self.inner.clone(),
        }
    }
}

impl<T: fmt::Debug> fmt::Debug for Proxy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy").finish_non_exhaustive()
    }
}

impl<T: Send + 'static> Proxy<T> {
    /// Wrap `value`.
    pub fn new(value: T) -> Proxy<T> {
        Proxy {
            inner: Arc::new(Mutex::new(value)),
        }
    }

    /// Run `f` on the value in a pool thread; see [`execute`] for the errors.
    /// A call that panics does not poison the proxy.
    pub fn call<R, F>(&self, f: F) -> Result<R, TpoolError>
    where
        F: FnOnce(&mut T) -> R + Send + 'static,
        R: Send + 'static,
    {
        let inner = self.inner.clone();
        execute(move || f(&mut inner.lock().unwrap_or_else(PoisonError::into_inner)))
    }

    /// The value back, if this is the last handle and no call still runs.
    pub fn into_inner(self) -> Result<T, Proxy<T>> {
        match Arc::try_unwrap(self.inner) {
            Ok(m) => Ok(m.into_inner().unwrap_or_else(PoisonError::into_inner)),
            Err(inner) => Err(Proxy { inner }),
        }
    }
}
