//! Regression test: may resumes a green thread whose socket read timed out
//! from inside its IO-timer processing; a wake-up it makes there used to wait
//! for the worker's next IO event (60 s here). `net` now nudges may's workers
//! out of `epoll_wait` when it sees such a timeout (without that this test hangs).
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn wake_after_io_timeout_is_prompt() {
    eventlet::configure(eventlet::Config::default().workers(1)).unwrap();
    let l = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    // Keeps a 60 s IO timer pending on the (single) worker.
    let _c1 = std::net::TcpStream::connect(addr.inet().unwrap()).unwrap();
    let (mut s1, _) = l.accept().unwrap();
    eventlet::spawn(move || {
        s1.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let _ = s1.read(&mut [0u8; 1]);
    });
    let _c2 = std::net::TcpStream::connect(addr.inet().unwrap()).unwrap();
    let (mut s2, _) = l.accept().unwrap();
    let ev = Arc::new(eventlet::Event::<()>::new());
    let ev2 = ev.clone();
    // The waiter is a green thread (a coroutine Park), like GreenPool::waitall in Server::run.
    let waiter = eventlet::spawn(move || {
        let t = Instant::now();
        ev2.wait().unwrap();
        t.elapsed()
    });
    eventlet::spawn(move || {
        s2.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let r = s2.read(&mut [0u8; 1]); // times out after 200 ms
        assert!(r.is_err());
        ev.send(()).unwrap(); // runs inside may's IO-timeout handler
    });
    let waited = waiter.join().unwrap();
    assert!(waited < Duration::from_secs(5), "woken after {waited:?}");
}
