//! Green subprocesses and pipes with ONE worker: real children (`sh`, `cat`),
//! line-by-line reads while other green threads run, exit statuses, Timeout
//! on reads and waits, communicate, kill.

mod common;

use common::finish;
use eventlet::green::subprocess::{self, GreenPipe};
use eventlet::Timeout;
use std::io::{self, BufRead, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

fn setup() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = eventlet::configure(eventlet::Config::default().workers(1));
    });
}

fn sh(script: &str) -> Command {
    let mut c = Command::new("sh");
    c.args(["-c", script]);
    c
}

#[test]
fn lines_arrive_as_the_child_writes_them_while_others_run() {
    setup();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let tick = eventlet::spawn(move || {
        let mut n = 0;
        while !st.load(Ordering::Relaxed) {
            eventlet::sleep(Duration::from_millis(10));
            n += 1;
        }
        n
    });
    let gt = eventlet::spawn(|| {
        let mut child = subprocess::spawn(
            sh("for i in 1 2 3; do echo line$i; sleep 0.2; done").stdout(Stdio::piped()),
        )
        .unwrap();
        let start = Instant::now();
        let mut seen = Vec::new();
        for line in child.stdout.take().unwrap().lines() {
            seen.push((line.unwrap(), start.elapsed()));
        }
        (seen, child.wait().unwrap().code())
    });
    let (seen, code) = finish(&gt).unwrap();
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    let lines: Vec<_> = seen.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(lines, ["line1", "line2", "line3"]);
    assert_eq!(code, Some(0));
    // Read as written: the third line came about 400 ms after the first.
    assert!(
        seen[2].1 - seen[0].1 >= Duration::from_millis(300),
        "{seen:?}"
    );
    assert!(
        ticks >= 15,
        "ticker ran {ticks} times during ~600 ms of reading"
    );
}

#[test]
fn stdin_stdout_and_stderr_are_green_pipes() {
    setup();
    let gt = eventlet::spawn(|| {
        let mut child = subprocess::spawn(
            sh("read a; echo out:$a; echo err:$a >&2; exit 3")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .unwrap();
        child.stdin.as_mut().unwrap().write_all(b"hi\n").unwrap();
        let out = child.stdout.as_mut().unwrap().readline().unwrap();
        let err = child.stderr.as_mut().unwrap().readline().unwrap();
        (out, err, child.wait().unwrap().code())
    });
    assert_eq!(
        finish(&gt).unwrap(),
        ("out:hi\n".into(), "err:hi\n".into(), Some(3))
    );
}

#[test]
fn timeout_cuts_a_read_and_a_wait_then_kill_ends_the_child() {
    setup();
    let gt = eventlet::spawn(|| {
        let mut child =
            subprocess::spawn(Command::new("sleep").arg("30").stdout(Stdio::piped())).unwrap();
        let t = Timeout::new(Duration::from_millis(100));
        let start = Instant::now();
        let read_err = child
            .stdout
            .as_mut()
            .unwrap()
            .read(&mut [0; 8])
            .unwrap_err();
        let read_took = start.elapsed();
        let read_mine = t.is_io(&read_err);
        drop(t);

        let t = Timeout::new(Duration::from_millis(100));
        let start = Instant::now();
        let wait_err = child.wait().unwrap_err();
        let wait_took = start.elapsed();
        let wait_mine = t.is_io(&wait_err);
        drop(t);

        let still = child.wait_timeout(Duration::from_millis(50)).unwrap();
        child.kill().unwrap();
        let status = child.wait().unwrap();
        (
            read_mine,
            read_took,
            wait_mine,
            wait_took,
            still,
            status.signal(),
        )
    });
    let (read_mine, read_took, wait_mine, wait_took, still, signal) = finish(&gt).unwrap();
    eprintln!("Timeout 100 ms: read cut after {read_took:?}, wait cut after {wait_took:?}");
    assert!(read_mine && wait_mine);
    for took in [read_took, wait_took] {
        assert!(
            took >= Duration::from_millis(95) && took < Duration::from_millis(600),
            "cut after {took:?}"
        );
    }
    assert_eq!(still, None);
    assert_eq!(signal, Some(9));
}

#[test]
fn wait_returns_promptly_when_the_child_exits() {
    setup();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let tick = eventlet::spawn(move || {
        let mut n = 0;
        while !st.load(Ordering::Relaxed) {
            eventlet::sleep(Duration::from_millis(10));
            n += 1;
        }
        n
    });
    let gt = eventlet::spawn(|| {
        let mut child = subprocess::spawn(&mut sh("sleep 0.3; exit 7")).unwrap();
        let start = Instant::now();
        let code = child.wait().unwrap().code();
        (code, start.elapsed())
    });
    let (code, took) = finish(&gt).unwrap();
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    assert_eq!(code, Some(7));
    assert!(took < Duration::from_millis(1000), "wait took {took:?}");
    // The wait parks (no spinning on the only worker).
    assert!(ticks >= 10, "ticker ran {ticks} times during a 300 ms wait");
}

#[test]
fn communicate_pushes_a_megabyte_through_cat() {
    setup();
    let input: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
    let expect = input.clone();
    let gt = eventlet::spawn(move || {
        let child = subprocess::spawn(
            Command::new("cat")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .unwrap();
        child.communicate(&input).unwrap()
    });
    let out = finish(&gt).unwrap();
    assert!(out.status.success());
    assert!(
        out.stdout == expect,
        "cat returned {} bytes",
        out.stdout.len()
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn green_pipe_pair_and_eof() {
    setup();
    let (mut r, mut w) = GreenPipe::pipe().unwrap();
    let writer = eventlet::spawn(move || {
        for i in 0..3 {
            writeln!(w, "n{i}").unwrap();
            eventlet::sleep(Duration::from_millis(5));
        }
        // Dropping `w` is the EOF.
    });
    let reader = eventlet::spawn(move || {
        let lines: Vec<String> = (&mut r).lines().map(Result::unwrap).collect();
        let eof = r.readline().unwrap();
        (lines, eof)
    });
    finish(&writer).unwrap();
    let (lines, eof) = finish(&reader).unwrap();
    assert_eq!(lines, ["n0", "n1", "n2"]);
    assert_eq!(eof, "");
}

#[test]
fn a_missing_program_is_an_error() {
    setup();
    let err = subprocess::spawn(&mut Command::new("/nonexistent/program")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}
