//! Hardening: the WSGI server survives hostile clients (slowloris heads,
//! stalled uploads, clients that never read), faults (disconnects at every
//! stage, app panics, invalid responses), a full connection pool and file
//! descriptor exhaustion, and leaks neither descriptors nor memory.
//!
//! The server runs in this process, so these tests read process-wide numbers
//! (`VmRSS`, `/proc/self/fd`): they take a lock and run one at a time. The
//! long soak is `cargo run --release --example soak`, never part of `cargo test`.

mod common;

use common::{closed_by_server, read_http, recvall, Response, SharedLog, TestServer};
use eventlet_wsgi::{Body, Environ, LogSink, Server, ServerOptions, StartResponse};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

// ===== shared fixtures =====

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time: RSS and descriptor counts are per process.
fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// One piece of `/stream`; static, so streaming allocates nothing per piece.
static STREAM_PIECE: [u8; 65536] = [b's'; 65536];
/// `/stream` without a query: 256 MiB, more than any socket buffer holds, so
/// a client that stops reading stalls the server's writes.
const ENDLESS_PIECES: usize = 4096;
const MIB: u64 = 1024 * 1024;

/// The app every test serves: a greeting, an upload echo, a lazy stream, and
/// the faulty routes.
fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
    let query = env.get("QUERY_STRING").unwrap_or("").to_string();
    let path = env.get("PATH_INFO").unwrap_or("").to_string();
    let text = [("Content-Type", "text/plain")];
    match path.as_str() {
        "/hello" => {
            sr.start("200 OK", text);
            Body::from(format!("hello {query}"))
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
        "/stream" => {
            let pieces = query.parse().unwrap_or(ENDLESS_PIECES);
            sr.start("200 OK", text);
            Body::from_iter((0..pieces).map(|_| &STREAM_PIECE[..]))
        }
        "/panic" => panic!("hardening: the app panics before start_response"),
        "/panic-after-headers" => {
            sr.start("200 OK", text);
            let _ = sr.write(b"partial");
            panic!("hardening: the app panics after its headers went out")
        }
        "/panic-first-item" => {
            sr.start("200 OK", text);
            Body::from_iter((0..2).map(|_| -> &'static [u8] {
                panic!("hardening: the lazy body panics before its first piece")
            }))
        }
        "/panic-in-body" => {
            sr.start("200 OK", text);
            Body::from_iter((0..3).map(|i| {
                assert!(i == 0, "hardening: the lazy body panics after one piece");
                &STREAM_PIECE[..]
            }))
        }
        "/bad-header" => {
            sr.start("200 OK", [("X-Bad", "a\r\nInjected: yes")]);
            Body::from("this body must never be sent")
        }
        _ => {
            sr.start("404 Not Found", text);
            Body::from("not found")
        }
    }
}

/// Start the app on port 0 with `opts` as given (unlike `common::spawn_server`,
/// which fixes `max_size`), with a deep backlog so that hundreds of
/// simultaneous connects are not dropped, and `debug` off.
fn start(opts: ServerOptions) -> TestServer {
    let listener = eventlet::ListenOptions::new()
        .backlog(1024)
        .listen("127.0.0.1:0")
        .expect("listen");
    let addr = listener.local_addr().expect("addr").inet().expect("inet");
    let log = SharedLog::default();
    let opts = opts
        .handle_signals(false)
        .debug(false)
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

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    s
}

/// `GET target` on a new connection that the server closes after answering.
fn get(addr: SocketAddr, target: &str) -> Result<Response, String> {
    let mut s = connect(addr);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: hardening\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("GET {target}: {e}"))?;
    read_http(&mut BufReader::new(s))
        .map_err(|_| format!("GET {target}: closed without a response"))
}

fn check_hello(resp: &Response, i: usize) -> Result<(), String> {
    let want = format!("hello {i}");
    if resp.status() == 200 && resp.body == want.as_bytes() {
        Ok(())
    } else {
        Err(format!(
            "want 200 {want:?}, got {:?} {:?}",
            resp.status_line,
            resp.body_str()
        ))
    }
}

/// A `/hello` request on a new connection, checked.
fn hello(addr: SocketAddr, i: usize) -> Result<(), String> {
    check_hello(&get(addr, &format!("/hello?{i}"))?, i)
}

/// A keep-alive `/hello` request on an open connection, checked.
fn hello_on(r: &mut BufReader<TcpStream>, i: usize) -> Result<(), String> {
    write!(
        r.get_mut(),
        "GET /hello?{i} HTTP/1.1\r\nHost: hardening\r\n\r\n"
    )
    .map_err(|e| format!("request {i}: {e}"))?;
    let resp = read_http(r).map_err(|_| format!("request {i}: closed without a response"))?;
    check_hello(&resp, i)
}

