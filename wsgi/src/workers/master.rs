//! The master: starts workers by executing the program again with the
//! sockets inherited, restarts the ones that die, replaces the ones that
//! ask for it or grow too big, and turns signals into the transitions of
//! gunicorn's master. It never starts the green-thread runtime.

use super::{
    set_inheritable, WorkerOptions, ENV_MASTER_FDS, ENV_OLD_MASTER, ENV_WORKER_FDS, ENV_WORKER_ID,
    ENV_WORKER_MAX_REQUESTS, ENV_WORKER_PIPE,
};
use signal_hook::consts::{
    SIGCHLD, SIGHUP, SIGINT, SIGKILL, SIGQUIT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2,
};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

fn info(msg: &str) {
    log::info!(target: "eventlet_wsgi", "({}) master: {msg}", std::process::id());
}

struct Proc {
    child: Child,
    id: usize,
    started: Instant,
    pipe: File,
    ready: bool,
    /// To be stopped once a replacement is ready (HUP, max_requests, memory).
    replacing: bool,
    /// Sent its stop signal at this time.
    stopping: Option<Instant>,
}

impl Proc {
    fn signal(&mut self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid; no memory is touched. The
        // pid cannot have been reused: the child is not reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    fn stop(&mut self, sig: i32) {
        if self.stopping.is_none() {
            self.signal(sig);
            self.stopping = Some(Instant::now());
        }
    }

    fn active(&self) -> bool {
        !self.replacing && self.stopping.is_none()
    }

    fn rss(&self) -> Option<u64> {
        let statm = std::fs::read_to_string(format!("/proc/{}/statm", self.child.id())).ok()?;
        let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        // SAFETY: sysconf reads a constant.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
        Some(pages * page)
    }
}

/// The master process (see the [module docs](super)).
pub struct Master {
    fds: Vec<OwnedFd>,
    opts: WorkerOptions,
}

impl std::fmt::Debug for Master {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Master")
            .field("fds", &self.fds)
            .finish_non_exhaustive()
    }
}

impl Master {
    /// A master sharing `sockets` (listening, from [`bind`](super::bind),
    /// [`inherited`](Self::inherited) or elsewhere) with its workers.
    pub fn new(sockets: Vec<OwnedFd>, opts: WorkerOptions) -> Master {
        Master { fds: sockets, opts }
    }

    /// The listening sockets this process inherited as a master: from the
    /// master that started it on `USR2`, else from systemd socket
    /// activation; `None` when neither. Call it once.
    pub fn inherited() -> io::Result<Option<Vec<OwnedFd>>> {
        let fds: Vec<RawFd> = match std::env::var(ENV_MASTER_FDS) {
            Ok(list) => super::parse_fd_list(&list)?,
            Err(_) => {
                let var = |k: &str| std::env::var(k).ok();
                let sd = crate::listeners::parse_listen_fds(
                    var("LISTEN_PID").as_deref(),
                    var("LISTEN_FDS").as_deref(),
                    var("LISTEN_FDNAMES").as_deref(),
                    std::process::id(),
                )
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
                sd.into_iter().map(|(fd, _)| fd).collect()
            }
        };
        if fds.is_empty() {
            return Ok(None);
        }
        // SAFETY: these descriptors were passed to this process (by the old
        // master or systemd) for exactly this, and only this call takes them.
        Ok(Some(
            fds.into_iter()
                .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
                .collect(),
        ))
    }

