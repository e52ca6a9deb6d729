//! `ServerOptions`: every keyword of eventlet's `wsgi.server()`, plus limits.

use crate::logfmt::{LogFormat, DEFAULT_LOG_FORMAT};
use eventlet::GreenPool;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// eventlet's `keepalive` keyword.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Keepalive {
    /// `keepalive=False` (or 0): one request per connection.
    Disabled,
    /// `keepalive=True`: persistent connections; the idle wait is bounded by
    /// [`ServerOptions::head_timeout`].
    Enabled,
    /// `keepalive=<seconds>`: persistent, closed after this long idle; clients
    /// that sent `Connection: keep-alive` get `Keep-Alive: timeout=<int>`.
    Idle(Duration),
}

/// eventlet's `max_http_version`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpVersion {
    /// `'HTTP/1.0'`: pretend to speak 1.0 only (every response closes).
    Http10,
    /// `'HTTP/1.1'` (the default).
    Http11,
}

/// Where access-log and error lines go: the `log` crate (target
/// `eventlet_wsgi`, INFO for access lines), or any writer (eventlet's
/// file-like `log=`), one line per record.
///
/// The default, [`LogSink::auto`], writes to stderr like eventlet until the
/// program installs a `log` logger, then goes through it instead (never both).
#[derive(Clone)]
pub struct LogSink {
    writer: Option<Arc<Mutex<Box<dyn Write + Send>>>>,
    /// Fall back to stderr while no `log` logger is installed.
    auto: bool,
}

impl LogSink {
    /// Log through the `log` crate only (silent without a logger).
    pub fn log_crate() -> LogSink {
        LogSink {
            writer: None,
            auto: false,
        }
    }

    /// The default: the `log` crate once a logger is installed (any
    /// `log::max_level()` above `Off`), stderr until then, as eventlet's
    /// `log=sys.stderr`.
    pub fn auto() -> LogSink {
        LogSink {
            writer: None,
            auto: true,
        }
    }

    /// Write lines to `w` (a file, a `Vec<u8>` behind a mutex, stderr...).
    pub fn writer(w: impl Write + Send + 'static) -> LogSink {
        LogSink {
            writer: Some(Arc::new(Mutex::new(Box::new(w)))),
            auto: false,
        }
    }

    /// True when lines go to stderr because no logger is installed.
    pub(crate) fn to_stderr(&self) -> bool {
        self.auto && self.writer.is_none() && log::max_level() == log::LevelFilter::Off
    }

    /// The writer, for the batching flusher (`None`: the `log` crate or stderr).
    pub(crate) fn writer_ref(&self) -> Option<&Mutex<Box<dyn Write + Send>>> {
        self.writer.as_deref()
    }

    pub(crate) fn line(&self, level: log::Level, msg: &str) {
        if self.to_stderr() {
            // One write per line so that lines from several green threads
            // never interleave.
            let mut line = String::with_capacity(msg.len() + 1);
            line.push_str(msg);
            line.push('\n');
            let _ = std::io::stderr().write_all(line.as_bytes());
            return;
        }
        match &self.writer {
            Some(w) => {
                // A short critical section with no blocking green-thread call
                // inside, so a std Mutex is fine here.
                let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
                let _ = w.write_all(msg.as_bytes());
                let _ = w.write_all(b"\n");
                let _ = w.flush();
            }
            None => log::log!(target: "eventlet_wsgi", level, "{msg}"),
        }
    }

    /// Whether an INFO line would go anywhere (skip formatting it if not).
    pub fn info_enabled(&self) -> bool {
        self.writer.is_some()
            || self.to_stderr()
            || log::log_enabled!(target: "eventlet_wsgi", log::Level::Info)
    }

    /// An access-log or informational line.
    pub fn info(&self, msg: &str) {
        self.line(log::Level::Info, msg)
    }

    /// An error line (app panics, body errors).
    pub fn error(&self, msg: &str) {
        self.line(log::Level::Error, msg)
    }

    /// A debug line (accepted / timed out / reset): written to a writer only
    /// when the server runs with `debug`.
    pub fn debug(&self, msg: &str) {
        self.line(log::Level::Debug, msg)
    }
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.writer.is_some() {
            "LogSink(writer)"
        } else if self.auto {
            "LogSink(auto: log crate or stderr)"
        } else {
            "LogSink(log crate)"
        })
    }
}