/// Descriptors open in this process (the directory's own one included).
fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Wait until the descriptor count holds still for 200 ms (connections
/// closed by clients finish closing on the server side); at most 10 s.
fn settled_fd_count() -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = fd_count();
    loop {
        thread::sleep(Duration::from_millis(200));
        let now = fd_count();
        if now == last || Instant::now() > deadline {
            return now;
        }
        last = now;
    }
}

fn rss_of(status: &str) -> u64 {
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmRSS value");
    kib * 1024
}

/// Resident memory of this process (server and clients), in bytes.
fn rss() -> u64 {
    rss_of(&std::fs::read_to_string("/proc/self/status").expect("/proc/self/status"))
}

/// Poll `cond` every 50 ms for at most `limit`.
fn wait_until(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Close with a TCP reset (SO_LINGER 0) instead of a FIN.
fn reset(s: TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the descriptor belongs to `s`, which is alive for the call;
    // `linger` is a valid `struct linger` and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(
        rc,
        0,
        "setsockopt(SO_LINGER): {}",
        io::Error::last_os_error()
    );
    drop(s);
}

/// True when nothing arrives on `s` within `wait` and the connection is still
/// open: the request is waiting, neither answered nor refused.
fn still_waiting(s: &mut TcpStream, wait: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let r = s.read(&mut b);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    match r {
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(())
        }
        Ok(0) => Err("the server closed the waiting connection".into()),
        Ok(_) => Err("the waiting request was answered while the pool was full".into()),
        Err(e) => Err(format!("the waiting connection failed: {e}")),
    }
}

/// Split a raw response into head and body at the blank line.
fn split_head(raw: &[u8]) -> (String, &[u8]) {
    let at = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no response head in {:?}", String::from_utf8_lossy(raw)));
    (
        String::from_utf8_lossy(&raw[..at]).into_owned(),
        &raw[at + 4..],
    )
}

// ===== slowloris =====

const LORIS_HEAD: &[u8] = b"GET /hello HTTP/1.1\r\nHost: hardening\r\nX-Slow: ";

/// A connection that trickles a request head that never ends.
struct Loris {
    s: TcpStream,
    sent: usize,
    first_byte: Option<Instant>,
    got: Vec<u8>,
    closed: Option<Instant>,
}

impl Loris {
    fn new(addr: SocketAddr) -> Loris {
        let s = TcpStream::connect(addr).expect("slowloris connect");
        s.set_nonblocking(true).unwrap();
        Loris {
            s,
            sent: 0,
            first_byte: None,
            got: Vec::new(),
            closed: None,
        }
    }

    /// Collect what the server sent; note when it closed.
    fn poll(&mut self) {
        let mut buf = [0u8; 1024];
        loop {
            match self.s.read(&mut buf) {
                Ok(n) if n > 0 => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EOF, or a reset after the server closed.
                Ok(_) | Err(_) => {
                    self.closed = Some(Instant::now());
                    return;
                }
            }
        }
    }

    /// One more byte of the endless head, until the server answers.
    fn trickle(&mut self) {
        if self.closed.is_some() || !self.got.is_empty() {
            return;
        }
        let byte = LORIS_HEAD.get(self.sent).copied().unwrap_or(b'a');
        if let Ok(1) = self.s.write(&[byte]) {
            self.sent += 1;
            self.first_byte.get_or_insert_with(Instant::now);
        }
    }
}

