//! One connection's green thread: read a head, build the environ, call the
//! app, write the response, drain the body, repeat (keep-alive, pipelining).

use crate::body::{Body, Chunks, Kind};
use crate::chunked::ChunkedLimits;
use crate::connio::ConnIo;
use crate::environ::Environ;
use crate::head::{self, Head, HeadError, Limits};
use crate::input::{BodyFault, Input};
use crate::options::{Keepalive, ServerOptions};
use crate::reaper::ConnState;
use crate::response::{ConnInfo, RequestInfo, StartResponse};
use crate::server::{Shared, STATE_CLOSE, STATE_IDLE, STATE_REQUEST};
use crate::stats::{Stamp, Stats, TimeoutKind};
use eventlet::net::{Addr, Stream};
use std::cell::RefCell;
use std::io;
use std::net::Shutdown;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Per-connection facts computed once.
struct Peer {
    /// The client's IP (`None` on a Unix socket): whom forwarding headers are trusted from.
    ip: Option<std::net::IpAddr>,
    tls: bool,
    remote_addr: String,
    remote_port: String,
}

impl Peer {
    /// The peer, and this end's `(SERVER_NAME, SERVER_PORT)` (only the
    /// environ keeps those).
    #[inline(never)]
    fn of(stream: &Stream, peer: &Addr) -> (Peer, (String, String)) {
        let (remote_addr, remote_port) = host_port(Some(peer.clone()));
        let server = host_port(stream.local_addr().ok());
        let peer = Peer {
            ip: peer.inet().map(|sa| sa.ip()),
            tls: stream.is_tls(),
            remote_addr,
            remote_port,
        };
        (peer, server)
    }
}

/// eventlet's `addr_to_host_port`: unix sockets are `("unix", "")`.
fn host_port(a: Option<Addr>) -> (String, String) {
    match a {
        Some(Addr::Inet(sa)) => (sa.ip().to_string(), sa.port().to_string()),
        _ => ("unix".into(), String::new()),
    }
}

/// How reading the next head ended.
enum HeadRead {
    /// In the slot given to `read_head`.
    Ready,
    /// EOF, reset or idle timeout before any byte of a request: just close.
    Gone,
    /// The client stopped mid-head or the head deadline passed: 408.
    TimedOut,
    Bad(HeadError),
}

/// Serve the connection; the socket is handed back still open, for the
/// caller to close only after the connection left the server's registry.
pub(crate) fn handle(
    mut stream: Stream,
    mut peer: Addr,
    shared: Arc<Shared>,
    state: Arc<ConnState>,
) -> Stream {
    if shared.opts.proxy_protocol {
        match crate::proxy::accept_proxy_header(&mut stream, &peer, &shared.opts) {
            Ok(Some(client)) => peer = client,
            Ok(None) => {}
            Err(e) => {
                shared.proxy_refused(&peer, &e);
                return stream;
            }
        }
    }
    let (ended_idle, io) = with_conn(stream, &peer, &shared, state, |conn, env| conn.serve(env));
    // Closed while waiting for a request (the client left, or the server
    // shut the socket down at stop): nothing was sent that a lingering close
    // would protect, so skip its two system calls (10,000 idle connections
    // at stop).
    if !ended_idle {
        graceful_close(&io);
    }
    if let Some(stats) = &shared.opts.stats {
        let (bytes_in, bytes_out) = io.borrow_mut().take_bytes();
        stats.bytes(bytes_in, bytes_out);
    }
    io.into_inner().stream
}

/// Set up a connection's state and run `f` on it; its IO comes back after.
fn with_conn<R>(
    stream: Stream,
    peer: &Addr,
    shared: &Shared,
    state: Arc<ConnState>,
    f: impl for<'a> FnOnce(&mut Conn<'a>, &mut Environ<'a>) -> R,
) -> (R, Box<RefCell<ConnIo>>) {
    // Built by functions of their own, straight on the heap: this frame stays
    // small, and every stack page a connection's green thread touches stays
    // resident for as long as the connection lives (idle ones included).
    let (peer, (server_name, server_port)) = Peer::of(&stream, peer);
    // The server's reaper enforces this connection's timeouts when it runs
    // (no may timer per wait); otherwise the socket's own timeouts do. Not
    // for TLS: a TLS read can block writing (handshake, alerts), and the
    // read side's shutdown that ends a read wait would not wake that write.
    let link = (shared.clock.running() && !peer.tls)
        .then(|| crate::reaper::Link::new(state.clone(), shared.clock.clone()));
    let io = new_io(stream, link, &shared.opts);
    let r = {
        let mut conn = Conn {
            shared,
            io: &io,
            peer,
            state,
            sr: None,
            forwarded: false,
        };
        let mut env = new_environ(&io, &shared.opts);
        // Once per connection: an upgrade takes it from here.
        env.conn_state = Some(conn.state.clone());
        let p = &conn.peer;
        env.set_connection([&server_name, &server_port, &p.remote_addr, &p.remote_port]);
        f(&mut conn, &mut env)
    };
    (r, io)
}

