//! Helpers for the tests that run real processes: the `echo` example
//! (single process or master + workers), a load generator that counts every
//! socket error and failed response, and process and log plumbing.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `target/debug/examples/echo`, (re)built once per test process: a
/// targeted `cargo test --test x` does not rebuild examples by itself.
pub fn echo_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap();
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let ok = Command::new(cargo)
                .args(["build", "--quiet", "--example", "echo"])
                .status()
                .unwrap();
            assert!(ok.success(), "cannot build the echo example");
            dir.join("examples").join("echo")
        })
        .clone()
}

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("evwsgi-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running program whose stderr+stdout go to a log file; killed on drop.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
    pub name: String,
}

impl Proc {
    pub fn start(name: &str, cmd: &mut Command, dir: &Path) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        Proc {
            child,
            log,
            name: name.into(),
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Wait up to `limit` for a log line containing `needle`; the line.
    pub fn wait_log(&self, needle: &str, limit: Duration) -> String {
        let end = Instant::now() + limit;
        loop {
            // Complete lines only: the program may be mid-write.
            let text = self.log_text();
            let complete = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
            if let Some(l) = complete.lines().find(|l| l.contains(needle)) {
                return l.to_string();
            }
            assert!(
                Instant::now() < end,
                "{}: no {needle:?} within {limit:?}; log:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn signal(&self, sig: i32) {
        signal(self.pid(), sig);
    }

    /// Wait up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(libc::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) touches no memory.
    unsafe {
        libc::kill(pid, sig);
    }
}

pub fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 }
}

/// Start `echo` on 127.0.0.1:0 with `args`; its address from its log.
pub fn start_echo(name: &str, dir: &Path, args: &[&str]) -> (Proc, SocketAddr) {
    let mut cmd = Command::new(echo_bin());
    cmd.arg("127.0.0.1:0")
        .args(args)
        .env("RUST_LOG", "info,may=warn");
    let p = Proc::start(name, &mut cmd, dir);
    let line = p.wait_log("echo listening on ", Duration::from_secs(30));
    let addr = line.rsplit(' ').next().unwrap().parse().unwrap();
    wait_serving(addr);
    (p, addr)
}

/// Wait until `addr` answers a request (30 s at most).
pub fn wait_serving(addr: SocketAddr) {
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        if get(addr, "/").is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{addr} never answered");
}

/// One request on a new connection: (status, body).
pub fn get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let s = TcpStream::connect(addr)?;
    get_on(s, path, &[])
}

/// One request with extra header lines on `s`, closing after.
pub fn get_on(mut s: TcpStream, path: &str, headers: &[&str]) -> std::io::Result<(u16, String)> {
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    let mut req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r)?;
    Ok((
        resp.status,
        String::from_utf8_lossy(&resp.body).into_owned(),
    ))
}

pub struct Resp {
    pub status: u16,
    pub close: bool,
    pub body: Vec<u8>,
}

/// Read one response (Content-Length or chunked bodies).
pub fn read_response(r: &mut impl BufRead) -> std::io::Result<Resp> {
    let eof = || {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed before a response",
        )
    };
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(eof());
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let (mut len, mut chunked, mut close) = (None, false, false);
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(eof());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (k, v) = l.split_once(':').unwrap_or((l, ""));
        let v = v.trim();
        if k.eq_ignore_ascii_case("content-length") {
            len = v.parse().ok();
        } else if k.eq_ignore_ascii_case("transfer-encoding") {
            chunked = v.eq_ignore_ascii_case("chunked");
        } else if k.eq_ignore_ascii_case("connection") {
            close = v.eq_ignore_ascii_case("close");
        }
    }
    let mut body = Vec::new();
    if let Some(n) = len {
        body.resize(n, 0);
        r.read_exact(&mut body)?;
    } else if chunked {
        loop {
            line.clear();
            r.read_line(&mut line)?;
            let n = usize::from_str_radix(line.trim_end(), 16)
                .map_err(|_| std::io::Error::other("bad chunk"))?;
            let mut c = vec![0; n + 2];
            r.read_exact(&mut c)?;
            body.extend_from_slice(&c[..n]);
            if n == 0 {
                break;
            }
        }
    } else {
        r.read_to_end(&mut body)?;
        close = true;
    }
    Ok(Resp {
        status,
        close,
        body,
    })
}

