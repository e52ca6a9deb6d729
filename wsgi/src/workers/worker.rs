//! The worker side: listeners from inherited descriptors, signals, the
//! readiness byte and the recycle request to the master.

use super::{
    parse_fd_list, ENV_WORKER_FDS, ENV_WORKER_ID, ENV_WORKER_MAX_REQUESTS, ENV_WORKER_PIPE,
};
use crate::{App, Server, ServerOptions};
use eventlet::net::Listener;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// This process as a worker started by a [`Master`](super::Master).
pub struct Worker {
    listeners: Vec<Listener>,
    id: usize,
    max_requests: Option<u64>,
    pipe: Option<Arc<Mutex<File>>>,
    drain_delay: Duration,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("id", &self.id)
            .field("max_requests", &self.max_requests)
            .finish_non_exhaustive()
    }
}

/// `Some` in a worker process (the master put `EVENTLET_WORKER_FDS` in its
/// environment): its listeners, taken over from the inherited descriptors.
/// Call it once, first thing in `main`.
pub fn worker() -> io::Result<Option<Worker>> {
    let Ok(list) = std::env::var(ENV_WORKER_FDS) else {
        return Ok(None);
    };
    let mut listeners = Vec::new();
    for fd in parse_fd_list(&list)? {
        // SAFETY: the master passed these descriptors to this process for
        // its listeners, and only this function (called once) takes them.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        listeners.push(Listener::from_fd(owned)?);
    }
    let pipe = match std::env::var(ENV_WORKER_PIPE)
        .ok()
        .and_then(|p| p.parse().ok())
    {
        Some(fd) => {
            super::set_inheritable(fd, false)?;
            // SAFETY: the master's pipe end, passed to this process only.
            Some(Arc::new(Mutex::new(unsafe { File::from_raw_fd(fd) })))
        }
        None => None,
    };
    let num = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    Ok(Some(Worker {
        listeners,
        id: num(ENV_WORKER_ID).unwrap_or(0) as usize,
        max_requests: num(ENV_WORKER_MAX_REQUESTS),
        pipe,
        drain_delay: Duration::ZERO,
    }))
}

fn tell(pipe: &Option<Arc<Mutex<File>>>, byte: u8) {
    if let Some(p) = pipe {
        // A plain OS thread or the start of `serve` writes here, never a
        // green thread holding the lock across a blocking call.
        let _ = p
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(&[byte]);
    }
}

impl Worker {
    /// Serve like a worker without a master (one process: `TERM` graceful
    /// with readiness and drain delay, `INT`/`QUIT` quick).
    pub fn standalone(listeners: Vec<Listener>) -> Worker {
        Worker {
            listeners,
            id: 0,
            max_requests: None,
            pipe: None,
            drain_delay: Duration::ZERO,
        }
    }

    /// The worker's number (0, 1, ...; a replacement gets a new one).
    pub fn id(&self) -> usize {
        self.id
    }

    /// On `TERM`, answer the readiness endpoint with 503 for this long
    /// before stopping (so a balancer's health check sees it first).
    pub fn drain_delay(mut self, d: Duration) -> Self {
        self.drain_delay = d;
        self
    }

    /// Serve `app` on the inherited listeners until told to stop. `TERM`
    /// stops gracefully (readiness off, the drain delay, then in-flight
    /// requests finish and idle connections get `idle_grace`, 2 s unless
    /// set); `HUP` (the master replacing this worker) the same without the
    /// readiness change and delay; `INT` and `QUIT` stop at once.
    pub fn serve(self, app: impl App, opts: ServerOptions) -> io::Result<()> {
        let mut opts = opts.handle_signals(false);
        if opts.idle_grace.is_zero() {
            opts = opts.idle_grace(Duration::from_secs(2));
        }
        if opts.stats.is_none() {
            opts = opts.collect_stats(true);
        }
        let stats = opts.stats.clone().expect("stats are on");
        let server = Server::with_listeners(self.listeners, app, opts);
        let handle = server.handle();
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])?;
        let drain_delay = self.drain_delay;
        {
            let (handle, stats) = (handle.clone(), stats.clone());
            std::thread::Builder::new()
                .name("eventlet-worker-signals".into())
                .spawn(move || {
                    for sig in signals.forever() {
                        match sig {
                            SIGINT | SIGQUIT => {
                                handle.stop();
                                std::thread::sleep(Duration::from_millis(500));
                                std::process::exit(0);
                            }
                            // Replaced by another worker on the same sockets:
                            // the service stays ready, this one just drains.
                            SIGHUP => handle.stop_replaced(),
                            // The service itself stops: tell the balancer first.
                            _ => {
                                stats.set_ready(false);
                                std::thread::sleep(drain_delay);
                                handle.stop();
                            }
                        }
                    }
                })?;
        }
        if let Some(limit) = self.max_requests {
            let (pipe, stats) = (self.pipe.clone(), stats.clone());
            let id = self.id;
            std::thread::Builder::new()
                .name("eventlet-worker-recycle".into())
                .spawn(move || loop {
                    std::thread::sleep(Duration::from_millis(50));
                    if stats.snapshot().requests_total() >= limit {
                        log::info!(target: "eventlet_wsgi", "({}) worker {id} served {limit} requests: asking to be replaced", std::process::id());
                        tell(&pipe, b'M');
                        return;
                    }
                })?;
        }
        let running = eventlet::spawn(move || server.run());
        tell(&self.pipe, b'R');
        running
            .join()
            .map_err(|e| io::Error::other(e.to_string()))?
    }
}