struct Conn<'a> {
    shared: &'a Shared,
    io: &'a RefCell<ConnIo>,
    peer: Peer,
    state: Arc<ConnState>,
    /// The response writer, kept for the connection's next request (made
    /// at its first).
    sr: Option<Box<StartResponse<'a>>>,
    /// Trusted forwarding headers set this request's client address.
    forwarded: bool,
}

impl<'a> Conn<'a> {
    /// Serve requests until the connection ends; true when it ended while
    /// idle (no request begun, nothing left to send).
    fn serve(&mut self, env: &mut Environ<'a>) -> bool {
        // One head for the connection, parsed into in place and served by
        // reference: a `Head` is 168 bytes, and every copy of it (returned,
        // then moved into `request`) wrote stack lines that are cold again
        // by the connection's next request.
        let mut slot = Head::default();
        loop {
            let head = match self.read_head(&mut slot) {
                HeadRead::Ready => &mut slot,
                HeadRead::Gone => return self.io.borrow().out.is_empty(),
                HeadRead::TimedOut => {
                    self.count(|s| s.timeout(TimeoutKind::Head));
                    self.reject(408, "Request Timeout");
                    return false;
                }
                HeadRead::Bad(e) => {
                    self.reject(e.status(), e.reason());
                    return false;
                }
            };
            if self
                .state
                .compare_exchange(
                    STATE_IDLE,
                    STATE_REQUEST,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                return false; // the server is stopping
            }
            if self.shared.is_stopping() {
                // Within the idle grace: serve this one, then close.
                self.state.store(STATE_CLOSE, Ordering::Release);
            }
            if !self.request(env, head) {
                return false;
            }
            if self
                .state
                .compare_exchange(
                    STATE_REQUEST,
                    STATE_IDLE,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_err()
            {
                return false;
            }
            self.io.borrow_mut().shrink_idle();
            env.park_storage();
        }
    }

    fn limits(&self) -> Limits {
        let o = &self.shared.opts;
        Limits {
            max_request_line: o.url_length_limit,
            max_header_line: o.max_header_line,
            max_headers: o.max_headers,
            max_head: o.max_head_size,
            require_host: o.require_host,
        }
    }

    #[inline(never)]
    fn read_head(&mut self, slot: &mut Head) -> HeadRead {
        let opts = &self.shared.opts;
        let limits = self.limits();
        let idle = match opts.keepalive {
            Keepalive::Idle(d) => d.min(opts.head_timeout),
            _ => opts.head_timeout,
        };
        // In the connection's clock's milliseconds (coarse with the reaper).
        let mut deadline: Option<u64> = None;
        // Re-parse a trickled head once per new line, not per byte.
        let mut progress = head::HeadProgress::new();
        loop {
            let mut io = self.io.borrow_mut();
            // Short heads are parsed on every read (errors show at once);
            // past 1 KiB, once per completed line (no quadratic trickle).
            let buffered = io.buffered().len();
            if buffered > 0 && (buffered <= 1024 || progress.should_parse(io.buffered(), &limits)) {
                // Parsed straight into the slot: no copy of the head.
                match head::parse_head_into(io.buffered(), &limits, opts.reject_bad_requests, slot)
                {
                    Ok(true) => return HeadRead::Ready,
                    Ok(false) => {}
                    Err(e) => return HeadRead::Bad(e),
                }
            }
            // A coarse clock lags the real time by up to its tick: the slack
            // keeps the deadline from passing early.
            let slack = io.clock_slack_ms();
            if !io.buffered().is_empty() && deadline.is_none() {
                let head_ms = millis(opts.head_timeout);
                deadline = Some(io.now_ms().saturating_add(head_ms).saturating_add(slack));
            }
            let wait = match deadline {
                None => idle,
                Some(d) => {
                    let left = d.saturating_sub(io.now_ms());
                    if left == 0 {
                        return HeadRead::TimedOut;
                    }
                    // The wait's own deadline (its slack added back) is `d`.
                    let left = left.saturating_sub(slack).max(1);
                    Duration::from_millis(left).min(opts.head_timeout)
                }
            };
            let started = deadline.is_some();
            let r = io.set_read_timeout(Some(wait)).and_then(|_| io.fill());
            match r {
                Ok(0) => return HeadRead::Gone,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::TimedOut && started => {
                    return HeadRead::TimedOut
                }
                Err(e) => {
                    if e.kind() == io::ErrorKind::TimedOut {
                        drop(io);
                        self.count(|s| s.timeout(TimeoutKind::Idle));
                    }
                    return HeadRead::Gone;
                }
            }
        }
    }

    /// Answer a request rejected before the app with `code`, then close.
    #[cold]
    #[inline(never)]
    fn reject(&mut self, code: u16, reason: &str) {
        self.count(|s| s.rejected(code));
        let body = format!("{reason}\n");
        let mut msg = format!(
            "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nDate: ",
            body.len()
        )
        .into_bytes();
        msg.extend_from_slice(&crate::date::date_header());
        msg.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        msg.extend_from_slice(body.as_bytes());
        let mut io = self.io.borrow_mut();
        let _ = io.set_write_timeout(self.shared.opts.socket_timeout);
        let _ = io.queue(&msg);
        let _ = io.flush_out();
    }

    /// Serve one request; false when the connection must close.
    // Out of line: its locals (the response writer, the request's info)
    // then live in a frame of their own below the connection loop's, not
    // in the loop's frame, and the read path's frames (where an idle
    // connection waits) sit on fewer, hotter stack lines (callgrind's cache
    // model: 67 → 58 last-level misses per request at 1000 connections).
    #[inline(never)]
    fn request(&mut self, env: &mut Environ<'a>, head: &mut Head) -> bool {
        let started = Stamp::now();
        let opts = &self.shared.opts;
        let max_body = opts.max_body_size;
        if let (Some(max), head::BodyFraming::Length(n)) = (max_body, &head.framing) {
            if *n > max {
                self.reject(413, "Content Too Large");
                return false;
            }
        }
        self.count(Stats::request_started);
        let req = self.build_environ(env, head);
        let expect = head.expect_continue && head.version == head::Version::Http11;
        env.input
            .reset(&head.framing, expect, max_body, opts.socket_timeout);
        {
            let mut io = self.io.borrow_mut();
            io.consume(head.len);
            io.headers_sent = false;
        }
        let mut sr = self.sr.take().unwrap_or_else(|| self.new_writer());
        sr.reset(req);
        if head.te_and_cl {
            sr.close = true;
        }
        self.run_app(env, &mut sr);
        if let Some(code) = self.io.borrow().upgraded {
            crate::upgrade::finished(&self.state);
            sr.code = code;
            sr.close = true;
        }
        let body_done =
            !sr.close && !sr.broken && (env.input.finished() || env.input.drain(opts.max_drain));
        if env.has_posthooks() {
            self.run_posthooks(env);
        }
        let log = self.log_enabled();
        if log || self.shared.opts.access_hook.is_some() {
            self.access_log(env, &sr, started, log);
        }
        self.request_stats(&sr, started);
        let keep = body_done && !sr.close && !sr.broken;
        sr.end_request();
        self.sr = Some(sr);
        keep
    }

    fn run_app(&mut self, env: &mut Environ<'a>, sr: &mut StartResponse<'a>) {
        let app = &self.shared.app;
        let result = catch_unwind(AssertUnwindSafe(|| app.call(env, sr)));
        if self.io.borrow().upgraded.is_some() {
            // The connection is the app's: no response of ours, ever.
            if let Err(payload) = result {
                self.shared.resume_if_killed(payload.as_ref());
                let msg = panic_message(payload.as_ref());
                self.shared.log_error(&format!(
                    "{} - \"{}\": application panicked on an upgraded connection: {msg}",
                    self.peer.remote_addr,
                    env.request_line()
                ));
            }
            return;
        }
        let body = match result {
            Ok(body) => body,
            Err(payload) => {
                self.shared.resume_if_killed(payload.as_ref());
                let msg = panic_message(payload.as_ref());
                return self.app_failed(env, sr, &format!("application panicked: {msg}"));
            }
        };
        if let Some(e) = sr.invalid.clone() {
            drop(body);
            return self.app_failed(env, sr, &e.to_string());
        }
        if !sr.started() {
            drop(body);
            return self.app_failed(env, sr, "the application did not call start_response");
        }
        if let Err(msg) = self.send_body(env, sr, body) {
            self.app_failed(env, sr, &msg);
        }
    }

    /// Stream the body; `Err(message)` when the app's body failed.
    fn send_body(
        &mut self,
        env: &mut Environ<'a>,
        sr: &mut StartResponse<'a>,
        body: Body,
    ) -> Result<(), String> {
        if let Kind::Bytes(b) = body.kind {
            // The common one-piece body: head and body in one go.
            let _ = sr.send_sized(&b);
            return Ok(());
        }
        let min = env.min_chunk.unwrap_or(self.shared.opts.minimum_chunk_size);
        let known = body.len();
        let mut chunks = Chunks::new(body);
        if let Some(n) = known {
            // Sized: everything is queued and leaves in as few writes as possible.
            if sr.send_headers(Some(n)).is_err() {
                return Ok(());
            }
            while let Some(Ok(c)) = chunks.next(&mut env.input) {
                if sr.write_framed(&c).is_err() {
                    return Ok(());
                }
            }
            let _ = sr.finish();
            return Ok(());
        }
        self.send_streamed(env, sr, chunks, min)
    }

    /// The rest of [`send_body`](Self::send_body) for a body of unknown length.
    #[inline(never)]
    fn send_streamed(
        &mut self,
        env: &mut Environ<'a>,
        sr: &mut StartResponse<'a>,
        mut chunks: Chunks,
        min: usize,
    ) -> Result<(), String> {
        loop {
            let next = catch_unwind(AssertUnwindSafe(|| chunks.next(&mut env.input)));
            match next {
                Ok(None) => break,
                Ok(Some(Ok(c))) => {
                    if !c.is_empty() && sr.write_coalesced(&c, min).is_err() {
                        return Ok(());
                    }
                }
                Ok(Some(Err(e))) => return Err(format!("the response body failed: {e}")),
                Err(payload) => {
                    self.shared.resume_if_killed(payload.as_ref());
                    let msg = panic_message(payload.as_ref());
                    return Err(format!("the response body panicked: {msg}"));
                }
            }
        }
        if sr.flush_pending().is_ok() {
            let _ = sr.finish();
        }
        Ok(())
    }

    /// The app failed: a 500 (or 400/413 for a body the client botched) if
    /// nothing was sent yet, otherwise cut the connection.
    #[cold]
    #[inline(never)]
    fn app_failed(&mut self, env: &mut Environ<'a>, sr: &mut StartResponse<'a>, msg: &str) {
        self.shared.log_error(&format!(
            "{} - \"{}\": {msg}",
            self.peer.remote_addr,
            env.request_line()
        ));
        sr.close = true;
        if sr.headers_sent() {
            let _ = sr.flush();
            return;
        }
        let (status, body) = match env.input.fault() {
            Some(BodyFault::Malformed) => ("400 Bad Request", "Bad Request\n".to_string()),
            Some(BodyFault::TooLarge) => ("413 Content Too Large", "Content Too Large\n".into()),
            _ if self.shared.opts.debug => ("500 Internal Server Error", format!("{msg}\n")),
            _ => ("500 Internal Server Error", String::new()),
        };
        sr.reset_for_error();
        sr.start(status, [("Content-Type", "text/plain")]);
        let _ = sr.send_sized(body.as_bytes());
    }

    #[inline]
    fn build_environ(&mut self, env: &mut Environ<'a>, head: &mut Head) -> RequestInfo {
        let shared = self.shared;
        let opts = &shared.opts;
        let io = self.io.borrow();
        let buf = io.buffered();
        let method = &buf[head.method.clone()];
        let http11 = head.version == head::Version::Http11;
        env.load(buf, head, self.peer.tls, &opts.environ);
        self.forwarded =
            crate::proxy::apply_forwarded(env, self.peer.ip, &opts.forwarded_allow_ips);
        RequestInfo {
            http11,
            is_head: method == b"HEAD",
            is_connect: method == b"CONNECT",
            client_keep_alive: head.conn_keep_alive,
            may_keep_alive: !head.conn_close && !head.te_and_cl && (http11 || head.conn_keep_alive),
        }
    }

    /// The connection's response writer, made at its first request.
    #[cold]
    #[inline(never)]
    fn new_writer(&self) -> Box<StartResponse<'a>> {
        let info = ConnInfo::new(&self.shared.opts, self.state.clone());
        Box::new(StartResponse::new(self.io, info))
    }

