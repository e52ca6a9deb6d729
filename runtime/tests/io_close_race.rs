//! A green thread that wakes from a socket read and closes the socket at once
//! races with the worker that parked it (may's `subscribe`, possibly still
//! running on another thread). may 0.3.51 read the freed socket there; the
//! patched copy in `vendor/may` does not. This exercises that path (2,000
//! wake-and-close cycles); the window is narrow, so it is a stress run, not a
//! reliable detector: in 20 AddressSanitizer runs against unpatched may it
//! did not hit, while `tests/hardening.rs` under `asan/run.sh` did.

use std::io::{Read, Write};
use std::time::Duration;

#[test]
fn readers_that_close_right_after_waking_never_touch_freed_memory() {
    let listener = eventlet::listen("127.0.0.1:0").unwrap();
    let addr = match listener.local_addr().unwrap() {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("{other}"),
    };
    const N: usize = 2000;
    let server = eventlet::spawn(move || {
        let pool = eventlet::GreenPool::new(64);
        for _ in 0..N {
            let (mut s, _) = listener.accept().unwrap();
            pool.spawn_n(move || {
                let mut b = [0u8; 1];
                // Parks in may's read; the client's byte wakes it on another
                // worker, and the stream is dropped straight away.
                let _ = s.read(&mut b);
                drop(s);
            })
            .unwrap();
        }
        pool.waitall().unwrap();
    });
    let pool = eventlet::GreenPool::new(64);
    for _ in 0..N {
        pool.spawn_n(move || {
            let mut c = eventlet::connect(addr).unwrap();
            eventlet::sleep(Duration::from_micros(50));
            let _ = c.write_all(b"x");
            let mut rest = Vec::new();
            let _ = c.read_to_end(&mut rest); // until the server closes
        })
        .unwrap();
    }
    pool.waitall().unwrap();
    let t = eventlet::Timeout::new(Duration::from_secs(60));
    server.wait_done().unwrap();
    drop(t);
    assert!(server.wait().is_ok());
}
