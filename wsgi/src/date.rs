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
#[must_use]
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
#[must_use]
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

/// Length of a whole `Date: <IMF-fixdate>\r\n` header line.
pub(crate) const DATE_LINE_LEN: usize = 6 + DATE_LEN + 2;

/// A sequence lock built from atomics only: `seq` is odd while a writer updates `secs`/`words`.
/// Every field is an atomic, so a reader racing a writer sees a mix of old and new values —
/// never undefined behaviour — and notices it because `seq` changed.
struct DateCache {
    seq: AtomicU64,
    /// The Unix second `words` was formatted for; `u64::MAX` until the first refresh.
    secs: AtomicU64,
    /// The whole `Date: ...\r\n` line (37 bytes), little-endian, zero-padded to 40: the
    /// response writer copies it as it is.
    words: [AtomicU64; 5],
}

static CACHE: DateCache = DateCache::new();

/// The current `Date` header value (`SystemTime::now()` as an IMF-fixdate), formatted at most
/// about once per second per process. The cached path is a clock read plus a few atomic loads.
///
/// ```
/// # use eventlet_wsgi::date::date_header;
/// let d = date_header();
/// assert!(d.ends_with(b" GMT"));
/// ```
#[must_use]
pub fn date_header() -> [u8; DATE_LEN] {
    CACHE.get(unix_seconds())
}

/// The current Unix second: what the `Date` line shows (see [`date_line_at`]).
pub(crate) fn now_secs() -> u64 {
    unix_seconds()
}

/// The `Date: <IMF-fixdate>\r\n` header line of second `secs` (the current
/// one, from [`now_secs`]), from the same cache as [`date_header`].
pub(crate) fn date_line_at(secs: u64) -> [u8; DATE_LINE_LEN] {
    CACHE.get_line(secs)
}

/// `date` as a whole header line.
fn line_of(date: &[u8; DATE_LEN]) -> [u8; DATE_LINE_LEN] {
    let mut line = *b"Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n";
    line[6..6 + DATE_LEN].copy_from_slice(date);
    line
}

/// The date in a header line made by [`line_of`].
fn date_of(line: &[u8; DATE_LINE_LEN]) -> [u8; DATE_LEN] {
    let mut date = [0u8; DATE_LEN];
    date.copy_from_slice(&line[6..6 + DATE_LEN]);
    date
}

