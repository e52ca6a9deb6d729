//! Soak test: run the WSGI server in this process and drive it with plain
//! `std::net::TcpStream` clients on several OS threads, mixing keep-alive
//! connections, one request per connection, pipelined batches and chunked
//! uploads. Every response is checked (status and body), the process RSS is
//! sampled every second, and the run fails (exit status 1) on any error, on
//! RSS growth after warm-up, or on descriptors left open.
//!
//! ```text
//! cargo run --release --example soak -- --requests 1000000
//! ```
//!
//! Options: `--requests N` (default 1,000,000), `--threads T` client threads
//! (default 4), `--head-timeout S` (default 5) and `--socket-timeout S`
//! (default 10) for the server, `--max-growth-mib M` allowed RSS growth from
//! the end of the warm-up to the end of the run (default 8).
//!
//! Warm-up: the first 10% of the requests, and at least the longest server
//! timeout plus 5 s. A socket read or write with a timeout can leave its entry
//! in `may`'s timer list until that timeout's deadline, long after the
//! operation ended, so memory climbs for one timeout's length (in proportion
//! to rate × timeout) before it levels off; that plateau is what is compared.
//! With the server's default timeouts (30 s head, 60 s socket) the climb lasts
//! a minute, longer than a million requests take.

use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::fmt::Write as _;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Command-line settings.
struct Settings {
    requests: u64,
    threads: usize,
    head_timeout: u64,
    socket_timeout: u64,
    max_growth_mib: u64,
}

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        requests: 1_000_000,
        threads: 4,
        head_timeout: 5,
        socket_timeout: 10,
        max_growth_mib: 8,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |_| format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--requests" => s.requests = value.parse().map_err(bad)?,
            "--threads" => s.threads = value.parse::<usize>().map_err(bad)?.max(1),
            "--head-timeout" => s.head_timeout = value.parse().map_err(bad)?,
            "--socket-timeout" => s.socket_timeout = value.parse().map_err(bad)?,
            "--max-growth-mib" => s.max_growth_mib = value.parse().map_err(bad)?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(s)
}

// ===== the server side =====

/// `/hello?n` → `hello n`; `/chunks?n` → a lazy (chunked) body of n lines;
/// `POST /echo` → the request body.
fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let query = env.get("QUERY_STRING").unwrap_or("").to_string();
    let text = [("Content-Type", "text/plain")];
    match env.get("PATH_INFO").unwrap_or("") {
        "/hello" => {
            sr.start("200 OK", text);
            Body::from(format!("hello {query}"))
        }
        "/chunks" => {
            let n: usize = query.parse().unwrap_or(0);
            sr.start("200 OK", text);
            Body::from_iter((0..n).map(|i| format!("piece {i}\n")))
        }
        "/echo" => match env.input().read_all() {
            Ok(data) => {
                sr.start("200 OK", text);
                Body::from(data)
            }
            Err(e) => {
                sr.start("400 Bad Request", text);
                Body::from(format!("upload failed: {e}"))
            }
        },
        _ => {
            sr.start("404 Not Found", text);
            Body::from("not found")
        }
    }
}

// ===== the client side =====

/// xorshift64*: a tiny deterministic generator, one per client thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| b'a' + (self.next() % 26) as u8).collect()
    }
}

/// One request and the body its response must carry.
enum Req {
    Hello(u64),
    Chunks(usize),
    Echo { data: Vec<u8>, chunked: bool },
}

impl Req {
    fn random(rng: &mut Rng) -> Req {
        match rng.below(100) {
            0..=59 => Req::Hello(rng.next() % 1_000_000),
            60..=74 => Req::Chunks(1 + rng.below(20) as usize),
            75..=89 => Req::Echo {
                data: random_upload(rng),
                chunked: false,
            },
            _ => Req::Echo {
                data: random_upload(rng),
                chunked: true,
            },
        }
    }

