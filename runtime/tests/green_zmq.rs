//! `eventlet::zmq` (eventlet's green.zmq) over real libzmq sockets, with one
//! worker: blocking libzmq calls would deadlock there, green ones must not.
#![cfg(feature = "zmq")]

mod common;

use common::{finish, finish_within, kill};
use eventlet::zmq::{Context, Socket, PULL, PUSH, REP, REQ, SUB};
use eventlet::Timeout;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn setup() {
    let _ = eventlet::configure(eventlet::Config::default().workers(1));
}

#[test]
fn req_rep_round_trips_on_one_worker() {
    setup();
    const ROUNDS: usize = 300;
    let ctx = Context::new();
    let rep = Socket::new(&ctx, REP).unwrap();
    rep.bind("inproc://rr").unwrap();
    let server = eventlet::spawn(move || {
        for _ in 0..ROUNDS {
            let msg = rep.recv_bytes(0).map_err(|e| e.to_string())?;
            rep.send([&b"re "[..], &msg].concat(), 0)
                .map_err(|e| e.to_string())?;
        }
        Ok::<_, String>(())
    });
    let c2 = ctx.clone();
    let client = eventlet::spawn(move || {
        let _t = Timeout::new(Duration::from_secs(30));
        let req = Socket::new(&c2, REQ).unwrap();
        req.connect("inproc://rr").unwrap();
        for i in 0..ROUNDS {
            req.send(format!("{i}").as_str(), 0)
                .map_err(|e| e.to_string())?;
            let got = req.recv_bytes(0).map_err(|e| e.to_string())?;
            assert_eq!(got, format!("re {i}").into_bytes());
        }
        Ok::<_, String>(ROUNDS)
    });
    assert_eq!(finish_within(&client, 40).unwrap(), Ok(ROUNDS));
    assert_eq!(finish(&server).unwrap(), Ok(()));
}

#[test]
fn recv_honours_timeout_and_others_run_meanwhile() {
    setup();
    let ctx = Context::new();
    let ticks = Arc::new(AtomicUsize::new(0));
    let t2 = ticks.clone();
    let ticker = eventlet::spawn(move || {
        for _ in 0..10 {
            eventlet::sleep(Duration::from_millis(5));
            t2.fetch_add(1, Ordering::SeqCst);
        }
    });
    let gt = eventlet::spawn(move || {
        let sub = Socket::new(&ctx, SUB).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.connect("inproc://nobody-publishes").unwrap();
        let start = Instant::now();
        let t = Timeout::new(Duration::from_millis(300));
        let err = sub.recv_bytes(0).unwrap_err();
        (t.is_io(&err), start.elapsed())
    });
    let (mine, took) = finish(&gt).unwrap();
    assert!(mine);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    finish(&ticker).unwrap();
    assert_eq!(ticks.load(Ordering::SeqCst), 10);
}

#[test]
fn send_waits_for_a_peer_then_goes_through() {
    setup();
    let ctx = Context::new();
    let push = Socket::new(&ctx, PUSH).unwrap();
    push.bind("inproc://push").unwrap();
    // No peer yet: PUSH cannot send, so the green send waits (POLLOUT).
    let push = {
        let t = Timeout::new(Duration::from_millis(100));
        let err = push.send("early", 0).unwrap_err();
        assert!(t.is_io(&err));
        push
    };
    let sender = eventlet::spawn(move || push.send("hello", 0).is_ok());
    eventlet::sleep(Duration::from_millis(50));
    let pull = Socket::new(&ctx, PULL).unwrap();
    pull.connect("inproc://push").unwrap();
    let _t = Timeout::new(Duration::from_secs(20));
    assert!(finish(&sender).unwrap());
    assert_eq!(pull.recv_bytes(0).unwrap(), b"hello");
}

#[test]
fn multipart_and_kill() {
    setup();
    let ctx = Context::new();
    let pull = Socket::new(&ctx, PULL).unwrap();
    pull.bind("inproc://mp").unwrap();
    let push = Socket::new(&ctx, PUSH).unwrap();
    push.connect("inproc://mp").unwrap();
    let receiver = eventlet::spawn(move || pull.recv_multipart(0).map_err(|e| e.to_string()));
    eventlet::sleep(Duration::from_millis(20));
    push.send_multipart(["a", "bb", "ccc"], 0).unwrap();
    assert_eq!(
        finish(&receiver).unwrap(),
        Ok(vec![b"a".to_vec(), b"bb".to_vec(), b"ccc".to_vec()])
    );
    // A green thread parked in recv can be killed.
    let idle = Socket::new(&ctx, PULL).unwrap();
    idle.bind("inproc://idle").unwrap();
    let gt = eventlet::spawn(move || idle.recv_bytes(0).is_ok());
    eventlet::sleep(Duration::from_millis(20));
    kill(&gt);
    assert!(gt.dead());
}
