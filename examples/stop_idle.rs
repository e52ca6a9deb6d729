//! How long stopping a server with many idle keep-alive connections takes.
//!
//! The server runs in a child process (this program again), the clients here:
//! N connections each make one GET and then stay open, idle. Then the server
//! is stopped — `ServerHandle::stop()` from a plain thread (`--mode stop`) or
//! SIGTERM to a server run as `wsgi::server_with` runs it, on the main thread
//! with the signal watcher on (`--mode signal`) — and three figures come out:
//!
//! - **closed**: from the stop (the `stop()` call, or the `kill(2)`) until the
//!   last client saw its connection end (EOF or reset; every client socket
//!   sits in one epoll set watched by a thread of its own);
//! - **returned**: from the stop until `Server::run` returned;
//! - **cpu**: the server process's CPU time (user + system) from the stop
//!   until `run` returned, and (**cpu+1s**) until one second later, which
//!   adds what background threads did after (freeing green threads' stacks);
//! - **KiB/conn**: the server's `VmRSS` growth from start until the idle
//!   connections were open, per connection.
//!
//! Times come from `CLOCK_MONOTONIC`, which both processes share.
//!
//! ```text
//! cargo run --release --example stop_idle -- --conns 10000 --runs 5
//! ```
//!
//! Options: `--conns N` (default 10,000), `--runs R` (default 5; the median of
//! each figure is printed last), `--mode stop|signal` (default `stop`),
//! `--threads T` client threads opening connections (default 8),
//! `--wrap CMD`: run `sh -c CMD` with `{pid}` replaced by the server's pid
//! from 0.5 s before the stop until the server exits, then SIGINT it (for
//! `perf record -p {pid}` or `strace -c -f -p {pid}`).
//! `EVENTLET_BENCH_WORKERS=N` sets the server's worker threads.
//!
//! Each process holds N descriptors: `ulimit -n` must allow N + 100.

use eventlet_wsgi::{Body, Environ, Server, ServerOptions, StartResponse};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::time::Duration;

const CHILD_ENV: &str = "EVENTLET_STOP_IDLE_CHILD";

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Stop,
    Signal,
}

struct Settings {
    conns: usize,
    runs: usize,
    mode: Mode,
    threads: usize,
    wrap: Option<String>,
}

fn parse_args() -> Result<Settings, String> {
    let mut s = Settings {
        conns: 10_000,
        runs: 5,
        mode: Mode::Stop,
        threads: 8,
        wrap: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|_| format!("{flag}: {v}"));
        match flag.as_str() {
            "--conns" => s.conns = num(&value)?.max(1),
            "--runs" => s.runs = num(&value)?.max(1),
            "--threads" => s.threads = num(&value)?.max(1),
            "--mode" => {
                s.mode = match value.as_str() {
                    "stop" => Mode::Stop,
                    "signal" => Mode::Signal,
                    _ => return Err(format!("--mode: stop or signal, not {value}")),
                }
            }
            "--wrap" => s.wrap = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(s)
}

/// `CLOCK_MONOTONIC` in ns: comparable between the two processes.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime fills the struct it is given.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// This process's CPU time (user + system) in µs.
fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(ru.ru_utime) + us(ru.ru_stime)
}

/// Raise the soft descriptor limit to the hard one; the new soft limit.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid, correctly typed struct.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    lim.rlim_cur
}

// ===== the server process =====

fn hello(_env: &mut Environ, sr: &mut StartResponse) -> Body {
    sr.start("200 OK", [("Content-Type", "text/plain")]);
    Body::from("hi")
}

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn child(mode: Mode) -> std::io::Result<()> {
    raise_nofile();
    let mut cfg = eventlet::Config::default();
    if let Some(n) = std::env::var("EVENTLET_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        cfg = cfg.workers(n);
    }
    eventlet::configure(cfg).map_err(std::io::Error::other)?;
    let listener = eventlet::ListenOptions::new()
        .backlog(1024)
        .listen("127.0.0.1:0")?;
    let port = listener.local_addr()?.inet().map_or(0, |a| a.port());
    let opts = ServerOptions::new()
        .handle_signals(mode == Mode::Signal)
        .log_output(false)
        .max_size(1_000_000);
    let server = Server::new(listener, hello, opts);
    let handle = server.handle();
    say(format!("port {port}"));
    // Commands from the parent: `mark` (report the CPU used so far), `stop`.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line.as_deref().unwrap_or("").trim() {
                "mark" => say(format!("cpu_us {}", cpu_us())),
                "stop" => {
                    say(format!("stop_ns {}", mono_ns()));
                    handle.stop();
                }
                _ => return,
            }
        }
    });
    let r = match mode {
        // As `eventlet_wsgi::server_with` runs it: on the main thread.
        Mode::Signal => server.run(),
        Mode::Stop => eventlet::spawn(move || server.run())
            .join()
            .map_err(|e| std::io::Error::other(format!("{e:?}")))?,
    };
    say(format!("returned_ns {}", mono_ns()));
    say(format!("cpu_us {}", cpu_us()));
    // Work left to background threads (freeing green threads' stacks).
    std::thread::sleep(std::time::Duration::from_secs(1));
    say(format!("cpu_later_us {}", cpu_us()));
    r
}

