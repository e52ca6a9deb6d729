//! eventlet's `debug` module: who is running, and who holds a worker too long.
//!
//! [`hub_blocking_detection`] finds the bug class that hurts most here: a green
//! thread calling something that blocks the OS thread (`std::thread::sleep`,
//! std or blocking-crate IO, a contended `std::sync::Mutex`, a long CPU loop)
//! stalls every green thread queued on that worker.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// An id of the running green thread, unique among live green threads (the
/// address of its runtime record, like the address in eventlet's greenlet
/// `repr`); 0 outside a green thread.
///
/// ```
/// assert_eq!(eventlet::debug::current_id(), 0);
/// let id = eventlet::spawn(eventlet::debug::current_id).wait().unwrap();
/// assert_ne!(id, 0);
/// ```
pub fn current_id() -> usize {
    // A thread-local read only: also used from signal handlers.
    generator::get_local_data() as usize
}

static ENABLED: AtomicBool = AtomicBool::new(false);
static RESOLUTION_US: AtomicU64 = AtomicU64::new(1_000_000);

/// Turn the blocking detector on or off (eventlet's
/// `debug.hub_blocking_detection(state, resolution)`).
///
/// While on, a watchdog thread checks every `resolution / 4` that each worker
/// thread still gets around to running green threads. When one has not for
/// `resolution`, it reports, once per episode, the green thread holding it:
/// its [id](current_id) and name, the worker, for how long, and (with the
/// default `backtrace` feature) the stack of where it is stuck. The report is
/// a `log` warning (target `eventlet::debug`) when a logger is installed,
/// otherwise a line on stderr:
///
/// ```text
/// eventlet::debug: blocking detected: green thread 0x7f3a2c01efb0 '<unnamed>' has held worker thread 4242 for 1.25 s without yielding; where it is:
///    0: std::thread::sleep (library/std/src/thread/mod.rs:..)
///    1: myapp::handler (src/main.rs:12)
/// ```
///
/// Unlike eventlet it does not raise anything in the offending green thread:
/// Rust cannot interrupt it safely. It costs one tiny green thread per worker
/// per check. Green threads that block the timer thread right after waking
/// from `sleep` are not seen.
///
/// ```no_run
/// eventlet::debug::hub_blocking_detection(true, std::time::Duration::from_millis(500));
/// ```
pub fn hub_blocking_detection(on: bool, resolution: Duration) {
    let us = resolution.as_micros().clamp(1_000, u64::MAX as u128) as u64;
    RESOLUTION_US.store(us, Ordering::Relaxed);
    ENABLED.store(on, Ordering::Release);
    if on {
        crate::config::ensure_started();
        watchdog().thread().unpark();
    }
}

/// What the watchdog knows about one worker thread.
struct Seen {
    last: Instant,
    reported: bool,
    pthread: libc::pthread_t,
}

#[derive(Default)]
struct Shared {
    /// Kernel thread id → last time a probe ran there.
    threads: Mutex<HashMap<i64, Seen>>,
}

fn watchdog() -> &'static std::thread::JoinHandle<()> {
    static W: OnceLock<std::thread::JoinHandle<()>> = OnceLock::new();
    W.get_or_init(|| {
        install_handler();
        let shared = Arc::new(Shared::default());
        std::thread::Builder::new()
            .name("eventlet-blocking-detector".into())
            .spawn(move || run(shared))
            .expect("cannot start the blocking detector thread")
    })
}

fn gettid() -> i64 {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) }
}

