//! Green UDP sockets over loopback with ONE worker: datagrams both ways,
//! connected sockets, Timeout and idle timeouts, shared sockets.

mod common;

use common::finish;
use eventlet::green::udp::UdpSocket;
use eventlet::Timeout;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

fn setup() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = eventlet::configure(eventlet::Config::default().workers(1));
    });
}

#[test]
fn datagrams_go_both_ways() {
    setup();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let echo = eventlet::spawn(move || {
        let mut buf = [0; 64];
        for _ in 0..3 {
            let (n, from) = server.recv_from(&mut buf).unwrap();
            server.send_to(&buf[..n], from).unwrap();
        }
    });
    let client = eventlet::spawn(move || {
        let sock = UdpSocket::bind(("127.0.0.1", 0)).unwrap();
        let mut got = Vec::new();
        for msg in ["a", "bb", "ccc"] {
            sock.send_to(msg.as_bytes(), addr).unwrap();
            let mut buf = [0; 64];
            let (n, from) = sock.recv_from(&mut buf).unwrap();
            assert_eq!(from, addr);
            got.push(String::from_utf8(buf[..n].to_vec()).unwrap());
        }
        got
    });
    assert_eq!(finish(&client).unwrap(), ["a", "bb", "ccc"]);
    finish(&echo).unwrap();
}

#[test]
fn connected_sockets_send_and_recv() {
    setup();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("localhost:0").unwrap();
    a.connect(b.local_addr().unwrap()).unwrap();
    b.connect(a.local_addr().unwrap()).unwrap();
    assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
    let gt = eventlet::spawn(move || {
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).unwrap();
        b.send(&buf[..n]).unwrap();
    });
    a.send(b"ping").unwrap();
    let mut buf = [0; 16];
    let n = a.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"ping");
    finish(&gt).unwrap();
}

#[test]
fn timeout_cuts_a_receive_and_the_socket_stays_usable() {
    setup();
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = sock.local_addr().unwrap();
    let s2 = sock.clone();
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_millis(100));
        let start = Instant::now();
        let err = s2.recv_from(&mut [0; 8]).unwrap_err();
        let took = start.elapsed();
        drop(t);
        (err.kind(), took)
    });
    let (kind, took) = finish(&gt).unwrap();
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(
        took >= Duration::from_millis(95) && took < Duration::from_millis(600),
        "cut after {took:?}"
    );
    // Usable afterwards, with no Timeout left.
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    sender.send_to(b"late", addr).unwrap();
    let mut buf = [0; 8];
    let (n, _) = sock.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"late");
}

#[test]
fn idle_read_timeout_is_an_anonymous_timed_out() {
    setup();
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    assert!(sock.set_read_timeout(Some(Duration::ZERO)).is_err());
    let gt = eventlet::spawn(move || {
        let t = Timeout::new(Duration::from_secs(10));
        let err = sock.recv(&mut [0; 8]).unwrap_err();
        (err.kind(), t.is_io(&err))
    });
    assert_eq!(finish(&gt).unwrap(), (io::ErrorKind::TimedOut, false));
}

#[test]
fn a_blocked_receiver_does_not_stall_the_only_worker() {
    setup();
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = sock.local_addr().unwrap();
    let s2 = sock.clone();
    let receiver = eventlet::spawn(move || {
        let mut buf = [0; 8];
        s2.recv_from(&mut buf).unwrap().0
    });
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
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    assert!(ticks >= 10, "ticker ran {ticks} times in 300 ms");
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"go", addr)
        .unwrap();
    assert_eq!(finish(&receiver).unwrap(), 2);
}

#[test]
fn several_green_threads_share_one_socket() {
    setup();
    let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").unwrap());
    let addr = sock.local_addr().unwrap();
    let receivers: Vec<_> = (0..4)
        .map(|_| {
            let s = sock.clone();
            eventlet::spawn(move || {
                let _t = Timeout::new(Duration::from_secs(10));
                let mut buf = [0; 8];
                let (n, _) = s.recv_from(&mut buf).unwrap();
                buf[0..n].to_vec()
            })
        })
        .collect();
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..4u8 {
        sender.send_to(&[i], addr).unwrap();
    }
    let mut got: Vec<u8> = receivers.iter().map(|gt| finish(gt).unwrap()[0]).collect();
    got.sort_unstable();
    assert_eq!(got, [0, 1, 2, 3]);
}