/// Open `n` slowloris connections and trickle one byte each per 100 ms until
/// the server has closed them all (or `limit` passed). `started` fires once
/// every connection has sent its first byte.
fn slowloris(addr: SocketAddr, n: usize, limit: Duration, started: mpsc::Sender<()>) -> Vec<Loris> {
    let mut all: Vec<Loris> = (0..n).map(|_| Loris::new(addr)).collect();
    let deadline = Instant::now() + limit;
    let mut first_round = true;
    loop {
        for l in all.iter_mut().filter(|l| l.closed.is_none()) {
            l.poll();
            l.trickle();
        }
        if first_round {
            first_round = false;
            let _ = started.send(());
        }
        if all.iter().all(|l| l.closed.is_some()) || Instant::now() > deadline {
            return all;
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// Every slowloris got `408` + `Connection: close`, then EOF, no sooner than
/// the head deadline after its first byte and not much later.
fn assert_cut_by_head_deadline(all: &[Loris], head_timeout: Duration) {
    for (i, l) in all.iter().enumerate() {
        let got = String::from_utf8_lossy(&l.got);
        assert!(
            got.starts_with("HTTP/1.1 408 "),
            "slowloris {i} (sent {} bytes): want a 408, got {got:?}",
            l.sent
        );
        assert!(
            got.contains("\r\nConnection: close\r\n"),
            "slowloris {i}: {got:?}"
        );
        let (Some(first), Some(closed)) = (l.first_byte, l.closed) else {
            panic!("slowloris {i} was never closed (sent {} bytes)", l.sent);
        };
        let held = closed - first;
        assert!(
            held >= head_timeout - Duration::from_millis(100),
            "slowloris {i} cut after {held:?}, before the head deadline {head_timeout:?}"
        );
        assert!(
            held < head_timeout + Duration::from_secs(10),
            "slowloris {i} held for {held:?}"
        );
    }
}

#[test]
fn slowloris_connections_get_408_while_a_normal_client_is_served_promptly() {
    let _serial = serial();
    let head_timeout = Duration::from_secs(3);
    // max_size leaves room beyond the 200 slowloris connections.
    let srv = start(
        ServerOptions::new()
            .max_size(512)
            .head_timeout(head_timeout)
            .socket_timeout(Some(Duration::from_secs(5))),
    );
    let addr = srv.addr;
    let (tx, rx) = mpsc::channel();
    let attack = thread::spawn(move || slowloris(addr, 200, Duration::from_secs(40), tx));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the slowloris connections started");
    let mut slowest = Duration::ZERO;
    for i in 0..50 {
        let t = Instant::now();
        hello(addr, i).unwrap_or_else(|e| panic!("normal request {i} during the attack: {e}"));
        slowest = slowest.max(t.elapsed());
        thread::sleep(Duration::from_millis(5));
    }
    let normal_done = Instant::now();
    let lorises = attack.join().expect("slowloris thread");
    assert!(
        slowest < Duration::from_secs(1),
        "a normal request took {slowest:?} during the attack"
    );
    let first_cut = lorises.iter().filter_map(|l| l.closed).min();
    assert!(
        first_cut.is_some_and(|c| normal_done < c),
        "the normal client finished after the attack was cut: it did not run alongside it"
    );
    assert_cut_by_head_deadline(&lorises, head_timeout);
    hello(addr, 50).expect("served after the attack");
}

#[test]
fn slowloris_filling_max_size_makes_the_next_client_wait_then_be_served() {
    let _serial = serial();
    let head_timeout = Duration::from_secs(2);
    // eventlet's max_size semantics: when the pool is full the accept loop
    // waits, so the next client is neither served nor refused until a
    // slowloris connection is cut and frees its slot.
    let srv = start(
        ServerOptions::new()
            .max_size(20)
            .head_timeout(head_timeout)
            .socket_timeout(Some(Duration::from_secs(5))),
    );
    let addr = srv.addr;
    let (tx, rx) = mpsc::channel();
    let attack = thread::spawn(move || slowloris(addr, 20, Duration::from_secs(40), tx));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the slowloris connections started");
    let mut c = connect(addr);
    c.write_all(b"GET /hello?1 HTTP/1.1\r\nHost: hardening\r\nConnection: close\r\n\r\n")
        .unwrap();
    let sent = Instant::now();
    still_waiting(&mut c, Duration::from_millis(300)).unwrap();
    let resp = read_http(&mut BufReader::new(c)).expect("served once a slot freed");
    let waited = sent.elapsed();
    check_hello(&resp, 1).unwrap();
    let lorises = attack.join().expect("slowloris thread");
    let cuts: Vec<_> = lorises
        .iter()
        .filter_map(|l| l.closed.map(|c| c.saturating_duration_since(sent)))
        .collect();
    assert!(
        waited < head_timeout + Duration::from_secs(10),
        "served only after {waited:?}; slowloris cuts after the request: {cuts:?}\n{}",
        srv.log.text()
    );
    assert_cut_by_head_deadline(&lorises, head_timeout);
    hello(addr, 2).expect("served after the attack");
}

/// Set in the child process that runs the one-worker regression test.
const ONE_WORKER_CHILD: &str = "EVENTLET_HARDENING_ONE_WORKER_CHILD";

/// Regression: may resumes a green thread whose socket timed out from inside
/// its IO-timer processing, and the slot it frees used to wake the accept loop
/// only at the worker's next IO timer (30 s here).
#[test]
fn slot_freed_by_a_timed_out_connection_admits_the_waiting_client_promptly() {
    if std::env::var_os(ONE_WORKER_CHILD).is_some() {
        return one_worker_child();
    }
    let _serial = serial();
    // One may worker makes the schedule deterministic; `configure` must run
    // before the runtime starts, so this runs in a fresh process.
    let out = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "slot_freed_by_a_timed_out_connection_admits_the_waiting_client_promptly",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ONE_WORKER_CHILD, "1")
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "child failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn one_worker_child() {
    eventlet::configure(eventlet::Config::default().workers(1))
        .expect("configure before the runtime starts");
    let srv = start(
        ServerOptions::new()
            .max_size(2)
            .head_timeout(Duration::from_secs(1))
            .socket_timeout(Some(Duration::from_secs(30))),
    );
    let addr = srv.addr;
    // Slot 1: a client that never reads; the server's write waits with a
    // 30 s IO timer pending.
    let mut reader = connect(addr);
    reader
        .write_all(b"GET /stream HTTP/1.1\r\nHost: hardening\r\n\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(300));
    // Slot 2: a stalled head, cut at the 1 s head deadline; the server's
    // drain of it then ends by a 500 ms read timeout, and the slot frees.
    let mut stalled = connect(addr);
    stalled.write_all(b"GET /hello HTTP/1.1\r\nHo").unwrap();
    // The accept loop now waits for a slot with this client in hand.
    let mut c = connect(addr);
    c.write_all(b"GET /hello?1 HTTP/1.1\r\nHost: hardening\r\nConnection: close\r\n\r\n")
        .unwrap();
    let sent = Instant::now();
    // Long enough to see how late the bug admits it (at the 30 s timer).
    c.set_read_timeout(Some(Duration::from_secs(45))).unwrap();
    let resp = read_http(&mut BufReader::new(c)).expect("served once the stalled head was cut");
    let waited = sent.elapsed();
    check_hello(&resp, 1).unwrap();
    assert!(
        waited < Duration::from_secs(10),
        "the freed slot admitted the waiting client only after {waited:?}"
    );
    let mut answer = Vec::new();
    let _ = stalled.read_to_end(&mut answer);
    assert!(answer.starts_with(b"HTTP/1.1 408 "));
    drop(reader);
}

// ===== max_size =====

#[test]
fn full_pool_makes_new_clients_wait_not_fail_and_serves_them_as_slots_free() {
    let _serial = serial();
    // eventlet: `max_size` caps concurrent connections; a keep-alive
    // connection holds its slot while idle; the accept loop blocks when full.
    let srv = start(
        ServerOptions::new()
            .max_size(2)
            .head_timeout(Duration::from_secs(30)),
    );
    let addr = srv.addr;
    let mut a = BufReader::new(connect(addr));
    hello_on(&mut a, 1).unwrap();
    let mut b = BufReader::new(connect(addr));
    hello_on(&mut b, 2).unwrap();
    let mut c = connect(addr);
    c.write_all(b"GET /hello?3 HTTP/1.1\r\nHost: hardening\r\n\r\n")
        .unwrap();
    let mut d = connect(addr);
    d.write_all(b"GET /hello?4 HTTP/1.1\r\nHost: hardening\r\n\r\n")
        .unwrap();
    still_waiting(&mut c, Duration::from_millis(300)).unwrap();
    still_waiting(&mut d, Duration::from_millis(100)).unwrap();

    drop(a);
    let mut c = BufReader::new(c);
    check_hello(&read_http(&mut c).expect("c served after a closed"), 3).unwrap();
    // b and c now hold both slots (c is kept alive): d still waits.
    still_waiting(&mut d, Duration::from_millis(300)).unwrap();

    drop(b);
    let mut d = BufReader::new(d);
    check_hello(&read_http(&mut d).expect("d served after b closed"), 4).unwrap();
    hello_on(&mut c, 5).unwrap();
    drop((c, d));
    for i in 6..10 {
        hello(addr, i).unwrap();
    }
}

// ===== stalled clients =====

#[test]
fn stalled_upload_is_cut_by_socket_timeout() {
    let _serial = serial();
    let timeout = Duration::from_secs(1);
    let srv = start(ServerOptions::new().socket_timeout(Some(timeout)));
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: hardening\r\nContent-Length: 10000\r\n\r\n")
        .unwrap();
    s.write_all(&[b'u'; 100]).unwrap();
    let stalled = Instant::now();
    let raw = recvall(&mut s);
    let cut_after = stalled.elapsed();
    let (head, body) = split_head(&raw);
    // The app saw its read fail and answered; the server then closed.
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    assert!(body.starts_with(b"upload failed"), "{body:?}");
    assert!(
        cut_after >= timeout - Duration::from_millis(100),
        "cut after {cut_after:?}"
    );
    assert!(
        cut_after < timeout + Duration::from_secs(10),
        "cut after {cut_after:?}"
    );
    hello(srv.addr, 1).unwrap();
}

#[test]
fn client_that_never_reads_a_streamed_response_is_cut_by_socket_timeout() {
    let _serial = serial();
    let timeout = Duration::from_secs(1);
    let srv = start(ServerOptions::new().socket_timeout(Some(timeout)));
    let before = settled_fd_count();
    let mut s = connect(srv.addr);
    s.write_all(b"GET /stream HTTP/1.1\r\nHost: hardening\r\n\r\n")
        .unwrap();
    let asked = Instant::now();
    // Client and server ends are both open, until the server's writes stall
    // for `timeout` and it closes its end (the client still holds its own).
    assert!(
        wait_until(Duration::from_secs(10), || fd_count() >= before + 2),
        "the connection was never accepted"
    );
    assert!(
        wait_until(Duration::from_secs(20), || fd_count() <= before + 1),
        "the server never gave up on a client that does not read"
    );
    let cut_after = asked.elapsed();
    assert!(
        cut_after >= timeout - Duration::from_millis(100),
        "cut after {cut_after:?}"
    );
    // What reached the socket buffers is a truncated chunked body.
    let raw = recvall(&mut s);
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
    assert!((body.len() as u64) < ENDLESS_PIECES as u64 * 65536);
    assert!(!body.ends_with(b"0\r\n\r\n"), "the endless body ended");
    hello(srv.addr, 1).unwrap();
}

#[test]
fn hundred_stalled_uploads_and_hundred_non_readers_are_cut_with_bounded_memory() {
    let _serial = serial();
    let timeout = Duration::from_secs(4);
    let srv = start(
        ServerOptions::new()
            .max_size(512)
            .head_timeout(Duration::from_secs(30))
            .socket_timeout(Some(timeout)),
    );
    let addr = srv.addr;
    // Warm up both routes so that lazily grown buffers count in the baseline.
    for i in 0..20 {
        let upload = vec![b'w'; 100_000];
        let mut s = connect(addr);
        write!(
            s,
            "POST /echo HTTP/1.1\r\nHost: hardening\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
            upload.len()
        )
        .unwrap();
        s.write_all(&upload).unwrap();
        let resp = read_http(&mut BufReader::new(s)).expect("warm-up upload");
        assert_eq!(resp.body.len(), upload.len(), "warm-up upload {i}");
        let resp = get(addr, "/stream?16").unwrap();
        assert_eq!(resp.body.len(), 16 * 65536, "warm-up stream {i}");
    }
    let base_fds = settled_fd_count();
    let base_rss = rss();

    let uploads: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(
                b"POST /echo HTTP/1.1\r\nHost: hardening\r\nContent-Length: 1048576\r\n\r\n",
            )
            .unwrap();
            s.write_all(&[b'u'; 1024]).unwrap();
            s
        })
        .collect();
    let readers: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /stream HTTP/1.1\r\nHost: hardening\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let held_since = Instant::now();
    let (mut peak_rss, mut peak_fds) = (0, 0);
    while held_since.elapsed() < Duration::from_millis(1500) {
        peak_rss = peak_rss.max(rss());
        peak_fds = peak_fds.max(fd_count());
        thread::sleep(Duration::from_millis(100));
    }
    // Both ends of all 200 connections were open while memory was sampled.
    assert!(
        peak_fds >= base_fds + 400,
        "only {} descriptors above the baseline while the clients held on",
        peak_fds.saturating_sub(base_fds)
    );
    let grown = peak_rss.saturating_sub(base_rss);
    println!(
        "200 stalled clients: RSS {} KiB -> peak {} KiB",
        base_rss / 1024,
        peak_rss / 1024
    );
    assert!(
        grown < 64 * MIB,
        "RSS grew by {} MiB with 200 stalled clients",
        grown / MIB
    );
    // Every server end closes after `timeout` without progress, while the
    // clients still hold (and do not read) theirs.
    assert!(
        wait_until(timeout + Duration::from_secs(20), || fd_count()
            <= base_fds + 202),
        "{} descriptors above the baseline: stalled connections were not cut",
        fd_count().saturating_sub(base_fds)
    );
    // The slack of 2 above lets the wait end while up to two server ends are
    // still open; the timeouts' reaper cuts those within a tick (250 ms at
    // most). Give it 2 s before the readers read: a read now would let a
    // server end that is still open stream on and finish its body.
    thread::sleep(Duration::from_secs(2));
    assert!(held_since.elapsed() >= timeout - Duration::from_millis(100));
    for (i, mut s) in uploads.into_iter().enumerate() {
        let raw = recvall(&mut s);
        let (head, _) = split_head(&raw);
        assert!(head.starts_with("HTTP/1.1 400 "), "upload {i}: {head}");
    }
    for (i, mut s) in readers.into_iter().enumerate() {
        let raw = recvall(&mut s);
        let (head, body) = split_head(&raw);
        assert!(head.starts_with("HTTP/1.1 200 "), "reader {i}: {head}");
        assert!(
            !body.ends_with(b"0\r\n\r\n"),
            "reader {i}: the endless body ended"
        );
    }
    hello(addr, 1).unwrap();
}

// ===== faults =====

/// The client goes away in the middle of its request head.
fn fault_disconnect_mid_head(addr: SocketAddr) {
    let mut s = connect(addr);
    s.write_all(b"GET /hello?x HTTP/1.1\r\nHost: hard").unwrap();
    drop(s);
    let mut s = connect(addr);
    s.write_all(b"GET /hello?x HTTP/1.1\r\nHo").unwrap();
    reset(s);
}

/// The client goes away in the middle of its request body.
fn fault_disconnect_mid_body(addr: SocketAddr) {
    for abort in [false, true] {
        let mut s = connect(addr);
        s.write_all(b"POST /echo HTTP/1.1\r\nHost: hardening\r\nContent-Length: 100000\r\n\r\n")
            .unwrap();
        s.write_all(&[b'b'; 1000]).unwrap();
        if abort {
            reset(s);
        }
    }
    // A chunked upload cut inside a chunk (eventlet's
    // TestChunkedInput.test_close_before_finished: no spin afterwards).
    let mut s = connect(addr);
    s.write_all(
        b"POST /echo HTTP/1.1\r\nHost: hardening\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nthi",
    )
    .unwrap();
}

/// The client reads part of a large streamed response, then goes away
/// (eventlet's test_client_disconnect).
fn fault_disconnect_mid_response(addr: SocketAddr) {
    for abort in [false, true] {
        let mut s = connect(addr);
        s.write_all(b"GET /stream HTTP/1.1\r\nHost: hardening\r\n\r\n")
            .unwrap();
        let mut part = vec![0u8; 100_000];
        s.read_exact(&mut part).expect("the start of the stream");
        assert!(part.starts_with(b"HTTP/1.1 200 "));
        if abort {
            reset(s);
        }
    }
}

/// A complete error response, then the server closes.
fn expect_error_then_close(addr: SocketAddr, target: &str) -> Response {
    let mut s = connect(addr);
    write!(s, "GET {target} HTTP/1.1\r\nHost: hardening\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let resp = read_http(&mut r).unwrap_or_else(|_| panic!("{target}: no response"));
    assert_eq!(resp.status(), 500, "{target}: {}", resp.status_line);
    assert_eq!(resp.header("connection"), Some("close"), "{target}");
    // debug(false): no panic message for the client.
    assert!(resp.body.is_empty(), "{target}: {:?}", resp.body_str());
    assert!(
        closed_by_server(r.get_mut()),
        "{target}: left open after a 500"
    );
    resp
}

/// The app panics before start_response (eventlet's
/// test_exceptions_close_connection).
fn fault_panic_before_headers(addr: SocketAddr) {
    expect_error_then_close(addr, "/panic");
}

/// The lazy body panics before anything was sent.
fn fault_panic_before_first_piece(addr: SocketAddr) {
    expect_error_then_close(addr, "/panic-first-item");
}

/// Invalid app headers never reach the wire: 500 instead.
fn fault_invalid_header(addr: SocketAddr) {
    let resp = expect_error_then_close(addr, "/bad-header");
    assert_eq!(resp.header_count("Injected"), 0);
    assert_eq!(resp.header_count("X-Bad"), 0);
}

/// A chunked response is cut without its terminator once the app fails
/// after the headers went out (eventlet's
/// test_error_in_chunked_closes_connection): exactly `want_body` arrives.
fn expect_cut_after(addr: SocketAddr, target: &str, want_body: &[u8]) {
    let mut s = connect(addr);
    write!(s, "GET {target} HTTP/1.1\r\nHost: hardening\r\n\r\n").unwrap();
    let raw = recvall(&mut s);
    let (head, body) = split_head(&raw);
    assert!(head.starts_with("HTTP/1.1 200 "), "{target}: {head}");
    assert!(
        head.contains("Transfer-Encoding: chunked"),
        "{target}: {head}"
    );
    assert!(body == want_body, "{target}: got {} body bytes", body.len());
}

/// The app panics after `write` sent the headers and some bytes.
fn fault_panic_after_headers(addr: SocketAddr) {
    expect_cut_after(addr, "/panic-after-headers", b"7\r\npartial\r\n");
}

/// The lazy body panics after its first piece was sent.
fn fault_panic_inside_lazy_body(addr: SocketAddr) {
    let mut want = b"10000\r\n".to_vec();
    want.extend_from_slice(&STREAM_PIECE);
    want.extend_from_slice(b"\r\n");
    expect_cut_after(addr, "/panic-in-body", &want);
}

/// A fault one client inflicts on its own connection, checking what it sees.
type Fault = fn(SocketAddr);

const FAULTS: [(&str, Fault); 8] = [
    ("disconnect mid-head", fault_disconnect_mid_head),
    ("disconnect mid-body", fault_disconnect_mid_body),
    ("disconnect mid-response", fault_disconnect_mid_response),
    ("panic before headers", fault_panic_before_headers),
    (
        "panic before the first body piece",
        fault_panic_before_first_piece,
    ),
    ("invalid header", fault_invalid_header),
    ("panic after headers", fault_panic_after_headers),
    ("panic inside the lazy body", fault_panic_inside_lazy_body),
];

/// A well-behaved client on keep-alive connections (reconnecting every 10
/// requests), checking every answer until told to stop.
struct Steady {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    thread: thread::JoinHandle<Result<usize, String>>,
}

impl Steady {
    fn start(addr: SocketAddr) -> Steady {
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicUsize::new(0));
        let (stop2, done2) = (stop.clone(), done.clone());
        let thread = thread::spawn(move || {
            let mut i = 0;
            while !stop2.load(Ordering::Acquire) {
                let mut r = BufReader::new(connect(addr));
                for _ in 0..10 {
                    hello_on(&mut r, i)?;
                    i += 1;
                    done2.fetch_add(1, Ordering::AcqRel);
                    thread::sleep(Duration::from_millis(2));
                }
            }
            Ok(i)
        });
        Steady { stop, done, thread }
    }

    /// Block until the client completed `n` more requests.
    fn wait_progress(&self, n: usize, after: &str) {
        let target = self.done.load(Ordering::Acquire) + n;
        let ok = wait_until(Duration::from_secs(20), || {
            self.thread.is_finished() || self.done.load(Ordering::Acquire) >= target
        });
        assert!(
            ok && !self.thread.is_finished(),
            "the well-behaved client stalled or failed after: {after}"
        );
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Release);
        match self.thread.join().expect("well-behaved client thread") {
            Ok(n) => n,
            Err(e) => panic!("the well-behaved client got a wrong answer: {e}"),
        }
    }
}

