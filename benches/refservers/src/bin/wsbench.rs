//! WebSocket echo load client for `benches/ws/run.sh` and `benches/ws/instr.sh`.
//!
//! ```text
//! wsbench ws://HOST:PORT/PATH [--conns 64] [--size 32] [--batch 1]
//!         [--secs 10 [--warmup 1] [--pid SERVER_PID]] | [--messages N]
//! ```
//!
//! Opens CONNS WebSockets (TCP_NODELAY), then each connection runs
//! request/response in batches: it sends BATCH text messages of SIZE bytes
//! in one write, then waits for their BATCH echoes before sending the next
//! batch, so at most BATCH messages per connection are in flight (BATCH = 1,
//! the default: plain request/response, one message per connection in
//! flight, CONNS in all). Every message is different (connection number
//! and sequence number, padded with `x`) and every echo is compared with what
//! was sent: a wrong, missing or mistyped echo is an error (exit status 1).
//! All connections run on one thread (a tokio `current_thread` runtime), so
//! the counters are exact.
//!
//! - `--secs S`: run for WARMUP + S seconds; only the last S count. With
//!   `--pid`, the server's CPU time (utime + stime from `/proc/PID/stat`) is
//!   read at the start and at the end of the counted window. Prints
//!   `messages N seconds S rate R` and, with `--pid`,
//!   `server_cpu_s C cpu_us_per_message U`.
//! - `--messages N`: each connection sends exactly N / CONNS messages (N
//!   must be a multiple of CONNS × BATCH); for instruction counts. Prints
//!   `messages N seconds S rate R`.
//!
//! After the counted messages every connection is closed with a close
//! handshake (close frame, the server's close frame, EOF).

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};
use tokio_tungstenite::WebSocketStream;

type Ws = WebSocketStream<TcpStream>;

struct Args {
    url: String,
    conns: usize,
    size: usize,
    batch: usize,
    secs: f64,
    warmup: f64,
    messages: Option<u64>,
    pid: Option<u32>,
}

fn usage() -> ! {
    eprintln!(
        "usage: wsbench ws://HOST:PORT/PATH [--conns 64] [--size 32] [--batch 1] \
         [--secs 10 [--warmup 1] [--pid PID]] | [--messages N]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        url: String::new(),
        conns: 64,
        size: 32,
        batch: 1,
        secs: 10.0,
        warmup: 1.0,
        messages: None,
        pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        match arg.as_str() {
            "--conns" => a.conns = val().parse().unwrap_or_else(|_| usage()),
            "--size" => a.size = val().parse().unwrap_or_else(|_| usage()),
            "--batch" => a.batch = val().parse().unwrap_or_else(|_| usage()),
            "--secs" => a.secs = val().parse().unwrap_or_else(|_| usage()),
            "--warmup" => a.warmup = val().parse().unwrap_or_else(|_| usage()),
            "--messages" => a.messages = Some(val().parse().unwrap_or_else(|_| usage())),
            "--pid" => a.pid = Some(val().parse().unwrap_or_else(|_| usage())),
            s if s.starts_with("ws://") && a.url.is_empty() => a.url = s.to_string(),
            _ => usage(),
        }
    }
    if a.url.is_empty() || a.conns == 0 || a.batch == 0 || a.size < 20 {
        eprintln!("wsbench: a ws:// URL, --conns and --batch >= 1 and --size >= 20 are needed");
        usage();
    }
    if let Some(n) = a.messages {
        if n == 0 || n % (a.conns * a.batch) as u64 != 0 {
            eprintln!("wsbench: --messages must be a positive multiple of --conns × --batch");
            usage();
        }
    }
    a
}

/// Server CPU time (user + system) in seconds, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .unwrap_or_else(|e| fail(format!("cannot read /proc/{pid}/stat: {e}")));
    // Fields after the command name (which may hold spaces) start at ") ".
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the file: 11 and 12 here.
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // In clock ticks of USER_HZ, which Linux fixes at 100 for user space
    // (`getconf CLK_TCK`) whatever the kernel's own HZ.
    ticks / 100.0
}

fn fail(msg: String) -> ! {
    eprintln!("wsbench: {msg}");
    std::process::exit(1)
}

async fn connect(url: &str) -> Ws {
    let hostport = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .unwrap_or_default();
    let tcp = TcpStream::connect(hostport)
        .await
        .unwrap_or_else(|e| fail(format!("connect {hostport}: {e}")));
    tcp.set_nodelay(true).expect("TCP_NODELAY");
    // A 4 KiB read buffer: tungstenite's default 128 KiB is zero-filled
    // before every read, which made this client cost more per message than
    // the servers it measures (a batch of 16 echoes is ~550 bytes).
    let config = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, Some(config))
        .await
        .unwrap_or_else(|e| fail(format!("handshake: {e}")));
    ws
}

