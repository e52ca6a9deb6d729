//! Shared helpers for the integration tests: start a server on port 0 in a
//! green thread, talk raw bytes to it with a plain TCP client, parse responses
//! like eventlet's `tests/wsgi_test.py::read_http`.
#![allow(dead_code)]

use eventlet_wsgi::{App, LogSink, Server, ServerHandle, ServerOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A log sink the test can read back.
#[derive(Clone, Default)]
pub struct SharedLog(pub Arc<Mutex<Vec<u8>>>);

impl Write for SharedLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl SharedLog {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// A running server; stopped (and awaited) on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub log: SharedLog,
    pub running: Option<eventlet::GreenThread<io::Result<()>>>,
}

impl TestServer {
    pub fn stop(&mut self) -> io::Result<()> {
        self.handle.stop();
        match self.running.take() {
            Some(gt) => gt.join().expect("server thread"),
            None => Ok(()),
        }
    }

    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// eventlet's `spawn_server(**kw)`: max_size 128, log to a buffer, no signals.
pub fn spawn_server(app: impl App, opts: ServerOptions) -> TestServer {
    spawn_on(eventlet::listen("127.0.0.1:0").expect("listen"), app, opts)
}

pub fn spawn_on(
    listener: eventlet::net::Listener,
    app: impl App,
    opts: ServerOptions,
) -> TestServer {
    let addr = match listener.local_addr().expect("addr") {
        eventlet::net::Addr::Inet(a) => a,
        other => panic!("not an inet listener: {other}"),
    };
    let log = SharedLog::default();
    let opts = opts
        .max_size(128)
        .handle_signals(false)
        .log(LogSink::writer(log.clone()));
    let server = Server::new(listener, app, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    TestServer {
        addr,
        handle,
        log,
        running: Some(running),
    }
}

pub fn default_opts() -> ServerOptions {
    ServerOptions::new()
}

/// A parsed response (eventlet's `read_http` result).
#[derive(Debug, Clone)]
pub struct Response {
    pub status_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> u16 {
        self.status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
    /// Header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_count(&self, name: &str) -> usize {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .count()
    }
    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// The connection closed before a status line (eventlet's `ConnectionClosed`).
#[derive(Debug)]
pub struct ConnectionClosed;

/// Read one response: status, headers (no duplicate names allowed except
/// where `allow_dup`), body by Content-Length, de-chunked when chunked
/// (`raw_chunked` keeps the framing), empty for 1xx/204/304/HEAD, else to EOF.
pub fn read_http_opts<R: BufRead>(
    r: &mut R,
    head_request: bool,
    raw_chunked: bool,
) -> Result<Response, ConnectionClosed> {
    let mut status_line = String::new();
    match read_line(r, &mut status_line) {
        Ok(0) | Err(_) => return Err(ConnectionClosed),
        _ => {}
    }
    let status_line = status_line.trim_end().to_string();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if read_line(r, &mut line).unwrap_or(0) == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("header line");
        headers.push((k.to_string(), v.trim().to_string()));
    }
    let mut resp = Response {
        status_line,
        headers,
        body: Vec::new(),
    };
    let code = resp.status();
    if head_request || code == 204 || code == 304 || (100..200).contains(&code) {
        return Ok(resp);
    }
    if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().expect("content-length");
        let mut body = vec![0; n];
        r.read_exact(&mut body).expect("body");
        resp.body = body;
    } else if resp
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        resp.body = read_chunked(r, raw_chunked);
    } else {
        let _ = r.read_to_end(&mut resp.body);
    }
    Ok(resp)
}

/// Read a line as latin-1 (bytes ≥ 0x80 become U+0080..U+00FF).
fn read_line<R: BufRead>(r: &mut R, out: &mut String) -> io::Result<usize> {
    let mut raw = Vec::new();
    let n = r.read_until(b'\n', &mut raw)?;
    out.extend(raw.iter().map(|&b| b as char));
    Ok(n)
}

fn read_chunked<R: BufRead>(r: &mut R, raw: bool) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let mut size_line = String::new();
        if r.read_line(&mut size_line).unwrap_or(0) == 0 {
            return out;
        }
        if raw {
            out.extend_from_slice(size_line.as_bytes());
        }
        let size = usize::from_str_radix(size_line.trim_end(), 16).expect("chunk size");
        let mut data = vec![0; size + 2];
        if r.read_exact(&mut data).is_err() {
            return out;
        }
        if raw {
            out.extend_from_slice(&data);
        } else {
            out.extend_from_slice(&data[..size]);
        }
        if size == 0 {
            return out;
        }
    }
}

