//! `Semaphore`, `BoundedSemaphore` and `CappedSemaphore`, ported from
//! eventlet's tests/semaphore_test.py, plus kill and Timeout cases.

mod common;
use common::{finish, finish_within, kill, wait_until};

use eventlet::{
    sleep, spawn, BoundedSemaphore, CappedSemaphore, Event, GreenThreadError, Semaphore, Timeout,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// eventlet: TestSemaphore.test_bounded
#[test]
fn capped_semaphore_balance_follows_acquires_and_blocking_releases() {
    let sem = Arc::new(CappedSemaphore::new(2, 3).unwrap());
    sem.acquire().unwrap();
    sem.acquire().unwrap();
    let s = sem.clone();
    let gt1 = spawn(move || s.release().is_ok());
    sem.acquire().unwrap();
    assert_eq!(finish(&gt1), Ok(true));
    assert_eq!(sem.balance(), -3);
    for _ in 0..3 {
        sem.release().unwrap();
    }
    assert!(sem.bounded(), "at the limit, release would block");
    let s = sem.clone();
    let gt2 = spawn(move || s.acquire().is_ok());
    // Blocks until gt2's acquire makes room under the cap.
    sem.release().unwrap();
    assert_eq!(finish(&gt2), Ok(true));
    assert_eq!(sem.balance(), 3);
}

// eventlet: TestSemaphore.test_bounded_with_zero_limit
#[test]
fn capped_semaphore_with_zero_limit_pairs_acquire_and_release() {
    let sem = Arc::new(CappedSemaphore::new(0, 0).unwrap());
    let s = sem.clone();
    let gt = spawn(move || s.acquire().is_ok());
    let _t = Timeout::new(Duration::from_secs(10));
    sem.release().unwrap();
    assert_eq!(finish(&gt), Ok(true));
    assert_eq!(sem.balance(), 0);
}

#[test]
fn capped_semaphore_refuses_a_count_above_its_limit() {
    assert!(CappedSemaphore::new(3, 2).is_err());
    let sem = CappedSemaphore::new(1, 1).unwrap();
    assert!(!sem.try_release(), "already at the limit");
    assert!(sem.try_acquire());
    assert!(sem.locked());
    assert!(!sem.try_acquire());
    assert!(sem.try_release());
}

// eventlet: TestSemaphore.test_non_blocking
#[test]
fn try_acquire_on_an_empty_semaphore_fails() {
    let sem = Semaphore::new(0);
    assert!(!sem.try_acquire());
    assert!(sem.locked());
    assert_eq!(sem.counter(), 0);
}

// eventlet: TestSemaphore.test_timeout
#[test]
fn acquire_timeout_gives_up_after_its_limit() {
    let sem = Semaphore::new(0);
    let start = Instant::now();
    assert_eq!(sem.acquire_timeout(Duration::from_millis(100)), Ok(false));
    assert!(start.elapsed() >= Duration::from_millis(100));
    assert_eq!(sem.waiting(), 0);
    assert_eq!(sem.balance(), 0);
}

// eventlet: test_semaphore_contention. Two workers loop `with mutex:
// count++; sleep(1 ms)` until both reached 200; with fair (FIFO) hand-off
// their counts stay within 10 % of each other.
#[test]
fn a_contended_semaphore_is_shared_fairly() {
    let mutex = Arc::new(Semaphore::new(1));
    let counts = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let min = |c: &[AtomicUsize; 2]| c.iter().map(|a| a.load(Ordering::SeqCst)).min().unwrap();
    // Both start together, as eventlet's two spawns do before the test yields.
    let go = Arc::new(Event::new());
    let workers: Vec<_> = (0..2)
        .map(|no| {
            let (mutex, counts, go) = (mutex.clone(), counts.clone(), go.clone());
            spawn(move || {
                go.wait().unwrap();
                while min(&counts) < 200 {
                    let _g = mutex.guard().unwrap();
                    counts[no].fetch_add(1, Ordering::SeqCst);
                    sleep(Duration::from_millis(1));
                }
            })
        })
        .collect();
    wait_until("both workers are ready", || go.waiting() == 2);
    go.send(()).unwrap();
    for w in &workers {
        // 400 one-millisecond holds take well under 60 s even on a slow box.
        finish_within(w, 60).unwrap();
    }
    let (a, b) = (
        counts[0].load(Ordering::SeqCst),
        counts[1].load(Ordering::SeqCst),
    );
    assert!(a.abs_diff(b) < a.min(b) / 10, "unfair: {a} vs {b}");
    assert_eq!(mutex.counter(), 1, "every guard released its unit");
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let sem = Arc::new(Semaphore::new(0));
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut gts = Vec::new();
    for i in 0..3 {
        let (s, o) = (sem.clone(), order.clone());
        gts.push(spawn(move || {
            s.acquire().unwrap();
            o.lock().unwrap().push(i);
        }));
        wait_until("the waiter queues", || sem.waiting() == i + 1);
    }
    assert_eq!(sem.balance(), -3);
    for (i, gt) in gts.iter().enumerate() {
        sem.release();
        finish(gt).unwrap();
        assert_eq!(*order.lock().unwrap(), (0..=i).collect::<Vec<_>>());
    }
}

#[test]
fn a_killed_waiter_does_not_take_a_unit_with_it() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let doomed = spawn(move || s.acquire().is_ok());
    wait_until("the waiter queues", || sem.waiting() == 1);
    kill(&doomed);
    assert_eq!(finish(&doomed), Err(GreenThreadError::Killed));
    assert_eq!(sem.waiting(), 0);
    sem.release();
    assert_eq!(sem.counter(), 1);
    assert!(sem.try_acquire());
}

