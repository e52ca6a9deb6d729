//! The per-request cost of the statistics counters, for callgrind: a server
//! (one worker thread) and a blocking client in one process send `N`
//! keep-alive requests, with the counters on or off. Compare the two runs'
//! instruction counts; the client's part is identical.
//!
//! ```text
//! cargo build --profile quick --example stats_cost
//! valgrind --tool=callgrind target/quick/examples/stats_cost 20000 on
//! valgrind --tool=callgrind target/quick/examples/stats_cost 20000 off
//! ```

use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};

fn hello(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from("Hello, World!\r\n")
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let on = args.next().as_deref() != Some("off");
    eventlet::configure(eventlet::Config::default().workers(1)).expect("configure first");
    let listener = eventlet::listen("127.0.0.1:0")?;
    let addr = listener.local_addr()?.inet().expect("TCP");
    let opts = ServerOptions::new()
        .log_output(false)
        .handle_signals(false)
        .collect_stats(on);
    let server = Server::new(listener, hello, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    let client = std::thread::spawn(move || -> std::io::Result<()> {
        let s = std::net::TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let mut w = s.try_clone()?;
        let mut r = BufReader::new(s);
        let mut line = String::new();
        let mut body = [0u8; 15];
        for _ in 0..n {
            w.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
            loop {
                line.clear();
                r.read_line(&mut line)?;
                if line == "\r\n" {
                    break;
                }
            }
            r.read_exact(&mut body)?;
        }
        Ok(())
    });
    client.join().expect("client")?;
    if let Some(stats) = handle.stats() {
        eprintln!("requests counted: {}", stats.snapshot().requests_total());
    }
    handle.stop();
    running.join().expect("server")
}
