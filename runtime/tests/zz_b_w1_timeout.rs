//! `Timeout` and `with_timeout` — ported from eventlet's `tests/timeout_test.py`
//! and `tests/timeout_with_statement_test.py` where the behaviour applies.
//!
//! Here a Timeout is a deadline that makes the blocking calls of the green
//! thread that created it return `Err(TimeoutError)`, not an exception thrown
//! into it. So these eventlet tests do not apply:
//! - `TestDirectRaise.*` (`raise eventlet.Timeout`): a Timeout is not an error
//!   value to raise; `TimeoutError` is, and `Timeout::error()` makes one.
//! - `test_raising_custom_exception`, `test_raising_exception_class`,
//!   `test_raising_exc_tuple` (`Timeout(d, SomeError)`): the caller maps the
//!   `TimeoutError` into whatever error it likes (`map_err`).
//! - `test_raising_self_true` (`Timeout(d, True)`): same as not silent, which
//!   `expiring_timeout_identifies_itself` covers.
//! - `test_ref` (no leaked exception object) and `test_is_timeout_attribute`:
//!   no garbage collector, and the type says what an error is.
//! - `test_repr`: `Display`/`Debug` are checked in
//!   `timeout_error_and_timeout_format_without_crashing`.

use eventlet::{with_timeout, GreenPool, Semaphore, Timeout};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SHORT: Duration = Duration::from_millis(20);
const LONG: Duration = Duration::from_secs(30);

// eventlet: TestWithTimeout.test_with_timeout (first part)
#[test]
fn with_timeout_returns_err_when_the_function_is_too_slow() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let start = Instant::now();
    let r = with_timeout(SHORT, || {
        eventlet::sleep(LONG);
        "finished"
    });
    assert!(r.is_err());
    assert!(start.elapsed() < Duration::from_secs(10));
}

// eventlet: TestWithTimeout.test_with_timeout (`timeout_value=`)
#[test]
fn with_timeout_value_is_unwrap_or() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let r = with_timeout(SHORT, || {
        eventlet::sleep(LONG);
        "finished"
    })
    .unwrap_or("timeout value");
    assert_eq!(r, "timeout value");
}

// eventlet: TestWithTimeout.test_with_timeout (fast function)
#[test]
fn with_timeout_returns_a_fast_functions_value() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    assert_eq!(with_timeout(Duration::from_secs(10), || 42), Ok(42));
    let r = with_timeout(Duration::from_secs(10), || {
        eventlet::sleep(Duration::from_millis(5));
        "slept"
    });
    assert_eq!(r, Ok("slept"));
}

// eventlet: TestWithTimeout.test_with_outer_timer
#[test]
fn inner_with_timeout_does_not_swallow_the_outer_expiry() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let outer = with_timeout(SHORT, || {
        with_timeout(LONG, || {
            eventlet::sleep(LONG);
            "inner finished"
        })
        .unwrap_or("inner timeout value")
    });
    // eventlet: the outer Timeout propagates instead of 'b' being returned.
    assert!(outer.is_err());
}

#[test]
fn outer_expiry_reaches_the_inner_function_as_the_outer_timeouts_error() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let sem = Semaphore::new(0);
    let outer = Timeout::new(SHORT);
    let inner = with_timeout(LONG, || sem.acquire());
    let acquired = inner.expect("the inner timeout must not claim the expiry");
    assert!(outer.is(&acquired.unwrap_err()));
    assert!(outer.expired());
}

// eventlet: Test.test_cancellation and Test.test_cancel_timer_inside_block
#[test]
fn cancelled_timeout_is_not_pending_and_never_fires() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let mut t = Timeout::new(SHORT);
    assert!(t.pending());
    t.cancel();
    assert!(!t.pending());
    assert!(!t.expired());
    // Well past the deadline, a blocking call is not cut short.
    let start = Instant::now();
    eventlet::sleep(SHORT * 5);
    assert!(start.elapsed() >= SHORT * 5);
    let sem = Semaphore::new(0);
    assert_eq!(sem.acquire_timeout(SHORT), Ok(false));
    assert!(!t.expired());
    t.cancel(); // idempotent
    assert!(!t.pending());
}

#[test]
fn dropped_timeout_never_fires() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    {
        let _t = Timeout::new(Duration::from_millis(5));
    }
    eventlet::sleep(Duration::from_millis(20));
    let sem = Semaphore::new(0);
    assert_eq!(sem.acquire_timeout(Duration::from_millis(30)), Ok(false));
}

// eventlet: Test.test_raising_self
#[test]
fn expiring_timeout_identifies_itself() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let sem = Semaphore::new(0);
    let t = Timeout::new(SHORT);
    let err = sem.acquire().unwrap_err();
    assert!(t.is(&err));
    assert_eq!(err, t.error());
    assert!(t.expired());
    assert!(!t.pending());
}