#[test]
fn units_racing_with_killed_waiters_are_never_lost() {
    let sem = Arc::new(Semaphore::new(0));
    for _ in 0..200 {
        let s = sem.clone();
        let waiter = spawn(move || s.acquire().is_ok());
        wait_until("the waiter queues", || sem.waiting() == 1);
        let s = sem.clone();
        let releaser = spawn(move || s.release());
        kill(&waiter);
        finish(&releaser).unwrap();
        match finish(&waiter) {
            // It got the unit: give it back to keep the count.
            Ok(true) => sem.release(),
            Err(GreenThreadError::Killed) => {}
            other => panic!("unexpected waiter outcome {other:?}"),
        }
        assert_eq!(sem.counter(), 1, "the unit is back in the semaphore");
        assert!(sem.try_acquire());
        assert_eq!(sem.waiting(), 0);
    }
}

#[test]
fn a_timeout_interrupts_acquire_and_names_itself() {
    let sem = Semaphore::new(0);
    let t = Timeout::new(Duration::from_millis(20));
    let err = sem.acquire().unwrap_err();
    assert!(t.is(&err));
    assert_eq!(sem.waiting(), 0);
    sem.release();
    assert_eq!(sem.counter(), 1);
}

#[test]
fn an_outer_timeout_shorter_than_acquire_timeout_is_an_error() {
    let sem = Semaphore::new(0);
    let t = Timeout::new(Duration::from_millis(20));
    let err = sem.acquire_timeout(Duration::from_secs(30)).unwrap_err();
    assert!(t.is(&err));
    drop(t);
    let _outer = Timeout::new(Duration::from_secs(30));
    assert_eq!(sem.acquire_timeout(Duration::from_millis(20)), Ok(false));
}

#[test]
fn a_release_wakes_a_blocked_acquirer() {
    let sem = Arc::new(Semaphore::new(0));
    let s = sem.clone();
    let gt = spawn(move || s.acquire().is_ok());
    wait_until("the waiter queues", || sem.waiting() == 1);
    sem.release();
    assert_eq!(finish(&gt), Ok(true));
    assert_eq!(sem.counter(), 0, "the unit went to the waiter");
}

#[test]
fn a_guard_releases_its_unit_when_dropped() {
    let sem = Semaphore::new(2);
    {
        let _a = sem.guard().unwrap();
        let _b = sem.guard().unwrap();
        assert!(sem.locked());
        assert_eq!(sem.counter(), 0);
    }
    assert_eq!(sem.counter(), 2);
    assert!(!sem.locked());
}

#[test]
fn bounded_semaphore_refuses_release_beyond_its_initial_value() {
    let sem = BoundedSemaphore::new(2);
    let err = sem.release().unwrap_err();
    assert_eq!(err.to_string(), "Semaphore released too many times");
    sem.acquire().unwrap();
    assert_eq!(sem.counter(), 1);
    assert!(sem.release().is_ok());
    assert!(sem.release().is_err());
    assert_eq!(sem.counter(), 2);
}

#[test]
fn a_plain_semaphore_has_no_upper_bound() {
    let sem = Semaphore::new(1);
    sem.release();
    sem.release();
    assert_eq!(sem.counter(), 3);
    assert_eq!(sem.balance(), 3);
}

/// A `CappedSemaphore::acquire` killed while it waits gives back the unit of
/// the upper bound it took first: the cap still holds afterwards.
#[test]
fn a_killed_capped_acquire_keeps_the_cap() {
    let sem = Arc::new(CappedSemaphore::new(0, 1).unwrap());
    let s = sem.clone();
    let waiter = eventlet::spawn(move || s.acquire());
    // Before: 0 - 1 = -1; blocked in acquire: (0 - 1 waiter) - 2 = -3.
    wait_until("the acquire blocks", || sem.balance() == -3);
    kill(&waiter);
    assert_eq!(finish(&waiter), Err(eventlet::GreenThreadError::Killed));
    assert!(sem.try_release(), "the count was 0, one release fits");
    assert!(!sem.try_release(), "the cap of 1 must still hold");
}