fn run(shared: Arc<Shared>) {
    // Load the symbols meanwhile, so the first report is not late.
    let _ = std::thread::Builder::new()
        .name("eventlet-symbols".into())
        .spawn(|| describe(&[run as *const () as usize]));
    let workers = may::config().get_workers().max(1);
    let outstanding: Arc<Vec<AtomicBool>> =
        Arc::new((0..workers).map(|_| AtomicBool::new(false)).collect());
    loop {
        if !ENABLED.load(Ordering::Acquire) {
            shared
                .threads
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
            std::thread::park();
            continue;
        }
        let resolution = Duration::from_micros(RESOLUTION_US.load(Ordering::Relaxed));
        for (i, flag) in outstanding.iter().enumerate() {
            if flag.swap(true, Ordering::AcqRel) {
                continue; // the last probe for this worker has not run yet
            }
            let (shared, mine) = (shared.clone(), outstanding.clone());
            let probe = move || {
                let now = Instant::now();
                // SAFETY: pthread_self has no preconditions.
                let pthread = unsafe { libc::pthread_self() };
                let mut threads = shared.threads.lock().unwrap_or_else(|p| p.into_inner());
                let seen = threads.entry(gettid()).or_insert(Seen {
                    last: now,
                    reported: false,
                    pthread,
                });
                seen.last = now;
                seen.reported = false;
                drop(threads);
                mine[i].store(false, Ordering::Release);
            };
            // `id(i)` queues it for worker `i` alone: only that worker collects
            // its queue, so a blocked worker never runs it.
            let b = may::coroutine::Builder::new().id(i);
            // SAFETY: the probe touches no thread-local across a blocking call
            // (it never blocks) and needs a few hundred bytes of stack.
            if unsafe { b.spawn(probe) }.is_err() {
                flag.store(false, Ordering::Release);
            }
        }
        let now = Instant::now();
        let stuck: Vec<(i64, libc::pthread_t, Duration)> = {
            let mut threads = shared.threads.lock().unwrap_or_else(|p| p.into_inner());
            threads
                .iter_mut()
                .filter(|(_, s)| !s.reported && now.duration_since(s.last) >= resolution)
                .map(|(tid, s)| {
                    s.reported = true;
                    (*tid, s.pthread, now.duration_since(s.last))
                })
                .collect()
        };
        if !stuck.is_empty() {
            for (tid, pthread, held) in stuck {
                report(tid, pthread, held);
            }
            // No probes went out while reporting (symbolising can take a
            // while): restart every clock rather than blame the others.
            let now = Instant::now();
            let mut threads = shared.threads.lock().unwrap_or_else(|p| p.into_inner());
            for s in threads.values_mut() {
                s.last = now;
            }
        }
        std::thread::sleep((resolution / 4).max(Duration::from_millis(1)));
    }
}

const MAX_FRAMES: usize = 64;

/// What the signal handler saw on the stuck worker. One capture at a time
/// (the watchdog is a single thread).
struct Capture {
    done: AtomicBool,
    in_green: AtomicBool,
    id: AtomicUsize,
    /// Held while a report is made: one capture at a time.
    serial: Mutex<()>,
    name_len: AtomicUsize,
    name_buf: [AtomicU64; 8],
    frames: [AtomicUsize; MAX_FRAMES],
    nframes: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_U64: AtomicU64 = AtomicU64::new(0);
#[allow(clippy::declare_interior_mutable_const)]
const ZERO_USIZE: AtomicUsize = AtomicUsize::new(0);

static CAPTURE: Capture = Capture {
    done: AtomicBool::new(false),
    in_green: AtomicBool::new(false),
    id: AtomicUsize::new(0),
    serial: Mutex::new(()),
    name_len: AtomicUsize::new(0),
    name_buf: [ZERO_U64; 8],
    frames: [ZERO_USIZE; MAX_FRAMES],
    nframes: AtomicUsize::new(0),
};

fn signal() -> libc::c_int {
    libc::SIGRTMIN() + 5
}

fn install_handler() {
    // SAFETY: a zeroed sigaction is valid; the handler only does
    // async-signal-safe work (atomics, thread-local reads, an unwinder walk
    // that does not allocate).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as libc::sighandler_t;
        // Not SA_ONSTACK: the unwinder needs more than the small alternate
        // signal stack; the interrupted stack has room (its owner is stuck in
        // a call, not deep in recursion).
        action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal(), &action, std::ptr::null_mut());
    }
}

extern "C" fn on_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let c = &CAPTURE;
    let green = may::coroutine::is_coroutine();
    c.in_green.store(green, Ordering::Relaxed);
    c.id.store(current_id(), Ordering::Relaxed);
    let mut len = 0;
    if green {
        // Clones and drops an `Arc` the green thread keeps alive: no allocation.
        let co = may::coroutine::current();
        if let Some(name) = co.name() {
            let bytes = &name.as_bytes()[..name.len().min(64)];
            for (i, chunk) in bytes.chunks(8).enumerate() {
                let mut w = [0u8; 8];
                w[..chunk.len()].copy_from_slice(chunk);
                c.name_buf[i].store(u64::from_ne_bytes(w), Ordering::Relaxed);
            }
            len = bytes.len();
        }
    }
    c.name_len.store(len, Ordering::Relaxed);
    #[cfg_attr(not(feature = "backtrace"), allow(unused_mut))]
    let mut n = 0;
    #[cfg(feature = "backtrace")]
    // SAFETY: nothing else unwinds this thread meanwhile (it is stopped in the
    // handler); the callback only stores into atomics.
    unsafe {
        backtrace::trace_unsynchronized(|frame| {
            c.frames[n].store(frame.ip() as usize, Ordering::Relaxed);
            n += 1;
            n < MAX_FRAMES
        });
    }
    c.nframes.store(n, Ordering::Relaxed);
    c.done.store(true, Ordering::Release);
}

