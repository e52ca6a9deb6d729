//! The server: accept loop, connection registry and the shutdown state
//! machine (eventlet's `wsgi.server()` and its `finally` block).

use crate::accesslog::AccessLog;
use crate::conn;
use crate::options::{Keepalive, LogSink, ServerOptions};
use crate::reaper::{Clock, ConnState, Reaper};
use crate::App;
use eventlet::net::{Addr, Listener};
use eventlet::{GreenPool, GreenThread, Timeout};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Waiting for (or reading the head of) the next request: closed at once on shutdown.
pub(crate) const STATE_IDLE: u8 = 0;
/// Serving a request: finishes on shutdown, then closes.
pub(crate) const STATE_REQUEST: u8 = 1;
/// Shutting down: no more requests.
pub(crate) const STATE_CLOSE: u8 = 2;
/// Taken over by the app (`Environ::upgrade`): idle for shutdown purposes.
pub(crate) const STATE_UPGRADED: u8 = 3;

struct ConnEntry {
    fd: RawFd,
    state: Arc<ConnState>,
    gt: Option<GreenThread<()>>,
}

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub opts: ServerOptions,
    pub app: Box<dyn App>,
    /// The first is the primary one (its address is the handle's).
    listeners: Vec<Listener>,
    stopping: AtomicBool,
    /// Set before the drain deadline kills connections, so that their
    /// `catch_unwind` lets the kill through.
    killing: AtomicBool,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    next_id: AtomicU64,
    /// Log lines, batched off the request path while the server runs.
    pub(crate) access: AccessLog,
    /// The coarse clock of the connections' timeouts (see `reaper.rs`).
    pub(crate) clock: Arc<Clock>,
}

impl Shared {
    pub(crate) fn new(listener: Listener, app: Box<dyn App>, opts: ServerOptions) -> Shared {
        Shared::with_listeners(vec![listener], app, opts)
    }

    fn with_listeners(listeners: Vec<Listener>, app: Box<dyn App>, opts: ServerOptions) -> Shared {
        let access = AccessLog::new(opts.log.clone(), opts.log_buffer_size);
        let clock = Arc::new(Clock::new(crate::reaper::tick_for(min_timeout(&opts))));
        Shared {
            access,
            clock,
            opts,
            app,
            listeners,
            stopping: AtomicBool::new(false),
            killing: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        }
    }

    fn conns(&self) -> MutexGuard<'_, HashMap<u64, ConnEntry>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn log_error(&self, msg: &str) {
        if self.opts.log_output {
            // Through the batch, so that it stays in order with access lines.
            self.access
                .line(log::Level::Error, |out: &mut String| out.push_str(msg));
        }
    }

    fn log_info(&self, msg: &str) {
        if self.opts.log_output {
            self.access
                .line(log::Level::Info, |out: &mut String| out.push_str(msg));
        }
    }

    /// A connection's PROXY protocol header was missing, bad or untrusted.
    pub(crate) fn proxy_refused(&self, peer: &Addr, e: &crate::proxy::ProxyError) {
        if let Some(s) = &self.opts.stats {
            s.reject(crate::stats::RejectReason::ProxyProtocol);
        }
        if self.opts.debug {
            self.opts
                .log
                .debug(&format!("({}) {peer}: {e}", std::process::id()));
        }
    }

    /// A caught panic that is really the drain deadline's kill must go on.
    pub(crate) fn resume_if_killed(&self, _payload: &(dyn std::any::Any + Send)) {
        if self.killing.load(Ordering::Acquire) {
            std::panic::resume_unwind(Box::new("killed by the server's drain deadline"));
        }
    }

    fn stop(&self) {
        if let Some(s) = &self.opts.stats {
            s.set_ready(false);
        }
        self.stop_accepting();
    }

    /// Stop without touching readiness (another process takes over the sockets).
    fn stop_accepting(&self) {
        if !self.stopping.swap(true, Ordering::AcqRel) {
            for l in &self.listeners {
                l.shutdown();
            }
        }
    }

    /// Close idle connections now; mark busy ones to close after their response.
    fn close_connections(&self) {
        let conns = self.conns();
        let mut idle = Vec::with_capacity(conns.len());
        for entry in conns.values() {
            match entry.state.swap(STATE_CLOSE, Ordering::AcqRel) {
                STATE_IDLE => idle.push(entry.fd),
                STATE_UPGRADED if !crate::upgrade::server_stopping(&entry.state) => {
                    idle.push(entry.fd)
                }
                _ => {}
            }
        }
        // Still under the registry lock: no connection in `idle` can close
        // its socket (and free the number for reuse) until every shutdown
        // is done.
        shutdown_all(&idle);
        drop(conns);
    }

    /// True once the server is stopping (a request read now is its connection's last).
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The reaper's tick: shut down connections whose wait outlived its deadline.
    fn expire_connections(&self, now: u64) {
        let conns = self.conns();
        for e in conns.values() {
            crate::reaper::expire(&e.state, e.fd, now);
        }
    }

    /// The drain deadline passed: cut every remaining connection.
    fn cut_connections(&self) -> Vec<GreenThread<()>> {
        self.killing.store(true, Ordering::Release);
        let conns = self.conns();
        let fds: Vec<RawFd> = conns.values().map(|e| e.fd).collect();
        // Under the registry lock, as in `close_connections`.
        shutdown_all(&fds);
        conns.values().filter_map(|e| e.gt.clone()).collect()
    }
}

