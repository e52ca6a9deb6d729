//! Runtime configuration: the `may` settings that matter, with sane defaults.
//!
//! `may` builds its scheduler lazily on the first spawn or socket operation and
//! silently ignores settings changed afterwards. [`configure`] is therefore the one
//! documented way to change them, and it must run before anything else in this
//! crate: it returns [`ConfigError::AlreadyStarted`] once the runtime is up.
//!
//! Defaults (chosen for a server on a shared machine):
//! - workers: the number of CPUs the process may use;
//! - stack size: 256 KiB per green thread ([`DEFAULT_STACK_SIZE`]; see below);
//! - worker pinning: off. Pinning every process's workers to cores 0..n
//!   overloads those cores when several services share a host.
//!
//! # How the default stack size was chosen
//! Ordinary crates must fit in **debug** builds, where frames are several
//! times larger than in release. `tests/stack_usage.rs` runs each in a green
//! thread whose whole stack is pre-filled with a sentinel and reads the
//! high-water mark (debug build, x86_64, Rust 1.95):
//!
//! | workload | stack used |
//! |---|---|
//! | ureq 3 GET over plain HTTP | 62.9 KiB |
//! | serde_json: parse and pretty-print a 33-level document | 81.5 KiB |
//! | regex: compile two patterns (one Unicode class) and match | 115.2 KiB |
//! | rustls 0.23 handshake, server side / client side | 50.2 / 51.8 KiB |
//!
//! The largest, regex, needs 115 KiB; 256 KiB leaves more than half free for
//! the caller's own frames (the test asserts at least a quarter). The old
//! 64 KiB default was exceeded by serde_json and regex, and ureq used 98 % of it.
//!
//! A larger reserve costs address space only: stacks are mapped lazily and an
//! idle green thread touches the same pages whatever the size. Measured with
//! `examples/bench_server` (quick profile) holding idle keep-alive connections
//! that each made one request: 8.8 KiB RSS per connection at 1,000 and
//! 16.0 KiB at 10,000, identical with `EVENTLET_STACK_SIZE=64K` and `256K`.
//! Each stack is two memory mappings whatever its size, so the
//! `vm.max_map_count` limit (about 32,000 green threads by default) is
//! unchanged too. Stacks recycled by `may`'s pool keep the pages a previous
//! green thread touched, so RSS after a burst of deep requests stays higher.
//!
//! # Stack overflow
//! Each stack has a guard page below it. A green thread that runs into it
//! **aborts the process at once**, as Rust does for an OS thread, with
//! ```text
//! fatal runtime error: green thread '<unnamed>' (id 0x7f..) has overflowed its stack (stack size 256 KiB); aborting
//! help: raise the stack size with the EVENTLET_STACK_SIZE environment variable (e.g. EVENTLET_STACK_SIZE=256K) or eventlet::configure(..) ..
//! ```
//! It cannot fail like a panic instead: the fault can come at any instruction,
//! in code that holds a lock (a `Mutex` guard, malloc's arena lock) or is half
//! way through updating shared state, and no destructor can run from there.
//! Unwinding from the fault is undefined behaviour (the compiler assumed the
//! faulting code cannot unwind), and freezing the green thread (what `may`'s
//! `generator` does) leaves its waiters, pool slot, socket and locks hung for
//! ever — the silent hang this replaces. A supervisor restarts an aborted
//! server; nothing restarts a hung one.
//!
//! Raise the size without rebuilding with `EVENTLET_STACK_SIZE` (bytes, or
//! `256K`, `1M`), read by [`Config::default`], or in code with
//! [`Config::stack_size`]. Code that jumps over the guard page (C code with
//! frames larger than a page) can still corrupt memory instead: size stacks
//! generously for such work.
//!
//! # What a green thread must not do
//! Green threads migrate between worker threads at every blocking call. So:
//! - never hold a `thread_local!` reference, or anything derived from one, across
//!   a blocking call: after the call you may be on another thread;
//! - never hold a `std::sync::Mutex` guard across a blocking call: the worker
//!   thread, and every green thread queued on it, stalls until it is released;
//! - never call blocking std IO (`std::net`, `std::fs` on slow devices,
//!   `std::thread::sleep`, DNS lookups): it blocks the whole worker thread.
//!   Use this crate's sockets and [`sleep`](crate::sleep) instead.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;

/// The environment variable that sets the default stack size (bytes, or with a
/// `K`/`M` suffix: `EVENTLET_STACK_SIZE=256K`).
pub const STACK_ENV: &str = "EVENTLET_STACK_SIZE";

