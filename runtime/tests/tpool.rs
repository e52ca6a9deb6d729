//! `eventlet::tpool`: blocking closures on OS threads while green threads
//! keep running on ONE worker; Timeout stops the wait; runtime primitives
//! used from plain OS threads.

mod common;

use common::{finish, ticker};
use eventlet::queue::Queue;
use eventlet::tpool::{self, Proxy, TpoolError};
use eventlet::{Event, Semaphore, Timeout};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

/// One worker (eventlet's single hub thread): a blocked worker would stall
/// everything, so these tests see any blocking at once.
fn setup() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = eventlet::configure(eventlet::Config::default().workers(1));
    });
    // Tests that resize the pool or fill it must not overlap others.
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn execute_returns_the_value_and_panics_as_errors() {
    let _s = setup();
    let gt = eventlet::spawn(|| {
        let v = tpool::execute(|| std::thread::current().name().map(str::to_owned)).unwrap();
        let p = tpool::execute(|| -> u32 { panic!("job failed") });
        (v, p)
    });
    let (name, panicked) = finish(&gt).unwrap();
    assert_eq!(name.as_deref(), Some("eventlet-tpool"));
    assert_eq!(panicked, Err(TpoolError::Panicked("job failed".into())));
    // The pool survives the panic.
    assert_eq!(tpool::execute(|| 5).unwrap(), 5);
}

#[test]
fn a_blocking_job_does_not_stall_other_green_threads() {
    let _s = setup();
    let stop = Arc::new(AtomicBool::new(false));
    let tick = ticker(stop.clone());
    let job = eventlet::spawn(|| {
        tpool::execute(|| std::thread::sleep(Duration::from_millis(500))).unwrap();
    });
    finish(&job).unwrap();
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    // ~50 ticks expected in 500 ms; a blocked worker would give 0 or 1.
    assert!(
        ticks >= 10,
        "ticker ran only {ticks} times during a 500 ms job"
    );
}

#[test]
fn jobs_run_in_parallel_on_the_pool() {
    let _s = setup();
    let start = Instant::now();
    let gts: Vec<_> = (0..8)
        .map(|_| {
            eventlet::spawn(|| {
                tpool::execute(|| std::thread::sleep(Duration::from_millis(300))).unwrap()
            })
        })
        .collect();
    for gt in &gts {
        finish(gt).unwrap();
    }
    let took = start.elapsed();
    // Serially 2.4 s; in parallel 0.3 s (wide margin for a loaded machine).
    assert!(
        took < Duration::from_millis(1500),
        "8 × 300 ms took {took:?}"
    );
}

#[test]
fn timeout_stops_the_wait_and_the_job_finishes_on_its_own() {
    let _s = setup();
    let finished = Arc::new(AtomicBool::new(false));
    let f2 = finished.clone();
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(50));
        let start = Instant::now();
        let r = tpool::execute(move || {
            std::thread::sleep(Duration::from_millis(400));
            f2.store(true, Ordering::SeqCst);
            1
        });
        let is_mine = matches!(&r, Err(TpoolError::Timeout(e)) if t.is(e));
        (is_mine, start.elapsed())
    });
    let (is_mine, waited) = finish(&gt).unwrap();
    assert!(is_mine, "expected this Timeout's error");
    assert!(
        waited < Duration::from_millis(300),
        "the wait lasted {waited:?}"
    );
    assert!(
        !finished.load(Ordering::SeqCst),
        "the job cannot be done yet"
    );
    common::wait_until("the abandoned job finished", || {
        finished.load(Ordering::SeqCst)
    });
}

#[test]
fn a_job_abandoned_before_it_started_never_runs() {
    let _s = setup();
    tpool::set_num_threads(1);
    let gate = Arc::new(Event::<()>::new());
    let g2 = gate.clone();
    // Occupies the only pool thread until the gate opens.
    let blocker = eventlet::spawn(move || tpool::execute(move || g2.wait().unwrap()).unwrap());
    common::wait_until("the blocker runs", || gate.waiting() == 1);
    let ran = Arc::new(AtomicBool::new(false));
    let r2 = ran.clone();
    let queued = eventlet::spawn(move || {
        let _t = Timeout::new(Duration::from_millis(30));
        tpool::execute(move || r2.store(true, Ordering::SeqCst)).is_err()
    });
    assert!(finish(&queued).unwrap(), "the queued job's wait timed out");
    gate.send(()).unwrap();
    finish(&blocker).unwrap();
    // The pool thread is free again and has gone past the abandoned job.
    assert_eq!(tpool::execute(|| 9).unwrap(), 9);
    assert!(!ran.load(Ordering::SeqCst), "an abandoned job ran");
    tpool::set_num_threads(tpool::DEFAULT_THREADS);
}

