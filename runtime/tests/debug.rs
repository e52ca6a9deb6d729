//! `debug::hub_blocking_detection` on real blocking calls.

mod common;

use eventlet::debug;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// A `log` logger that keeps `eventlet::debug` records for the test to read.
struct Recorder(Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.target() == "eventlet::debug"
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

fn recorder() -> &'static Recorder {
    static R: OnceLock<&'static Recorder> = OnceLock::new();
    R.get_or_init(|| {
        let r: &'static Recorder = Box::leak(Box::new(Recorder(Mutex::new(Vec::new()))));
        log::set_logger(r).unwrap();
        log::set_max_level(log::LevelFilter::Warn);
        r
    })
}

/// Tests share the detector (process-wide): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

#[inline(never)]
fn blocking_handler(ms: u64) {
    // The bug class: a std blocking call holds the whole worker thread.
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn a_green_thread_in_std_thread_sleep_is_reported_with_id_and_stack() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rec = recorder();
    rec.0.lock().unwrap().clear();
    debug::hub_blocking_detection(true, Duration::from_millis(200));
    // Let the detector learn the worker threads first.
    eventlet::sleep(Duration::from_millis(500));
    let id = Arc::new(Mutex::new(0usize));
    let id2 = id.clone();
    let gt = eventlet::spawn(move || {
        *id2.lock().unwrap() = debug::current_id();
        blocking_handler(1500);
    });
    common::finish(&gt).unwrap();
    let id = *id.lock().unwrap();
    let tag = format!("green thread {id:#x}");
    common::wait_until("the report", || {
        rec.0.lock().unwrap().iter().any(|l| l.contains(&tag))
    });
    debug::hub_blocking_detection(false, Duration::from_millis(200));
    let lines = rec.0.lock().unwrap().clone();
    for l in &lines {
        eprintln!("{l}");
    }
    let report = lines
        .iter()
        .find(|l| l.contains(&format!("green thread {id:#x}")))
        .unwrap_or_else(|| panic!("no report for green thread {id:#x}: {lines:?}"));
    assert!(report.starts_with("blocking detected: "), "{report}");
    assert!(report.contains("without yielding"), "{report}");
    // Where it was: a symbolised stack needs the `backtrace` feature.
    if cfg!(feature = "backtrace") {
        assert!(
            report.contains("std::thread::") && report.contains("sleep"),
            "{report}"
        );
        assert!(report.contains("blocking_handler"), "{report}");
    } else {
        assert!(!report.contains("where it is"), "{report}");
    }
    // Once per episode.
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains(&format!("{id:#x}")))
            .count(),
        1
    );
}

#[test]
fn green_threads_that_yield_are_never_reported() {
    let _s = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let rec = recorder();
    debug::hub_blocking_detection(true, Duration::from_millis(300));
    eventlet::sleep(Duration::from_millis(100));
    rec.0.lock().unwrap().clear();
    let pool = eventlet::GreenPool::new(50);
    for _ in 0..50 {
        pool.spawn_n(|| {
            for _ in 0..100 {
                eventlet::sleep(Duration::from_millis(5));
            }
        })
        .unwrap();
    }
    pool.waitall().unwrap();
    debug::hub_blocking_detection(false, Duration::from_millis(300));
    let lines = rec.0.lock().unwrap().clone();
    assert!(lines.is_empty(), "{lines:?}");
}
