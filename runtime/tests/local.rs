//! `local::Local`: eventlet's `corolocal.local`.

mod common;

use eventlet::local::Local;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[test]
fn each_green_thread_sees_its_own_value_across_blocking_calls() {
    let local = Arc::new(Local::new(String::new));
    let pool = eventlet::GreenPool::new(200);
    let bad = Arc::new(AtomicUsize::new(0));
    for i in 0..200 {
        let (local, bad) = (local.clone(), bad.clone());
        pool.spawn_n(move || {
            local.set(format!("request-{i}"));
            for _ in 0..3 {
                // Green threads migrate between workers here.
                eventlet::sleep(Duration::from_millis(1));
                if local.get() != format!("request-{i}") {
                    bad.fetch_add(1, Ordering::SeqCst);
                }
            }
        })
        .unwrap();
    }
    pool.waitall().unwrap();
    assert_eq!(bad.load(Ordering::SeqCst), 0);
    assert_eq!(local.get(), "", "this thread never set it");
}

struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn values_are_dropped_when_their_green_thread_ends() {
    let drops = Arc::new(AtomicUsize::new(0));
    let d = drops.clone();
    let local = Arc::new(Local::new(move || Counted(d.clone())));
    let gts: Vec<_> = (0..10)
        .map(|_| {
            let local = local.clone();
            eventlet::spawn(move || local.with(|_| ()))
        })
        .collect();
    for gt in &gts {
        common::finish(gt).unwrap();
    }
    common::wait_until("values dropped", || drops.load(Ordering::SeqCst) == 10);
}

#[test]
fn with_take_is_set_and_reentry() {
    let local = Local::new(|| vec![1]);
    assert!(!local.is_set());
    local.with(|v| v.push(2));
    assert!(local.is_set());
    assert_eq!(local.take(), Some(vec![1, 2]));
    assert!(!local.is_set());
    assert_eq!(local.get(), vec![1]);
    // A caught panic inside `with` keeps the value.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        local.with(|v| {
            v.push(3);
            panic!("inside with")
        })
    }));
    assert!(r.is_err());
    assert_eq!(local.get(), vec![1, 3]);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| local.with(|_| local.get())));
    assert!(r.is_err(), "re-entry must panic, not alias");
    assert_eq!(local.get(), vec![1, 3]);
    let other: Local<u8> = Local::default();
    assert_eq!(other.get(), 0);
}
