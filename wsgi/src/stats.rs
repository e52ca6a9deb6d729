//! Server statistics: counters the connections bump with relaxed atomics (a
//! few per request), a [`StatsSnapshot`] readable from code at any time, the
//! Prometheus text format, and the readiness switch a balancer polls.
//!
//! ```
//! use eventlet_wsgi::{stats::Stats, ServerOptions};
//! let stats = Stats::new();
//! let opts = ServerOptions::new().stats(stats.clone());
//! // ... run a server with `opts`; meanwhile, from anywhere:
//! let snap = stats.snapshot();
//! assert_eq!(snap.requests_total(), 0);
//! assert!(stats.prometheus().contains("eventlet_wsgi_requests_total"));
//! ```

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Upper bounds of the latency histogram's buckets, in microseconds (the
/// last bucket, `+Inf`, is implicit).
pub const LATENCY_BOUNDS_US: [u64; 14] = [
    500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

/// When a request began: `CLOCK_MONOTONIC` (what `Instant` reads) as whole
/// nanoseconds. Two reads and a subtraction per request cost ~100
/// instructions through `Instant` (its `Timespec` checks and `Duration`
/// arithmetic) and about half that here.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp(u64);

impl Stamp {
    #[inline]
    pub(crate) fn now() -> Stamp {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable `timespec` for the call to fill;
        // `CLOCK_MONOTONIC` exists on every unix (it cannot fail, and if it
        // did `ts` would stay zero: a zero duration, not undefined behaviour).
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        // Seconds since boot fit u64 nanoseconds for 584 years.
        Stamp((ts.tv_sec as u64).wrapping_mul(1_000_000_000) + ts.tv_nsec as u64)
    }

    /// Time since this stamp (never negative: the clock is monotonic).
    #[inline]
    pub(crate) fn elapsed(self) -> Duration {
        Duration::from_nanos(self.elapsed_ns())
    }

    /// [`elapsed`](Self::elapsed) in whole microseconds (the statistics'
    /// unit, without a `Duration`'s seconds/nanoseconds split).
    #[inline]
    pub(crate) fn elapsed_us(self) -> u64 {
        self.elapsed_ns() / 1_000
    }

    #[inline]
    fn elapsed_ns(self) -> u64 {
        Stamp::now().0.saturating_sub(self.0)
    }
}

/// Why a connection was refused before the app saw a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectReason {
    /// 400: a malformed request head.
    BadRequest,
    /// 408: the head did not arrive in time.
    Timeout,
    /// 413: the body is over `max_body_size`.
    TooLarge,
    /// 414: the request line is too long.
    UriTooLong,
    /// 431: a header line, the header count or the head is too large.
    HeadersTooLarge,
    /// 501: an unknown transfer coding.
    NotImplemented,
    /// 505: an HTTP version other than 1.x.
    Version,
    /// A missing, malformed or untrusted PROXY protocol header (closed, no answer).
    ProxyProtocol,
    /// Any other status.
    Other,
}

impl RejectReason {
    /// Every reason, in the snapshot's order.
    pub const ALL: [RejectReason; 9] = [
        RejectReason::BadRequest,
        RejectReason::Timeout,
        RejectReason::TooLarge,
        RejectReason::UriTooLong,
        RejectReason::HeadersTooLarge,
        RejectReason::NotImplemented,
        RejectReason::Version,
        RejectReason::ProxyProtocol,
        RejectReason::Other,
    ];

    /// The reason for a rejection answered with `status`.
    pub fn from_status(status: u16) -> RejectReason {
        match status {
            400 => RejectReason::BadRequest,
            408 => RejectReason::Timeout,
            413 => RejectReason::TooLarge,
            414 => RejectReason::UriTooLong,
            431 => RejectReason::HeadersTooLarge,
            501 => RejectReason::NotImplemented,
            505 => RejectReason::Version,
            _ => RejectReason::Other,
        }
    }

    /// The Prometheus label value.
    pub fn name(self) -> &'static str {
        match self {
            RejectReason::BadRequest => "bad_request",
            RejectReason::Timeout => "head_timeout",
            RejectReason::TooLarge => "body_too_large",
            RejectReason::UriTooLong => "uri_too_long",
            RejectReason::HeadersTooLarge => "headers_too_large",
            RejectReason::NotImplemented => "not_implemented",
            RejectReason::Version => "http_version",
            RejectReason::ProxyProtocol => "proxy_protocol",
            RejectReason::Other => "other",
        }
    }
}

