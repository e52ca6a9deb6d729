use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;

use crate::config::config;
use crate::coroutine_impl::CoroutineImpl;
use crossbeam::queue::SegQueue;
use generator::Gn;

/// the raw coroutine pool, with stack and register prepared
/// you need to tack care of the local storage
pub struct CoroutinePool {
    // the pool must support mpmc operation!
    pool: SegQueue<CoroutineImpl>,
    size: AtomicUsize,
    // eventlet-rs patch: finished coroutines the full pool did not take,
    // waiting for the reaper thread to free them (see `discard`).
    excess: SegQueue<CoroutineImpl>,
    excess_len: AtomicUsize,
    reaper: OnceLock<Option<Thread>>,
}

/// eventlet-rs patch: how many finished coroutines may wait for the reaper.
/// Beyond this they are freed on the worker, as before. Their memory was in
/// use by live coroutines a moment earlier, so this bounds how long (not how
/// much more than the peak) memory is held.
const EXCESS_MAX: usize = 16 * 1024;

impl CoroutinePool {
    fn create_dummy_coroutine() -> CoroutineImpl {
        Gn::new_opt(config().get_stack_size(), move || {
            unreachable!("dummy coroutine should never be called");
        })
    }

    pub fn new() -> Self {
        let capacity = config().get_pool_capacity();
        let pool = SegQueue::new();
        for _ in 0..capacity {
            let co = Self::create_dummy_coroutine();
            pool.push(co);
        }
        let size = AtomicUsize::new(capacity);

        CoroutinePool {
            pool,
            size,
            excess: SegQueue::new(),
            excess_len: AtomicUsize::new(0),
            reaper: OnceLock::new(),
        }
    }

    /// get a raw coroutine from the pool
    #[inline]
    pub fn get(&self) -> CoroutineImpl {
        self.size.fetch_sub(1, Ordering::AcqRel);
        match self.pool.pop() {
            Some(co) => co,
            None => {
                self.size.fetch_add(1, Ordering::AcqRel);
                Self::create_dummy_coroutine()
            }
        }
    }

    /// put a raw coroutine into the pool
    #[inline]
    pub fn put(&self, co: CoroutineImpl) {
        // discard the co if push failed
        let m = self.size.fetch_add(1, Ordering::AcqRel);
        if m >= config().get_pool_capacity() {
            self.size.fetch_sub(1, Ordering::AcqRel);
            self.discard(co);
            return;
        }
        self.pool.push(co);
    }

    /// eventlet-rs patch: free a finished coroutine the pool has no room for.
    ///
    /// Freeing it unmaps its stack, and munmap flushes the TLB of every CPU
    /// running another thread of the process: when many coroutines end at
    /// once (a server closing 10,000 idle connections at stop), every worker
    /// is busy and each unmap waits for the others' interrupts (measured ~30
    /// µs per stack with two busy workers, ~7 µs with the others idle). So
    /// the coroutine goes to a low-priority reaper thread that frees it when
    /// a CPU has time; the workers go on with the coroutines still running.
    fn discard(&self, co: CoroutineImpl) {
        if self.excess_len.fetch_add(1, Ordering::AcqRel) >= EXCESS_MAX {
            self.excess_len.fetch_sub(1, Ordering::AcqRel);
            drop(co);
            return;
        }
        match self.reaper.get_or_init(start_reaper) {
            Some(reaper) => {
                self.excess.push(co);
                reaper.unpark();
            }
            None => {
                self.excess_len.fetch_sub(1, Ordering::AcqRel);
                drop(co);
            }
        }
    }

    /// eventlet-rs patch: the reaper's loop (see `discard`).
    fn reap(&self) -> ! {
        loop {
            while let Some(co) = self.excess.pop() {
                // A finished coroutine: its local storage was destroyed on
                // its worker (`Done::drop_coroutine`); what is left is the
                // generator and its stack, which any thread may free.
                drop(co);
                self.excess_len.fetch_sub(1, Ordering::AcqRel);
            }
            std::thread::park();
        }
    }
}

/// eventlet-rs patch: start the thread that frees excess coroutines; `None`
/// if it cannot start (they are then freed on the workers, as before).
fn start_reaper() -> Option<Thread> {
    std::thread::Builder::new()
        .name("may-reaper".into())
        .stack_size(128 * 1024)
        .spawn(|| {
            // Lower priority than the workers (Linux: per thread): it runs
            // when a CPU would otherwise idle, yet is never starved for long.
            #[cfg(target_os = "linux")]
            // SAFETY: setpriority on the calling thread (who = 0) takes no pointers.
            unsafe {
                libc::setpriority(libc::PRIO_PROCESS, 0, 10);
            }
            crate::scheduler::get_scheduler().pool.reap()
        })
        .ok()
        .map(|h| h.thread().clone())
}