    fn write(&self, out: &mut Vec<u8>, close: bool, rng: &mut Rng) {
        let conn = if close { "Connection: close\r\n" } else { "" };
        match self {
            Req::Hello(n) => {
                let _ = write!(out, "GET /hello?{n} HTTP/1.1\r\nHost: soak\r\n{conn}\r\n");
            }
            Req::Chunks(n) => {
                let _ = write!(out, "GET /chunks?{n} HTTP/1.1\r\nHost: soak\r\n{conn}\r\n");
            }
            Req::Echo {
                data,
                chunked: false,
            } => {
                let _ = write!(
                    out,
                    "POST /echo HTTP/1.1\r\nHost: soak\r\n{conn}Content-Length: {}\r\n\r\n",
                    data.len()
                );
                out.extend_from_slice(data);
            }
            Req::Echo {
                data,
                chunked: true,
            } => {
                let _ = write!(
                    out,
                    "POST /echo HTTP/1.1\r\nHost: soak\r\n{conn}Transfer-Encoding: chunked\r\n\r\n"
                );
                let mut rest = &data[..];
                while !rest.is_empty() {
                    let n = (1 + rng.below(4096) as usize).min(rest.len());
                    let _ = write!(out, "{n:x}\r\n");
                    out.extend_from_slice(&rest[..n]);
                    out.extend_from_slice(b"\r\n");
                    rest = &rest[n..];
                }
                out.extend_from_slice(b"0\r\n\r\n");
            }
        }
    }

    fn expected(&self) -> Vec<u8> {
        match self {
            Req::Hello(n) => format!("hello {n}").into_bytes(),
            Req::Chunks(n) => (0..*n)
                .fold(String::new(), |mut s, i| {
                    let _ = writeln!(s, "piece {i}");
                    s
                })
                .into_bytes(),
            Req::Echo { data, .. } => data.clone(),
        }
    }
}

/// Mostly small uploads, sometimes up to 64 KiB.
fn random_upload(rng: &mut Rng) -> Vec<u8> {
    let n = if rng.below(10) == 0 {
        rng.below(65536)
    } else {
        rng.below(2048)
    };
    rng.bytes(n as usize)
}

/// A parsed response.
struct Resp {
    status: u16,
    body: Vec<u8>,
    close: bool,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn read_line(r: &mut impl BufRead, line: &mut String) -> io::Result<()> {
    line.clear();
    if r.read_line(line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    Ok(())
}

/// Read one response (Content-Length or chunked body).
fn read_response(r: &mut impl BufRead) -> io::Result<Resp> {
    let mut line = String::new();
    read_line(r, &mut line)?;
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(format!("bad status line {line:?}")))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    loop {
        read_line(r, &mut line)?;
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| bad(format!("bad header {l:?}")))?;
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            length = Some(v.parse::<usize>().map_err(|_| bad("bad Content-Length"))?);
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            read_line(r, &mut line)?;
            let size = usize::from_str_radix(line.trim_end(), 16)
                .map_err(|_| bad(format!("bad chunk size {line:?}")))?;
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..])?;
            read_line(r, &mut line)?;
            if line != "\r\n" {
                return Err(bad("chunk not followed by CRLF"));
            }
            if size == 0 {
                break;
            }
        }
    } else {
        let n = length.ok_or_else(|| bad("no body length"))?;
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    }
    Ok(Resp {
        status,
        body,
        close,
    })
}

fn check(req: &Req, resp: io::Result<Resp>, close: bool) -> Result<(), String> {
    let resp = resp.map_err(|e| format!("reading the response: {e}"))?;
    if resp.status != 200 {
        return Err(format!(
            "status {} ({:?})",
            resp.status,
            String::from_utf8_lossy(&resp.body)
        ));
    }
    if resp.body != req.expected() {
        return Err(format!("wrong body ({} bytes)", resp.body.len()));
    }
    if resp.close != close {
        return Err(format!("Connection: close is {}, want {close}", resp.close));
    }
    Ok(())
}

fn connect(addr: SocketAddr) -> io::Result<BufReader<TcpStream>> {
    let s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    s.set_nodelay(true)?;
    Ok(BufReader::with_capacity(64 * 1024, s))
}

/// The ways a client talks to the server.
#[derive(Clone, Copy, Debug)]
enum Scenario {
    /// Sequential requests on one connection.
    KeepAlive,
    /// One request, `Connection: close`, then the server's EOF.
    NewConnection,
    /// A batch written at once, then every response in order.
    Pipelined,
    /// Sequential chunked uploads on one connection.
    ChunkedUploads,
}

impl Scenario {
    fn pick(rng: &mut Rng) -> (Scenario, u64) {
        match rng.below(100) {
            0..=34 => (Scenario::KeepAlive, 50),
            35..=49 => (Scenario::NewConnection, 1),
            50..=84 => (Scenario::Pipelined, 16),
            _ => (Scenario::ChunkedUploads, 8),
        }
    }

