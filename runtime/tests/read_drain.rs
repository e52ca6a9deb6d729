//! A stream's reads after a short read (vendor/may patch 6, "read-drain
//! hint"): the next read waits for the next event instead of first failing
//! with EAGAIN. These tests check that nothing a peer sends is missed that
//! way: data in pieces, a FIN right behind the data (whose event can be
//! cleared by the read that returned the data), a reset, and a write that
//! had to wait in between. Each read has a long timeout, so a missed wake-up
//! shows as a timeout instead of a hang.

use eventlet::{listen, Listener, Stream};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

/// Long enough that a missed wake-up cannot pass for a slow machine.
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// What a read that should return at once may take on a loaded machine.
const PROMPT: Duration = Duration::from_secs(5);

fn local_listener() -> (Listener, u16) {
    let l = listen(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().inet().unwrap().port();
    (l, port)
}

/// One read, timed.
fn timed_read(s: &mut Stream, buf: &mut [u8]) -> (io::Result<usize>, Duration) {
    let t = Instant::now();
    let r = s.read(buf);
    (r, t.elapsed())
}

#[test]
fn eof_right_behind_the_data_is_seen_at_once() {
    // Many connections: the FIN's event may be processed before or after the
    // read that returns the data; every ordering must end in a prompt EOF.
    let (l, port) = local_listener();
    const CONNS: usize = 200;
    let server = eventlet::spawn(move || -> io::Result<Vec<Duration>> {
        let mut waits = Vec::new();
        for _ in 0..CONNS {
            let (mut s, _) = l.accept()?;
            s.set_read_timeout(Some(READ_TIMEOUT))?;
            let mut buf = [0u8; 1024];
            let (r, _) = timed_read(&mut s, &mut buf);
            assert_eq!(r?, 4, "the request");
            s.write_all(b"pong")?;
            let (r, took) = timed_read(&mut s, &mut buf);
            assert_eq!(r?, 0, "EOF after the request");
            waits.push(took);
        }
        Ok(waits)
    });
    for _ in 0..CONNS {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(b"ping").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        c.read_to_end(&mut back).unwrap();
        assert_eq!(back, b"pong");
    }
    let waits = server.join().unwrap().unwrap();
    let slowest = waits.iter().max().copied().unwrap_or_default();
    assert!(slowest < PROMPT, "an EOF took {slowest:?}");
}

#[test]
fn data_sent_in_pieces_wakes_every_read() {
    let (l, port) = local_listener();
    let server = eventlet::spawn(move || -> io::Result<Vec<u8>> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        loop {
            let (r, took) = timed_read(&mut s, &mut buf);
            let n = r?;
            assert!(took < PROMPT, "a read took {took:?}");
            if n == 0 {
                return Ok(got);
            }
            got.extend_from_slice(&buf[..n]);
            s.write_all(&buf[..n])?;
        }
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut echoed = Vec::new();
    for piece in [&b"one "[..], b"two ", b"three"] {
        c.write_all(piece).unwrap();
        let mut back = vec![0u8; piece.len()];
        c.read_exact(&mut back).unwrap();
        echoed.extend_from_slice(&back);
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(c);
    assert_eq!(server.join().unwrap().unwrap(), b"one two three");
    assert_eq!(echoed, b"one two three");
}

#[test]
fn a_reset_behind_the_data_ends_the_next_read() {
    let (l, port) = local_listener();
    let server = eventlet::spawn(move || -> io::Result<Duration> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut buf = [0u8; 1024];
        let (r, _) = timed_read(&mut s, &mut buf);
        assert_eq!(r?, 4);
        // Give the reset time to arrive before the next read.
        eventlet::sleep(Duration::from_millis(100));
        let (r, took) = timed_read(&mut s, &mut buf);
        assert!(
            matches!(&r, Ok(0))
                || r.as_ref()
                    .is_err_and(|e| e.kind() != io::ErrorKind::TimedOut),
            "a reset must end the read, not time it out: {r:?}"
        );
        Ok(took)
    });
    let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    c.connect(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
        .unwrap();
    let mut c: TcpStream = c.into();
    c.write_all(b"ping").unwrap();
    socket2::SockRef::from(&c)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    drop(c);
    let took = server.join().unwrap().unwrap();
    assert!(took < PROMPT, "the read after a reset took {took:?}");
}

#[test]
fn a_write_that_waited_does_not_lose_the_next_request() {
    // The server's reply is larger than the socket buffers, so its write waits
    // (and clears the event bits) while the client already sent more.
    let (l, port) = local_listener();
    const BIG: usize = 8 * 1024 * 1024;
    let server = eventlet::spawn(move || -> io::Result<Vec<u8>> {
        let (mut s, _) = l.accept()?;
        s.set_read_timeout(Some(READ_TIMEOUT))?;
        let mut buf = [0u8; 1024];
        let (r, _) = timed_read(&mut s, &mut buf);
        assert_eq!(r?, 5, "the first request");
        s.write_all(&vec![b'x'; BIG])?;
        let mut rest = Vec::new();
        loop {
            let (r, took) = timed_read(&mut s, &mut buf);
            let n = r?;
            assert!(took < PROMPT, "a read after the big write took {took:?}");
            if n == 0 {
                return Ok(rest);
            }
            rest.extend_from_slice(&buf[..n]);
        }
    });
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.write_all(b"first").unwrap();
    // Send the second request while the server is still writing.
    std::thread::sleep(Duration::from_millis(50));
    c.write_all(b"second").unwrap();
    let mut got = 0;
    let mut chunk = vec![0u8; 64 * 1024];
    while got < BIG {
        let n = c.read(&mut chunk).unwrap();
        assert!(n > 0, "the server closed early");
        got += n;
    }
    c.shutdown(Shutdown::Write).unwrap();
    assert_eq!(server.join().unwrap().unwrap(), b"second");
}
