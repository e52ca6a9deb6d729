//! The HTTP timeouts as the server's reaper enforces them (coarse deadlines,
//! `wsgi/src/reaper.rs`): each fires no earlier than configured and at most
//! two reaper ticks later (a tick is an eighth of the smallest timeout,
//! 10–250 ms), over real sockets. The upper bounds add a wide margin for a
//! loaded machine; the lower bounds are exact.

mod common;

use common::{default_opts, read_http, spawn_server, wait_for};
use eventlet_wsgi::stats::{Stats, TimeoutKind};
use eventlet_wsgi::{Body, Environ, Keepalive, StartResponse};
use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Scheduling slack for the upper bounds (2 shared, noisy cores).
const SLACK: Duration = Duration::from_millis(1500);

fn hello(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from("hello\n")
}

/// How long until the server closes `s` (EOF or reset), from `since`.
fn closed_after(s: &mut TcpStream, since: Instant) -> Duration {
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut b = [0u8; 64];
    loop {
        match s.read(&mut b) {
            Ok(0) | Err(_) => return since.elapsed(),
            Ok(_) => {}
        }
    }
}

#[test]
fn keepalive_idle_timeout_fires_within_two_ticks() {
    let idle = Duration::from_millis(600);
    let tick = idle / 8;
    let stats = Stats::new();
    let srv = spawn_server(
        hello,
        default_opts()
            .stats(stats.clone())
            .keepalive(Keepalive::Idle(idle))
            .head_timeout(Duration::from_secs(5)),
    );
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let resp = read_http(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    assert_eq!(resp.status(), 200);
    // The server's idle wait began before the response reached us: allow the
    // loopback delivery (a few ms) on the lower bound.
    let since = Instant::now();
    let took = closed_after(&mut s, since);
    println!("keep-alive idle {idle:?} (tick {tick:?}): closed after {took:?}");
    assert!(
        took + Duration::from_millis(50) >= idle,
        "closed after {took:?}, before the {idle:?} keep-alive timeout"
    );
    assert!(
        took <= idle + 2 * tick + SLACK,
        "closed after {took:?}: the {idle:?} timeout fired late"
    );
    let snap = wait_for(&stats, |s| s.timeouts(TimeoutKind::Idle) == 1);
    assert_eq!(snap.timeouts(TimeoutKind::Idle), 1);
}

#[test]
fn slowloris_head_timeout_fires_within_two_ticks_despite_trickling() {
    let head = Duration::from_millis(800);
    let tick = head / 8;
    let stats = Stats::new();
    let srv = spawn_server(
        hello,
        default_opts().stats(stats.clone()).head_timeout(head),
    );
    let s = srv.connect();
    let since = Instant::now();
    // A byte every 50 ms: each read re-arms the wait, but the head's deadline
    // counts from its first byte.
    let mut w = s.try_clone().unwrap();
    let trickle = std::thread::spawn(move || {
        for b in b"GET / HTTP/1.1\r\nHost: h\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if w.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    });
    let resp = read_http(&mut BufReader::new(s)).unwrap();
    let took = since.elapsed();
    println!("head {head:?} (tick {tick:?}): 408 after {took:?}");
    assert_eq!(resp.status(), 408, "{}", resp.status_line);
    assert!(
        took >= head,
        "408 after {took:?}, before the {head:?} head timeout"
    );
    assert!(
        took <= head + 2 * tick + SLACK,
        "408 after {took:?}: the {head:?} head timeout fired late"
    );
    trickle.join().unwrap();
    let snap = wait_for(&stats, |s| s.timeouts(TimeoutKind::Head) == 1);
    assert_eq!(snap.timeouts(TimeoutKind::Head), 1);
    assert_eq!(snap.timeouts(TimeoutKind::Idle), 0);
}

/// A deadline covers a socket wait only: an app slower than every timeout
/// (while it neither reads nor writes) is not cut.
#[test]
fn app_slower_than_every_timeout_is_not_cut() {
    let t = Duration::from_millis(200);
    let srv = spawn_server(
        |_env: &mut Environ, sr: &mut StartResponse| {
            eventlet::sleep(Duration::from_millis(1000));
            sr.start("200 OK", [("Content-Type", "text/plain")]);
            Body::from("slow\n")
        },
        default_opts()
            .head_timeout(t)
            .socket_timeout(Some(t))
            .keepalive(Keepalive::Idle(t)),
    );
    let mut s = srv.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n").unwrap();
    let resp = read_http(&mut BufReader::new(s)).unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.body_str(), "slow\n");
}