fn report(tid: i64, pthread: libc::pthread_t, held: Duration) {
    let _serial = CAPTURE.serial.lock().unwrap_or_else(|p| p.into_inner());
    CAPTURE.done.store(false, Ordering::Release);
    // SAFETY: `pthread` is a worker thread of may's, which live as long as the
    // process; the signal has our handler installed.
    let sent = unsafe { libc::pthread_kill(pthread, signal()) } == 0;
    let deadline = Instant::now() + Duration::from_millis(500);
    while sent && !CAPTURE.done.load(Ordering::Acquire) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    let mut msg = String::new();
    if sent && CAPTURE.done.load(Ordering::Acquire) && !CAPTURE.in_green.load(Ordering::Relaxed) {
        // The worker is in the scheduler, not holding a green thread: it was
        // idle, not blocked. Nothing to report.
        return;
    }
    if sent && CAPTURE.done.load(Ordering::Acquire) {
        let len = CAPTURE.name_len.load(Ordering::Relaxed);
        let mut name = Vec::with_capacity(64);
        for w in &CAPTURE.name_buf {
            name.extend_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
        }
        name.truncate(len);
        let name = if len == 0 {
            "<unnamed>".to_string()
        } else {
            String::from_utf8_lossy(&name).into_owned()
        };
        let who = format!(
            "green thread {:#x} '{name}'",
            CAPTURE.id.load(Ordering::Relaxed)
        );
        msg.push_str(&format!(
            "blocking detected: {who} has held worker thread {tid} for {:.2} s without yielding",
            held.as_secs_f64()
        ));
        let frames: Vec<usize> = CAPTURE.frames[..CAPTURE.nframes.load(Ordering::Relaxed)]
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect();
        let lines = describe(&frames);
        if !lines.is_empty() {
            msg.push_str("; where it is:");
            for (i, l) in lines.iter().enumerate() {
                msg.push_str(&format!("\n  {i:>2}: {l}"));
            }
        }
    } else {
        msg.push_str(&format!(
            "blocking detected: worker thread {tid} has not run a green thread switch for {:.2} s",
            held.as_secs_f64()
        ));
    }
    if log::log_enabled!(target: "eventlet::debug", log::Level::Warn) {
        log::warn!(target: "eventlet::debug", "{msg}");
    } else {
        eprintln!("eventlet::debug: {msg}");
    }
}

/// Symbolised frames from the interrupted code up to the green thread's
/// entry: the handler's own frames and the runtime's plumbing are left out.
#[cfg(feature = "backtrace")]
fn describe(frames: &[usize]) -> Vec<String> {
    let mut out = Vec::new();
    let mut started = false;
    for &ip in frames {
        let mut names = Vec::new();
        backtrace::resolve(ip as *mut std::ffi::c_void, |sym| {
            let name = sym
                .name()
                .map(|n| format!("{n:#}"))
                .unwrap_or_else(|| format!("{ip:#x}"));
            let place = match (sym.filename(), sym.lineno()) {
                (Some(f), Some(l)) => format!(" ({}:{l})", f.display()),
                _ => String::new(),
            };
            names.push((name, place));
        });
        if names.is_empty() {
            names.push((format!("{ip:#x}"), String::new()));
        }
        for (name, place) in names {
            if !started {
                // Everything up to our handler is the capture itself.
                started = name.contains("debug::on_signal");
                continue;
            }
            if out.is_empty() && (name.starts_with("0x") || name.contains("__restore_rt")) {
                continue; // the kernel's signal trampoline
            }
            if name.starts_with("eventlet::greenthread::run")
                || name.starts_with("may::coroutine_impl")
                || name.starts_with("generator::")
            {
                // Drop the runtime's catch_unwind plumbing above the entry.
                while out.last().is_some_and(|l: &String| {
                    l.starts_with("std::panic")
                        || l.starts_with("__rust_try")
                        || l.starts_with("<core::panic::unwind_safe::AssertUnwindSafe")
                }) {
                    out.pop();
                }
                return out;
            }
            out.push(format!("{name}{place}"));
            if out.len() >= 24 {
                return out;
            }
        }
    }
    out
}

#[cfg(not(feature = "backtrace"))]
fn describe(_: &[usize]) -> Vec<String> {
    Vec::new()
}
