//! `pools::Pool` and `TokenPool` (eventlet's `tests/pools_test.py`, ported).

mod common;

use eventlet::pools::{Pool, TokenPool};
use eventlet::Timeout;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn counting(min: usize, max: usize) -> (Pool<usize>, Arc<AtomicUsize>) {
    let n = Arc::new(AtomicUsize::new(0));
    let c = n.clone();
    (
        Pool::new(min, max, move || c.fetch_add(1, Ordering::SeqCst)),
        n,
    )
}

#[test]
fn min_size_creates_up_front_and_max_size_on_demand() {
    let (pool, created) = counting(2, 4);
    assert_eq!(created.load(Ordering::SeqCst), 2);
    assert_eq!((pool.current_size(), pool.free()), (2, 4));
    let items: Vec<_> = (0..4).map(|_| pool.get().unwrap()).collect();
    assert_eq!(created.load(Ordering::SeqCst), 4);
    assert_eq!(pool.free(), 0);
    assert!(pool.try_get().is_none());
    drop(items);
    assert_eq!((pool.current_size(), pool.free()), (4, 4));
}

#[test]
fn order_as_queue_and_as_stack() {
    let (pool, _) = counting(3, 3);
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    let (va, vb) = (*a, *b);
    drop(a);
    drop(b);
    // Default: least recently returned first (the never-used 2, then a).
    assert_eq!(*pool.get().unwrap(), 2);
    let (pool, _) = counting(3, 3);
    let pool = pool.order_as_stack(true);
    let (a, b) = (pool.get().unwrap(), pool.get().unwrap());
    assert_eq!((*a, *b), (va, vb));
    drop(a);
    drop(b);
    assert_eq!(*pool.get().unwrap(), vb, "most recently returned first");
}

#[test]
fn get_waits_in_order_and_honours_timeouts() {
    let (pool, _) = counting(0, 1);
    let pool = Arc::new(pool);
    let held = pool.get().unwrap();
    assert!(pool
        .get_timeout(Duration::from_millis(30))
        .unwrap()
        .is_none());
    let p = pool.clone();
    let timed = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(30));
        matches!(p.get(), Err(e) if t.is(&e))
    });
    assert_eq!(common::finish(&timed), Ok(true));
    let order = Arc::new(eventlet::sync::Mutex::new(Vec::new()));
    let gts: Vec<_> = (0..5)
        .map(|i| {
            let (p, order) = (pool.clone(), order.clone());
            let gt = eventlet::spawn(move || {
                let item = p.get().unwrap();
                order.lock().unwrap().push(i);
                eventlet::sleep(Duration::from_millis(1));
                drop(item);
            });
            common::wait_until("queued", || pool.waiting() == i + 1);
            gt
        })
        .collect();
    drop(held);
    for gt in &gts {
        common::finish(gt).unwrap();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    assert_eq!(pool.current_size(), 1);
}

#[test]
fn an_item_held_by_a_panicking_green_thread_is_dropped_not_reused() {
    struct Conn(usize, Arc<AtomicUsize>);
    impl Drop for Conn {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let (d, n) = (drops.clone(), next.clone());
    let pool = Arc::new(Pool::new(0, 1, move || {
        Conn(n.fetch_add(1, Ordering::SeqCst), d.clone())
    }));
    let p = pool.clone();
    let gt = eventlet::spawn(move || {
        let _c = p.get().unwrap();
        panic!("mid-request");
    });
    assert!(common::finish(&gt).is_err());
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(pool.current_size(), 0);
    assert_eq!(pool.get().unwrap().0, 1, "a fresh item, not the broken one");
}

#[test]
fn resize_put_detach_and_a_panicking_create() {
    let (pool, _) = counting(0, 3);
    let items: Vec<_> = (0..3).map(|_| pool.get().unwrap()).collect();
    pool.resize(1);
    drop(items); // two of them are dropped on return
    assert_eq!((pool.current_size(), pool.free()), (1, 1));
    pool.resize(2);
    let kept = pool.get().unwrap().detach();
    assert_eq!(pool.current_size(), 0);
    pool.put(kept);
    assert_eq!(pool.current_size(), 1);

    let failing: Pool<u8> = Pool::new(0, 1, || panic!("cannot connect"));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| failing.get().map(|_| ())));
    assert!(r.is_err());
    assert_eq!(
        (failing.current_size(), failing.free()),
        (0, 1),
        "the slot came back"
    );
}

#[test]
fn token_pool_limits_holders() {
    let tokens = Arc::new(TokenPool::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let pool = eventlet::GreenPool::new(20);
    for _ in 0..20 {
        let (tokens, inside, peak) = (tokens.clone(), inside.clone(), peak.clone());
        pool.spawn_n(move || {
            let _t = tokens.get().unwrap();
            let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            eventlet::sleep(Duration::from_millis(2));
            inside.fetch_sub(1, Ordering::SeqCst);
        })
        .unwrap();
    }
    pool.waitall().unwrap();
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    let a = tokens.get().unwrap();
    let b = tokens.get().unwrap();
    assert_ne!(*a, *b);
}