    /// Run `n` requests; the count answered correctly, and the first error.
    fn run(self, addr: SocketAddr, n: u64, rng: &mut Rng) -> (u64, Option<String>) {
        let mut ok = 0;
        let r = self.requests(addr, n, rng, &mut ok);
        (ok, r.err().map(|e| format!("{self:?}: {e}")))
    }

    fn requests(self, addr: SocketAddr, n: u64, rng: &mut Rng, ok: &mut u64) -> Result<(), String> {
        let mut conn = connect(addr).map_err(|e| format!("connect: {e}"))?;
        let mut out = Vec::new();
        match self {
            Scenario::KeepAlive | Scenario::ChunkedUploads => {
                for _ in 0..n {
                    let req = match self {
                        Scenario::ChunkedUploads => Req::Echo {
                            data: random_upload(rng),
                            chunked: true,
                        },
                        _ => Req::random(rng),
                    };
                    out.clear();
                    req.write(&mut out, false, rng);
                    conn.get_mut()
                        .write_all(&out)
                        .map_err(|e| format!("send: {e}"))?;
                    check(&req, read_response(&mut conn), false)?;
                    *ok += 1;
                }
            }
            Scenario::NewConnection => {
                let req = Req::random(rng);
                req.write(&mut out, true, rng);
                conn.get_mut()
                    .write_all(&out)
                    .map_err(|e| format!("send: {e}"))?;
                check(&req, read_response(&mut conn), true)?;
                let mut rest = Vec::new();
                match conn.read_to_end(&mut rest) {
                    Ok(0) => *ok += 1,
                    Ok(k) => return Err(format!("{k} bytes after a closing response")),
                    Err(e) => return Err(format!("waiting for the server's close: {e}")),
                }
            }
            Scenario::Pipelined => {
                let reqs: Vec<Req> = (0..n).map(|_| Req::random(rng)).collect();
                for req in &reqs {
                    req.write(&mut out, false, rng);
                }
                conn.get_mut()
                    .write_all(&out)
                    .map_err(|e| format!("send: {e}"))?;
                for req in &reqs {
                    check(req, read_response(&mut conn), false)?;
                    *ok += 1;
                }
            }
        }
        Ok(())
    }
}

/// Totals shared by the client threads.
#[derive(Default)]
struct Totals {
    claimed: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
}

fn client(addr: SocketAddr, seed: u64, target: u64, totals: &Totals) {
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    loop {
        let (scenario, want) = Scenario::pick(&mut rng);
        let start = totals.claimed.fetch_add(want, Ordering::AcqRel);
        if start >= target {
            return;
        }
        let n = want.min(target - start);
        let (ok, err) = scenario.run(addr, n, &mut rng);
        totals.ok.fetch_add(ok, Ordering::AcqRel);
        if let Some(e) = err {
            totals.errors.fetch_add(n - ok, Ordering::AcqRel);
            let mut first = totals
                .first_errors
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            if first.len() < 20 {
                first.push(e);
            }
        }
    }
}

// ===== measurements =====

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// One RSS sample: seconds since the start, requests done, RSS in KiB.
#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    done: u64,
    rss_kib: u64,
}

/// Sample RSS once a second until `stop`; print progress every 5 s.
fn sampler(totals: Arc<Totals>, stop: Arc<AtomicBool>, started: Instant) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !stop.load(Ordering::Acquire) {
        thread::sleep(Duration::from_secs(1));
        let s = Sample {
            secs: started.elapsed().as_secs_f64(),
            done: totals.ok.load(Ordering::Acquire) + totals.errors.load(Ordering::Acquire),
            rss_kib: rss_kib(),
        };
        if samples.len() % 5 == 4 {
            println!(
                "  {:6.1} s  {:>9} requests  {:>7.0} req/s  RSS {} KiB",
                s.secs,
                s.done,
                s.done as f64 / s.secs,
                s.rss_kib
            );
        }
        samples.push(s);
    }
    samples
}

