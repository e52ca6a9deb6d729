//! Green name resolution: every name the runtime resolves goes through the
//! tpool, so a slow lookup holds neither the single worker nor the caller past
//! its Timeout. The slow lookup is a resolver installed with `set_resolver`
//! that blocks its pool thread (as a dead DNS server makes `getaddrinfo`
//! block); everything else uses the system resolver (`/etc/hosts`).

mod common;

use common::{finish, ticker};
use eventlet::green::dns;
use eventlet::Timeout;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

/// One worker, and a resolver where `slow.test` takes 500 ms of blocking.
fn setup() -> MutexGuard<'static, ()> {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = eventlet::configure(eventlet::Config::default().workers(1));
        dns::set_resolver(Some(Box::new(|host: &str, port: u16| {
            LOOKUPS.fetch_add(1, Ordering::SeqCst);
            if host == "slow.test" {
                std::thread::sleep(Duration::from_millis(500));
                return Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]);
            }
            dns::system_resolve(host, port)
        })));
    });
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn localhost_resolves_through_the_hosts_file() {
    let _s = setup();
    let gt = eventlet::spawn(|| dns::resolve("localhost", 8080).unwrap());
    let addrs = finish(&gt).unwrap();
    assert!(!addrs.is_empty());
    assert!(addrs
        .iter()
        .all(|a| a.ip().is_loopback() && a.port() == 8080));
    // IPv4 first, as eventlet's AF_INET sockets.
    assert!(addrs[0].is_ipv4() || addrs.iter().all(SocketAddr::is_ipv6));
    assert!(dns::gethostbyname("localhost").unwrap().is_loopback());
}

#[test]
fn ip_literals_never_reach_the_resolver() {
    let _s = setup();
    let before = LOOKUPS.load(Ordering::SeqCst);
    let a = dns::resolve("127.0.0.1", 1).unwrap();
    let b = dns::resolve("[::1]", 2).unwrap();
    assert_eq!(a, vec![SocketAddr::from(([127, 0, 0, 1], 1))]);
    assert_eq!(b, vec!["[::1]:2".parse().unwrap()]);
    let l = eventlet::listen("127.0.0.1:0").unwrap();
    drop(eventlet::connect(l.local_addr().unwrap()).unwrap());
    assert_eq!(LOOKUPS.load(Ordering::SeqCst), before);
}

#[test]
fn an_unknown_name_is_an_error() {
    let _s = setup();
    let gt = eventlet::spawn(|| {
        let _t = Timeout::new(Duration::from_secs(20));
        dns::resolve("no-such-host.invalid", 80).is_err()
    });
    assert!(finish_within_secs(&gt, 30));
}

fn finish_within_secs(gt: &eventlet::GreenThread<bool>, secs: u64) -> bool {
    common::finish_within(gt, secs).unwrap()
}

#[test]
fn connect_and_listen_resolve_names() {
    let _s = setup();
    let l = eventlet::listen(("localhost", 0)).unwrap();
    let port = l.local_addr().unwrap().inet().unwrap().port();
    let gt = eventlet::spawn(move || {
        let c = eventlet::connect(("localhost", port)).unwrap();
        c.peer_addr().unwrap().inet().unwrap().ip().is_loopback()
    });
    assert!(finish(&gt).unwrap());
    // A name the custom resolver serves: connect goes through it too.
    let gt = eventlet::spawn(move || eventlet::connect(format!("slow.test:{port}")).is_ok());
    assert!(finish(&gt).unwrap());
}

#[test]
fn a_slow_lookup_does_not_stall_the_only_worker() {
    let _s = setup();
    let stop = Arc::new(AtomicBool::new(false));
    let tick = ticker(stop.clone());
    let gt = eventlet::spawn(|| {
        let start = Instant::now();
        let a = dns::resolve("slow.test", 80).unwrap();
        (a, start.elapsed())
    });
    let (addrs, took) = finish(&gt).unwrap();
    stop.store(true, Ordering::Relaxed);
    let ticks = finish(&tick).unwrap();
    assert_eq!(addrs, vec![SocketAddr::from(([127, 0, 0, 1], 80))]);
    assert!(took >= Duration::from_millis(490), "took {took:?}");
    // ~50 ticks in 500 ms; a worker blocked in the lookup gives 0 or 1.
    assert!(
        ticks >= 10,
        "ticker ran {ticks} times during a 500 ms lookup"
    );
}

#[test]
fn timeout_cuts_a_slow_lookup() {
    let _s = setup();
    let gt = eventlet::spawn(|| {
        let t = Timeout::new(Duration::from_millis(100));
        let start = Instant::now();
        let err = eventlet::connect(("slow.test", 80)).unwrap_err();
        (err.kind(), t.is_io(&err), start.elapsed())
    });
    let (kind, mine, took) = finish(&gt).unwrap();
    eprintln!("a 500 ms lookup under a 100 ms Timeout returned after {took:?}");
    assert_eq!(kind, io::ErrorKind::TimedOut);
    assert!(mine, "the error must be this Timeout's");
    assert!(
        took >= Duration::from_millis(95) && took < Duration::from_millis(400),
        "cut after {took:?}"
    );
    // Let the abandoned lookup finish before the next test counts lookups.
    std::thread::sleep(Duration::from_millis(500));
}
