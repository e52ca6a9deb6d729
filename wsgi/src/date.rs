//! The `Date` response header: eventlet's `format_date_time` (wsgi.py:45-50) and a process-wide
//! cache of the current value, refreshed at most once per second.
//!
//! The cache is a sequence lock built only from atomics: readers never block and never write,
//! a torn read is detected and discarded, and there is no `unsafe` (unlike caches that share a
//! plain buffer between threads, which is a data race). It lives in a global rather than a
//! thread-local because green threads migrate between worker threads.

use std::fmt::Write as _;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Thu, 01 Jan 1970 00:00:00 GMT`.
pub const DATE_LEN: usize = 29;

/// The last second an IMF-fixdate can show in 29 bytes: 9999-12-31 23:59:59 UTC.
const MAX_FIXDATE_SECS: u64 = 253_402_300_799;

const WEEKDAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// eventlet's `format_date_time(timestamp)`: the IMF-fixdate (RFC 9110 §5.6.7) of a Unix time.
///
/// Like Python's `%4d`, years after 9999 get more digits instead of failing.
///
/// ```
/// # use eventlet_wsgi::date::format_date_time;
/// assert_eq!(format_date_time(0), "Thu, 01 Jan 1970 00:00:00 GMT");
/// assert_eq!(format_date_time(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
/// ```
pub fn format_date_time(unix_secs: u64) -> String {
    let c = Civil::from_unix(unix_secs);
    let mut s = String::with_capacity(DATE_LEN);
    // Writing to a String cannot fail.
    let _ = write!(
        s,
        "{}, {:02} {} {:4} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[c.weekday],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    );
    s
}

/// The IMF-fixdate of `unix_secs` as fixed-size bytes, without allocating. Times after
/// 9999-12-31 23:59:59 are clamped to it, since a 5-digit year does not fit the 29 bytes.
pub fn http_date(unix_secs: u64) -> [u8; DATE_LEN] {
    let c = Civil::from_unix(unix_secs.min(MAX_FIXDATE_SECS));
    let mut b = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    b[0..3].copy_from_slice(WEEKDAYS[c.weekday].as_bytes());
    put2(&mut b[5..7], c.day);
    b[8..11].copy_from_slice(MONTHS[c.month - 1].as_bytes());
    put2(&mut b[12..14], (c.year / 100) as usize);
    put2(&mut b[14..16], (c.year % 100) as usize);
    put2(&mut b[17..19], c.hour);
    put2(&mut b[20..22], c.minute);
    put2(&mut b[23..25], c.second);
    b
}

fn put2(dst: &mut [u8], v: usize) {
    dst[0] = b'0' + (v / 10) as u8;
    dst[1] = b'0' + (v % 10) as u8;
}

/// A UTC calendar time broken into fields.
struct Civil {
    year: u64,
    month: usize,
    day: usize,
    weekday: usize,
    hour: usize,
    minute: usize,
    second: usize,
}

impl Civil {
    fn from_unix(secs: u64) -> Civil {
        let days = secs / 86_400;
        let sod = (secs % 86_400) as usize;
        // Howard Hinnant's civil_from_days, for days >= 0 (so everything stays unsigned).
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as usize;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as usize;
        Civil {
            year: yoe + era * 400 + u64::from(month <= 2),
            month,
            day,
            // 1970-01-01 was a Thursday (index 3 of WEEKDAYS).
            weekday: ((days + 3) % 7) as usize,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
        }
    }
}

/// The seqlock: `SEQ` is odd while a writer updates `SECS`/`WORDS`. Every field is an atomic,
/// so a reader racing a writer sees a mix of old and new values — never undefined behaviour —
/// and notices it because `SEQ` changed.
static SEQ: AtomicU64 = AtomicU64::new(0);
/// The Unix second `WORDS` was formatted for; `u64::MAX` until the first refresh.
static SECS: AtomicU64 = AtomicU64::new(u64::MAX);
/// The 29 date bytes, little-endian, zero-padded to 32.
static WORDS: [AtomicU64; 4] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// The current `Date` header value (`SystemTime::now()` as an IMF-fixdate), formatted at most
/// about once per second per process. The cached path is a clock read plus a few atomic loads.
///
/// ```
/// # use eventlet_wsgi::date::date_header;
/// let d = date_header();
/// assert!(d.ends_with(b" GMT"));
/// ```
pub fn date_header() -> [u8; DATE_LEN] {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if let Some(cached) = load(now) {
        return cached;
    }
    let fresh = http_date(now);
    store(now, &fresh);
    fresh
}

/// The cached bytes if they were formatted for second `now` and read without a concurrent write.
fn load(now: u64) -> Option<[u8; DATE_LEN]> {
    let seq = SEQ.load(Ordering::Acquire);
    if seq & 1 == 1 {
        return None;
    }
    let secs = SECS.load(Ordering::Relaxed);
    let words = [
        WORDS[0].load(Ordering::Relaxed),
        WORDS[1].load(Ordering::Relaxed),
        WORDS[2].load(Ordering::Relaxed),
        WORDS[3].load(Ordering::Relaxed),
    ];
    // Orders the loads above before the re-check: if any of them saw a newer writer's store,
    // that writer's odd SEQ is visible below.
    fence(Ordering::Acquire);
    if SEQ.load(Ordering::Relaxed) != seq || secs != now {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    let mut out = [0u8; DATE_LEN];
    out.copy_from_slice(&bytes[..DATE_LEN]);
    Some(out)
}

/// Publishes `date` for second `now`, unless another thread is publishing right now (then its
/// value, of the same or a neighbouring second, will do; the caller already has its own copy).
/// Any second is accepted, not only a later one, so a clock stepped backwards is followed.
fn store(now: u64, date: &[u8; DATE_LEN]) {
    let seq = SEQ.load(Ordering::Relaxed);
    if seq & 1 == 1
        || SEQ
            .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        return;
    }
    // Keeps the data stores below from becoming visible before the odd SEQ.
    fence(Ordering::Release);
    let mut bytes = [0u8; 32];
    bytes[..DATE_LEN].copy_from_slice(date);
    SECS.store(now, Ordering::Relaxed);
    for (w, chunk) in WORDS.iter().zip(bytes.chunks_exact(8)) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        w.store(u64::from_le_bytes(word), Ordering::Relaxed);
    }
    SEQ.store(seq + 2, Ordering::Release);
}