#[test]
fn set_num_threads_limits_parallelism() {
    let _s = setup();
    tpool::set_num_threads(2);
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let gts: Vec<_> = (0..6)
        .map(|_| {
            let (running, peak) = (running.clone(), peak.clone());
            eventlet::spawn(move || {
                tpool::execute(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(50));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .unwrap()
            })
        })
        .collect();
    for gt in &gts {
        finish(gt).unwrap();
    }
    assert_eq!(tpool::num_threads(), 2);
    assert!(peak.load(Ordering::SeqCst) <= 2, "peak {peak:?} > 2");
    tpool::set_num_threads(tpool::DEFAULT_THREADS);
}

#[test]
fn execute_from_a_pool_thread_runs_in_place() {
    let _s = setup();
    tpool::set_num_threads(1);
    // With one pool thread, queueing the inner job would deadlock.
    let r = tpool::execute(|| tpool::execute(|| 7).unwrap() * 6).unwrap();
    assert_eq!(r, 42);
    tpool::set_num_threads(tpool::DEFAULT_THREADS);
}

#[test]
fn killing_the_waiter_leaves_the_pool_working() {
    let _s = setup();
    let started = Arc::new(AtomicBool::new(false));
    let s2 = started.clone();
    let gt = eventlet::spawn(move || {
        tpool::execute(move || {
            s2.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(200));
        })
    });
    common::wait_until("the job started", || started.load(Ordering::SeqCst));
    common::kill(&gt);
    assert!(gt.wait().is_err());
    assert_eq!(tpool::execute(|| "still fine").unwrap(), "still fine");
}

#[test]
fn proxy_serialises_calls_on_the_pool() {
    let _s = setup();
    let proxy = Proxy::new(Vec::<usize>::new());
    let gts: Vec<_> = (0..10)
        .map(|i| {
            let p = proxy.clone();
            eventlet::spawn(move || {
                p.call(move |v| {
                    let len = v.len();
                    std::thread::sleep(Duration::from_millis(2));
                    v.push(i);
                    // No other call ran in between.
                    assert_eq!(v.len(), len + 1);
                })
                .unwrap()
            })
        })
        .collect();
    for gt in &gts {
        finish(gt).unwrap();
    }
    let mut v = proxy.into_inner().unwrap();
    v.sort_unstable();
    assert_eq!(v, (0..10).collect::<Vec<_>>());
}

#[test]
fn event_queue_and_semaphore_work_across_os_threads() {
    let _s = setup();
    // An OS thread wakes green threads...
    let ev = Arc::new(Event::new());
    let q = Arc::new(Queue::new());
    let sem = Arc::new(Semaphore::new(0));
    let waiter = {
        let (ev, q, sem) = (ev.clone(), q.clone(), sem.clone());
        eventlet::spawn(move || {
            let v = ev.wait().unwrap();
            let item = q.get().unwrap();
            sem.acquire().unwrap();
            (v, item)
        })
    };
    let os = {
        let (ev, q, sem) = (ev.clone(), q.clone(), sem.clone());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ev.send("from an OS thread").unwrap();
            q.put(5u32).unwrap();
            sem.release();
        })
    };
    assert_eq!(finish(&waiter).unwrap(), ("from an OS thread", 5));
    os.join().unwrap();

    // ...and green threads wake an OS thread (a tpool job waiting green state).
    let ev2 = Arc::new(Event::new());
    let back = Arc::new(Queue::new());
    let job = {
        let (ev2, back) = (ev2.clone(), back.clone());
        eventlet::spawn(move || {
            tpool::execute(move || {
                let v: u32 = ev2.wait().unwrap();
                back.put(v + 1).unwrap();
            })
            .unwrap()
        })
    };
    eventlet::spawn(move || ev2.send(41).unwrap());
    let got = eventlet::spawn(move || back.get().unwrap());
    assert_eq!(finish(&got).unwrap(), 42);
    finish(&job).unwrap();

    // A Timeout made on an OS thread bounds that thread's own waits.
    let q3 = Queue::<u8>::new();
    let t = Timeout::new(Duration::from_millis(20));
    let err = q3.get().unwrap_err();
    assert!(t.is(&err));
}

const SIZE_CHILD: &str = "EVENTLET_TPOOL_SIZE_CHILD";

#[test]
fn pool_size_comes_from_eventlet_threadpool_size() {
    if std::env::var_os(SIZE_CHILD).is_some() {
        assert_eq!(tpool::num_threads(), 3);
        return;
    }
    let _s = setup();
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "pool_size_comes_from_eventlet_threadpool_size",
            "--test-threads=1",
        ])
        .env(SIZE_CHILD, "1")
        .env("EVENTLET_THREADPOOL_SIZE", "3")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "child: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