pub fn read_http<R: BufRead>(r: &mut R) -> Result<Response, ConnectionClosed> {
    read_http_opts(r, false, false)
}

/// Send `req` on a new connection and read one response.
pub fn request(server: &TestServer, req: &[u8]) -> Result<Response, ConnectionClosed> {
    let mut s = server.connect();
    s.write_all(req).unwrap();
    let mut r = BufReader::new(s);
    read_http(&mut r)
}

/// Everything the server sends until it closes (eventlet's `recvall`).
pub fn recvall(s: &mut TcpStream) -> Vec<u8> {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// True once the server has closed the connection (EOF or reset) within 10 s.
pub fn closed_by_server(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Err(e) => matches!(
            e.kind(),
            io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
        ),
        Ok(_) => false,
    }
}

// ---- Examples run as real processes (tests/examples_ports.rs) ----

/// A program of `examples/` running as a child process; killed on drop. Its
/// stdout and stderr lines are collected (merged) as they come.
pub struct ExampleProcess {
    pub name: String,
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

/// Build `examples/NAME.rs` with the features this test binary has (once per
/// name) and return the binary's path. `cargo test --test X` builds no
/// examples, so the test asks cargo itself; cargo holds no lock while tests run.
pub fn example_binary(name: &str) -> std::path::PathBuf {
    use std::collections::HashSet;
    static BUILT: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let path = profile_dir.join("examples").join(name);
    let mut built = BUILT.lock().unwrap_or_else(|p| p.into_inner());
    if built
        .get_or_insert_with(HashSet::new)
        .insert(name.to_string())
    {
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.args(["build", "--quiet", "--example", name])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        // The variables cargo sets for this test process are not the caller's
        // environment; build scripts that track them (ring's) would otherwise
        // rebuild half the tree each time.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CARGO_MANIFEST")
                || k.starts_with("CARGO_PKG_")
                || k.starts_with("CARGO_BIN_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&k.as_str())
                || k == "CARGO_RUSTC_CURRENT_DIR"
                || k == "OUT_DIR"
            {
                cmd.env_remove(&k);
            }
        }
        if cfg!(feature = "zmq") {
            cmd.args(["--features", "zmq"]);
        }
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build --example {name} failed");
    }
    path
}

impl ExampleProcess {
    /// Start `examples/NAME` with `args`.
    pub fn start(name: &str, args: &[&str]) -> ExampleProcess {
        use std::process::{Command, Stdio};
        let mut child = Command::new(example_binary(name))
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start example {name}: {e}"));
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        let err = child.stderr.take().expect("stderr");
        for stream in [Box::new(out) as Box<dyn Read + Send>, Box::new(err)] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        ExampleProcess {
            name: name.to_string(),
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first output line (seen before or arriving within `secs`) that
    /// `pred` accepts; panics with everything seen so far otherwise.
    pub fn wait_line(&mut self, secs: u64, pred: impl Fn(&str) -> bool) -> String {
        self.wait_lines(1, secs, pred).remove(0)
    }

    /// Wait until `n` output lines accepted by `pred` have been seen; returns them.
    pub fn wait_lines(&mut self, n: usize, secs: u64, pred: impl Fn(&str) -> bool) -> Vec<String> {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let found: Vec<String> = self.seen.iter().filter(|l| pred(l)).cloned().collect();
            if found.len() >= n {
                return found;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!(
                    "{}: wanted {n} matching lines within {secs} s, got {}; output so far:\n{}",
                    self.name,
                    found.len(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// The port at the end of the first line that contains `text`.
    pub fn port_after(&mut self, text: &str) -> u16 {
        let line = self.wait_line(60, |l| l.contains(text));
        let digits: String = line
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_digit())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        digits
            .parse()
            .unwrap_or_else(|_| panic!("no port in {line:?}"))
    }

    /// Every line seen so far (call `wait_*` first to collect).
    pub fn seen(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// Wait for the process to exit on its own within `secs`; collects the
    /// rest of its output.
    pub fn wait_exit(&mut self, secs: u64) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The readers end at EOF; take what they still have.
                while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
                    self.seen.push(line);
                }
                return status;
            }
            if std::time::Instant::now() >= deadline {
                let output = self.seen().join("\n");
                panic!(
                    "{} did not exit within {secs} s; output:\n{output}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ExampleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait (10 s at most) until `cond` holds for a snapshot of `stats`; the last one.
pub fn wait_for(
    stats: &eventlet_wsgi::stats::Stats,
    cond: impl Fn(&eventlet_wsgi::stats::StatsSnapshot) -> bool,
) -> eventlet_wsgi::stats::StatsSnapshot {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let s = stats.snapshot();
        if cond(&s) || std::time::Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