#[test]
fn each_fault_affects_only_its_own_connection() {
    let _serial = serial();
    let srv = start(
        ServerOptions::new()
            .head_timeout(Duration::from_secs(2))
            .socket_timeout(Some(Duration::from_secs(2))),
    );
    let addr = srv.addr;
    let steady = Steady::start(addr);
    steady.wait_progress(3, "start");
    for (name, fault) in FAULTS {
        fault(addr);
        // The well-behaved client is answered correctly between faults.
        steady.wait_progress(3, name);
        hello(addr, 0).unwrap_or_else(|e| panic!("after {name}: {e}"));
    }
    let served = steady.finish();
    assert!(served >= 3 * (FAULTS.len() + 1));
    let log = srv.log.text();
    assert!(log.contains("application panicked"), "{log}");
    assert!(log.contains("the response body panicked"), "{log}");
}

#[test]
fn faulty_connections_leave_no_descriptors_or_memory_behind() {
    let _serial = serial();
    let head_timeout = Duration::from_secs(1);
    let srv = start(
        ServerOptions::new()
            .max_size(512)
            .head_timeout(head_timeout)
            .socket_timeout(Some(Duration::from_secs(1))),
    );
    let addr = srv.addr;
    // Nothing connected yet: exactly the descriptors the server keeps.
    let base_fds = fd_count();
    // Warm up, so that lazily grown buffers count in the memory baseline.
    for (_, fault) in FAULTS {
        fault(addr);
    }
    settled_fd_count();
    let base_rss = rss();
    let rounds = 25;
    for _ in 0..rounds {
        for (_, fault) in FAULTS {
            fault(addr);
        }
    }
    // Heads stalled until the deadline, then dropped by the client.
    let stalled: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /hello HTTP/1.1\r\nHost: hard").unwrap();
            s
        })
        .collect();
    for mut s in stalled {
        let raw = recvall(&mut s);
        assert!(
            raw.starts_with(b"HTTP/1.1 408 "),
            "{:?}",
            String::from_utf8_lossy(&raw)
        );
    }
    let mut now = fd_count();
    let back = wait_until(Duration::from_secs(30), || {
        now = fd_count();
        now <= base_fds + 2
    });
    assert!(
        back,
        "{now} descriptors open, {base_fds} before {rounds} rounds of faults"
    );
    let grown = rss().saturating_sub(base_rss);
    println!("faults: {base_fds} descriptors before, {now} after; RSS grew {grown} bytes");
    assert!(grown < 32 * MIB, "RSS grew by {} MiB", grown / MIB);
    hello(addr, 1).unwrap();
}