/// Which deadline cut a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// A request head not complete within `head_timeout` (408).
    Head,
    /// An idle keep-alive connection closed (no request within the limit).
    Idle,
    /// Reading the request body stalled past `socket_timeout`.
    Body,
    /// Writing the response stalled past `socket_timeout`.
    Write,
}

impl TimeoutKind {
    /// Every kind, in the snapshot's order.
    pub const ALL: [TimeoutKind; 4] = [
        TimeoutKind::Head,
        TimeoutKind::Idle,
        TimeoutKind::Body,
        TimeoutKind::Write,
    ];

    /// The Prometheus label value.
    pub fn name(self) -> &'static str {
        match self {
            TimeoutKind::Head => "head",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Body => "body",
            TimeoutKind::Write => "write",
        }
    }
}

/// Live counters of one server (or of several sharing it). Cheap to update:
/// relaxed atomic adds, a handful per request.
#[derive(Debug)]
pub struct Stats {
    connections_total: AtomicU64,
    connections_closed: AtomicU64,
    active: AtomicU64,
    by_class: [AtomicU64; 5],
    rejects: [AtomicU64; 9],
    timeouts: [AtomicU64; 4],
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    latency: [AtomicU64; BUCKETS],
    latency_sum_us: AtomicU64,
    ready: AtomicBool,
}

impl Default for Stats {
    fn default() -> Self {
        Stats {
            connections_total: AtomicU64::new(0),
            connections_closed: AtomicU64::new(0),
            active: AtomicU64::new(0),
            by_class: Default::default(),
            rejects: Default::default(),
            timeouts: Default::default(),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
            ready: AtomicBool::new(true),
        }
    }
}

impl Stats {
    /// Fresh counters, ready.
    pub fn new() -> Arc<Stats> {
        Arc::new(Stats::default())
    }

    pub(crate) fn connection_opened(&self) {
        self.connections_total.fetch_add(1, Relaxed);
    }

    pub(crate) fn connection_closed(&self) {
        self.connections_closed.fetch_add(1, Relaxed);
    }

    pub(crate) fn request_started(&self) {
        self.active.fetch_add(1, Relaxed);
    }

    /// A request answered with `status` after `us` microseconds;
    /// `bytes_in`/`bytes_out` crossed the socket since the last report.
    pub(crate) fn request_done(&self, status: u16, us: u64, bytes_in: u64, bytes_out: u64) {
        self.active.fetch_sub(1, Relaxed);
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
        let bucket = LATENCY_BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Relaxed);
        self.latency_sum_us.fetch_add(us, Relaxed);
        self.bytes(bytes_in, bytes_out);
    }

    pub(crate) fn bytes(&self, bytes_in: u64, bytes_out: u64) {
        if bytes_in > 0 {
            self.bytes_in.fetch_add(bytes_in, Relaxed);
        }
        if bytes_out > 0 {
            self.bytes_out.fetch_add(bytes_out, Relaxed);
        }
    }

    pub(crate) fn reject(&self, why: RejectReason) {
        self.rejects[why as usize].fetch_add(1, Relaxed);
    }

    /// A request refused before the app with `status` (counted in its class too).
    pub(crate) fn rejected(&self, status: u16) {
        self.reject(RejectReason::from_status(status));
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.by_class[class].fetch_add(1, Relaxed);
    }

    pub(crate) fn timeout(&self, kind: TimeoutKind) {
        self.timeouts[kind as usize].fetch_add(1, Relaxed);
    }

    /// Readiness: false makes the ready-made health endpoint answer 503 so
    /// that a balancer stops sending. A stopping server sets it to false.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Relaxed);
    }

    /// See [`set_ready`](Self::set_ready).
    pub fn is_ready(&self) -> bool {
        self.ready.load(Relaxed)
    }

    /// The counters now (each read on its own: a snapshot taken under load
    /// may be a few requests apart between fields).
    pub fn snapshot(&self) -> StatsSnapshot {
        let load = |a: &AtomicU64| a.load(Relaxed);
        let total = load(&self.connections_total);
        let closed = load(&self.connections_closed);
        let open = total.saturating_sub(closed);
        let active = load(&self.active).min(open);
        StatsSnapshot {
            connections_total: total,
            connections_open: open,
            connections_active: active,
            connections_idle: open - active,
            requests_by_class: self.by_class.each_ref().map(load),
            rejects: RejectReason::ALL
                .iter()
                .map(|&r| (r, load(&self.rejects[r as usize])))
                .collect(),
            timeouts: TimeoutKind::ALL
                .iter()
                .map(|&k| (k, load(&self.timeouts[k as usize])))
                .collect(),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            latency_buckets: self.latency.each_ref().map(load).to_vec(),
            latency_sum: Duration::from_micros(load(&self.latency_sum_us)),
            ready: self.is_ready(),
        }
    }

    /// The snapshot in Prometheus' text exposition format (version 0.0.4).
    pub fn prometheus(&self) -> String {
        self.snapshot().prometheus()
    }
}