/// Whole seconds since the epoch: `SystemTime::now()` without the
/// nanosecond arithmetic (a second is all the cache needs).
fn unix_seconds() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec and CLOCK_REALTIME is
    // always available; the call writes only `ts`.
    if unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) } == 0 {
        u64::try_from(ts.tv_sec).unwrap_or(0)
    } else {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

impl DateCache {
    const fn new() -> DateCache {
        DateCache {
            seq: AtomicU64::new(0),
            secs: AtomicU64::new(u64::MAX),
            words: [
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
                AtomicU64::new(0),
            ],
        }
    }

    /// The date of second `now`, from the cache when it holds that second.
    fn get(&self, now: u64) -> [u8; DATE_LEN] {
        date_of(&self.get_line(now))
    }

    /// The `Date` line of second `now`, from the cache when it holds that second.
    fn get_line(&self, now: u64) -> [u8; DATE_LINE_LEN] {
        if let Some(cached) = self.load_line(now) {
            return cached;
        }
        let fresh = http_date(now);
        self.store(now, &fresh);
        line_of(&fresh)
    }

    /// The cached date if it was formatted for second `now` and read without a concurrent
    /// write.
    #[cfg(test)]
    fn load(&self, now: u64) -> Option<[u8; DATE_LEN]> {
        self.load_line(now).map(|l| date_of(&l))
    }

    /// The cached line if it was formatted for second `now` and read without a concurrent
    /// write.
    fn load_line(&self, now: u64) -> Option<[u8; DATE_LINE_LEN]> {
        let seq = self.seq.load(Ordering::Acquire);
        if seq & 1 == 1 {
            return None;
        }
        let secs = self.secs.load(Ordering::Relaxed);
        let words = [
            self.words[0].load(Ordering::Relaxed),
            self.words[1].load(Ordering::Relaxed),
            self.words[2].load(Ordering::Relaxed),
            self.words[3].load(Ordering::Relaxed),
            self.words[4].load(Ordering::Relaxed),
        ];
        // Orders the loads above before the re-check: if any of them saw a newer writer's
        // store, that writer's odd `seq` is visible below.
        fence(Ordering::Acquire);
        if self.seq.load(Ordering::Relaxed) != seq || secs != now {
            return None;
        }
        let mut bytes = [0u8; 40];
        for (chunk, w) in bytes.chunks_exact_mut(8).zip(words) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let mut out = [0u8; DATE_LINE_LEN];
        out.copy_from_slice(&bytes[..DATE_LINE_LEN]);
        Some(out)
    }

    /// Publishes `date` for second `now`, unless another thread is publishing right now (then
    /// its value, of the same or a neighbouring second, will do; the caller has its own copy).
    /// Any second is accepted, not only a later one, so a clock stepped backwards is followed.
    fn store(&self, now: u64, date: &[u8; DATE_LEN]) {
        let seq = self.seq.load(Ordering::Relaxed);
        if seq & 1 == 1
            || self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // Keeps the data stores below from becoming visible before the odd `seq`.
        fence(Ordering::Release);
        let mut bytes = [0u8; 40];
        bytes[..DATE_LINE_LEN].copy_from_slice(&line_of(date));
        self.secs.store(now, Ordering::Relaxed);
        for (w, chunk) in self.words.iter().zip(bytes.chunks_exact(8)) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            w.store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        self.seq.store(seq + 2, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn httpdate_of(secs: u64) -> String {
        httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs))
    }

    #[test]
    fn format_date_time_of_epoch() {
        assert_eq!(format_date_time(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn format_date_time_of_known_timestamps() {
        let cases = [
            // The example date of RFC 9110 §5.6.7.
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            // Leap day of a century leap year, last second.
            (951_868_799, "Tue, 29 Feb 2000 23:59:59 GMT"),
            (1_785_929_948, "Wed, 05 Aug 2026 11:39:08 GMT"),
            (4_102_444_800, "Fri, 01 Jan 2100 00:00:00 GMT"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ];
        for (secs, want) in cases {
            assert_eq!(format_date_time(secs), want, "{secs}");
            assert_eq!(&http_date(secs)[..], want.as_bytes(), "{secs}");
        }
    }

    #[test]
    fn format_date_time_agrees_with_httpdate_across_the_range() {
        // A stride that is not a multiple of a day, a week or a year visits all fields.
        let mut secs = 0u64;
        while secs <= MAX_FIXDATE_SECS {
            let want = httpdate_of(secs);
            assert_eq!(format_date_time(secs), want);
            assert_eq!(&http_date(secs)[..], want.as_bytes());
            secs += 7_777_777;
        }
    }

    #[test]
    fn format_date_time_widens_years_after_9999_like_python() {
        assert_eq!(
            format_date_time(MAX_FIXDATE_SECS + 1),
            "Sat, 01 Jan 10000 00:00:00 GMT"
        );
    }

    #[test]
    fn http_date_clamps_to_year_9999() {
        assert_eq!(http_date(u64::MAX), http_date(MAX_FIXDATE_SECS));
    }

    /// `date_header()` must equal httpdate's rendering of `now` taken just before or just after
    /// it (the call may straddle a second boundary).
    fn assert_current(got: [u8; DATE_LEN], before: String, after: String) {
        let got = std::str::from_utf8(&got).expect("date is ASCII").to_owned();
        assert!(
            got == before || got == after,
            "{got:?} is neither {before:?} nor {after:?}"
        );
    }

    #[test]
    fn cached_date_equals_httpdate_of_now() {
        for _ in 0..3 {
            let before = httpdate::fmt_http_date(SystemTime::now());
            let got = date_header();
            let after = httpdate::fmt_http_date(SystemTime::now());
            assert_current(got, before, after);
        }
    }

    #[test]
    fn cached_date_is_refreshed_when_the_second_changes() {
        let cache = DateCache::new();
        assert_eq!(cache.load(12_345), None, "empty cache");
        assert_eq!(cache.get(12_345), http_date(12_345));
        assert_eq!(cache.load(12_345), Some(http_date(12_345)));
        assert_eq!(cache.load(12_346), None, "stale second is not served");
        assert_eq!(cache.get(12_346), http_date(12_346));
        assert_eq!(cache.load(12_346), Some(http_date(12_346)));
        // A clock stepped backwards is followed too.
        assert_eq!(cache.get(100), http_date(100));
        assert_eq!(cache.load(100), Some(http_date(100)));
    }

    #[test]
    fn cached_date_is_never_torn_under_concurrent_writes() {
        // Two writers keep replacing the entry with two different seconds whose dates differ
        // in every field; readers must only ever get one of the two complete values.
        const A: u64 = 784_111_777;
        const B: u64 = 1_785_929_948;
        let cache = std::sync::Arc::new(DateCache::new());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writers: Vec<_> = [A, B]
            .into_iter()
            .map(|secs| {
                let (cache, stop) = (cache.clone(), stop.clone());
                std::thread::spawn(move || {
                    let date = http_date(secs);
                    while !stop.load(Ordering::Relaxed) {
                        cache.store(secs, &date);
                        // Leave the entry stable for a moment so that readers also succeed.
                        for _ in 0..64 {
                            std::hint::spin_loop();
                        }
                    }
                })
            })
            .collect();
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    let mut hits = 0u32;
                    for _ in 0..200_000 {
                        for secs in [A, B] {
                            if let Some(got) = cache.load(secs) {
                                assert_eq!(got, http_date(secs));
                                hits += 1;
                            }
                        }
                    }
                    hits
                })
            })
            .collect();
        let hits: u32 = readers.into_iter().map(|r| r.join().expect("reader")).sum();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().expect("writer");
        }
        assert!(hits > 0, "readers never saw a complete entry");
    }

    #[test]
    fn global_date_header_is_current_from_many_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..10_000 {
                        let before = httpdate::fmt_http_date(SystemTime::now());
                        let got = date_header();
                        let after = httpdate::fmt_http_date(SystemTime::now());
                        assert_current(got, before, after);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("reader thread");
        }
    }

    #[test]
    fn cached_date_line_is_the_header_line_of_that_second() {
        let cache = DateCache::new();
        for secs in [0, 784_111_777, 784_111_778, 1_785_929_948, 100] {
            let want = format!("Date: {}\r\n", httpdate_of(secs));
            assert_eq!(&cache.get_line(secs)[..], want.as_bytes(), "{secs}");
            // Served from the cache the second time.
            assert_eq!(
                cache.load_line(secs).as_ref().map(|l| &l[..]),
                Some(want.as_bytes())
            );
            assert_eq!(cache.load(secs), Some(http_date(secs)));
        }
        // The next second is not served from the entry of the one before.
        assert_eq!(cache.load_line(101), None);
        assert_ne!(cache.get_line(101), cache.get_line(100));
    }

    #[test]
    fn global_date_line_is_current() {
        let before = format!("Date: {}\r\n", httpdate::fmt_http_date(SystemTime::now()));
        let got = date_line_at(now_secs());
        let after = format!("Date: {}\r\n", httpdate::fmt_http_date(SystemTime::now()));
        let got = std::str::from_utf8(&got).expect("ASCII");
        assert!(got == before || got == after, "{got:?}");
    }
}
