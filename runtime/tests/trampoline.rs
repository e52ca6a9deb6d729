//! `eventlet::hubs::trampoline` over real sockets: readiness, its own timeout,
//! `Timeout`, kill, several waiters on one fd, plain threads, and that other
//! green threads keep running (one worker, as eventlet's single hub).

mod common;

use common::{finish, kill};
use eventlet::hubs::{trampoline, Interest};
use eventlet::{Timeout, TimeoutError};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One worker for the whole binary, so "others keep running" means green-ly.
fn setup() {
    let _ = eventlet::configure(eventlet::Config::default().workers(1));
}

fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    (a, b)
}

#[test]
fn ready_now_returns_at_once() {
    setup();
    let (a, mut b) = pair();
    let r = trampoline(&a, Interest::Write, Some(Duration::ZERO)).unwrap();
    assert!(r.writable() && !r.readable());
    b.write_all(b"x").unwrap();
    let r = trampoline(&a, Interest::Read, Some(Duration::ZERO)).unwrap();
    assert!(r.readable());
    let r = trampoline(&a, Interest::ReadWrite, None).unwrap();
    assert!(r.readable() && r.writable());
}

#[test]
fn read_waits_until_data_arrives() {
    setup();
    let (a, mut b) = pair();
    let writer = eventlet::spawn(move || {
        eventlet::sleep(Duration::from_millis(100));
        b.write_all(b"x").is_ok()
    });
    let gt = eventlet::spawn(move || {
        let start = Instant::now();
        let r = trampoline(&a, Interest::Read, Some(Duration::from_secs(20))).unwrap();
        (r.readable(), start.elapsed())
    });
    let (readable, waited) = finish(&gt).unwrap();
    assert!(readable);
    assert!(
        waited >= Duration::from_millis(90),
        "returned early: {waited:?}"
    );
    assert!(finish(&writer).unwrap());
}

#[test]
fn own_timeout_ends_the_wait() {
    setup();
    let (a, _b) = pair();
    let start = Instant::now();
    let err = trampoline(&a, Interest::Read, Some(Duration::from_millis(50))).unwrap_err();
    let took = start.elapsed();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    assert!(TimeoutError::from_io(&err).is_some());
    assert!(took >= Duration::from_millis(50), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
}

#[test]
fn eventlet_timeout_ends_the_wait_and_is_named() {
    setup();
    let (a, _b) = pair();
    let gt = eventlet::spawn(move || {
        let outer = Timeout::new(Duration::from_secs(30));
        let t = Timeout::new(Duration::from_millis(50));
        let err = trampoline(&a, Interest::Read, None).unwrap_err();
        (t.is_io(&err), outer.is_io(&err), err.kind())
    });
    assert_eq!(finish(&gt).unwrap(), (true, false, ErrorKind::TimedOut));
}

#[test]
fn the_shorter_of_timeout_and_own_limit_wins() {
    setup();
    let (a, _b) = pair();
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_secs(30));
        let start = Instant::now();
        let err = trampoline(&a, Interest::Read, Some(Duration::from_millis(30))).unwrap_err();
        // The call's own limit came first: not the Timeout's error.
        (t.is_io(&err), start.elapsed() < Duration::from_secs(10))
    });
    assert_eq!(finish(&gt).unwrap(), (false, true));
}