// eventlet: Test.test_silent_block
#[test]
fn silent_timeout_cuts_a_sleep_short() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let start = Instant::now();
    {
        let t = Timeout::new(Duration::from_millis(100));
        eventlet::sleep(LONG);
        assert!(t.expired());
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100), "took {took:?}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

// eventlet: Test.test_dummy_timer
#[test]
fn timeout_never_does_not_fire() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let t = Timeout::never();
    assert!(!t.pending());
    let start = Instant::now();
    eventlet::sleep(Duration::from_millis(50));
    assert!(start.elapsed() >= Duration::from_millis(50));
    assert!(!t.expired());
    let sem = Semaphore::new(0);
    assert_eq!(sem.acquire_timeout(SHORT), Ok(false));
}

// eventlet: Test.test_nested_timeout (outer expires first)
#[test]
fn nested_timeouts_the_earlier_outer_fires_and_is_identified() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let sem = Semaphore::new(0);
    let outer = Timeout::new(SHORT);
    let inner = Timeout::new(LONG);
    let err = sem.acquire().unwrap_err();
    assert!(outer.is(&err));
    assert!(!inner.is(&err));
    assert!(outer.expired());
    assert!(inner.pending(), "the inner one stays pending until dropped");
}

// eventlet: Test.test_nested_timeout (inner expires first)
#[test]
fn nested_timeouts_the_earlier_inner_fires_and_the_outer_stays_pending() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let sem = Semaphore::new(0);
    let outer = Timeout::new(LONG);
    {
        let inner = Timeout::new(SHORT);
        let err = sem.acquire().unwrap_err();
        assert!(inner.is(&err));
        assert!(!outer.is(&err));
    }
    assert!(outer.pending());
    // With the inner one gone, the outer one governs again.
    assert_eq!(sem.acquire_timeout(SHORT), Ok(false));
    assert!(outer.pending());
}

#[test]
fn an_expired_timeout_fails_every_later_blocking_call_until_dropped() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let sem = Semaphore::new(0);
    let t = Timeout::new(Duration::ZERO);
    let start = Instant::now();
    assert!(t.is(&sem.acquire().unwrap_err()));
    assert!(t.is(&sem.acquire().unwrap_err()));
    assert!(start.elapsed() < Duration::from_secs(5));
    drop(t);
    sem.release();
    assert_eq!(sem.acquire(), Ok(()));
}

#[test]
fn a_timeout_only_affects_the_green_thread_that_made_it() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let _t = Timeout::new(Duration::ZERO);
    let gt = eventlet::spawn(|| {
        let sem = Semaphore::new(0);
        // Not the spawner's Timeout: this waits its full own time.
        let start = Instant::now();
        let r = sem.acquire_timeout(Duration::from_millis(50));
        (r, start.elapsed() >= Duration::from_millis(50))
    });
    // `wait` ignores the caller's expired Timeout by design; wait_done does not.
    assert!(gt.wait_done().is_err());
    assert_eq!(gt.wait(), Ok((Ok(false), true)));
}

#[test]
fn timeout_interrupts_waiting_for_a_green_thread() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let gt = eventlet::spawn(|| eventlet::sleep(Duration::from_millis(300)));
    {
        let t = Timeout::new(SHORT);
        assert!(t.is(&gt.wait_done().unwrap_err()));
        assert!(!gt.dead());
    }
    assert_eq!(gt.wait_done(), Ok(()));
}

#[test]
fn timeout_interrupts_a_spawn_blocked_on_a_full_pool() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let pool = GreenPool::new(1);
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    pool.spawn_n(move || g.acquire().unwrap()).unwrap();
    {
        let t = Timeout::new(SHORT);
        let err = pool.spawn(|| "never").unwrap_err();
        assert!(t.is(&err));
    }
    assert_eq!(pool.waiting(), 0);
    gate.release();
    pool.waitall().unwrap();
    assert_eq!(pool.free(), 1);
}

#[test]
fn timeout_interrupts_waitall() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let pool = GreenPool::new(2);
    pool.spawn_n(|| eventlet::sleep(Duration::from_millis(300)))
        .unwrap();
    {
        let t = Timeout::new(SHORT);
        assert!(t.is(&pool.waitall().unwrap_err()));
    }
    pool.waitall().unwrap();
    assert_eq!(pool.running(), 0);
}

// eventlet: TestDirectRaise.test_repr (formatting must not crash)
#[test]
fn timeout_error_and_timeout_format_without_crashing() {
    eventlet::configure(eventlet::Config::default().workers(1)).ok();
    let t = Timeout::new(LONG);
    assert_eq!(t.error().to_string(), "timed out");
    assert!(format!("{t:?}").contains("pending: true"));
    let never = Timeout::never();
    assert!(format!("{never:?}").contains("pending: false"));
    let io: std::io::Error = t.error().into();
    assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    assert!(t.is_io(&io));
    assert!(!never.is_io(&io));
}
