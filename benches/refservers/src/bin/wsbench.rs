//! WebSocket echo load client for `benches/ws/run.sh`: C connections (one OS
//! thread each, blocking tungstenite), each sends a small text message and
//! waits for its echo, for D seconds. Prints `messages N seconds S rate R`.
//!
//! `wsbench ws://HOST:PORT/echo [CONNECTIONS=64] [SECONDS=10] [SIZE=32]`

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tungstenite::Message;

fn main() {
    let mut args = std::env::args().skip(1);
    let url = args.next().expect("usage: wsbench URL [CONNS] [SECONDS] [SIZE]");
    let conns: usize = args.next().map_or(64, |s| s.parse().unwrap());
    let secs: u64 = args.next().map_or(10, |s| s.parse().unwrap());
    let size: usize = args.next().map_or(32, |s| s.parse().unwrap());
    let payload = "x".repeat(size);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for _ in 0..conns {
        let (ws, _) = tungstenite::connect(url.as_str()).expect("connect");
        clients.push(ws);
    }
    let start = Instant::now();
    let threads: Vec<_> = clients
        .into_iter()
        .map(|mut ws| {
            let (stop, count, payload) = (stop.clone(), count.clone(), payload.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    ws.send(Message::text(payload.as_str())).expect("send");
                    match ws.read().expect("read") {
                        Message::Text(t) => assert_eq!(t.as_str(), payload),
                        other => panic!("unexpected {other:?}"),
                    }
                    count.fetch_add(1, Ordering::Relaxed);
                }
                let _ = ws.close(None);
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for t in threads {
        let _ = t.join();
    }
    println!("messages {n} seconds {elapsed:.2} rate {:.0}", n as f64 / elapsed);
}
