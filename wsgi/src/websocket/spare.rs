//! A one-buffer slot through which a message's buffer, once written by
//! `feed`/`send`, goes back to the reader for the next payload: an echo then
//! allocates nothing per message. Never waited for: both sides give up when
//! the other one is at the slot (then the buffer is simply freed, or a new
//! one allocated), so a `std` mutex (and its poison bookkeeping) is more
//! than this needs.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU8, Ordering};

const EMPTY: u8 = 0;
const FULL: u8 = 1;
/// One side is moving the buffer in or out: only it touches `buf`.
const BUSY: u8 = 2;

/// Holds at most one buffer.
pub(crate) struct Spare {
    state: AtomicU8,
    buf: UnsafeCell<Vec<u8>>,
}

// SAFETY: `buf` is only accessed by the one caller that moved `state` to
// BUSY (by compare-exchange, Acquire) until it stores EMPTY or FULL
// (Release), so accesses never overlap and each sees the last one's writes;
// a `Vec<u8>` may move between threads.
unsafe impl Sync for Spare {}

impl Spare {
    pub(crate) fn new() -> Spare {
        Spare {
            state: AtomicU8::new(EMPTY),
            buf: UnsafeCell::new(Vec::new()),
        }
    }

    /// Leave `buf` here if the slot is empty (else it is dropped).
    pub(crate) fn put(&self, buf: Vec<u8>) {
        if self
            .state
            .compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            // SAFETY: this caller moved the state to BUSY (see `Sync`).
            unsafe { *self.buf.get() = buf };
            self.state.store(FULL, Ordering::Release);
        }
    }

    /// The buffer left here, if any.
    pub(crate) fn take(&self) -> Option<Vec<u8>> {
        if self.state.load(Ordering::Relaxed) != FULL
            || self
                .state
                .compare_exchange(FULL, BUSY, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        // SAFETY: this caller moved the state to BUSY (see `Sync`).
        let buf = unsafe { std::mem::take(&mut *self.buf.get()) };
        self.state.store(EMPTY, Ordering::Release);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_buffer_at_a_time() {
        let s = Spare::new();
        assert!(s.take().is_none());
        s.put(vec![1, 2, 3]);
        s.put(vec![4]); // full: dropped
        assert_eq!(s.take(), Some(vec![1, 2, 3]));
        assert!(s.take().is_none());
    }

    #[test]
    fn threads_never_share_a_buffer() {
        let s = std::sync::Arc::new(Spare::new());
        let handles: Vec<_> = (0..4u8)
            .map(|t| {
                let s = s.clone();
                std::thread::spawn(move || {
                    for i in 0..20_000u32 {
                        if i % 2 == 0 {
                            s.put(vec![t; 8]);
                        } else if let Some(b) = s.take() {
                            assert!(b.len() == 8 && b.iter().all(|&x| x == b[0]));
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
    }
}