/// The counters at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct StatsSnapshot {
    /// Connections accepted since the start.
    pub connections_total: u64,
    /// Connections open now.
    pub connections_open: u64,
    /// Open connections inside a request.
    pub connections_active: u64,
    /// Open connections between requests (keep-alive) or before the first.
    pub connections_idle: u64,
    /// Requests answered by status class: `[1xx, 2xx, 3xx, 4xx, 5xx]`
    /// (rejections before the app included).
    pub requests_by_class: [u64; 5],
    /// Requests refused before the app, by reason.
    pub rejects: Vec<(RejectReason, u64)>,
    /// Connections cut by a deadline, by kind.
    pub timeouts: Vec<(TimeoutKind, u64)>,
    /// Bytes read from clients.
    pub bytes_in: u64,
    /// Bytes written to clients.
    pub bytes_out: u64,
    /// Request durations: counts per bucket of [`LATENCY_BOUNDS_US`], then `+Inf`
    /// (not cumulative).
    pub latency_buckets: Vec<u64>,
    /// The sum of all request durations.
    pub latency_sum: Duration,
    /// The readiness switch.
    pub ready: bool,
}

impl StatsSnapshot {
    /// Requests answered, every status class.
    pub fn requests_total(&self) -> u64 {
        self.requests_by_class.iter().sum()
    }

    /// The count for one reject reason.
    pub fn rejects(&self, why: RejectReason) -> u64 {
        self.rejects
            .iter()
            .find(|(r, _)| *r == why)
            .map_or(0, |e| e.1)
    }

    /// The count for one timeout kind.
    pub fn timeouts(&self, kind: TimeoutKind) -> u64 {
        self.timeouts
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(0, |e| e.1)
    }