    /// Run `f` on the server's statistics, if it keeps them.
    #[inline]
    fn count(&self, f: impl FnOnce(&Stats)) {
        if let Some(s) = &self.shared.opts.stats {
            f(s);
        }
    }

    fn request_stats(&self, sr: &StartResponse<'_>, started: Stamp) {
        let Some(stats) = &self.shared.opts.stats else {
            return;
        };
        let mut io = self.io.borrow_mut();
        let (bytes_in, bytes_out) = io.take_bytes();
        stats.request_done(sr.code, started.elapsed_us(), bytes_in, bytes_out);
        if io.read_timed_out {
            stats.timeout(TimeoutKind::Body);
        }
        if io.write_timed_out {
            stats.timeout(TimeoutKind::Write);
        }
        io.read_timed_out = false;
        io.write_timed_out = false;
    }

    #[cold]
    #[inline(never)]
    fn run_posthooks(&self, env: &mut Environ<'a>) {
        for hook in env.take_posthooks() {
            if catch_unwind(AssertUnwindSafe(|| hook(env))).is_err() {
                self.shared.log_error("a posthook panicked");
            }
        }
    }

    /// Whether access lines are written (the line is built, out of line,
    /// only then or for an access hook).
    #[inline]
    fn log_enabled(&self) -> bool {
        let opts = &self.shared.opts;
        opts.log_output && opts.log.info_enabled()
    }