// ===== EMFILE =====

/// Set in the child process that runs the server with a low descriptor limit.
const EMFILE_CHILD: &str = "EVENTLET_HARDENING_EMFILE_CHILD";
/// Descriptors the child may open beyond those it has when it lowers its limit.
const EMFILE_HEADROOM: u64 = 16;
const EMFILE_READY: &str = "EMFILE_CHILD_READY";

/// The child: serve with a descriptor limit just above what is open, report
/// the port, run until stdin closes.
fn emfile_child() {
    let listener = eventlet::ListenOptions::new()
        .backlog(256)
        .listen("127.0.0.1:0")
        .expect("listen");
    let addr = listener.local_addr().expect("addr").inet().expect("inet");
    // The log (access lines and accept errors) goes to the parent.
    let opts = ServerOptions::new()
        .handle_signals(false)
        .head_timeout(Duration::from_secs(60))
        .log(LogSink::writer(io::stdout()));
    let server = Server::new(listener, app, opts);
    let handle = server.handle();
    let running = eventlet::spawn(move || server.run());
    hello(addr, 0).expect("child warm-up request");
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    assert_eq!(rc, 0, "getrlimit: {}", io::Error::last_os_error());
    // Only the soft limit drops; the hard one stays as it was.
    lim.rlim_cur = settled_fd_count() as u64 + EMFILE_HEADROOM;
    // SAFETY: `lim` is a valid rlimit; setrlimit only reads it.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    assert_eq!(rc, 0, "setrlimit: {}", io::Error::last_os_error());
    println!("{EMFILE_READY} {}", addr.port());
    io::stdout().flush().unwrap();
    let mut rest = Vec::new();
    let _ = io::stdin().read_to_end(&mut rest);
    handle.stop();
    running
        .join()
        .expect("server thread")
        .expect("server result");
}