// ===== the client side =====

/// `n` keep-alive connections, each having had one response.
fn open(addr: SocketAddr, n: usize) -> std::io::Result<Vec<TcpStream>> {
    let mut held = Vec::with_capacity(n);
    let mut buf = [0u8; 512];
    for _ in 0..n {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n\r\nhi") {
            let k = s.read(&mut buf)?;
            if k == 0 {
                return Err(std::io::Error::other("closed before the response"));
            }
            got.extend_from_slice(&buf[..k]);
        }
        held.push(s);
    }
    Ok(held)
}

/// When each connection ended, from an epoll set over all of them.
struct Watch {
    epfd: i32,
}

impl Watch {
    fn new(conns: &[TcpStream]) -> std::io::Result<Watch> {
        // SAFETY: epoll_create1 takes no pointers.
        let epfd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if epfd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        for (i, c) in conns.iter().enumerate() {
            let mut ev = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLONESHOT) as u32,
                u64: i as u64,
            };
            // SAFETY: both descriptors are open; `ev` is a valid event.
            if unsafe { libc::epoll_ctl(epfd, libc::EPOLL_CTL_ADD, c.as_raw_fd(), &mut ev) } < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(Watch { epfd })
    }

    /// Wait until every connection ended (or `limit` passed): the time the
    /// 50th percentile, the 99th and the last one ended, and how many did.
    fn run(&self, conns: &[TcpStream], limit: Duration) -> (Vec<u64>, usize) {
        let mut ended_at = Vec::with_capacity(conns.len());
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let give_up = mono_ns() + limit.as_nanos() as u64;
        let mut buf = [0u8; 64];
        while ended_at.len() < conns.len() && mono_ns() < give_up {
            // SAFETY: `events` has room for `len` entries.
            let n = unsafe {
                libc::epoll_wait(self.epfd, events.as_mut_ptr(), events.len() as i32, 100)
            };
            let now = mono_ns();
            for ev in events.iter().take(n.max(0) as usize) {
                let mut c = &conns[ev.u64 as usize];
                // An ended connection reads EOF or fails (reset); data
                // after the response would be a bug.
                match c.read(&mut buf) {
                    Ok(0) | Err(_) => ended_at.push(now),
                    Ok(k) => {
                        eprintln!("unexpected {k} bytes after stop");
                        ended_at.push(now);
                    }
                }
            }
        }
        let n = ended_at.len();
        (ended_at, n)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // SAFETY: our own descriptor, closed once.
        unsafe { libc::close(self.epfd) };
    }
}

struct ServerProc {
    child: Child,
    stdin: ChildStdin,
    out: BufReader<std::process::ChildStdout>,
}

impl ServerProc {
    fn start(mode: Mode) -> Result<(ServerProc, u16), String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .env(
                CHILD_ENV,
                if mode == Mode::Signal {
                    "signal"
                } else {
                    "stop"
                },
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the server: {e}"))?;
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut s = ServerProc { child, stdin, out };
        let port = s.expect("port")?;
        Ok((s, port as u16))
    }

    /// The value of the next `KEY value` line.
    fn expect(&mut self, key: &str) -> Result<u64, String> {
        let mut line = String::new();
        loop {
            line.clear();
            if self.out.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err(format!("the server ended before saying {key}"));
            }
            if let Some(v) = line.trim().strip_prefix(key) {
                return v.trim().parse().map_err(|_| format!("bad line {line:?}"));
            }
        }
    }

    fn send(&mut self, cmd: &str) -> Result<(), String> {
        writeln!(self.stdin, "{cmd}").map_err(|e| e.to_string())
    }
}

struct Figures {
    closed_ms: f64,
    p50_ms: f64,
    p99_ms: f64,
    returned_ms: f64,
    cpu_ms: f64,
    cpu_later_ms: f64,
    kib_per_conn: f64,
}

/// `VmRSS` of process `pid` in KiB (0 if unreadable).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|st| {
            let line = st.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

