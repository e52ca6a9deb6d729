//! The server: accept loop, connection registry and the shutdown state
//! machine (eventlet's `wsgi.server()` and its `finally` block).

use crate::accesslog::AccessLog;
use crate::conn;
use crate::options::{LogSink, ServerOptions};
use crate::App;
use eventlet::net::{Addr, Listener};
use eventlet::{GreenPool, GreenThread, Timeout};
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Waiting for (or reading the head of) the next request: closed at once on shutdown.
pub(crate) const STATE_IDLE: u8 = 0;
/// Serving a request: finishes on shutdown, then closes.
pub(crate) const STATE_REQUEST: u8 = 1;
/// Shutting down: no more requests.
pub(crate) const STATE_CLOSE: u8 = 2;

struct ConnEntry {
    fd: RawFd,
    state: Arc<AtomicU8>,
    gt: Option<GreenThread<()>>,
}

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub opts: ServerOptions,
    pub app: Box<dyn App>,
    pub is_tls: bool,
    listener: Listener,
    stopping: AtomicBool,
    /// Set before the drain deadline kills connections, so that their
    /// `catch_unwind` lets the kill through.
    killing: AtomicBool,
    conns: Mutex<HashMap<u64, ConnEntry>>,
    next_id: AtomicU64,
    /// Log lines, batched off the request path while the server runs.
    pub(crate) access: AccessLog,
}

impl Shared {
    pub(crate) fn new(listener: Listener, app: Box<dyn App>, opts: ServerOptions) -> Shared {
        let access = AccessLog::new(opts.log.clone(), opts.log_buffer_size);
        Shared {
            access,
            opts,
            app,
            is_tls: listener.is_tls(),
            listener,
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

    /// A caught panic that is really the drain deadline's kill must go on.
    pub(crate) fn resume_if_killed(&self, _payload: &(dyn std::any::Any + Send)) {
        if self.killing.load(Ordering::Acquire) {
            std::panic::resume_unwind(Box::new("killed by the server's drain deadline"));
        }
    }

    fn stop(&self) {
        if !self.stopping.swap(true, Ordering::AcqRel) {
            self.listener.shutdown();
        }
    }

    /// Close idle connections now; mark busy ones to close after their response.
    fn close_connections(&self) {
        for entry in self.conns().values() {
            if entry.state.swap(STATE_CLOSE, Ordering::AcqRel) == STATE_IDLE {
                shutdown_fd(entry.fd);
            }
        }
    }

    /// The drain deadline passed: cut every remaining connection.
    fn cut_connections(&self) -> Vec<GreenThread<()>> {
        self.killing.store(true, Ordering::Release);
        let conns = self.conns();
        conns
            .values()
            .filter_map(|e| {
                shutdown_fd(e.fd);
                e.gt.clone()
            })
            .collect()
    }
}

fn shutdown_fd(fd: RawFd) {
    // SAFETY: `fd` belongs to a live connection: entries are removed from the
    // registry (under the same lock the caller holds) before their socket is
    // closed, so the descriptor cannot have been reused. shutdown(2) touches
    // no memory.
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
#[derive(Clone)]
pub struct ServerHandle {
    shared: Weak<Shared>,
    addr: Option<Addr>,
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
pub struct Server {
    shared: Arc<Shared>,
}

impl Server {
    /// A server for `app` on `listener` (not running yet).
    pub fn new(listener: Listener, app: impl App, opts: ServerOptions) -> Server {
        Server {
            shared: Arc::new(Shared::new(listener, Box::new(app), opts)),
        }
    }

    /// A handle that stops the server.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            shared: Arc::downgrade(&self.shared),
            addr: self.shared.listener.local_addr().ok(),
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
        let scheme = if shared.is_tls { "https" } else { "http" };
        let addr = shared.listener.local_addr();
        let where_ = match &addr {
            Ok(Addr::Unix(p)) => format!("{scheme}:{}", p.display()),
            Ok(a) => format!("{scheme}://{a}"),
            Err(_) => format!("{scheme}://?"),
        };
        shared.log_info(&format!(
            "({}) wsgi starting up on {where_}",
            std::process::id()
        ));
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
        let result = accept_loop(&shared, &pool);
        shared.stop();
        shutdown(&shared, &pool);
        // Every pending line is written before `run` returns.
        shared.access.close();
        shared.log_info(&format!(
            "({}) wsgi exited, is_accepting=False",
            std::process::id()
        ));
        result
    }
}

fn accept_loop(shared: &Arc<Shared>, pool: &GreenPool) -> io::Result<()> {
    let mut backoff = Duration::from_millis(5);
    loop {
        if shared.stopping.load(Ordering::Acquire) {
            return Ok(());
        }
        match shared.listener.accept() {
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
    let state = Arc::new(AtomicU8::new(STATE_IDLE));
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
    }) {
        Ok(gt) => {
            if let Some(e) = shared.conns().get_mut(&id) {
                e.gt = Some(gt);
            }
        }
        Err(_) => {
            shared.conns().remove(&id);
        }
    }
}

/// eventlet's `finally`: idle connections closed, active ones awaited (up to
/// the drain deadline, then cut).
fn shutdown(shared: &Arc<Shared>, pool: &GreenPool) {
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
