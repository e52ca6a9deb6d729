//! Green threads: `spawn`, `spawn_n`, `spawn_after`, `sleep`, `kill` and `GreenThread`.
//!
//! # Soundness of spawning
//! `may::coroutine::spawn` is `unsafe` for two reasons, and this module wraps it
//! in safe functions under the following contract, which the crate upholds:
//! 1. **Thread-locals.** A green thread can move to another worker thread at any
//!    blocking call. Holding a reference into a `thread_local!` across such a call
//!    could then alias another thread's data. The closures handed to [`spawn`]
//!    are `Send + 'static`, so they cannot capture thread-local references; this
//!    crate itself keeps per-green-thread state only in `may::coroutine_local!`
//!    (which follows the green thread) and never holds a thread-local borrow or a
//!    `std::sync::Mutex` guard across a blocking call. User code must follow the
//!    same rule (see [`config`](crate::config)); Rust cannot check it for us,
//!    exactly as it cannot for `may::go!`.
//! 2. **Stack size.** Overflowing a green thread's stack hits a guard page and
//!    aborts the process with a message (see [`config`](crate::config)); the
//!    frames are never reused or unwound, so nothing unsound can follow.
//!
//! # Differences from eventlet
//! Green threads run on several worker threads at once (M:N), so a spawned
//! function may start before the spawner yields, and two green threads may run
//! truly in parallel. Rust's `Send`/`Sync` rules keep that safe.

use crate::timeout::TimeoutError;
use crate::waiter::{self, Waiter, Wake};
use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How a green thread ended when it did not return a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GreenThreadError {
    /// It was killed (eventlet's `GreenletExit`).
    Killed,
    /// It panicked; the panic message.
    Panicked(String),
    /// Its result was already taken by [`GreenThread::join`].
    ResultTaken,
}

impl fmt::Display for GreenThreadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GreenThreadError::Killed => f.write_str("green thread was killed"),
            GreenThreadError::Panicked(m) => write!(f, "green thread panicked: {m}"),
            GreenThreadError::ResultTaken => f.write_str("the result was already taken"),
        }
    }
}

impl std::error::Error for GreenThreadError {}

/// The outcome of a green thread.
pub type GreenResult<T> = Result<T, GreenThreadError>;

/// The identifier [`GreenThread::link`] returns, for [`GreenThread::unlink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkId(u64);

type Link<T> = Box<dyn FnOnce(&GreenThread<T>) + Send>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    NotStarted,
    Running,
    Done,
}

struct State<T> {
    phase: Phase,
    kill_requested: bool,
    result: Option<GreenResult<T>>,
    taken: bool,
    links: Vec<(LinkId, Link<T>)>,
    next_link: u64,
    waiters: Vec<Arc<Waiter>>,
    /// Woken by `cancel`/`kill` while a `spawn_after` thread waits to start.
    starter: Option<Arc<Waiter>>,
}

struct Inner<T> {
    state: Mutex<State<T>>,
    co: OnceLock<may::coroutine::Coroutine>,
}

/// A handle to a spawned green thread (eventlet's `GreenThread`). Cloning it
/// gives another handle to the same green thread.
pub struct GreenThread<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for GreenThread<T> {
    fn clone(&self) -> Self {
        GreenThread {
            inner: self.inner.clone(),
        }
    }
}

impl<T> fmt::Debug for GreenThread<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GreenThread")
            .field("phase", &self.lock().phase)
            .finish()
    }
}

/// Spawn a green thread running `f`; the handle gives its result.
///
/// ```
/// let gt = eventlet::spawn(|| 6 * 7);
/// assert_eq!(gt.wait(), Ok(42));
/// ```
pub fn spawn<T, F>(f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(None, f)
}

/// Spawn a green thread that starts after `delay`; [`GreenThread::cancel`]
/// before then stops it from ever running.
///
/// ```
/// use std::time::Duration;
/// let gt = eventlet::spawn_after(Duration::from_secs(60), || "never");
/// assert!(gt.cancel());
/// assert_eq!(gt.wait(), Err(eventlet::GreenThreadError::Killed));
/// ```
pub fn spawn_after<T, F>(delay: Duration, f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    start(Some(Instant::now() + delay), f)
}

/// Spawn a green thread with no handle: the cheapest way to run something.
/// A panic is printed by the panic hook and otherwise ignored.
///
/// ```
/// let ev = std::sync::Arc::new(eventlet::Event::new());
/// let ev2 = ev.clone();
/// eventlet::spawn_n(move || { ev2.send(1).unwrap(); });
/// assert_eq!(ev.wait(), Ok(1));
/// ```
pub fn spawn_n<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    crate::config::ensure_started();
    // SAFETY: `f` is `Send + 'static`; the thread-local and stack-size contract
    // of the module docs applies, and the runtime was configured first.
    unsafe {
        may::coroutine::spawn(f);
    }
}

