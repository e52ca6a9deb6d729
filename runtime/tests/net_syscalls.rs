//! A stream's reads and writes make their system calls without libc's
//! wrappers on Linux (`net.rs` `sys`, vendor/may patch 7), and go straight to
//! may when no Timeout runs and the socket's own timeout is unchanged. These
//! tests pin what must not change: byte counts, the OS error of a failed
//! call (with its kind), and socket timeouts that change between reads, in a
//! thread and in a green thread (may's coroutine path with its cancel data).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn listener() -> (eventlet::net::Listener, SocketAddr) {
    let l = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().inet().unwrap();
    (l, addr)
}

/// A peer that resets the connection (SO_LINGER 0) once dropped.
fn resetting_peer(addr: SocketAddr) -> socket2::Socket {
    let c = socket2::Socket::from(TcpStream::connect(addr).unwrap());
    c.set_linger(Some(Duration::ZERO)).unwrap();
    c
}

#[test]
fn reads_return_the_counts_the_kernel_gives() {
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    c.write_all(b"0123456789").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4];
    while got.len() < 10 {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0 && n <= 4, "read {n}");
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, b"0123456789");
    // Writes: every byte arrives, in order.
    s.write_all(b"abcdef").unwrap();
    let mut back = [0u8; 6];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"abcdef");
    // EOF after the peer closes.
    drop(c);
    assert_eq!(s.read(&mut buf).unwrap(), 0);
}

#[test]
fn a_reset_fails_a_waiting_read_with_connection_reset() {
    // The read waits first (may's raw read after the wake-up), in a green
    // thread and in a plain thread.
    for green in [true, false] {
        let (l, addr) = listener();
        let c = resetting_peer(addr);
        let (mut s, _) = l.accept().unwrap();
        let mut read = move || {
            let mut buf = [0u8; 64];
            s.read(&mut buf).map_err(|e| (e.kind(), e.raw_os_error()))
        };
        let dropper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(c);
        });
        // `wait`, not a bounded wait: a Timeout running anywhere would take
        // the read off the direct path (the dropper ends the wait).
        let r = if green {
            eventlet::spawn(read).wait().unwrap()
        } else {
            read()
        };
        dropper.join().unwrap();
        assert_eq!(
            r,
            Err((ErrorKind::ConnectionReset, Some(libc::ECONNRESET))),
            "green {green}"
        );
    }
}

#[test]
fn writes_to_a_reset_peer_fail_with_its_os_error() {
    let (l, addr) = listener();
    let c = resetting_peer(addr);
    let (mut s, _) = l.accept().unwrap();
    drop(c);
    std::thread::sleep(Duration::from_millis(20));
    let err = loop {
        match s.write(b"data") {
            Ok(n) => assert_eq!(n, 4),
            Err(e) => break e,
        }
    };
    // EPIPE (not SIGPIPE: the process lives) or ECONNRESET.
    assert!(
        matches!(
            err.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset
        ),
        "{err}"
    );
    assert!(matches!(
        err.raw_os_error(),
        Some(libc::EPIPE) | Some(libc::ECONNRESET)
    ));
}

#[test]
fn a_read_timeout_changed_between_reads_is_the_one_that_applies() {
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let mut buf = [0u8; 8];
    // Data first: the direct path with no timeout.
    c.write_all(b"a").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 1);
    // A short timeout now applies...
    s.set_read_timeout(Some(Duration::from_millis(40))).unwrap();
    let started = Instant::now();
    assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    assert!(started.elapsed() >= Duration::from_millis(40));
    // ...and again on the next read (unchanged: the direct path)...
    assert_eq!(s.read(&mut buf).unwrap_err().kind(), ErrorKind::TimedOut);
    // ...until it is lifted: a read outlives the old limit.
    s.set_read_timeout(None).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        c.write_all(b"late").unwrap();
        c
    });
    assert_eq!(s.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"late");
    let mut c = writer.join().unwrap();
    // A longer one set back: data within it is read.
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    c.write_all(b"b").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 1);
}

#[test]
fn a_timeout_around_a_direct_read_still_ends_it() {
    let (l, addr) = listener();
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = l.accept().unwrap();
    let mut buf = [0u8; 8];
    c.write_all(b"x").unwrap();
    assert_eq!(s.read(&mut buf).unwrap(), 1);
    let gt = eventlet::spawn(move || {
        let t = eventlet::Timeout::new(Duration::from_millis(40));
        let err = s.read(&mut [0u8; 8]).unwrap_err();
        assert!(t.is_io(&err), "{err}");
        // The Timeout gone, the next read goes direct again and gets data.
        drop(t);
        s.read(&mut [0u8; 8]).map_err(|e| e.kind())
    });
    std::thread::sleep(Duration::from_millis(150));
    c.write_all(b"yz").unwrap();
    // `wait`: a bounded wait's Timeout would keep the read off the direct path.
    assert_eq!(gt.wait().unwrap(), Ok(2));
}