    #[inline(never)]
    fn access_log(&self, env: &Environ<'_>, sr: &StartResponse<'_>, started: Stamp, log: bool) {
        let opts = &self.shared.opts;
        let mut joined = String::new();
        let mut client_ip: &str = &self.peer.remote_addr;
        // Parsed only when something reads it (the default format does not).
        let port_used =
            opts.access_hook.is_some() || opts.log_format.uses(crate::logfmt::LogKey::ClientPort);
        let mut client_port = None;
        if port_used {
            client_port = self.peer.remote_port.parse().ok();
        }
        if self.forwarded {
            // A trusted proxy named the client: log it, not the chain.
            client_ip = env.get("REMOTE_ADDR").unwrap_or_default();
            client_port = env.get("REMOTE_PORT").and_then(|p| p.parse().ok());
        } else if opts.log_x_forwarded_for {
            // Joined into a new string only when the header is there.
            if let Some(xff) = env.forwarded_for() {
                crate::logfmt::client_ip(&self.peer.remote_addr, Some(xff), true, &mut joined);
                client_ip = &joined;
            }
        }
        let duration = started.elapsed();
        let rec = crate::logfmt::LogRecord {
            client_ip,
            client_port,
            date_time: std::time::SystemTime::now(),
            request_line: env.request_line(),
            status_code: sr.code,
            body_length: sr.bytes_sent,
            wall_seconds: duration.as_secs_f64(),
        };
        if let Some(hook) = &opts.access_hook {
            (hook.0)(&crate::access_record::AccessRecord {
                client_ip: rec.client_ip,
                client_port: rec.client_port,
                remote_addr: env.get("REMOTE_ADDR").unwrap_or_default(),
                date_time: rec.date_time,
                request_line: rec.request_line,
                method: env.get("REQUEST_METHOD").unwrap_or_default(),
                target: env.get("REQUEST_URI").unwrap_or_default(),
                protocol: env.get("SERVER_PROTOCOL").unwrap_or_default(),
                status_code: rec.status_code,
                body_length: rec.body_length,
                wall_seconds: rec.wall_seconds,
                duration,
                url_scheme: env.url_scheme(),
            });
        }
        if !log {
            return;
        }
        self.shared
            .access
            .line(log::Level::Info, |line| opts.log_format.render(&rec, line));
    }
}

