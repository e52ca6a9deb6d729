//! Green `Mutex<T>` and eventlet's `Lock`.

mod common;

use eventlet::sync::{Lock, Mutex};
use eventlet::{GreenPool, Timeout};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_guard_held_across_blocking_calls_excludes_everyone_else() {
    // The ports' pattern: several writers share one peer; each write is a
    // read-modify-write spanning a blocking call.
    let m = Arc::new(Mutex::new(0u64));
    let inside = Arc::new(AtomicUsize::new(0));
    let pool = GreenPool::new(100);
    for _ in 0..100 {
        let (m, inside) = (m.clone(), inside.clone());
        pool.spawn_n(move || {
            for _ in 0..5 {
                let mut g = m.lock().unwrap();
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                let v = *g;
                eventlet::sleep(Duration::from_micros(200)); // parks, guard held
                *g = v + 1;
                inside.fetch_sub(1, Ordering::SeqCst);
            }
        })
        .unwrap();
    }
    pool.waitall().unwrap();
    assert_eq!(*m.lock().unwrap(), 500);
    assert!(!m.is_locked());
}

#[test]
fn waiters_get_the_lock_in_arrival_order() {
    let m = Arc::new(Mutex::new(Vec::new()));
    let held = m.lock().unwrap();
    let mut gts = Vec::new();
    for i in 0..10 {
        let m2 = m.clone();
        gts.push(eventlet::spawn(move || m2.lock().unwrap().push(i)));
        let want = i + 1;
        common::wait_until("the waiter queued", || m.waiting() == want);
    }
    drop(held);
    for gt in &gts {
        common::finish(gt).unwrap();
    }
    assert_eq!(*m.lock().unwrap(), (0..10).collect::<Vec<_>>());
}

#[test]
fn lock_timeout_try_lock_and_an_outer_timeout() {
    let m = Arc::new(Mutex::new(1));
    let held = m.lock().unwrap();
    assert!(m.try_lock().is_none());
    let t0 = Instant::now();
    assert!(m.lock_timeout(Duration::from_millis(50)).unwrap().is_none());
    assert!(t0.elapsed() >= Duration::from_millis(45));
    let m2 = m.clone();
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(50));
        match m2.lock() {
            Err(e) => t.is(&e),
            Ok(_) => false,
        }
    });
    assert_eq!(common::finish(&gt), Ok(true));
    assert_eq!(m.waiting(), 0, "the timed-out waiter left the queue");
    drop(held);
    assert_eq!(*m.try_lock().unwrap(), 1);
}

#[test]
fn a_killed_waiter_leaves_and_a_panicking_holder_unlocks() {
    let m = Arc::new(Mutex::new(0));
    let held = m.lock().unwrap();
    let m2 = m.clone();
    let waiter = eventlet::spawn(move || {
        let _g = m2.lock();
    });
    common::wait_until("queued", || m.waiting() == 1);
    common::kill(&waiter);
    assert_eq!(m.waiting(), 0);
    drop(held);
    let m3 = m.clone();
    let gt = eventlet::spawn(move || {
        let mut g = m3.lock().unwrap();
        *g = 7;
        panic!("holder fails");
    });
    assert!(common::finish(&gt).is_err());
    assert_eq!(*m.lock_timeout(Duration::from_secs(5)).unwrap().unwrap(), 7);
}

#[test]
fn lock_release_errors_when_unlocked_and_is_fair() {
    let lock = Arc::new(Lock::new());
    assert!(lock.release().is_err());
    lock.acquire().unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut gts = Vec::new();
    for i in 0..5 {
        let (lock2, order) = (lock.clone(), order.clone());
        gts.push(eventlet::spawn(move || {
            let _g = lock2.guard().unwrap();
            order.lock().unwrap().push(i);
        }));
        common::wait_until("queued", || lock.waiting() == i + 1);
    }
    // Any green thread may release eventlet's Lock.
    let lock2 = lock.clone();
    eventlet::spawn(move || lock2.release().unwrap())
        .wait()
        .unwrap();
    for gt in &gts {
        common::finish(gt).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert!(!lock.locked());
    assert!(lock.acquire_timeout(Duration::ZERO).unwrap());
    assert!(!lock.acquire_timeout(Duration::from_millis(10)).unwrap());
}