/// The smallest of the connection timeouts: the reaper ticks at an eighth of it.
fn min_timeout(opts: &ServerOptions) -> Duration {
    let mut t = opts.head_timeout;
    if let Some(s) = opts.socket_timeout {
        t = t.min(s);
    }
    if let Keepalive::Idle(d) = opts.keepalive {
        t = t.min(d);
    }
    t
}

/// Connections one thread shuts down before another thread is worth starting
/// (a thread costs ~50 µs to start; 512 shutdowns take a few ms).
const SHUTDOWNS_PER_THREAD: usize = 512;
/// Descriptors a thread takes from the shared list at a time (few: a thread
/// preempted mid-batch delays only these).
const SHUTDOWN_BATCH: usize = 16;

/// `shutdown(2)` every descriptor in `fds`, on as many threads as there are
/// CPUs when there are many. Each call sends the peer its FIN at once and
/// wakes the connection's reader (which then sees EOF and ends); it costs
/// 5–10 µs of CPU, mostly delivering that FIN (over loopback, the peer's
/// side too), so 10,000 idle connections take 50–100 ms on one CPU. The
/// threads take batches from one list, so a thread that gets less CPU (the
/// caller shares its worker) does fewer. The caller must hold the registry
/// lock for the whole call (see [`shutdown_fd`]); the helper threads touch
/// nothing but the descriptor numbers. The caller (the green thread of
/// `run`, or the thread running it) blocks its OS thread until they finish,
/// as the single loop before them did: connections that wake meanwhile wait
/// for the registry lock anyway, and the pass is over in milliseconds.
fn shutdown_all(fds: &[RawFd]) {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = cpus.min(fds.len() / SHUTDOWNS_PER_THREAD).clamp(1, 16);
    let next = AtomicUsize::new(0);
    let work = || loop {
        let start = next.fetch_add(SHUTDOWN_BATCH, Ordering::Relaxed);
        if start >= fds.len() {
            break;
        }
        let end = (start + SHUTDOWN_BATCH).min(fds.len());
        fds[start..end].iter().copied().for_each(shutdown_fd);
    };
    if threads == 1 {
        return work();
    }
    std::thread::scope(|s| {
        for _ in 1..threads {
            // A thread that cannot start leaves its batches to the others.
            let _ = std::thread::Builder::new()
                .name("eventlet-wsgi-stop".into())
                .stack_size(64 * 1024)
                .spawn_scoped(s, work);
        }
        work();
    });
}

fn shutdown_fd(fd: RawFd) {
    // SAFETY: `fd` belongs to a live connection: entries are removed from the
    // registry (under the lock every caller holds for the whole call) before
    // their socket is closed, so the descriptor cannot have been reused.
    // shutdown(2) touches no memory.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// Removes the connection from the registry when its green thread ends,
/// before the socket is closed (so shutdown never hits a reused fd).
struct Registration {
    shared: Arc<Shared>,
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.shared.conns().remove(&self.id);
    }
}

/// A handle to stop a running [`Server`] from any green thread or thread.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    shared: Weak<Shared>,
    addr: Option<Addr>,
    stats: Option<Arc<crate::stats::Stats>>,
}

impl ServerHandle {
    /// Stop accepting, close idle connections, let active requests finish
    /// (their responses say `Connection: close`), then [`Server::run`]
    /// returns. Idempotent.
    pub fn stop(&self) {
        if let Some(s) = self.shared.upgrade() {
            s.stop();
        }
    }