/// Whole milliseconds, rounded up (a timeout never ends early).
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX >> 2)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".into()
    }
}

#[inline(never)]
fn new_io(
    stream: Stream,
    link: Option<crate::reaper::Link>,
    opts: &ServerOptions,
) -> Box<RefCell<ConnIo>> {
    let _ = stream.set_nodelay(true);
    let mut io = ConnIo::new(stream);
    io.link = link;
    // Every response is written under this one limit: set once here, not
    // per request (an upgrade sets the stream's own after taking it over).
    let _ = io.set_write_timeout(opts.socket_timeout);
    Box::new(RefCell::new(io))
}

#[inline(never)]
fn new_environ<'a>(io: &'a RefCell<ConnIo>, opts: &ServerOptions) -> Box<Environ<'a>> {
    let limits = ChunkedLimits {
        max_trailer_line: opts.max_header_line,
        max_trailers_total: opts.max_head_size,
        max_trailers: opts.max_headers,
        ..ChunkedLimits::default()
    };
    let mut env = Box::new(Environ::new(Input::new(io, limits)));
    env.errors.log = Some(opts.log.clone());
    env
}

/// Half-close, then read and drop what the client still sends for a short
/// while, so that our last response is not destroyed by a TCP reset.
#[inline(never)]
fn graceful_close(io: &RefCell<ConnIo>) {
    let mut io = io.borrow_mut();
    let _ = io.flush_out();
    let _ = io.stream.shutdown(Shutdown::Write);
    let _ = io.set_read_timeout(Some(Duration::from_millis(500)));
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut drained = 0usize;
    while Instant::now() < deadline && drained < 256 * 1024 {
        io.consume(usize::MAX);
        match io.fill() {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}

#[allow(dead_code)]
const _STATES: [u8; 3] = [STATE_IDLE, STATE_REQUEST, STATE_CLOSE];

/// A connection's environ builder and response writer without socket IO, for
/// `benches/micro.rs` (see [`crate::bench_support`]).
pub struct BenchConn<'c, 'a> {
    conn: &'c mut Conn<'a>,
    env: &'c mut Environ<'a>,
    /// Parsed into in place, as `serve` parses into its slot.
    head: Head,
    req: Option<RequestInfo>,
}

impl std::fmt::Debug for BenchConn<'_, '_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchConn").finish_non_exhaustive()
    }
}