/// Every keyword of eventlet's `wsgi.server()`, with eventlet's defaults
/// except where safety needs otherwise (each such default says so).
///
/// ```
/// use eventlet_wsgi::{ServerOptions, Keepalive};
/// use std::time::Duration;
/// let opts = ServerOptions::new()
///     .max_size(512)
///     .keepalive(Keepalive::Idle(Duration::from_secs(5)))
///     .log_output(false);
/// assert_eq!(opts.get_max_size(), 512);
/// ```
#[derive(Clone, Debug)]
#[must_use = "ServerOptions do nothing until passed to a Server"]
pub struct ServerOptions {
    pub(crate) log: LogSink,
    pub(crate) environ: HashMap<String, String>,
    pub(crate) max_size: usize,
    pub(crate) max_http_version: HttpVersion,
    pub(crate) minimum_chunk_size: usize,
    pub(crate) log_x_forwarded_for: bool,
    pub(crate) custom_pool: Option<GreenPool>,
    pub(crate) keepalive: Keepalive,
    pub(crate) log_output: bool,
    pub(crate) log_format: Arc<LogFormat>,
    pub(crate) url_length_limit: usize,
    pub(crate) debug: bool,
    pub(crate) socket_timeout: Option<Duration>,
    pub(crate) capitalize_response_headers: bool,
    pub(crate) reject_bad_requests: bool,
    pub(crate) max_header_line: usize,
    pub(crate) max_headers: usize,
    pub(crate) max_head_size: usize,
    pub(crate) head_timeout: Duration,
    pub(crate) max_body_size: Option<u64>,
    pub(crate) max_drain: u64,
    pub(crate) drain_timeout: Option<Duration>,
    pub(crate) handle_signals: bool,
    pub(crate) require_host: bool,
    pub(crate) forwarded_allow_ips: crate::proxy::TrustedProxies,
    pub(crate) proxy_protocol: bool,
    pub(crate) stats: Option<std::sync::Arc<crate::stats::Stats>>,
    pub(crate) access_hook: Option<crate::access_record::HookSlot>,
    pub(crate) idle_grace: Duration,
    pub(crate) log_buffer_size: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            log: LogSink::auto(),
            environ: HashMap::new(),
            max_size: 1024,
            max_http_version: HttpVersion::Http11,
            minimum_chunk_size: 4096,
            log_x_forwarded_for: true,
            custom_pool: None,
            keepalive: Keepalive::Enabled,
            log_output: true,
            log_format: Arc::new(
                LogFormat::parse(DEFAULT_LOG_FORMAT).expect("the default log format parses"),
            ),
            url_length_limit: 8192,
            debug: cfg!(debug_assertions),
            socket_timeout: Some(Duration::from_secs(60)),
            capitalize_response_headers: true,
            reject_bad_requests: true,
            max_header_line: 8192,
            max_headers: 100,
            max_head_size: 65536,
            head_timeout: Duration::from_secs(30),
            max_body_size: None,
            max_drain: 1024 * 1024,
            drain_timeout: None,
            handle_signals: true,
            require_host: true,
            forwarded_allow_ips: crate::proxy::TrustedProxies::none(),
            proxy_protocol: false,
            stats: Some(crate::stats::Stats::new()),
            access_hook: None,
            idle_grace: Duration::ZERO,
            log_buffer_size: crate::accesslog::DEFAULT_BUFFER,
        }
    }
}