/// Pause the current green thread for `dur`, letting others run;
/// `sleep(Duration::ZERO)` just yields. A pending [`Timeout`](crate::Timeout)
/// cuts the sleep short (check [`Timeout::expired`](crate::Timeout::expired)).
///
/// ```
/// use std::time::{Duration, Instant};
/// let t = Instant::now();
/// eventlet::sleep(Duration::from_millis(20));
/// assert!(t.elapsed() >= Duration::from_millis(20));
/// ```
pub fn sleep(dur: Duration) {
    crate::config::ensure_started();
    if dur.is_zero() {
        if may::coroutine::is_coroutine() {
            may::coroutine::yield_now();
        } else {
            std::thread::yield_now();
        }
        return;
    }
    let w = Waiter::new();
    let _ = waiter::wait(&w, Instant::now().checked_add(dur));
}

/// eventlet's `kill(gt)`: see [`GreenThread::kill`].
pub fn kill<T: Send + 'static>(gt: &GreenThread<T>) {
    gt.kill()
}

fn start<T, F>(at: Option<Instant>, f: F) -> GreenThread<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    crate::config::ensure_started();
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            phase: Phase::NotStarted,
            kill_requested: false,
            result: None,
            taken: false,
            links: Vec::new(),
            next_link: 0,
            waiters: Vec::new(),
            starter: None,
        }),
        co: OnceLock::new(),
    });
    let gt = GreenThread {
        inner: inner.clone(),
    };
    let body = move || run(inner, at, f);
    // SAFETY: `body` is `Send + 'static`; the thread-local and stack-size
    // contract of the module docs applies, and the runtime was configured first.
    let handle = unsafe { may::coroutine::spawn(body) };
    let _ = gt.inner.co.set(handle.coroutine().clone());
    gt
}

fn run<T, F>(inner: Arc<Inner<T>>, at: Option<Instant>, f: F)
where
    F: FnOnce() -> T,
{
    let gt = GreenThread { inner };
    if let Some(at) = at {
        // The waiter is made here: a Blocker parks the context that created it.
        let w = Waiter::new();
        let killed = {
            let mut st = gt.lock();
            st.starter = Some(w.clone());
            st.kill_requested
        };
        if !killed {
            // Returns at `at`, or early when `cancel`/`kill` notify it.
            let _ = waiter::wait(&w, Some(at));
        }
    }
    {
        let mut st = gt.lock();
        st.starter = None;
        if st.kill_requested {
            drop(st);
            // Drop the unstarted closure first, so whatever it holds (a pool
            // slot) is released by the time `kill()` and `wait()` return.
            drop(f);
            gt.finish(Err(GreenThreadError::Killed));
            return;
        }
        st.phase = Phase::Running;
    }
    let outcome = catch_unwind(AssertUnwindSafe(f));
    let result = match outcome {
        Ok(v) => Ok(v),
        Err(_) if gt.lock().kill_requested => Err(GreenThreadError::Killed),
        Err(payload) => Err(GreenThreadError::Panicked(panic_message(&*payload))),
    };
    gt.finish(result);
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

impl<T> GreenThread<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finish(&self, result: GreenResult<T>) {
        let links = {
            let mut st = self.lock();
            st.phase = Phase::Done;
            st.result = Some(result);
            for w in st.waiters.drain(..) {
                w.notify();
            }
            std::mem::take(&mut st.links)
        };
        // Links run in the dying green thread, after waiters were woken, like
        // eventlet's `GreenThread.main`.
        for (_, link) in links {
            link(self);
        }
    }

    /// True once the green thread finished (eventlet's `dead`).
    pub fn dead(&self) -> bool {
        self.lock().phase == Phase::Done
    }

    /// Same as [`dead`](Self::dead).
    pub fn is_done(&self) -> bool {
        self.dead()
    }

    /// Block until the green thread finished, without taking its result.
    /// Fails only when a [`Timeout`](crate::Timeout) of the caller expires.
    pub fn wait_done(&self) -> Result<(), TimeoutError> {
        loop {
            let w = {
                let mut st = self.lock();
                if st.phase == Phase::Done {
                    return Ok(());
                }
                let w = Waiter::new();
                st.waiters.push(w.clone());
                w
            };
            match waiter::wait(&w, None) {
                Wake::Notified => continue,
                Wake::OpTimeout => continue,
                Wake::Timeout(t) => {
                    self.lock().waiters.retain(|x| !Arc::ptr_eq(x, &w));
                    return Err(t);
                }
            }
        }
    }

    /// Call `f(&gt)` when the green thread ends, in the dying green thread; at
    /// once (in the caller) if it already ended. Links run in the order given;
    /// `f` can read the outcome with [`wait`](Self::wait).
    ///
    /// ```
    /// use std::sync::{Arc, atomic::{AtomicU32, Ordering}};
    /// let seen = Arc::new(AtomicU32::new(0));
    /// let gt = eventlet::spawn(|| 5);
    /// gt.wait_done().unwrap();
    /// let s = seen.clone();
    /// gt.link(move |gt| s.store(gt.wait().unwrap(), Ordering::SeqCst));
    /// assert_eq!(seen.load(Ordering::SeqCst), 5);
    /// ```
    pub fn link(&self, f: impl FnOnce(&GreenThread<T>) + Send + 'static) -> LinkId {
        let mut st = self.lock();
        let id = LinkId(st.next_link);
        st.next_link += 1;
        if st.phase == Phase::Done {
            drop(st);
            f(self);
        } else {
            st.links.push((id, Box::new(f)));
        }
        id
    }

    /// Remove a link that has not run yet; true if it was removed.
    pub fn unlink(&self, id: LinkId) -> bool {
        let mut st = self.lock();
        let before = st.links.len();
        st.links.retain(|(i, _)| *i != id);
        st.links.len() != before
    }

    /// Stop the green thread before it starts: true if it will never run
    /// (eventlet's `cancel`); false if it already started or ended.
    pub fn cancel(&self) -> bool {
        let mut st = self.lock();
        if st.phase != Phase::NotStarted {
            return false;
        }
        st.kill_requested = true;
        if let Some(w) = st.starter.take() {
            w.notify();
        }
        true
    }

    /// Kill the green thread and wait until it ended; its `wait` then reports
    /// [`GreenThreadError::Killed`]. An unstarted thread never runs. A running
    /// one is unwound at its next blocking call (destructors run); one busy in
    /// a CPU loop is killed when it next blocks or yields. No-op once ended.
    pub fn kill(&self) {
        let running = {
            let mut st = self.lock();
            match st.phase {
                Phase::Done => return,
                Phase::NotStarted => {
                    st.kill_requested = true;
                    if let Some(w) = st.starter.take() {
                        w.notify();
                    }
                    false
                }
                Phase::Running => {
                    st.kill_requested = true;
                    true
                }
            }
        };
        if running {
            if let Some(co) = self.inner.co.get() {
                // SAFETY: cancel unwinds the target's stack at its next blocking
                // call, running destructors. Every wait list in this crate cleans
                // up after an unwinding waiter (drop guards), and the thread's
                // outcome is recorded as `Killed` by `run`.
                unsafe { co.cancel() };
            }
        }
        let _ = self.wait_done();
    }
}

