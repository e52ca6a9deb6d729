//! After a TCP read shorter than its buffer, the next read waits for the
//! socket's readiness event before calling `read(2)` (one syscall fewer per
//! message; the read-drain hint, vendor/may patch 6). These tests pin what
//! must still hold on that path: later data wakes the reader, an EOF or a
//! reset queued right behind the data is seen (no further event comes for
//! it), and timeouts and kill still end the wait.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

fn listener() -> (eventlet::net::Listener, SocketAddr) {
    let l = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().inet().unwrap();
    (l, addr)
}

/// Read with a 4 KiB buffer until EOF (or an error), after `pause`.
fn read_all(l: eventlet::net::Listener, pause: Duration) -> eventlet::GreenThread<Vec<u8>> {
    eventlet::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        eventlet::sleep(pause);
        let mut buf = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
}

#[test]
fn an_eof_queued_behind_data_ends_the_next_read() {
    // Data and FIN arrive before the first read (the pause), and while the
    // reader waits (no pause): either way the short read is followed by EOF.
    for i in 0..40 {
        let (l, addr) = listener();
        let pause = Duration::from_millis(if i % 2 == 0 { 30 } else { 0 });
        let gt = read_all(l, pause);
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"hello").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let got = common::finish(&gt).unwrap();
        assert_eq!(got, b"hello", "round {i}");
    }
}

#[test]
fn a_reset_behind_data_ends_the_next_read() {
    for i in 0..20 {
        let (l, addr) = listener();
        let gt = read_all(l, Duration::from_millis(if i % 2 == 0 { 30 } else { 0 }));
        let c = socket2::Socket::from(TcpStream::connect(addr).unwrap());
        (&c).write_all(b"bye").unwrap();
        c.set_linger(Some(Duration::ZERO)).unwrap();
        drop(c); // RST
        let got = common::finish(&gt).unwrap();
        assert!(got.is_empty() || got == b"bye", "round {i}: {got:?}");
    }
}

#[test]
fn later_data_wakes_a_reader_whose_last_read_emptied_the_socket() {
    let (l, addr) = listener();
    let gt = read_all(l, Duration::ZERO);
    let mut c = TcpStream::connect(addr).unwrap();
    let mut want = Vec::new();
    for i in 0..200u32 {
        let msg = format!("message {i};");
        c.write_all(msg.as_bytes()).unwrap();
        want.extend_from_slice(msg.as_bytes());
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(common::finish(&gt).unwrap(), want);
}

#[test]
fn a_timeout_and_a_kill_still_end_the_wait() {
    let (l, addr) = listener();
    let gt = eventlet::spawn(move || {
        let mut c = eventlet::connect(addr).unwrap();
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 64];
        c.write_all(b"x").unwrap();
        assert_eq!(s.read(&mut buf).unwrap(), 1); // short: the socket is empty now
        let start = Instant::now();
        let err = {
            let _t = eventlet::Timeout::new(Duration::from_millis(200));
            s.read(&mut buf).unwrap_err()
        };
        assert!(eventlet::TimeoutError::from_io(&err).is_some(), "{err}");
        assert!(start.elapsed() < Duration::from_secs(5));
        // A green thread parked in a read after a short read is killed promptly.
        c.write_all(b"y").unwrap();
        let reader = eventlet::spawn(move || {
            let mut buf = [0u8; 64];
            assert_eq!(s.read(&mut buf).unwrap(), 1);
            let _ = s.read(&mut buf);
        });
        eventlet::sleep(Duration::from_millis(50));
        common::kill(&reader);
        drop(c);
    });
    common::finish(&gt).unwrap();
}