    /// Prometheus' text exposition format.
    pub fn prometheus(&self) -> String {
        let mut o = String::with_capacity(2048);
        let family = |o: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(
                o,
                "# HELP eventlet_wsgi_{name} {help}\n# TYPE eventlet_wsgi_{name} {kind}"
            );
        };
        family(&mut o, "connections", "gauge", "Open connections by state.");
        let _ = writeln!(
            o,
            "eventlet_wsgi_connections{{state=\"active\"}} {}",
            self.connections_active
        );
        let _ = writeln!(
            o,
            "eventlet_wsgi_connections{{state=\"idle\"}} {}",
            self.connections_idle
        );
        family(
            &mut o,
            "connections_total",
            "counter",
            "Connections accepted.",
        );
        let _ = writeln!(
            o,
            "eventlet_wsgi_connections_total {}",
            self.connections_total
        );
        family(
            &mut o,
            "requests_total",
            "counter",
            "Requests answered, by status class.",
        );
        for (i, n) in self.requests_by_class.iter().enumerate() {
            let _ = writeln!(
                o,
                "eventlet_wsgi_requests_total{{code=\"{}xx\"}} {n}",
                i + 1
            );
        }
        family(
            &mut o,
            "rejects_total",
            "counter",
            "Requests refused before the application, by reason.",
        );
        for (r, n) in &self.rejects {
            let _ = writeln!(
                o,
                "eventlet_wsgi_rejects_total{{reason=\"{}\"}} {n}",
                r.name()
            );
        }
        family(
            &mut o,
            "timeouts_total",
            "counter",
            "Connections cut by a deadline, by kind.",
        );
        for (k, n) in &self.timeouts {
            let _ = writeln!(
                o,
                "eventlet_wsgi_timeouts_total{{kind=\"{}\"}} {n}",
                k.name()
            );
        }
        family(
            &mut o,
            "received_bytes_total",
            "counter",
            "Bytes read from clients.",
        );
        let _ = writeln!(o, "eventlet_wsgi_received_bytes_total {}", self.bytes_in);
        family(
            &mut o,
            "sent_bytes_total",
            "counter",
            "Bytes written to clients.",
        );
        let _ = writeln!(o, "eventlet_wsgi_sent_bytes_total {}", self.bytes_out);
        family(
            &mut o,
            "request_duration_seconds",
            "histogram",
            "Time from a complete request head to the end of the response.",
        );
        let mut cumulative = 0;
        for (i, n) in self.latency_buckets.iter().enumerate() {
            cumulative += n;
            match LATENCY_BOUNDS_US.get(i) {
                Some(&b) => {
                    let _ = writeln!(
                        o,
                        "eventlet_wsgi_request_duration_seconds_bucket{{le=\"{}\"}} {cumulative}",
                        b as f64 / 1e6
                    );
                }
                None => {
                    let _ = writeln!(
                        o,
                        "eventlet_wsgi_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}"
                    );
                }
            }
        }
        let _ = writeln!(
            o,
            "eventlet_wsgi_request_duration_seconds_sum {}",
            self.latency_sum.as_secs_f64()
        );
        let _ = writeln!(
            o,
            "eventlet_wsgi_request_duration_seconds_count {cumulative}"
        );
        family(
            &mut o,
            "ready",
            "gauge",
            "1 while the server takes new requests, 0 while draining.",
        );
        let _ = writeln!(o, "eventlet_wsgi_ready {}", u8::from(self.ready));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_measures_like_instant() {
        let (stamp, instant) = (Stamp::now(), std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (ours, std) = (stamp.elapsed(), instant.elapsed());
        assert!(ours >= Duration::from_millis(20), "{ours:?}");
        assert!(stamp.elapsed_us() >= 20_000);
        // Read one after the other: within a few milliseconds of each other.
        assert!(
            ours.abs_diff(std) < Duration::from_millis(5),
            "{ours:?} vs {std:?}"
        );
    }

    #[test]
    fn counters_and_text() {
        let s = Stats::new();
        s.connection_opened();
        s.connection_opened();
        s.request_started();
        let mid = s.snapshot();
        assert_eq!(
            (
                mid.connections_open,
                mid.connections_active,
                mid.connections_idle
            ),
            (2, 1, 1)
        );
        s.request_done(204, 700, 100, 200);
        s.request_started();
        s.request_done(503, 20_000_000, 5, 6);
        s.reject(RejectReason::from_status(431));
        s.reject(RejectReason::ProxyProtocol);
        s.timeout(TimeoutKind::Idle);
        s.connection_closed();
        let snap = s.snapshot();
        assert_eq!(snap.requests_by_class, [0, 1, 0, 0, 1]);
        assert_eq!(snap.requests_total(), 2);
        assert_eq!((snap.connections_open, snap.connections_active), (1, 0));
        assert_eq!(snap.rejects(RejectReason::HeadersTooLarge), 1);
        assert_eq!(snap.rejects(RejectReason::ProxyProtocol), 1);
        assert_eq!(snap.timeouts(TimeoutKind::Idle), 1);
        assert_eq!((snap.bytes_in, snap.bytes_out), (105, 206));
        assert_eq!(snap.latency_buckets[1], 1); // 700 µs ≤ 1 ms
        assert_eq!(snap.latency_buckets[BUCKETS - 1], 1); // 20 s: +Inf
        let text = snap.prometheus();
        for line in [
            "eventlet_wsgi_requests_total{code=\"2xx\"} 1",
            "eventlet_wsgi_requests_total{code=\"5xx\"} 1",
            "eventlet_wsgi_rejects_total{reason=\"headers_too_large\"} 1",
            "eventlet_wsgi_timeouts_total{kind=\"idle\"} 1",
            "eventlet_wsgi_request_duration_seconds_bucket{le=\"0.0005\"} 0",
            "eventlet_wsgi_request_duration_seconds_bucket{le=\"0.001\"} 1",
            "eventlet_wsgi_request_duration_seconds_bucket{le=\"10\"} 1",
            "eventlet_wsgi_request_duration_seconds_bucket{le=\"+Inf\"} 2",
            "eventlet_wsgi_request_duration_seconds_count 2",
            "eventlet_wsgi_connections{state=\"idle\"} 1",
            "eventlet_wsgi_ready 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
        // Every sample line is `name{labels} number`.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
        s.set_ready(false);
        assert!(s.prometheus().contains("eventlet_wsgi_ready 0"));
    }
}
