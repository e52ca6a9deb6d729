//! Coarse deadlines for the HTTP connection's timeouts (keep-alive idle,
//! request head, body reads, response writes), enforced by one reaper thread
//! per server instead of one may timer per blocking wait.
//!
//! A may IO timer costs a node in the selector's timer list, registered
//! before each wait and removed after it (~350 instructions and several cache
//! lines per keep-alive request, plus a clock read). Here a connection only
//! publishes a deadline, in milliseconds of the server's coarse clock, in the
//! cell it already shares with the server's registry ([`ConnState`]), before
//! each socket operation that may block, and clears it after: two plain
//! stores on a cache line the request touches anyway. The reaper ticks every
//! [`tick_for`] (an eighth of the smallest configured timeout, 10–250 ms),
//! advances the clock and scans the registry; a connection whose deadline
//! passed is marked timed out and its socket shut down (the read side for a
//! read, both for a write), so the blocked operation returns at once and
//! [`ConnIo`](crate::connio::ConnIo) reports it as
//! [`TimedOut`](std::io::ErrorKind::TimedOut): the connection loop reacts
//! exactly as it did to may's timer (408, statistics, close).
//!
//! TLS connections keep the per-wait timers: a TLS read may block in a
//! write (handshake records, alerts), which shutting the read side down would
//! not wake.
//!
//! Precision: a wait's deadline is the coarse clock (up to one tick behind)
//! plus the timeout plus one tick, and the reaper sees it passed within one
//! tick after it: a timeout fires no earlier than configured and at most two
//! ticks later (with the default 30 s / 60 s timeouts: within 0.5 s).

use std::ops::Deref;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Shortest and longest reaper tick.
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_millis(250);

/// The reaper's tick for a server whose smallest timeout is `min_timeout`:
/// an eighth of it, clamped to 10–250 ms.
pub(crate) fn tick_for(min_timeout: Duration) -> Duration {
    (min_timeout / 8).clamp(MIN_TICK, MAX_TICK)
}

/// What one connection shares with the server: its phase (`STATE_*` in
/// `server.rs`; this derefs to it) and its current wait's deadline, in one
/// allocation so that a request touches one cache line for both.
#[derive(Debug)]
pub(crate) struct ConnState {
    phase: AtomicU8,
    /// Set by the reaper before it shuts the socket down: every later EOF or
    /// error on the connection is its timeout.
    fired: AtomicBool,
    /// `0`: no wait armed; else `(coarse ms << 1) | write`.
    deadline: AtomicU64,
}

impl ConnState {
    pub(crate) fn new(phase: u8) -> ConnState {
        ConnState {
            phase: AtomicU8::new(phase),
            fired: AtomicBool::new(false),
            deadline: AtomicU64::new(0),
        }
    }

    /// The reaper shut this connection down for a passed deadline.
    pub(crate) fn fired(&self) -> bool {
        self.fired.load(Ordering::Acquire)
    }

    /// Reaper side: if this connection's deadline passed at `now` (coarse
    /// ms), claim it and say how to shut its socket down.
    fn expire(&self, now: u64) -> Option<libc::c_int> {
        let d = self.deadline.load(Ordering::Relaxed);
        if d == 0 || d >> 1 > now {
            return None;
        }
        // Fails when the connection cleared or replaced the deadline meanwhile
        // (its wait ended). A deadline stored after this scan's clock update
        // is later than `now`, so a new wait never matches an old value.
        self.deadline
            .compare_exchange(d, 0, Ordering::AcqRel, Ordering::Relaxed)
            .ok()?;
        self.fired.store(true, Ordering::Release);
        Some(if d & 1 == 1 {
            libc::SHUT_RDWR
        } else {
            libc::SHUT_RD
        })
    }
}

impl Deref for ConnState {
    type Target = AtomicU8;
    fn deref(&self) -> &AtomicU8 {
        &self.phase
    }
}

/// The server's coarse clock: milliseconds since the server started, as of
/// the reaper's last tick.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    now_ms: AtomicU64,
    tick_ms: u64,
    /// The reaper runs: connections may rely on it.
    running: AtomicBool,
    stop: AtomicBool,
}

impl Clock {
    pub(crate) fn new(tick: Duration) -> Clock {
        Clock {
            epoch: Instant::now(),
            now_ms: AtomicU64::new(0),
            tick_ms: ms(tick).max(1),
            running: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        }
    }

    /// True while the reaper enforces deadlines.
    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    fn tick(&self) -> Duration {
        Duration::from_millis(self.tick_ms)
    }

    /// Advance to the real time; the new coarse now.
    fn advance(&self) -> u64 {
        let now = ms(self.epoch.elapsed());
        self.now_ms.store(now, Ordering::Relaxed);
        now
    }
}

/// Whole milliseconds, at most `u64::MAX >> 2` (a deadline sum of three
/// such terms cannot overflow).
fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).map_or(u64::MAX >> 2, |m| m.min(u64::MAX >> 2))
}

/// [`Link::arm`]'s span for no timeout.
pub(crate) const NO_SPAN: u64 = u64::MAX;

/// A timeout as [`Link::arm`] takes it: whole milliseconds (rounded down:
/// the tick [`arm`](Link::arm) adds covers the rest), [`NO_SPAN`] for
/// `None`. Computed once when the timeout is set, not per wait.
pub(crate) fn span_ms(timeout: Option<Duration>) -> u64 {
    timeout.map_or(NO_SPAN, ms)
}

/// A connection's side of the scheme: its cell and the server's clock.
#[derive(Debug)]
pub(crate) struct Link {
    cell: Arc<ConnState>,
    clock: Arc<Clock>,
}