fn one_run(s: &Settings) -> Result<Figures, String> {
    let (mut server, port) = ServerProc::start(s.mode)?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let rss0 = rss_kib(server.child.id());
    let threads = s.threads.min(s.conns);
    let conns: Vec<TcpStream> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|i| {
                let share = s.conns / threads + usize::from(i < s.conns % threads);
                sc.spawn(move || open(addr, share))
            })
            .collect();
        let mut all = Vec::with_capacity(s.conns);
        for h in hs {
            all.extend(
                h.join()
                    .map_err(|_| std::io::Error::other("client thread panicked"))??,
            );
        }
        Ok::<_, std::io::Error>(all)
    })
    .map_err(|e| format!("opening connections: {e}"))?;
    let watch = Watch::new(&conns).map_err(|e| format!("epoll: {e}"))?;
    // Let the last connections settle into their idle wait.
    std::thread::sleep(Duration::from_millis(300));
    let rss1 = rss_kib(server.child.id());
    let pid = server.child.id();
    let mut wrapper = match &s.wrap {
        Some(cmd) => {
            let cmd = cmd.replace("{pid}", &pid.to_string());
            let w = Command::new("sh")
                .args(["-c", &format!("exec {cmd}")])
                .spawn()
                .map_err(|e| format!("--wrap: {e}"))?;
            std::thread::sleep(Duration::from_millis(500));
            Some(w)
        }
        None => None,
    };
    server.send("mark")?;
    let cpu0 = server.expect("cpu_us")?;
    let (ended, stop_ns) = std::thread::scope(|sc| {
        let watcher = sc.spawn(|| watch.run(&conns, Duration::from_secs(60)));
        let stop_ns = match s.mode {
            Mode::Stop => {
                server.send("stop")?;
                server.expect("stop_ns")?
            }
            Mode::Signal => {
                let t = mono_ns();
                // SAFETY: kill(2) on our own child.
                unsafe { libc::kill(pid as i32, libc::SIGTERM) };
                t
            }
        };
        let ended = watcher.join().map_err(|_| "watcher panicked".to_string())?;
        Ok::<_, String>((ended, stop_ns))
    })?;
    let returned_ns = server.expect("returned_ns")?;
    let cpu1 = server.expect("cpu_us")?;
    let cpu2 = server.expect("cpu_later_us")?;
    let status = server.child.wait().map_err(|e| e.to_string())?;
    if let Some(mut w) = wrapper.take() {
        // SAFETY: SIGINT to our own child, which then writes its report.
        unsafe { libc::kill(w.id() as i32, libc::SIGINT) };
        let _ = w.wait();
    }
    if !status.success() {
        return Err(format!("the server exited with {status}"));
    }
    let (mut at, n) = ended;
    if n < s.conns {
        return Err(format!("only {n} of {} connections ended", s.conns));
    }
    at.sort_unstable();
    let ms = |t: u64| t.saturating_sub(stop_ns) as f64 / 1e6;
    Ok(Figures {
        closed_ms: ms(at[n - 1]),
        p50_ms: ms(at[n / 2]),
        p99_ms: ms(at[(n * 99 / 100).min(n - 1)]),
        returned_ms: ms(returned_ns),
        cpu_ms: (cpu1 - cpu0) as f64 / 1e3,
        cpu_later_ms: (cpu2 - cpu0) as f64 / 1e3,
        kib_per_conn: rss1.saturating_sub(rss0) as f64 / s.conns as f64,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() -> ExitCode {
    if let Ok(mode) = std::env::var(CHILD_ENV) {
        let mode = if mode == "signal" {
            Mode::Signal
        } else {
            Mode::Stop
        };
        return match child(mode) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("server: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let s = match parse_args() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("stop_idle: {e}");
            return ExitCode::from(2);
        }
    };
    let limit = raise_nofile();
    if limit < s.conns as u64 + 100 {
        eprintln!(
            "stop_idle: RLIMIT_NOFILE is {limit}; {} connections need more",
            s.conns
        );
        return ExitCode::from(2);
    }
    let mode = if s.mode == Mode::Stop {
        "stop()"
    } else {
        "SIGTERM"
    };
    println!(
        "{mode} with {} idle keep-alive connections (ms from the stop; cpu = server CPU)",
        s.conns
    );
    println!("run\tclosed\tp50\tp99\treturned\tcpu\tcpu+1s\tKiB/conn");
    let mut all = Vec::new();
    for r in 1..=s.runs {
        match one_run(&s) {
            Ok(f) => {
                println!(
                    "{r}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
                    f.closed_ms,
                    f.p50_ms,
                    f.p99_ms,
                    f.returned_ms,
                    f.cpu_ms,
                    f.cpu_later_ms,
                    f.kib_per_conn
                );
                all.push(f);
            }
            Err(e) => {
                eprintln!("run {r}: {e}");
                return ExitCode::FAILURE;
            }
        }
        // Let the previous server's sockets leave (TIME_WAIT does not block
        // new ports; this only spaces the runs).
        std::thread::sleep(Duration::from_millis(500));
    }
    let col = |f: fn(&Figures) -> f64| median(all.iter().map(f).collect());
    println!(
        "median\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}\t{:.1}",
        col(|f| f.closed_ms),
        col(|f| f.p50_ms),
        col(|f| f.p99_ms),
        col(|f| f.returned_ms),
        col(|f| f.cpu_ms),
        col(|f| f.cpu_later_ms),
        col(|f| f.kib_per_conn)
    );
    ExitCode::SUCCESS
}