/// What a load run saw.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub ok: u64,
    pub socket_errors: u64,
    pub failed_responses: u64,
    pub errors: Vec<String>,
    /// The `pid`s that answered (echo's JSON), in first-seen order.
    pub pids: Vec<String>,
}

/// A load generator: `keepalive` threads reuse connections (reconnecting
/// after a `Connection: close` answer), `fresh` threads open one connection
/// per request. Every request must get a 200 with the echo's JSON; a
/// connect, write or read failure is a socket error. Nothing is retried.
pub struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    report: Arc<Mutex<LoadReport>>,
    pub count: Arc<AtomicU64>,
}

impl Load {
    pub fn start(addr: SocketAddr, keepalive: usize, fresh: usize, path: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(LoadReport::default()));
        let count = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for i in 0..keepalive + fresh {
            let (stop, report, count) = (stop.clone(), report.clone(), count.clone());
            let reuse = i < keepalive;
            threads.push(std::thread::spawn(move || {
                let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
                while !stop.load(Ordering::Relaxed) {
                    let r = one(addr, path, reuse, &mut conn);
                    count.fetch_add(1, Ordering::Relaxed);
                    let mut rep = report.lock().unwrap();
                    match r {
                        Ok((200, body)) if body.contains("\"method\":\"GET\"") => {
                            rep.ok += 1;
                            if let Some(pid) = body
                                .split("\"pid\":\"")
                                .nth(1)
                                .and_then(|p| p.split('"').next())
                            {
                                if !rep.pids.iter().any(|x| x == pid) {
                                    rep.pids.push(pid.to_string());
                                }
                            }
                        }
                        Ok((status, body)) => {
                            rep.failed_responses += 1;
                            rep.errors.push(format!(
                                "status {status}: {}",
                                body.chars().take(200).collect::<String>()
                            ));
                        }
                        Err(e) => {
                            rep.socket_errors += 1;
                            rep.errors.push(format!(
                                "socket error ({}): {e}",
                                if reuse {
                                    "keep-alive"
                                } else {
                                    "new connection"
                                }
                            ));
                            conn = None;
                        }
                    }
                }
            }));
        }
        Load {
            stop,
            threads,
            report,
            count,
        }
    }

    pub fn finish(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        std::mem::take(&mut *self.report.lock().unwrap())
    }
}

fn one(
    addr: SocketAddr,
    path: &str,
    reuse: bool,
    conn: &mut Option<(TcpStream, BufReader<TcpStream>)>,
) -> std::io::Result<(u16, String)> {
    if conn.is_none() {
        let s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))?;
        s.set_nodelay(true)?;
        let r = BufReader::new(s.try_clone()?);
        *conn = Some((s, r));
    }
    let (s, r) = conn.as_mut().unwrap();
    let close = if reuse { "" } else { "Connection: close\r\n" };
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: load\r\n{close}\r\n").as_bytes())?;
    let resp = read_response(r)?;
    if resp.close || !reuse {
        *conn = None;
    }
    Ok((
        resp.status,
        String::from_utf8_lossy(&resp.body).into_owned(),
    ))
}

/// Wait until the load made `n` more requests (60 s at most).
pub fn wait_requests(load: &Load, n: u64) {
    let start = load.count.load(Ordering::Relaxed);
    let end = Instant::now() + Duration::from_secs(60);
    while load.count.load(Ordering::Relaxed) < start + n {
        assert!(Instant::now() < end, "the load generator stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
}