fn main() -> ExitCode {
    let settings = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "soak: {e}\nusage: soak [--requests N] [--threads T] [--head-timeout S] \
                 [--socket-timeout S] [--max-growth-mib M]"
            );
            return ExitCode::from(2);
        }
    };
    match soak(&settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("SOAK FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// What a run measured.
struct Run {
    ok: u64,
    errors: u64,
    first_errors: Vec<String>,
    elapsed: Duration,
    samples: Vec<Sample>,
    end_rss: u64,
    fds_before: usize,
    fds_after: usize,
}

fn soak(settings: &Settings) -> Result<(), String> {
    let listener = eventlet::ListenOptions::new()
        .backlog(1024)
        .listen("127.0.0.1:0")
        .map_err(|e| format!("listen: {e}"))?;
    let addr = listener
        .local_addr()
        .ok()
        .and_then(|a| a.inet())
        .ok_or("no inet address")?;
    let opts = ServerOptions::new()
        .log_output(false)
        .handle_signals(false)
        .head_timeout(Duration::from_secs(settings.head_timeout))
        .socket_timeout(Some(Duration::from_secs(settings.socket_timeout)));
    let server = Server::new(listener, app, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    println!(
        "soak: {} requests, {} client threads, server on {addr}",
        settings.requests, settings.threads
    );
    let run = drive(addr, settings)?;
    handle.stop();
    running
        .join()
        .map_err(|e| format!("server thread: {e}"))?
        .map_err(|e| format!("server: {e}"))?;
    report(settings, &run)
}

/// Run the clients to the end, sampling RSS; then wait (at most 10 s) for
/// the server to close its side of every connection.
fn drive(addr: SocketAddr, settings: &Settings) -> Result<Run, String> {
    let fds_before = fd_count();
    let totals = Arc::new(Totals::default());
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let sampling = {
        let (t, s) = (totals.clone(), stop.clone());
        thread::spawn(move || sampler(t, s, started))
    };
    let clients: Vec<_> = (0..settings.threads)
        .map(|i| {
            let t = totals.clone();
            let target = settings.requests;
            thread::spawn(move || client(addr, i as u64 + 1, target, &t))
        })
        .collect();
    for c in clients {
        c.join().map_err(|_| "a client thread panicked")?;
    }
    let elapsed = started.elapsed();
    let end_rss = rss_kib();
    stop.store(true, Ordering::Release);
    let samples = sampling.join().map_err(|_| "the sampler panicked")?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while fd_count() > fds_before && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
    }
    let first_errors = std::mem::take(
        &mut *totals
            .first_errors
            .lock()
            .unwrap_or_else(|p| p.into_inner()),
    );
    Ok(Run {
        ok: totals.ok.load(Ordering::Acquire),
        errors: totals.errors.load(Ordering::Acquire),
        first_errors,
        elapsed,
        samples,
        end_rss,
        fds_before,
        fds_after: fd_count(),
    })
}

/// Print the numbers; `Err` names the first check that failed.
fn report(settings: &Settings, run: &Run) -> Result<(), String> {
    let total = run.ok + run.errors;
    let warm_secs = settings.head_timeout.max(settings.socket_timeout) as f64 + 5.0;
    let warm = run
        .samples
        .iter()
        .find(|s| s.done >= settings.requests / 10 && s.secs >= warm_secs)
        .copied();
    let peak = run
        .samples
        .iter()
        .filter(|s| warm.is_some_and(|w| s.secs >= w.secs))
        .map(|s| s.rss_kib)
        .fold(run.end_rss, u64::max);
    println!("requests:     {total}");
    println!("errors:       {}", run.errors);
    println!("elapsed:      {:.1} s", run.elapsed.as_secs_f64());
    println!(
        "rate:         {:.0} req/s",
        total as f64 / run.elapsed.as_secs_f64()
    );
    match warm {
        Some(w) => println!(
            "RSS:          {} KiB after warm-up ({} requests, {:.0} s), {} KiB at the end, \
             {peak} KiB peak after warm-up; allowed growth {} MiB",
            w.rss_kib, w.done, w.secs, run.end_rss, settings.max_growth_mib
        ),
        None => println!(
            "RSS:          {} KiB at the end (the run ended within the {warm_secs} s warm-up)",
            run.end_rss
        ),
    }
    println!(
        "descriptors:  {} before, {} after",
        run.fds_before, run.fds_after
    );
    for e in &run.first_errors {
        println!("  error: {e}");
    }
    if run.errors > 0 || run.ok != settings.requests {
        return Err(format!(
            "{} errors, {} of {} requests answered correctly",
            run.errors, run.ok, settings.requests
        ));
    }
    let w = warm.ok_or("the run was too short to measure RSS after the warm-up")?;
    let grown_kib = run.end_rss.saturating_sub(w.rss_kib);
    if grown_kib > settings.max_growth_mib * 1024 {
        return Err(format!("RSS grew by {grown_kib} KiB after warm-up"));
    }
    if run.fds_after > run.fds_before {
        return Err(format!(
            "{} descriptors left open",
            run.fds_after - run.fds_before
        ));
    }
    println!("soak passed");
    Ok(())
}