/// Run `f` with a [`BenchConn`] over `stream` (whose peer never reads).
pub(crate) fn with_bench_conn<R>(
    stream: Stream,
    peer: Addr,
    shared: &Shared,
    f: impl FnOnce(&mut BenchConn<'_, '_>) -> R,
) -> R {
    let state = Arc::new(ConnState::new(STATE_REQUEST));
    let (r, _io) = with_conn(stream, &peer, shared, state, |conn, env| {
        f(&mut BenchConn {
            conn,
            env,
            head: Head::default(),
            req: None,
        })
    });
    r
}

impl<'a> BenchConn<'_, 'a> {
    /// Parse `head` (a complete request head) and build its environ, as the
    /// connection does before calling the app.
    ///
    /// # Panics
    /// When `head` is not a complete, valid request head.
    pub fn build_environ(&mut self, head: &[u8]) {
        let limits = self.conn.limits();
        let reject = self.conn.shared.opts.reject_bad_requests;
        self.env.park_storage();
        {
            let mut io = self.conn.io.borrow_mut();
            io.load(head);
            let complete = head::parse_head_into(io.buffered(), &limits, reject, &mut self.head)
                .expect("a valid head");
            assert!(complete, "a complete head");
        }
        self.req = Some(self.conn.build_environ(self.env, &mut self.head));
    }

    /// The environ built last.
    pub fn environ(&self) -> &Environ<'a> {
        self.env
    }

    /// Encode a `200 OK` response with `Content-Type: text/plain` and `body`
    /// for the request built last, as a sized app body is sent; returns the
    /// bytes it would write (they are dropped, not sent).
    ///
    /// # Panics
    /// Before [`build_environ`](Self::build_environ).
    pub fn encode_response(&mut self, body: &[u8]) -> usize {
        let req = self.req.expect("build_environ first");
        let mut sr = self
            .conn
            .sr
            .take()
            .unwrap_or_else(|| self.conn.new_writer());
        sr.reset(req);
        sr.start("200 OK", [("Content-Type", "text/plain")]);
        let _ = sr.send_headers(Some(body.len() as u64));
        let _ = sr.write_framed(body);
        let n = {
            let mut io = self.conn.io.borrow_mut();
            let n = io.out.len();
            io.out.clear();
            io.headers_sent = false;
            n
        };
        self.conn.sr = Some(sr);
        n
    }
}