impl Link {
    pub(crate) fn new(cell: Arc<ConnState>, clock: Arc<Clock>) -> Link {
        Link { cell, clock }
    }

    /// Coarse milliseconds since the server started (up to a tick behind).
    #[inline]
    pub(crate) fn now_ms(&self) -> u64 {
        self.clock.now_ms.load(Ordering::Relaxed)
    }

    /// The clock's tick: how far [`now_ms`](Self::now_ms) may lag.
    pub(crate) fn tick_ms(&self) -> u64 {
        self.clock.tick_ms
    }

    /// Publish the deadline of a wait about to start, `span` (from
    /// [`span_ms`]) from now; [`NO_SPAN`]: no timeout.
    #[inline]
    pub(crate) fn arm(&self, span: u64, write: bool) {
        if span != NO_SPAN {
            // No overflow: each term is at most `u64::MAX >> 2` (`ms`, the
            // tick's clamp).
            let at = (self.now_ms() + span + self.clock.tick_ms).min(u64::MAX >> 2);
            self.cell
                .deadline
                .store(at << 1 | u64::from(write), Ordering::Relaxed);
        }
    }

    /// The wait ended.
    #[inline]
    pub(crate) fn disarm(&self) {
        self.cell.deadline.store(0, Ordering::Relaxed);
    }

    /// The reaper shut the socket down: the failed operation timed out.
    pub(crate) fn fired(&self) -> bool {
        self.cell.fired()
    }
}

/// Runs the reaper of one server until [`Reaper::stop`].
pub(crate) struct Reaper {
    clock: Arc<Clock>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Reaper {
    /// Start the thread: every tick it advances `clock` and calls `scan`
    /// with the new coarse now (the server runs [`expire`] on each
    /// registered connection, under its registry lock).
    pub(crate) fn start(
        clock: Arc<Clock>,
        scan: impl Fn(u64) + Send + 'static,
    ) -> std::io::Result<Reaper> {
        clock.advance();
        let c = clock.clone();
        let thread = std::thread::Builder::new()
            .name("eventlet-wsgi-timeouts".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                while !c.stop.load(Ordering::Acquire) {
                    std::thread::park_timeout(c.tick());
                    let now = c.advance();
                    scan(now);
                }
            })?;
        clock.running.store(true, Ordering::Release);
        Ok(Reaper {
            clock,
            thread: Some(thread),
        })
    }

    /// Stop the thread and wait for it (connections still running fall back
    /// to no timeout: the server has stopped and is draining them).
    pub(crate) fn stop(mut self) {
        self.clock.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

/// One registry entry's check for the reaper: shut `fd` down if `cell`'s
/// deadline passed at `now`. The caller holds the registry lock (the
/// descriptor cannot be closed and reused meanwhile).
pub(crate) fn expire(cell: &ConnState, fd: RawFd, now: u64) {
    if let Some(how) = cell.expire(now) {
        // SAFETY: `fd` belongs to a registered connection: entries leave the
        // registry (under the lock the caller holds) before their socket is
        // closed. shutdown(2) touches no memory.
        unsafe {
            libc::shutdown(fd, how);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_is_an_eighth_clamped() {
        assert_eq!(tick_for(Duration::from_secs(30)), MAX_TICK);
        assert_eq!(
            tick_for(Duration::from_millis(800)),
            Duration::from_millis(100)
        );
        assert_eq!(tick_for(Duration::from_millis(20)), MIN_TICK);
    }

    #[test]
    fn deadline_fires_once_and_never_early() {
        let clock = Arc::new(Clock::new(Duration::from_millis(100)));
        let cell = Arc::new(ConnState::new(0));
        let link = Link::new(cell.clone(), clock.clone());
        clock.now_ms.store(1000, Ordering::Relaxed);
        link.arm(span_ms(Some(Duration::from_millis(500))), false);
        // Deadline 1000 + 500 + one tick.
        assert_eq!(cell.expire(1599), None);
        assert_eq!(cell.expire(1600), Some(libc::SHUT_RD));
        assert!(link.fired());
        assert_eq!(cell.expire(5000), None, "claimed once");
    }

    #[test]
    fn huge_timeouts_saturate() {
        let clock = Arc::new(Clock::new(Duration::MAX));
        let cell = Arc::new(ConnState::new(0));
        let link = Link::new(cell.clone(), clock.clone());
        clock.now_ms.store(u64::MAX >> 2, Ordering::Relaxed);
        for t in [Duration::MAX, Duration::from_millis(u64::MAX - 1)] {
            assert_ne!(span_ms(Some(t)), NO_SPAN);
            link.arm(span_ms(Some(t)), true);
            assert_eq!(cell.expire(u64::MAX >> 3), None, "not yet");
            assert_eq!(cell.expire(u64::MAX >> 2), Some(libc::SHUT_RDWR));
        }
    }

    #[test]
    fn cleared_or_unarmed_waits_never_fire() {
        let clock = Arc::new(Clock::new(Duration::from_millis(10)));
        let cell = Arc::new(ConnState::new(0));
        let link = Link::new(cell.clone(), clock);
        link.arm(span_ms(None), false);
        assert_eq!(cell.expire(u64::MAX >> 1), None);
        link.arm(span_ms(Some(Duration::from_millis(1))), true);
        link.disarm();
        assert_eq!(cell.expire(u64::MAX >> 1), None);
        assert!(!link.fired());
        link.arm(span_ms(Some(Duration::from_millis(1))), true);
        assert_eq!(cell.expire(1000), Some(libc::SHUT_RDWR));
    }
}
