//! `Stream::try_clone` shares one descriptor: a clone costs none while idle,
//! waits for the socket through a `dup` of its own only while it has to, and
//! keeps the connection open after the original handle is gone.

use eventlet::{connect, listen, Stream};
use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

fn pair() -> (Stream, Stream) {
    let l = listen(("127.0.0.1", 0)).unwrap();
    let c = connect(l.local_addr().unwrap()).unwrap();
    let (s, _) = l.accept().unwrap();
    (s, c)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// More than the socket buffers of a loopback connection hold together.
const BIG: usize = 32 << 20;

#[test]
fn clone_waits_for_room_while_the_original_waits_for_data() {
    let (mut s, mut c) = pair();
    let mut w = s.try_clone().unwrap();
    // The original blocks in a read, the clone in a write (the peer reads
    // nothing yet): two green threads parked on one socket at once.
    let reader = eventlet::spawn(move || {
        let mut b = [0u8; 4];
        s.read_exact(&mut b).map(|_| b)
    });
    let writer = eventlet::spawn(move || {
        let data: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
        w.write_all(&data)
    });
    eventlet::sleep(Duration::from_millis(200));
    let mut got = vec![0u8; BIG];
    c.read_exact(&mut got).unwrap();
    assert!(got.iter().enumerate().all(|(i, &b)| b == (i % 251) as u8));
    writer.join().unwrap().unwrap();
    c.write_all(b"done").unwrap();
    assert_eq!(&reader.join().unwrap().unwrap(), b"done");
}

#[test]
fn an_idle_clone_costs_no_descriptor_and_outlives_the_original() {
    let (s, mut c) = pair();
    let before = open_fds();
    let clones: Vec<Stream> = (0..1000).map(|_| s.try_clone().unwrap()).collect();
    // Other tests of this file may open a few meanwhile.
    assert!(open_fds() < before + 50, "{} -> {}", before, open_fds());
    assert!(clones.iter().all(|k| {
        use std::os::fd::AsRawFd;
        k.as_raw_fd() == s.as_raw_fd()
    }));
    drop(s);
    let mut k = clones.into_iter().next().unwrap();
    // The connection is still open through the clone, in both directions;
    // its read waits (through a dup) for data that comes later.
    let reader = eventlet::spawn(move || {
        let mut b = [0u8; 5];
        k.read_exact(&mut b)?;
        k.write_all(&b)?;
        Ok::<_, std::io::Error>(k)
    });
    eventlet::sleep(Duration::from_millis(100));
    c.write_all(b"later").unwrap();
    let mut back = [0u8; 5];
    c.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"later");
    let mut k = reader.join().unwrap().unwrap();
    k.shutdown(Shutdown::Write).unwrap();
    drop(k);
    // The last handle is gone: the peer reads EOF.
    assert_eq!(c.read(&mut back).unwrap(), 0);
}

#[test]
fn original_reads_while_the_clone_stays_blocked_in_a_write() {
    let (mut s, mut c) = pair();
    let mut w = s.try_clone().unwrap();
    let writer = eventlet::spawn(move || w.write_all(&vec![1u8; BIG]));
    // The writer is blocked (the peer reads nothing); data for the reader
    // must still wake it, several times over.
    for i in 0..20u8 {
        let reader = eventlet::spawn(move || {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).map(|_| (s, b[0]))
        });
        eventlet::sleep(Duration::from_millis(20));
        c.write_all(&[i]).unwrap();
        let (back, got) = reader.join().unwrap().unwrap();
        assert_eq!(got, i);
        s = back;
    }
    assert!(!writer.is_done());
    drop(c);
    assert!(writer.join().unwrap().is_err());
}