#[test]
fn other_green_threads_run_while_one_waits() {
    setup();
    let (a, mut b) = pair();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = ticks.clone();
    let ticker = eventlet::spawn(move || {
        for _ in 0..20 {
            eventlet::sleep(Duration::from_millis(5));
            t2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let t3 = ticks.clone();
    let waiter = eventlet::spawn(move || {
        let r = trampoline(&a, Interest::Read, Some(Duration::from_secs(20))).unwrap();
        (r.readable(), t3.load(Ordering::SeqCst))
    });
    finish(&ticker).unwrap();
    b.write_all(b"x").unwrap();
    let (readable, ticks_seen) = finish(&waiter).unwrap();
    assert!(readable);
    // The waiter was parked while the ticker ran all its 20 ticks.
    assert_eq!(ticks_seen, 20);
}

#[test]
fn kill_ends_a_wait_and_the_fd_can_be_waited_on_again() {
    setup();
    let (a, mut b) = pair();
    let a = Arc::new(a);
    let a2 = a.clone();
    let gt = eventlet::spawn(move || trampoline(&*a2, Interest::Read, None).map(|_| ()));
    eventlet::sleep(Duration::from_millis(50));
    kill(&gt);
    assert!(gt.dead());
    b.write_all(b"x").unwrap();
    let r = trampoline(&*a, Interest::Read, Some(Duration::from_secs(20))).unwrap();
    assert!(r.readable());
}

#[test]
fn many_waiters_on_one_fd_all_wake() {
    setup();
    let (a, mut b) = pair();
    let a = Arc::new(a);
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let a = a.clone();
            eventlet::spawn(move || {
                trampoline(&*a, Interest::Read, Some(Duration::from_secs(20)))
                    .map(|r| r.readable())
                    .map_err(|e| e.kind())
            })
        })
        .collect();
    // A writer on the same fd waits alongside them.
    let a2 = a.clone();
    let w = eventlet::spawn(move || {
        trampoline(&*a2, Interest::Write, Some(Duration::from_secs(20)))
            .map(|r| r.writable())
            .ok()
    });
    assert_eq!(finish(&w).unwrap(), Some(true));
    eventlet::sleep(Duration::from_millis(20));
    b.write_all(b"x").unwrap();
    for gt in &waiters {
        assert_eq!(finish(gt).unwrap(), Ok(true));
    }
}

#[test]
fn hangup_ends_a_read_wait() {
    setup();
    let (a, b) = pair();
    let gt = eventlet::spawn(move || {
        let r = trampoline(&a, Interest::Read, Some(Duration::from_secs(20))).unwrap();
        (r.readable(), r.hangup())
    });
    eventlet::sleep(Duration::from_millis(30));
    drop(b);
    assert_eq!(finish(&gt).unwrap(), (true, true));
}

#[test]
fn a_plain_thread_can_wait_too() {
    setup();
    let (a, mut b) = pair();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        b.write_all(b"x").unwrap();
        b
    });
    let r = trampoline(
        &a.as_raw_fd(),
        Interest::Read,
        Some(Duration::from_secs(20)),
    )
    .unwrap();
    assert!(r.readable());
    writer.join().unwrap();
}

#[test]
fn a_closed_fd_is_an_error() {
    setup();
    let err = trampoline(&-1, Interest::Read, Some(Duration::from_secs(1))).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EBADF));
}