impl<T: Clone> GreenThread<T> {
    /// Block until the green thread ends and return its result (a clone, so
    /// several green threads may wait). A kill or a panic comes back as `Err`.
    /// Under an expiring [`Timeout`](crate::Timeout) of the caller, use
    /// [`wait_done`](Self::wait_done) first to tell the two apart.
    pub fn wait(&self) -> GreenResult<T> {
        loop {
            if crate::timeout::shielded(|| self.wait_done()).is_ok() {
                let st = self.lock();
                match &st.result {
                    Some(r) => return r.clone(),
                    None if st.taken => return Err(GreenThreadError::ResultTaken),
                    None => {}
                }
            }
        }
    }
}

impl<T> GreenThread<T> {
    /// Wait for the end and take the result (no `Clone` needed). Other handles
    /// to the same green thread then get [`GreenThreadError::ResultTaken`].
    ///
    /// ```
    /// let gt = eventlet::spawn(|| vec![1, 2, 3]);
    /// assert_eq!(gt.join(), Ok(vec![1, 2, 3]));
    /// ```
    pub fn join(self) -> GreenResult<T> {
        self.take()
    }

    /// A handle to work that already ended with `result` without a green
    /// thread of its own (GreenPool's re-entrant spawn runs it in the caller).
    pub(crate) fn finished(result: GreenResult<T>) -> GreenThread<T> {
        GreenThread {
            inner: Arc::new(Inner {
                state: Mutex::new(State {
                    phase: Phase::Done,
                    kill_requested: false,
                    result: Some(result),
                    taken: false,
                    links: Vec::new(),
                    next_link: 0,
                    waiters: Vec::new(),
                    starter: None,
                }),
                co: OnceLock::new(),
            }),
        }
    }

    pub(crate) fn take(&self) -> GreenResult<T> {
        let _ = crate::timeout::shielded(|| self.wait_done());
        let mut st = self.lock();
        st.taken = true;
        st.result
            .take()
            .unwrap_or(Err(GreenThreadError::ResultTaken))
    }
}
