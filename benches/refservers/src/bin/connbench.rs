//! Connection-per-request load: THREADS blocking client threads loop
//! connect → GET → read the response by Content-Length → close, for SECONDS.
//!
//! `connbench ADDR THREADS SECONDS [PATH] [rst|close]`
//!
//! `rst` (the default) closes with `SO_LINGER 0`, so the client sends a RST and
//! keeps no TIME_WAIT socket: on loopback a normal client-side close caps every
//! server at about 14k conn/s (28k ephemeral ports / 2 × TIME_WAIT), which
//! measures the client, not the server (perf_anchors.md, observation 3).
//! `close` is the normal close, for comparison.
//!
//! Prints one line: `requests=N errors=E non2xx=M seconds=S rps=R p50_ms=A p99_ms=B`.

use refservers::{exchange, get_request, quantile};
use socket2::SockRef;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

struct Args {
    addr: SocketAddr,
    threads: usize,
    seconds: f64,
    path: String,
    rst: bool,
}

fn parse_args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 3 {
        return Err("usage: connbench ADDR THREADS SECONDS [PATH] [rst|close]".into());
    }
    let rst = match a.get(4).map(String::as_str) {
        None | Some("rst") => true,
        Some("close") => false,
        Some(m) => return Err(format!("unknown close mode {m}")),
    };
    Ok(Args {
        addr: a[0].parse().map_err(|e| format!("{}: {e}", a[0]))?,
        threads: a[1].parse().map_err(|e| format!("{}: {e}", a[1]))?,
        seconds: a[2].parse().map_err(|e| format!("{}: {e}", a[2]))?,
        path: a.get(3).cloned().unwrap_or_else(|| "/".into()),
        rst,
    })
}

#[derive(Default)]
struct Tally {
    /// Latency of each successful request, connect to last byte, in µs.
    latencies_us: Vec<u32>,
    errors: u64,
    non2xx: u64,
}

fn one_request(args: &Args, request: &[u8], buf: &mut Vec<u8>) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(args.addr)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let status = exchange(&mut stream, request, buf)?;
    if args.rst {
        SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
    }
    Ok(status)
}

fn client(args: &Args, deadline: Instant) -> Tally {
    let request = get_request(&args.path);
    let mut buf = Vec::with_capacity(4096);
    let mut tally = Tally::default();
    while Instant::now() < deadline {
        let start = Instant::now();
        match one_request(args, &request, &mut buf) {
            Ok(status) => {
                let us = start.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                tally.latencies_us.push(us);
                if !(200..300).contains(&status) {
                    tally.non2xx += 1;
                }
            }
            Err(_) => {
                tally.errors += 1;
                // A refused or reset connect must not turn into a busy loop.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    tally
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(args.seconds);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..args.threads)
            .map(|_| s.spawn(|| client(&args, deadline)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread panicked"))
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut all: Vec<u32> = tallies
        .iter()
        .flat_map(|t| t.latencies_us.iter().copied())
        .collect();
    all.sort_unstable();
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    let non2xx: u64 = tallies.iter().map(|t| t.non2xx).sum();
    println!(
        "requests={} errors={errors} non2xx={non2xx} seconds={secs:.3} rps={:.0} p50_ms={:.3} p99_ms={:.3}",
        all.len(),
        all.len() as f64 / secs,
        f64::from(quantile(&all, 0.50)) / 1000.0,
        f64::from(quantile(&all, 0.99)) / 1000.0,
    );
}
