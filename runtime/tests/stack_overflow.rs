//! A green thread that overflows its stack must never hang the process.
//!
//! The overflow cannot be survived soundly (see `eventlet::config`), so the
//! process aborts at once with a message naming the green thread, the stack
//! size and how to raise it. Each case runs this test binary again as a child
//! process (selected by an environment variable) and checks, under a deadline,
//! that the child died by `SIGABRT` with that message instead of hanging.

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "EVENTLET_TEST_OVERFLOW_CHILD";

/// Deep recursion with 1 KiB frames that the optimiser cannot fold.
fn recurse(depth: usize) -> usize {
    let buf = std::hint::black_box([depth as u8; 1024]);
    if depth == 0 {
        return buf[0] as usize;
    }
    recurse(depth - 1) + std::hint::black_box(buf[7]) as usize
}

/// Run the named test of this binary as a child with `CHILD=case`; return its
/// exit status and stderr, or fail if it is still running after `deadline`.
fn run_child(test: &str, case: &str, deadline: Duration) -> (std::process::ExitStatus, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env_remove("EVENTLET_STACK_SIZE")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = reader.join().unwrap();
            panic!("the child hung for {deadline:?} after a stack overflow; stderr:\n{err}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}

fn assert_overflow_abort(status: std::process::ExitStatus, stderr: &str) {
    assert_eq!(
        status.signal(),
        Some(libc::SIGABRT),
        "expected an abort, got {status:?}; stderr:\n{stderr}"
    );
    assert!(
        stderr.contains("green thread") && stderr.contains("has overflowed its stack"),
        "{stderr}"
    );
    let kib = eventlet::config::DEFAULT_STACK_SIZE / 1024;
    assert!(
        stderr.contains(&format!("stack size {kib} KiB")),
        "{stderr}"
    );
    assert!(stderr.contains("EVENTLET_STACK_SIZE"), "{stderr}");
    assert!(stderr.contains("eventlet::configure"), "{stderr}");
}

/// The child side of the cases below; does nothing in a normal test run.
#[test]
fn overflow_child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    match case.as_str() {
        "spawn" => {
            let gt = eventlet::spawn(|| recurse(100_000));
            // Today's bug: this waited for ever.
            let r = gt.wait();
            eprintln!("UNREACHABLE: wait returned {r:?}");
        }
        "pool" => {
            let pool = eventlet::GreenPool::new(1);
            pool.spawn_n(|| {
                recurse(100_000);
            })
            .unwrap();
            pool.spawn_n(|| {}).unwrap();
            let _ = pool.waitall();
            eprintln!("UNREACHABLE: waitall returned");
        }
        "fits" => {
            // A few KiB of frames fit the 64 KiB default: no abort, normal exit.
            let gt = eventlet::spawn(|| recurse(10));
            assert!(gt.wait().is_ok());
            eprintln!("fits: ok");
        }
        "segv" => {
            // Not an overflow: the usual crash, not our message.
            let gt = eventlet::spawn(|| {
                // SAFETY: none; this deliberately faults (the point of the case).
                unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
            });
            let _ = gt.wait();
        }
        other => panic!("unknown case {other}"),
    }
}

#[test]
fn overflow_in_spawned_green_thread_aborts_with_a_clear_message() {
    let (status, stderr) = run_child("overflow_child", "spawn", Duration::from_secs(60));
    assert_overflow_abort(status, &stderr);
    assert!(!stderr.contains("UNREACHABLE"), "{stderr}");
}

#[test]
fn overflow_in_pool_green_thread_aborts_with_a_clear_message() {
    let (status, stderr) = run_child("overflow_child", "pool", Duration::from_secs(60));
    assert_overflow_abort(status, &stderr);
    assert!(!stderr.contains("UNREACHABLE"), "{stderr}");
}

#[test]
fn deep_but_fitting_recursion_is_fine() {
    let (status, stderr) = run_child("overflow_child", "fits", Duration::from_secs(60));
    assert!(status.success(), "{status:?}; stderr:\n{stderr}");
    assert!(stderr.contains("fits: ok"), "{stderr}");
}

#[test]
fn other_faults_in_green_threads_still_crash_as_usual() {
    let (status, stderr) = run_child("overflow_child", "segv", Duration::from_secs(60));
    // Under AddressSanitizer (asan/run.sh) its own SEGV report ends the process.
    let asan = std::env::var("EVENTLET_TEST_SANITIZER").is_ok_and(|v| v == "address")
        && stderr.contains("ERROR: AddressSanitizer: SEGV");
    assert!(
        status.signal() == Some(libc::SIGSEGV) || (asan && !status.success()),
        "{status:?}; {stderr}"
    );
    assert!(!stderr.contains("overflowed"), "{stderr}");
}