    /// [`stop`](Self::stop) for a server being replaced by another process
    /// on the same sockets: the readiness switch stays on (the service as a
    /// whole stays ready).
    pub fn stop_replaced(&self) {
        if let Some(s) = self.shared.upgrade() {
            s.stop_accepting();
        }
    }

    /// The server's statistics (`None` with `collect_stats(false)`).
    pub fn stats(&self) -> Option<Arc<crate::stats::Stats>> {
        self.stats.clone()
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> Option<&Addr> {
        self.addr.as_ref()
    }
}

/// A WSGI server on a listener: eventlet's `wsgi.server()` split in two so
/// that it can be stopped from elsewhere.
///
/// ```no_run
/// use eventlet_wsgi::{Body, Server, ServerOptions};
/// let listener = eventlet::listen("127.0.0.1:0")?;
/// let server = Server::new(listener, |_env: &mut eventlet_wsgi::Environ, sr: &mut eventlet_wsgi::StartResponse| {
///     sr.start("200 OK", [("Content-Type", "text/plain")]);
///     Body::from("hi\n")
/// }, ServerOptions::new().handle_signals(false));
/// let handle = server.handle();
/// let running = eventlet::spawn(move || server.run());
/// handle.stop();
/// running.join().unwrap()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "a Server serves nothing until `.run()` is called"]
pub struct Server {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listeners", &self.shared.listeners)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for `app` on `listener` (not running yet).
    pub fn new(listener: Listener, app: impl App, opts: ServerOptions) -> Server {
        Server {
            shared: Arc::new(Shared::new(listener, Box::new(app), opts)),
        }
    }

    /// A server for `app` on several listeners at once (TCP and Unix, plain
    /// and TLS, e.g. every socket systemd passed): one accept loop each,
    /// one connection pool and one shutdown for all.
    ///
    /// # Panics
    /// When `listeners` is empty.
    pub fn with_listeners(listeners: Vec<Listener>, app: impl App, opts: ServerOptions) -> Server {
        assert!(!listeners.is_empty(), "a server needs a listener");
        Server {
            shared: Arc::new(Shared::with_listeners(listeners, Box::new(app), opts)),
        }
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::downgrade(&self.shared),
            addr: self.shared.listeners[0].local_addr().ok(),
            stats: self.shared.opts.stats.clone(),
        }
    }

    /// Serve until stopped (a [`ServerHandle::stop`], SIGINT/SIGTERM when
    /// enabled, or a fatal accept error), then shut down as eventlet does and
    /// return. The listener is closed on return.
    pub fn run(self) -> io::Result<()> {
        let shared = self.shared;
        if shared.opts.handle_signals {
            crate::signals::watch(Arc::downgrade(&shared));
        }
        for l in &shared.listeners {
            let scheme = if l.is_tls() { "https" } else { "http" };
            let where_ = match l.local_addr() {
                Ok(Addr::Unix(p)) => format!("{scheme}:{}", p.display()),
                Ok(a) => format!("{scheme}://{a}"),
                Err(_) => format!("{scheme}://?"),
            };
            shared.log_info(&format!(
                "({}) wsgi starting up on {where_}",
                std::process::id()
            ));
        }
        // A Weak: the thread must not keep the server alive.
        let weak = Arc::downgrade(&shared);
        let reaper = Reaper::start(shared.clock.clone(), move |now| {
            if let Some(s) = weak.upgrade() {
                s.expire_connections(now);
            }
        });
        let reaper = match reaper {
            Ok(r) => Some(r),
            Err(e) => {
                shared.log_error(&format!(
                    "cannot start the timeout thread, using per-wait timers: {e}"
                ));
                None
            }
        };
        let pool = shared
            .opts
            .custom_pool
            .clone()
            .unwrap_or_else(|| GreenPool::new(shared.opts.max_size));
        if shared.opts.log_output {
            if let Err(e) = shared.access.start() {
                shared.log_error(&format!(
                    "cannot start the log writer thread, logging directly: {e}"
                ));
            }
        }
        // One accept loop per extra listener, in green threads of their own.
        let extra: Vec<_> = (1..shared.listeners.len())
            .map(|i| {
                let (shared, pool) = (shared.clone(), pool.clone());
                eventlet::spawn(move || {
                    let r = accept_loop(&shared, &pool, i);
                    shared.stop();
                    r
                })
            })
            .collect();
        let mut result = accept_loop(&shared, &pool, 0);
        shared.stop();
        for gt in extra {
            let r = gt.join().unwrap_or(Ok(()));
            if result.is_ok() {
                result = r;
            }
        }
        shared.stop();
        shutdown(&shared, &pool);
        if let Some(r) = reaper {
            r.stop();
        }
        // Every pending line is written before `run` returns.
        shared.access.close();
        shared.log_info(&format!(
            "({}) wsgi exited, is_accepting=False",
            std::process::id()
        ));
        result
    }
}