/// Append `n` in decimal, zero-padded to `width` digits (`{n:0width$}`).
fn push_padded(s: &mut Vec<u8>, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] += (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let len = (digits.len() - i).max(width);
    s.extend_from_slice(&digits[digits.len() - len..]);
}

/// The `seq`-th message of connection `conn`: `{conn:05}:{seq:012}:`
/// padded with `x` to exactly `size` bytes, unique. Built by hand: with
/// `format!` and a `push` per byte it cost this client more instructions
/// per message than the servers it measures spend.
fn payload(conn: usize, seq: u64, size: usize) -> Utf8Bytes {
    let mut s = Vec::with_capacity(size.max(20));
    push_padded(&mut s, conn as u64, 5);
    s.push(b':');
    push_padded(&mut s, seq, 12);
    s.push(b':');
    if s.len() < size {
        s.resize(size, b'x');
    }
    Utf8Bytes::try_from(Bytes::from(s)).expect("ASCII")
}

/// Batches of request/response until `limit` messages or `stop`; every
/// echo checked, in order.
async fn run_conn(
    mut ws: Ws,
    conn: usize,
    a: Arc<Args>,
    limit: Option<u64>,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Ws {
    let mut seq = 0u64;
    let mut sent = Vec::with_capacity(a.batch);
    while limit.map_or(!stop.load(Ordering::Relaxed), |l| seq < l) {
        for _ in 0..a.batch {
            let p = payload(conn, seq, a.size);
            seq += 1;
            // `feed` queues the frame; one `flush` writes the batch. (The
            // clone shares the bytes.)
            if let Err(e) = ws.feed(Message::Text(p.clone())).await {
                fail(format!("connection {conn}: send: {e}"));
            }
            sent.push(p);
        }
        if let Err(e) = ws.flush().await {
            fail(format!("connection {conn}: send: {e}"));
        }
        for p in sent.drain(..) {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t == p => {}
                other => fail(format!(
                    "connection {conn}: expected the echo of {p:?}, got {other:?}"
                )),
            }
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
    ws
}

async fn close(mut ws: Ws) {
    let _ = ws.close(None).await;
    // Read until the server's close frame and EOF.
    while let Some(Ok(_)) = ws.next().await {}
}

fn main() {
    let a = Arc::new(parse_args());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let mut socks = Vec::with_capacity(a.conns);
        for _ in 0..a.conns {
            socks.push(connect(&a.url).await);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        let limit = a.messages.map(|n| n / a.conns as u64);
        let a2 = a.clone();
        let begin = Instant::now();
        let tasks: Vec<_> = socks
            .into_iter()
            .enumerate()
            .map(|(i, ws)| {
                tokio::spawn(run_conn(
                    ws,
                    i,
                    a2.clone(),
                    limit,
                    stop.clone(),
                    count.clone(),
                ))
            })
            .collect();
        // One thread runs every task: while this task runs, no message is
        // being counted, so the snapshots below are exact.
        let (n0, t0, c0) = if limit.is_none() {
            tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
            let snap = (
                count.load(Ordering::Relaxed),
                Instant::now(),
                a.pid.map(cpu_seconds),
            );
            tokio::time::sleep(Duration::from_secs_f64(a.secs)).await;
            stop.store(true, Ordering::Relaxed);
            snap
        } else {
            (0, begin, None)
        };
        let mut socks = Vec::with_capacity(tasks.len());
        for t in tasks {
            socks.push(t.await.expect("connection task"));
        }
        let (n1, t1, c1) = (
            count.load(Ordering::Relaxed),
            Instant::now(),
            a.pid.map(cpu_seconds),
        );
        let n = n1 - n0;
        let secs = (t1 - t0).as_secs_f64();
        let mut line = format!("messages {n} seconds {secs:.2} rate {:.0}", n as f64 / secs);
        if let (Some(c0), Some(c1)) = (c0, c1) {
            line += &format!(
                " server_cpu_s {:.2} cpu_us_per_message {:.3}",
                c1 - c0,
                (c1 - c0) * 1e6 / n as f64
            );
        }
        println!("{line}");
        if let Some(want) = a.messages {
            assert_eq!(n, want, "message count");
        }
        for ws in socks {
            close(ws).await;
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn payload_is_the_formatted_one() {
        for (conn, seq, size) in [
            (0, 0, 32),
            (7, 123, 20),
            (63, 999_999_999_999, 40),
            (123_456, 1 << 50, 20),
        ] {
            let mut want = format!("{conn:05}:{seq:012}:");
            while want.len() < size {
                want.push('x');
            }
            assert_eq!(super::payload(conn, seq, size).as_str(), want);
        }
    }
}