    /// Run the workers until `TERM`, `INT` or `QUIT` (see the module docs).
    pub fn run(self) -> io::Result<()> {
        let exe = std::env::current_exe()?;
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        for fd in &self.fds {
            set_inheritable(fd.as_raw_fd(), true)?;
        }
        let fd_list = self
            .fds
            .iter()
            .map(|f| f.as_raw_fd().to_string())
            .collect::<Vec<_>>()
            .join(",");
        let mut signals = signal_hook::iterator::Signals::new([
            SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGCHLD,
        ])?;
        let mut m = Running {
            opts: self.opts.clone(),
            target: self.opts.workers,
            exe,
            args,
            fd_list,
            procs: Vec::new(),
            next_id: 0,
            failures: 0,
            backoff_until: Instant::now(),
            stopping: None,
            new_master: None,
            old_master: std::env::var(ENV_OLD_MASTER)
                .ok()
                .and_then(|p| p.parse().ok()),
            last_memory_check: Instant::now(),
        };
        info(&format!("starting {} workers", m.target));
        loop {
            for sig in signals.pending() {
                m.on_signal(sig);
            }
            m.reap();
            m.read_pipes();
            m.check_memory();
            if let Some((_, deadline)) = m.stopping {
                if m.procs.is_empty() {
                    info("all workers stopped: exiting");
                    return Ok(());
                }
                if Instant::now() > deadline {
                    for p in &mut m.procs {
                        p.signal(SIGKILL);
                    }
                }
            } else {
                m.kill_overdue();
                m.scale();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Running {
    opts: WorkerOptions,
    target: usize,
    exe: PathBuf,
    args: Vec<std::ffi::OsString>,
    fd_list: String,
    procs: Vec<Proc>,
    next_id: usize,
    failures: u32,
    backoff_until: Instant,
    /// (quick, kill deadline)
    stopping: Option<(bool, Instant)>,
    new_master: Option<Child>,
    old_master: Option<i32>,
    last_memory_check: Instant,
}

impl Running {
    fn on_signal(&mut self, sig: i32) {
        match sig {
            SIGTERM | SIGINT | SIGQUIT | SIGUSR1 => {
                let quick = sig == SIGINT || sig == SIGQUIT;
                // USR1: a new master (USR2) took over the sockets; the
                // service stays ready, so workers stop as replaced ones.
                let worker_sig = if sig == SIGUSR1 { SIGHUP } else { SIGTERM };
                if self.stopping.is_some_and(|(q, _)| q || !quick) {
                    return;
                }
                info(match sig {
                    SIGUSR1 => "replaced by a new master: graceful stop",
                    _ if quick => "quick stop",
                    _ => "graceful stop",
                });
                let limit = if quick {
                    self.opts.quick_timeout
                } else {
                    self.opts.graceful_timeout
                };
                self.stopping = Some((quick, Instant::now() + limit));
                for p in &mut self.procs {
                    if quick {
                        p.signal(SIGINT);
                        p.stopping.get_or_insert(Instant::now());
                    } else {
                        p.stop(worker_sig);
                    }
                }
            }
            SIGHUP => {
                info("replacing every worker");
                for p in self.procs.iter_mut().filter(|p| p.stopping.is_none()) {
                    p.replacing = true;
                }
            }
            SIGTTIN => {
                self.target += 1;
                info(&format!("{} workers", self.target));
            }
            SIGTTOU => {
                self.target = self.target.saturating_sub(1).max(1);
                info(&format!("{} workers", self.target));
            }
            SIGUSR2 => self.start_new_master(),
            _ => {} // SIGCHLD: reaped below
        }
    }

    fn start_new_master(&mut self) {
        if self.new_master.is_some() {
            return;
        }
        info(&format!(
            "USR2: starting {} on the same sockets",
            self.exe.display()
        ));
        let r = Command::new(&self.exe)
            .args(&self.args)
            .env(ENV_MASTER_FDS, &self.fd_list)
            .env(ENV_OLD_MASTER, std::process::id().to_string())
            .env_remove(ENV_WORKER_FDS)
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_FDNAMES")
            .spawn();
        match r {
            Ok(c) => self.new_master = Some(c),
            Err(e) => log::error!(target: "eventlet_wsgi", "cannot start a new master: {e}"),
        }
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut fds = [0 as RawFd; 2];
        // SAFETY: pipe2 writes two descriptors into `fds`.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe2 just created both; we own them.
        let (read, write) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // Only the child gets the write end: nothing else is started while
        // it is inheritable, and the master drops its copy after the spawn.
        set_inheritable(write.as_raw_fd(), true)?;
        let id = self.next_id;
        self.next_id += 1;
        let mut cmd = Command::new(&self.exe);
        cmd.args(&self.args)
            .env(ENV_WORKER_FDS, &self.fd_list)
            .env(ENV_WORKER_PIPE, write.as_raw_fd().to_string())
            .env(ENV_WORKER_ID, id.to_string())
            .env_remove(ENV_MASTER_FDS)
            .env_remove(ENV_OLD_MASTER)
            .env_remove("LISTEN_PID")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_FDNAMES");
        if let Some(max) = self.opts.max_requests {
            let jitter = random_below(self.opts.max_requests_jitter + 1);
            cmd.env(ENV_WORKER_MAX_REQUESTS, (max + jitter).to_string());
        }
        let child = cmd.spawn()?;
        drop(write);
        info(&format!("worker {id} started (pid {})", child.id()));
        self.procs.push(Proc {
            child,
            id,
            started: Instant::now(),
            pipe: read,
            ready: false,
            replacing: false,
            stopping: None,
        });
        Ok(())
    }

    fn scale(&mut self) {
        while self.procs.iter().filter(|p| p.active()).count() < self.target
            && Instant::now() >= self.backoff_until
        {
            if let Err(e) = self.spawn() {
                log::error!(target: "eventlet_wsgi", "cannot start a worker: {e}");
                self.crashed();
                break;
            }
        }
        // TTOU: stop the oldest active workers beyond the target.
        let mut extra = self
            .procs
            .iter()
            .filter(|p| p.active())
            .count()
            .saturating_sub(self.target);
        for p in self.procs.iter_mut().filter(|p| p.active()) {
            if extra == 0 {
                break;
            }
            p.stop(SIGHUP);
            extra -= 1;
        }
    }

    /// A worker that has not finished draining within the graceful timeout
    /// is killed (gunicorn's `graceful_timeout`): a hung worker must not hold
    /// its slot, nor the sockets, for ever.
    fn kill_overdue(&mut self) {
        let limit = self.opts.graceful_timeout;
        for p in &mut self.procs {
            if p.stopping.is_some_and(|t| t.elapsed() > limit) {
                log::error!(target: "eventlet_wsgi", "({}) master: worker {} (pid {}) still draining after {limit:?}: killing it", std::process::id(), p.id, p.child.id());
                p.signal(SIGKILL);
                p.stopping = Some(Instant::now());
            }
        }
    }

    fn crashed(&mut self) {
        self.failures = (self.failures + 1).min(8);
        let backoff = Duration::from_millis(100) * (1 << self.failures);
        self.backoff_until = Instant::now() + backoff.min(Duration::from_secs(10));
    }

    fn reap(&mut self) {
        let mut i = 0;
        while i < self.procs.len() {
            match self.procs[i].child.try_wait() {
                Ok(Some(status)) => {
                    let p = self.procs.remove(i);
                    if p.stopping.is_none() {
                        log::error!(target: "eventlet_wsgi", "({}) master: worker {} (pid {}) died: {status}", std::process::id(), p.id, p.child.id());
                        if p.started.elapsed() < Duration::from_secs(5) || !status.success() {
                            self.crashed();
                        }
                    } else {
                        info(&format!("worker {} stopped: {status}", p.id));
                    }
                    if p.started.elapsed() > Duration::from_secs(5) && status.success() {
                        self.failures = 0;
                    }
                }
                _ => i += 1,
            }
        }
        if let Some(c) = &mut self.new_master {
            if let Ok(Some(status)) = c.try_wait() {
                log::error!(target: "eventlet_wsgi", "the new master exited before taking over: {status}");
                self.new_master = None;
            }
        }
    }

    fn read_pipes(&mut self) {
        let mut became_ready = 0;
        for p in &mut self.procs {
            let mut buf = [0u8; 16];
            while let Ok(n) = p.pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                for &b in &buf[..n] {
                    match b {
                        b'R' if !p.ready => {
                            p.ready = true;
                            became_ready += 1;
                        }
                        b'M' => p.replacing = true,
                        _ => {}
                    }
                }
            }
        }
        // Each new ready worker lets one worker that is being replaced go.
        for _ in 0..became_ready {
            if let Some(old) = self
                .procs
                .iter_mut()
                .filter(|p| p.replacing && p.stopping.is_none())
                .min_by_key(|p| p.started)
            {
                info(&format!("worker {} replaced: stopping it", old.id));
                old.stop(SIGHUP);
            }
        }
        // Started by USR2: once every worker is ready, the old master goes.
        if let Some(old) = self.old_master {
            let ready = self.procs.iter().filter(|p| p.active() && p.ready).count();
            if ready >= self.target {
                info(&format!("ready: stopping the old master {old}"));
                // SAFETY: kill(2) touches no memory.
                unsafe {
                    libc::kill(old, SIGUSR1);
                }
                self.old_master = None;
            }
        }
        // A replacing worker whose replacement never comes ready stays up:
        // stopping it would leave fewer workers than asked for.
    }

    fn check_memory(&mut self) {
        let Some(limit) = self.opts.max_memory else {
            return;
        };
        if self.last_memory_check.elapsed() < Duration::from_secs(1) {
            return;
        }
        self.last_memory_check = Instant::now();
        for p in self.procs.iter_mut().filter(|p| p.active()) {
            if p.rss().is_some_and(|rss| rss > limit) {
                info(&format!(
                    "worker {} is over the memory limit: replacing it",
                    p.id
                ));
                p.replacing = true;
            }
        }
    }
}

/// A number in `0..n` from the kernel's random source (clock bits if it fails).
fn random_below(n: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let mut b = [0u8; 8];
    let r = File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let x = match r {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64),
    };
    x % n
}