/// 500 round trips between two green threads that only ever wait through
/// `trampoline` and read non-blocking: a lost wake-up hangs (and fails on the
/// 30 s Timeout).
#[test]
fn ping_pong_loses_no_wake_up() {
    setup();
    const ROUNDS: usize = 500;
    let (mut a, mut b) = pair();
    fn recv_one(s: &mut UnixStream) -> std::io::Result<u8> {
        let mut buf = [0u8; 1];
        loop {
            match s.read(&mut buf) {
                Ok(1) => return Ok(buf[0]),
                Ok(_) => return Err(ErrorKind::UnexpectedEof.into()),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    trampoline(s, Interest::Read, None)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
    let echo = eventlet::spawn(move || {
        let _t = Timeout::new(Duration::from_secs(30));
        for _ in 0..ROUNDS {
            let v = recv_one(&mut b).map_err(|e| e.to_string())?;
            b.write_all(&[v]).map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    });
    let pinger = eventlet::spawn(move || {
        let _t = Timeout::new(Duration::from_secs(30));
        for i in 0..ROUNDS {
            a.write_all(&[i as u8]).map_err(|e| e.to_string())?;
            assert_eq!(recv_one(&mut a).map_err(|e| e.to_string())?, i as u8);
        }
        Ok::<_, String>(ROUNDS)
    });
    assert_eq!(common::finish_within(&pinger, 40).unwrap().unwrap(), ROUNDS);
    finish(&echo).unwrap().unwrap();
}

/// Deadlines racing the data: each wait ends readable or timed out, never
/// hangs, and leaves nothing behind (the next wait still works).
#[test]
fn timeouts_racing_data_never_hang() {
    setup();
    let (a, mut b) = pair();
    let gt = eventlet::spawn(move || {
        let (mut ok, mut timed_out) = (0, 0);
        let mut buf = [0u8; 16];
        for i in 0..200u64 {
            let mut a2 = &a;
            let a3 = &a;
            let writer_delay = Duration::from_micros(i % 7 * 300);
            let w = eventlet::spawn_after(writer_delay, {
                let mut b2 = b.try_clone().unwrap();
                move || b2.write_all(b"x").is_ok()
            });
            match trampoline(a3, Interest::Read, Some(Duration::from_millis(1))) {
                Ok(r) if r.readable() => ok += 1,
                Ok(r) => panic!("woke without data: {r:?}"),
                Err(e) if e.kind() == ErrorKind::TimedOut => timed_out += 1,
                Err(e) => panic!("{e}"),
            }
            assert!(w.wait().unwrap());
            // Drain so the next round starts empty.
            trampoline(a3, Interest::Read, Some(Duration::from_secs(20))).unwrap();
            while a2.read(&mut buf).is_ok_and(|n| n > 0) {}
        }
        b.write_all(b"y").unwrap();
        (
            ok + timed_out,
            trampoline(&a, Interest::Read, Some(Duration::from_secs(20))).is_ok(),
        )
    });
    assert_eq!(common::finish_within(&gt, 60).unwrap(), (200, true));
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Every ended wait closes its duplicate fd: 300 timed-out and 300 killed
/// waits leave the fd count where it was (other tests of this binary open a
/// few meanwhile, hence the margin; a leak would show 300 or more).
#[test]
fn ended_waits_leave_no_fd_behind() {
    setup();
    let (a, _b) = pair();
    let before = open_fds();
    for _ in 0..300 {
        let err = trampoline(&a, Interest::Read, Some(Duration::from_millis(1))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::TimedOut);
    }
    let a = Arc::new(a);
    let waiters: Vec<_> = (0..300)
        .map(|_| {
            let a = a.clone();
            eventlet::spawn(move || trampoline(&*a, Interest::Read, None).is_ok())
        })
        .collect();
    // Each parked wait holds its duplicate: the count really moves.
    common::wait_until("all 300 waits are parked", || open_fds() >= before + 290);
    for gt in &waiters {
        kill(gt);
    }
    let after = open_fds();
    assert!(
        after < before + 100,
        "fds: {before} before, {after} after 600 ended waits"
    );
}

/// A peer that stops sending (half-close) does not end a *write* wait: the
/// writer's buffer is still full, so returning would make it spin. Once the
/// peer reads, the wait ends writable.
#[test]
fn half_close_by_the_peer_does_not_end_a_write_wait() {
    setup();
    let (mut a, mut b) = pair();
    let chunk = [7u8; 65536];
    while a.write(&chunk).is_ok() {}
    b.shutdown(std::net::Shutdown::Write).unwrap();
    let err = trampoline(&a, Interest::Write, Some(Duration::from_millis(100))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TimedOut);
    // A read wait does end: end of file is readable.
    let r = trampoline(&a, Interest::Read, Some(Duration::from_secs(20))).unwrap();
    assert!(r.readable() && r.hangup());
    // Drain everything written (the buffers are full, so it is all there).
    let mut buf = vec![0; 1 << 20];
    let mut total = 0;
    while let Ok(n) = b.read(&mut buf) {
        assert!(n > 0);
        total += n;
    }
    assert!(total > 0);
    let r = trampoline(&a, Interest::Write, Some(Duration::from_secs(20))).unwrap();
    assert!(r.writable());
}