/// The default stack size of a green thread, in bytes: 256 KiB (see the
/// module docs for how it was chosen).
pub const DEFAULT_STACK_SIZE: usize = 256 * 1024;

fn round_stack(bytes: usize) -> usize {
    bytes.clamp(16 * 1024, 1 << 30).div_ceil(4096) * 4096
}

/// `262144`, `256K`, `256KiB`, `1M`, `1MiB` (case-insensitive) → bytes.
fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let n: usize = s[..digits].parse().ok()?;
    let mult = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1024,
        "m" | "mb" | "mib" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(mult)
}

static STARTED: AtomicBool = AtomicBool::new(false);
static INIT: Once = Once::new();

/// Settings for the green-thread scheduler. See the [module docs](self).
///
/// ```
/// let cfg = eventlet::Config::default().workers(2).stack_size(128 * 1024);
/// assert_eq!(cfg.get_workers(), 2);
/// ```
#[derive(Clone, Debug)]
#[must_use = "a Config does nothing until passed to `eventlet::configure`"]
pub struct Config {
    workers: usize,
    stack_size: usize,
    pin_workers: bool,
}

impl Default for Config {
    fn default() -> Self {
        let workers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let stack_size = match std::env::var(STACK_ENV) {
            Ok(v) => match parse_size(&v) {
                Some(n) => round_stack(n),
                None => {
                    eprintln!(
                        "eventlet: ignoring {STACK_ENV}={v:?}: not a size like 262144, 256K or 1M"
                    );
                    DEFAULT_STACK_SIZE
                }
            },
            Err(_) => DEFAULT_STACK_SIZE,
        };
        Config {
            workers,
            stack_size,
            pin_workers: false,
        }
    }
}

impl Config {
    /// Number of worker threads that run green threads (at least 1).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }
    /// Stack size of each green thread, in bytes (rounded up to 4 KiB, at least 16 KiB).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = round_stack(bytes);
        self
    }
    /// Pin each worker thread to one CPU core.
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin_workers = pin;
        self
    }
    /// The configured number of workers.
    pub fn get_workers(&self) -> usize {
        self.workers
    }
    /// The configured stack size in bytes.
    pub fn get_stack_size(&self) -> usize {
        self.stack_size
    }
    /// Whether workers are pinned.
    pub fn get_pin_workers(&self) -> bool {
        self.pin_workers
    }

    fn apply(&self) {
        let words = self.stack_size / std::mem::size_of::<usize>();
        may::config()
            .set_workers(self.workers)
            .set_stack_size(words);
        may::config().set_worker_pin(self.pin_workers);
        // `generator` installs its guard-page handler with the first
        // coroutine; ours must go on top of it (see `overflow`).
        // SAFETY: an empty closure touches no thread-local and no stack.
        let _ = unsafe { may::coroutine::spawn(|| {}) }.join();
        crate::overflow::install(self.stack_size);
        // Its descriptors are opened up front: a server that counts its fds
        // should not see them appear at the first socket timeout.
        crate::nudge::init();
    }
}

/// Why [`configure`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigError {
    /// The runtime already started (something was spawned or a socket used).
    AlreadyStarted,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the green-thread runtime already started; configure it first")
    }
}

impl std::error::Error for ConfigError {}

/// Configure the runtime. Call it once, first thing in `main`.
///
/// ```
/// eventlet::configure(eventlet::Config::default().workers(1)).ok();
/// ```
pub fn configure(cfg: Config) -> Result<(), ConfigError> {
    let mut applied = false;
    INIT.call_once(|| {
        cfg.apply();
        applied = true;
    });
    if applied {
        Ok(())
    } else {
        Err(ConfigError::AlreadyStarted)
    }
}

/// Apply the defaults unless [`configure`] ran; called by everything that starts `may`.
pub(crate) fn ensure_started() {
    if !STARTED.load(Ordering::Relaxed) {
        INIT.call_once(|| Config::default().apply());
        STARTED.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("262144"), Some(262144));
        assert_eq!(parse_size("256K"), Some(256 * 1024));
        assert_eq!(parse_size(" 256 KiB "), Some(256 * 1024));
        assert_eq!(parse_size("1m"), Some(1 << 20));
        assert_eq!(parse_size("1.5M"), None);
        assert_eq!(parse_size("K"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999"), None);
        assert_eq!(round_stack(1), 16 * 1024);
        assert_eq!(round_stack(65 * 1024), 68 * 1024);
    }
}