fn accept_loop(shared: &Arc<Shared>, pool: &GreenPool, index: usize) -> io::Result<()> {
    let listener = &shared.listeners[index];
    let mut backoff = Duration::from_millis(5);
    loop {
        if shared.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        match listener.accept() {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                start_connection(shared, pool, stream, peer);
            }
            Err(_) if shared.stopping.load(Ordering::Acquire) => return Ok(()),
            Err(e) if eventlet::net::is_transient_accept_error(&e) => {
                shared.log_error(&format!("accept failed, retrying in {backoff:?}: {e}"));
                eventlet::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
            Err(e) => {
                shared.log_error(&format!("accept failed, stopping: {e}"));
                return Err(e);
            }
        }
    }
}

fn start_connection(
    shared: &Arc<Shared>,
    pool: &GreenPool,
    stream: eventlet::net::Stream,
    peer: Addr,
) {
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let stats = shared.opts.stats.clone();
    if let Some(s) = &stats {
        s.connection_opened();
    }
    let state = Arc::new(ConnState::new(STATE_IDLE));
    shared.conns().insert(
        id,
        ConnEntry {
            fd: stream.as_raw_fd(),
            state: state.clone(),
            gt: None,
        },
    );
    if shared.opts.debug {
        shared
            .opts
            .log
            .debug(&format!("({}) accepted {peer}", std::process::id()));
    }
    let reg = Registration {
        shared: shared.clone(),
        id,
    };
    let conn_shared = shared.clone();
    // The pool blocks here while full: eventlet's max_size semantics.
    match pool.spawn(move || {
        let reg = reg;
        let stream = conn::handle(stream, peer, conn_shared, state);
        // Leave the registry before the descriptor is freed for reuse:
        // `close_connections` shuts down registered fds by number.
        drop(reg);
        drop(stream);
        if let Some(s) = &stats {
            s.connection_closed();
        }
    }) {
        Ok(gt) => {
            if let Some(e) = shared.conns().get_mut(&id) {
                e.gt = Some(gt);
            }
        }
        Err(_) => {
            shared.conns().remove(&id);
            if let Some(s) = &shared.opts.stats {
                s.connection_closed();
            }
        }
    }
}

/// eventlet's `finally`: idle connections closed, active ones awaited (up to
/// the drain deadline, then cut).
fn shutdown(shared: &Arc<Shared>, pool: &GreenPool) {
    let grace = shared.opts.idle_grace;
    if !grace.is_zero() {
        // Every connection gets one more request, answered with
        // `Connection: close`, until the grace ends. A response already on
        // its way keeps its `keep-alive`: closing after it would cut the
        // client's next request, so that connection too ends only after
        // answering one more request.
        let end = std::time::Instant::now() + grace;
        while !shared.conns().is_empty() && std::time::Instant::now() < end {
            eventlet::sleep(Duration::from_millis(20));
        }
    }
    shared.close_connections();
    let Some(limit) = shared.opts.drain_timeout else {
        let _ = pool.waitall();
        return;
    };
    let timed_out = {
        let t = Timeout::new(limit);
        let r = pool.waitall();
        r.is_err() && t.expired()
    };
    if timed_out {
        shared.log_error("drain deadline passed: closing the remaining connections");
        for gt in shared.cut_connections() {
            // Wait up to a second for the cut sockets to end the threads,
            // then kill what is still busy (an app stuck elsewhere).
            let t = Timeout::new(Duration::from_secs(1));
            if gt.wait_done().is_err() && t.expired() {
                gt.kill();
            }
        }
        let _ = pool.waitall();
    }
}

/// Stops servers on SIGINT/SIGTERM.
pub(crate) fn stop_weak(s: &Weak<Shared>) -> bool {
    match s.upgrade() {
        Some(s) => {
            s.stop();
            true
        }
        None => false,
    }
}

#[allow(dead_code)]
fn _assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Shared>();
    let _ = LogSink::log_crate();
}