impl ServerOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// eventlet `log=`: where access and error lines go (default: the `log`
    /// crate, target `eventlet_wsgi`).
    pub fn log(mut self, sink: LogSink) -> Self {
        self.log = sink;
        self
    }

    /// eventlet `environ=`: extra variables merged into every environ (after
    /// the `wsgi.*` defaults, before the request's own variables).
    pub fn environ<K: Into<String>, V: Into<String>>(
        mut self,
        vars: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.environ = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self
    }

    /// eventlet `max_size` (1024): most connections at once; the accept loop
    /// waits while full (a keep-alive connection holds its slot while idle).
    pub fn max_size(mut self, n: usize) -> Self {
        self.max_size = n.max(1);
        self
    }

    /// eventlet `max_http_version` (`HTTP/1.1`).
    pub fn max_http_version(mut self, v: HttpVersion) -> Self {
        self.max_http_version = v;
        self
    }

    /// eventlet `minimum_chunk_size` (4096): coalesce small body pieces
    /// until this many bytes are pending (0 or 1: send each piece at once).
    pub fn minimum_chunk_size(mut self, n: usize) -> Self {
        self.minimum_chunk_size = n;
        self
    }

    /// eventlet `log_x_forwarded_for` (true): prefix `client_ip` in the log
    /// with `X-Forwarded-For`. Only the log: `REMOTE_ADDR` stays the peer.
    pub fn log_x_forwarded_for(mut self, on: bool) -> Self {
        self.log_x_forwarded_for = on;
        self
    }

    /// eventlet `custom_pool`: run connections in this pool (then `max_size`
    /// is ignored). Shutdown waits for the whole pool.
    pub fn custom_pool(mut self, pool: GreenPool) -> Self {
        self.custom_pool = Some(pool);
        self
    }

    /// eventlet `keepalive` (true).
    pub fn keepalive(mut self, k: Keepalive) -> Self {
        self.keepalive = match k {
            Keepalive::Idle(d) if d.is_zero() => Keepalive::Disabled,
            k => k,
        };
        self
    }

    /// eventlet `log_output` (true): false silences every log line.
    pub fn log_output(mut self, on: bool) -> Self {
        self.log_output = on;
        self
    }

    /// eventlet `log_format`, parsed now: an error names what is wrong.
    pub fn log_format(mut self, fmt: &str) -> Result<Self, crate::logfmt::LogFormatError> {
        self.log_format = Arc::new(LogFormat::parse(fmt)?);
        Ok(self)
    }

    /// eventlet `url_length_limit` (8192): the longest request line, CRLF
    /// included; longer → 414.
    pub fn url_length_limit(mut self, n: usize) -> Self {
        self.url_length_limit = n.max(16);
        self
    }

    /// eventlet `debug`: put the panic message in 500 bodies. Default: on in
    /// debug builds, off in release builds (eventlet's default `True` leaks
    /// tracebacks to clients).
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = on;
        self
    }

    /// eventlet `socket_timeout`: the inactivity limit while reading a body or
    /// writing a response. Default 60 s (eventlet: none, which lets a client
    /// that stops reading hold a connection forever); `None` disables it.
    ///
    /// Precision (this one, [`head_timeout`](Self::head_timeout) and
    /// [`Keepalive::Idle`], plain connections; TLS ones keep a timer per
    /// wait): one thread per server checks the connections' deadlines every
    /// tick, an eighth of the smallest of these timeouts clamped to
    /// 10–250 ms, so a timeout fires no earlier than configured and at most
    /// two ticks later (the defaults: within 0.5 s).
    pub fn socket_timeout(mut self, t: Option<Duration>) -> Self {
        self.socket_timeout = t;
        self
    }

    /// eventlet `capitalize_response_headers` (true): `content-TYPE` →
    /// `Content-Type`.
    pub fn capitalize_response_headers(mut self, on: bool) -> Self {
        self.capitalize_response_headers = on;
        self
    }

    /// eventlet's `HttpProtocol.reject_bad_requests` (true): a request with
    /// both Content-Length and Transfer-Encoding gets 400. False: the
    /// Transfer-Encoding wins and the connection closes after the response.
    pub fn reject_bad_requests(mut self, on: bool) -> Self {
        self.reject_bad_requests = on;
        self
    }

    /// Longest header line (8192); longer → 431.
    pub fn max_header_line(mut self, n: usize) -> Self {
        self.max_header_line = n.max(64);
        self
    }

    /// Most header lines (100); more → 431.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n.max(1);
        self
    }

    /// Largest request head (65536); larger → 431.
    pub fn max_head_size(mut self, n: usize) -> Self {
        self.max_head_size = n.max(256);
        self
    }

    /// The whole request head must arrive within this time from its first
    /// byte (408 otherwise), and an idle keep-alive connection is closed after
    /// it (30 s, hyper's choice; eventlet has none — a slowloris defence).
    pub fn head_timeout(mut self, t: Duration) -> Self {
        self.head_timeout = t;
        self
    }

    /// Largest request body; larger → 413 (default: no limit, like eventlet).
    pub fn max_body_size(mut self, n: Option<u64>) -> Self {
        self.max_body_size = n;
        self
    }

    /// How much unread request body the server reads and drops to keep a
    /// connection alive (1 MiB); more → the connection is closed instead
    /// (eventlet reads any amount).
    pub fn max_drain(mut self, n: u64) -> Self {
        self.max_drain = n;
        self
    }

    /// On shutdown, wait at most this long for active requests, then cut
    /// their connections (default: wait for ever, like eventlet).
    pub fn drain_timeout(mut self, t: Option<Duration>) -> Self {
        self.drain_timeout = t;
        self
    }

    /// Stop gracefully on SIGINT/SIGTERM (eventlet's KeyboardInterrupt /
    /// SystemExit); a second signal exits at once. Default: on.
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// HTTP/1.1 requests must carry exactly one valid `Host` (RFC 9112 §3.2:
    /// 400 otherwise). Default: on (eventlet accepts requests without Host).
    pub fn require_host(mut self, on: bool) -> Self {
        self.require_host = on;
        self
    }

    /// The proxies whose forwarding headers (`Forwarded`, `X-Forwarded-For`,
    /// `-Proto`, `-Host`) set `REMOTE_ADDR`, `wsgi.url_scheme`/`HTTPS`,
    /// `HTTP_HOST` and the access log's client address, and which may send
    /// PROXY protocol headers (gunicorn's `forwarded_allow_ips`). Default:
    /// nobody; from untrusted peers the headers are ignored.
    ///
    /// ```
    /// use eventlet_wsgi::{proxy::TrustedProxies, ServerOptions};
    /// let opts = ServerOptions::new()
    ///     .forwarded_allow_ips(TrustedProxies::parse("127.0.0.1,10.0.0.0/8,unix").unwrap());
    /// ```
    pub fn forwarded_allow_ips(mut self, trusted: crate::proxy::TrustedProxies) -> Self {
        self.forwarded_allow_ips = trusted;
        self
    }

    /// Every connection starts with a PROXY protocol header (v1 or v2, as
    /// HAProxy's `send-proxy`/`send-proxy-v2` or an AWS NLB send it), read
    /// before TLS and within [`head_timeout`](Self::head_timeout); its
    /// client address is the connection's `REMOTE_ADDR` for every request on
    /// it. A connection from a peer outside
    /// [`forwarded_allow_ips`](Self::forwarded_allow_ips), or with a missing or
    /// malformed header, is closed. Default: off.
    pub fn proxy_protocol(mut self, on: bool) -> Self {
        self.proxy_protocol = on;
        self
    }

    /// Count into these [`Stats`](crate::stats::Stats) (by default each
    /// `ServerOptions` has its own; [`ServerHandle::stats`](crate::ServerHandle::stats)
    /// reads them). Share one between servers to add them up.
    pub fn stats(mut self, stats: std::sync::Arc<crate::stats::Stats>) -> Self {
        self.stats = Some(stats);
        self
    }

    /// Turn the statistics counters off (`false`) or back on with fresh
    /// ones. On by default: they cost a few relaxed atomic adds per request.
    pub fn collect_stats(mut self, on: bool) -> Self {
        self.stats = on.then(crate::stats::Stats::new);
        self
    }

    /// Call `hook` with an [`AccessRecord`](crate::access_record::AccessRecord)
    /// after every response (whatever `log_output` says), e.g. to write JSON
    /// access logs.
    ///
    /// ```
    /// use eventlet_wsgi::ServerOptions;
    /// let opts = ServerOptions::new().log_output(false).access_hook(|r| {
    ///     println!(r#"{{"client":"{}","status":{},"ms":{}}}"#, r.client_ip, r.status_code, r.duration.as_millis());
    /// });
    /// ```
    pub fn access_hook(
        mut self,
        hook: impl Fn(&crate::access_record::AccessRecord<'_>) + Send + Sync + 'static,
    ) -> Self {
        self.access_hook = Some(crate::access_record::HookSlot(std::sync::Arc::new(hook)));
        self
    }

    /// On a graceful stop, keep connections open this long: the next
    /// request on each (and the one in flight) is served, the first one
    /// started after the stop with `Connection: close`, and the connection
    /// is closed once that is answered (or at the end of the grace). This closes the race of a client sending on a connection the
    /// server is closing, which a client sees as a reset: with sockets
    /// shared between processes (restarts) nothing else is lost. Default:
    /// zero (idle connections close at once, as in eventlet).
    pub fn idle_grace(mut self, t: Duration) -> Self {
        self.idle_grace = t;
        self
    }

    /// Most bytes of log lines held for the log's writer thread (1 MiB).
    /// Lines are written in batches, at least once a second, off the request
    /// path; when this much is pending because the sink is slower than the
    /// server, requests wait to log (no line is dropped; the waits are counted
    /// in one error line at shutdown).
    pub fn log_buffer_size(mut self, bytes: usize) -> Self {
        self.log_buffer_size = bytes.max(1);
        self
    }

    /// See [`max_size`](Self::max_size).
    pub fn get_max_size(&self) -> usize {
        self.max_size
    }

    /// See [`debug`](Self::debug).
    pub fn get_debug(&self) -> bool {
        self.debug
    }

    /// See [`keepalive`](Self::keepalive).
    pub fn get_keepalive(&self) -> Keepalive {
        self.keepalive
    }
}
