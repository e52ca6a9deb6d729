//! Helpers shared by the runtime's integration tests: bounded waits that
//! fail a test instead of hanging it.
#![allow(dead_code)]

use eventlet::{sleep, GreenResult, GreenThread, Timeout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Poll `cond` until it holds; fail after 10 s instead of hanging.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "gave up waiting until {what}"
        );
        sleep(Duration::from_millis(1));
    }
}

/// The outcome of `gt`; fail after `secs` instead of hanging.
pub fn finish_within<T: Clone>(gt: &GreenThread<T>, secs: u64) -> GreenResult<T> {
    let t = Timeout::new(Duration::from_secs(secs));
    gt.wait_done()
        .unwrap_or_else(|_| panic!("green thread did not finish within {secs} s"));
    drop(t);
    gt.wait()
}

/// The outcome of `gt`; fail after 10 s instead of hanging.
pub fn finish<T: Clone>(gt: &GreenThread<T>) -> GreenResult<T> {
    finish_within(gt, 10)
}

/// `gt.kill()`, failing after 10 s instead of hanging (kill waits for the end).
pub fn kill<T>(gt: &GreenThread<T>) {
    let t = Timeout::new(Duration::from_secs(10));
    gt.kill();
    assert!(
        !t.expired(),
        "the killed green thread did not end within 10 s"
    );
}

/// A green thread that counts 10 ms ticks until `stop` is set: shows whether
/// other green threads kept running while something waited.
pub fn ticker(stop: Arc<AtomicBool>) -> GreenThread<usize> {
    eventlet::spawn(move || {
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            sleep(Duration::from_millis(10));
            n += 1;
        }
        n
    })
}
