//! Several worker processes sharing the listening sockets, under a small
//! master (gunicorn's model, for a green-thread server).
//!
//! `may` starts threads, and forking a process that has threads is unsound,
//! so workers are never forked from a running server: the master binds the
//! sockets **without starting the runtime**, then starts each worker by
//! executing the program again (`/proc/self/exe`, the same arguments) with
//! the sockets inherited and named in `EVENTLET_WORKER_FDS`. The program
//! calls [`worker`] first thing: in a worker it gets the listeners, in the
//! master it gets `None` and hands its sockets to [`Master::run`].
//!
//! ```no_run
//! use eventlet_wsgi::{workers, Body, Environ, ServerOptions, StartResponse};
//! fn app(_: &mut Environ, sr: &mut StartResponse) -> Body {
//!     sr.start("200 OK", [("Content-Type", "text/plain")]);
//!     Body::from("hi\n")
//! }
//! fn main() -> std::io::Result<()> {
//!     if let Some(w) = workers::worker()? {
//!         return w.serve(app, ServerOptions::new());
//!     }
//!     let sockets = vec![workers::bind("127.0.0.1:8000")?];
//!     workers::Master::new(sockets, workers::WorkerOptions::new().workers(4)).run()
//! }
//! ```
//!
//! Signals to the master (gunicorn's set): `TERM` graceful stop; `INT`,
//! `QUIT` quick stop; `HUP` replace every worker (new ones first, each old
//! one drains once a new one is ready); `USR2` start the program anew (a new
//! binary) on the same sockets, which stops this master gracefully once its
//! workers are ready (by sending it `USR1`: stop as replaced, the service
//! stays ready); `TTIN`/`TTOU` one worker more / fewer. Workers get `TERM`
//! when the service stops (readiness off, drain delay, drain) and `HUP` when
//! they are replaced (drain only). A worker that
//! dies is restarted with back-off; one that served `max_requests` (plus
//! jitter) or grew over `max_memory` is replaced the same way as on `HUP`.

mod master;
mod worker;

pub use master::Master;
pub use worker::{worker, Worker};

use std::io;
use std::os::fd::OwnedFd;
use std::time::Duration;

/// Names the inherited listening descriptors of a worker.
pub const ENV_WORKER_FDS: &str = "EVENTLET_WORKER_FDS";
/// The worker's end of its pipe to the master (readiness, recycle requests).
pub const ENV_WORKER_PIPE: &str = "EVENTLET_WORKER_PIPE";
/// The worker's number (0, 1, ...), for logs.
pub const ENV_WORKER_ID: &str = "EVENTLET_WORKER_ID";
/// The worker's request limit (jitter applied by the master).
pub const ENV_WORKER_MAX_REQUESTS: &str = "EVENTLET_WORKER_MAX_REQUESTS";
/// Names the inherited listening descriptors of a master started by `USR2`.
pub const ENV_MASTER_FDS: &str = "EVENTLET_MASTER_FDS";
/// The pid of the master that started this one on `USR2` (stopped once ready).
pub const ENV_OLD_MASTER: &str = "EVENTLET_OLD_MASTER";

/// How the master runs its workers.
#[derive(Clone, Debug)]
pub struct WorkerOptions {
    pub(crate) workers: usize,
    pub(crate) max_requests: Option<u64>,
    pub(crate) max_requests_jitter: u64,
    pub(crate) max_memory: Option<u64>,
    pub(crate) graceful_timeout: Duration,
    pub(crate) quick_timeout: Duration,
}

impl Default for WorkerOptions {
    fn default() -> Self {
        WorkerOptions {
            workers: 1,
            max_requests: None,
            max_requests_jitter: 0,
            max_memory: None,
            graceful_timeout: Duration::from_secs(30),
            quick_timeout: Duration::from_secs(2),
        }
    }
}

impl WorkerOptions {
    /// One worker, no recycling, 30 s graceful timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many worker processes (at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// Replace a worker after this many requests (gunicorn `max_requests`).
    pub fn max_requests(mut self, n: Option<u64>) -> Self {
        self.max_requests = n.filter(|&n| n > 0);
        self
    }

    /// Add up to this many to each worker's `max_requests`, at random, so
    /// that workers do not all restart at once.
    pub fn max_requests_jitter(mut self, n: u64) -> Self {
        self.max_requests_jitter = n;
        self
    }

    /// Replace a worker whose resident memory exceeds this many bytes
    /// (checked every second).
    pub fn max_memory(mut self, bytes: Option<u64>) -> Self {
        self.max_memory = bytes;
        self
    }

    /// How long a stopping worker may drain before it is killed (30 s).
    pub fn graceful_timeout(mut self, t: Duration) -> Self {
        self.graceful_timeout = t;
        self
    }
}

/// A listening socket for the master to share, bound without starting the
/// green-thread runtime: `host:port`, `[v6]:port`, or `unix:/path`.
pub fn bind(addr: &str) -> io::Result<OwnedFd> {
    if let Some(path) = addr.strip_prefix("unix:") {
        return Ok(std::os::unix::net::UnixListener::bind(path)?.into());
    }
    Ok(std::net::TcpListener::bind(addr)?.into())
}

/// Clear or set `FD_CLOEXEC`.
pub(crate) fn set_inheritable(fd: std::os::fd::RawFd, on: bool) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor number reads/writes its flags only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
    if flags < 0 {
        return Err(io::Error::last_os_error());
    }
    let flags = if on {
        flags & !libc::FD_CLOEXEC
    } else {
        flags | libc::FD_CLOEXEC
    };
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFD, flags) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Parse `3,4,5`.
pub(crate) fn parse_fd_list(s: &str) -> io::Result<Vec<std::os::fd::RawFd>> {
    s.split(',')
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.trim().parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidInput, format!("bad fd list {s:?}"))
            })
        })
        .collect()
}