/// Kills the child if the test fails before it exits on its own.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// User + system CPU time of a process.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("child stat");
    let after_name = &stat[stat.rfind(')').expect("stat format") + 1..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); the list starts at field 3.
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf takes no pointers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Duration::from_secs_f64(ticks as f64 / hz.max(1) as f64)
}

/// Wait for a child output line containing `pat`, collecting every line.
fn wait_line(
    rx: &mpsc::Receiver<String>,
    lines: &mut Vec<String>,
    pat: &str,
    limit: Duration,
) -> Option<String> {
    let deadline = Instant::now() + limit;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                lines.push(line.clone());
                if line.contains(pat) {
                    return Some(line);
                }
            }
            Err(_) => return None,
        }
    }
    None
}

#[test]
fn accept_loop_backs_off_and_recovers_from_emfile() {
    if std::env::var_os(EMFILE_CHILD).is_some() {
        return emfile_child();
    }
    let _serial = serial();
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .args([
            "--exact",
            "accept_loop_backs_off_and_recovers_from_emfile",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EMFILE_CHILD, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut child = ChildGuard(child);
    let pid = child.0.id();
    let (tx, rx) = mpsc::channel();
    let stdout = child.0.stdout.take().unwrap();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut stderr = child.0.stderr.take().unwrap();
    let errors = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let mut lines = Vec::new();
    let ready = wait_line(&rx, &mut lines, EMFILE_READY, Duration::from_secs(60))
        .unwrap_or_else(|| panic!("the child never got ready: {lines:?}"));
    let port: u16 = ready.split_whitespace().nth(1).unwrap().parse().unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));

    // More connections than the child has descriptors left.
    let flood: Vec<TcpStream> = (0..EMFILE_HEADROOM + 40).map(|_| connect(addr)).collect();
    wait_line(
        &rx,
        &mut lines,
        "Too many open files",
        Duration::from_secs(20),
    )
    .unwrap_or_else(|| panic!("the child never ran out of descriptors: {lines:?}"));
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    thread::sleep(Duration::from_secs(2));
    let (cpu, wall) = (cpu_time(pid) - cpu0, t0.elapsed());
    assert!(
        matches!(child.0.try_wait(), Ok(None)),
        "the child exited while saturated"
    );
    assert!(
        cpu < wall / 4,
        "the saturated server used {cpu:?} of CPU in {wall:?}: the accept loop spins"
    );
    while let Ok(line) = rx.try_recv() {
        lines.push(line);
    }
    let retries = lines.iter().filter(|l| l.contains("accept failed")).count();
    println!("saturated child: {cpu:?} CPU in {wall:?}, {retries} accept retries logged");
    assert!(retries < 50, "{retries} accept retries logged: no back-off");
    assert!(
        lines.iter().all(|l| !l.contains("accept failed, stopping")),
        "the accept loop gave up: {lines:?}"
    );

    drop(flood);
    for i in 1..4 {
        hello(addr, i).unwrap_or_else(|e| panic!("not served after the flood: {e}"));
    }
    drop(child.0.stdin.take());
    let exited = wait_until(Duration::from_secs(30), || {
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(exited, "the child did not stop");
    let status = child.0.wait().unwrap();
    assert!(
        status.success(),
        "child failed: {status}\n{}",
        errors.join().unwrap_or_default()
    );
}

#[test]
fn stalled_upload_rest_is_never_read_as_a_new_request() {
    let _serial = serial();
    let timeout = Duration::from_secs(1);
    let srv = start(
        ServerOptions::new()
            .socket_timeout(Some(timeout))
            .head_timeout(Duration::from_secs(30)),
    );
    let mut s = connect(srv.addr);
    s.write_all(b"POST /echo HTTP/1.1\r\nHost: hardening\r\nContent-Length: 45\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_http(&mut r).expect("the app's answer to its failed read");
    assert_eq!(resp.status(), 400);
    // The late body happens to look like a request: it must not be served.
    let _ = s.write_all(b"GET /hello?smuggled HTTP/1.1\r\nHost: hardening\r\n\r\n");
    match read_http(&mut r) {
        Err(_) => {}
        Ok(resp) => panic!("the rest of the body was served as a request: {resp:?}"),
    }
}
