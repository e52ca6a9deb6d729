//! `env_logger` set up for a server in one call, with a cheap access log.
//!
//! [`init`] installs `env_logger` (filter from `RUST_LOG`, else the default
//! given) as the program's `log` backend, the way the seed's
//! `examples/wsgi.rs` uses it:
//!
//! ```no_run
//! eventlet_wsgi::logging::init("info,may=warn");
//! ```
//!
//! On a terminal this is plain `env_logger` (colours, one write per line).
//! Redirected to a file or a pipe — how servers run — its output goes through
//! a [`BatchWriter`] on stderr (one write per access-log
//! batch), and the lines a server's log thread emits in a batch are formatted
//! by a fast path instead of `env_logger`'s own formatter: the same bytes as
//! `env_logger`'s default format without styles
//! (`[2026-12-02T00:08:09Z INFO  eventlet_wsgi] 127.0.0.1 - - [...] "GET / HTTP/1.1" 200 ...`),
//! with the timestamp rendered once a second instead of per line and without
//! `anstream`'s pass stripping colour codes from a line that has none. Every
//! line is still a `log` record (target `eventlet_wsgi`), filtered by the
//! same `env_logger` filter; a record the fast path cannot reproduce byte for
//! byte (control characters in it, which `env_logger` strips; an empty
//! target) is handed to `env_logger` itself. Records from anywhere else go to
//! `env_logger` unchanged.
//!
//! `RUST_LOG_STYLE=always` keeps `env_logger`'s colours in a file, as it
//! would without this module (and its cost). A program that installs its own
//! logger instead still receives every access line as a record.

use crate::accesslog::{batch_time, BatchHandle, BatchWriter};
use log::{Log, Metadata, Record};
use std::cell::Cell;
use std::io::{self, IsTerminal};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Installs `env_logger` as the `log` backend, with `default_filter` when
/// `RUST_LOG` is unset (see the module docs); panics if a logger is already
/// installed, like `env_logger::init`.
pub fn init(default_filter: &str) {
    try_init(default_filter).expect("eventlet_wsgi::logging::init: a logger is already installed");
}

/// [`init`], returning an error instead of panicking when a logger is
/// already installed.
///
/// ```
/// // The first call installs the logger; a second one is refused.
/// let _ = eventlet_wsgi::logging::try_init("info");
/// assert!(eventlet_wsgi::logging::try_init("info").is_err());
/// ```
pub fn try_init(default_filter: &str) -> Result<(), log::SetLoggerError> {
    let env = env_logger::Env::default().default_filter_or(default_filter);
    let mut builder = env_logger::Builder::from_env(env);
    if io::stderr().is_terminal() {
        return builder.try_init();
    }
    let always = std::env::var(env_logger::DEFAULT_WRITE_STYLE_ENV).is_ok_and(|v| v == "always");
    if always {
        builder.target(env_logger::Target::Pipe(Box::new(BatchWriter::new(
            io::stderr(),
        ))));
        return builder.try_init();
    }
    // The filter env_logger has just parsed: `RUST_LOG` if set (and Unicode), else the default.
    let spec =
        std::env::var(env_logger::DEFAULT_FILTER_ENV).unwrap_or_else(|_| default_filter.to_owned());
    let logger = Logger::new(builder, &spec, io::stderr());
    let max = logger.inner.filter();
    log::set_boxed_logger(Box::new(logger))?;
    log::set_max_level(max);
    Ok(())
}

/// The target of the server's lines.
const OWN_TARGET: &str = "eventlet_wsgi";

/// `env_logger` writing to a [`BatchWriter`] on `out`, with the fast path for
/// batched lines. `builder` must keep `env_logger`'s default format and
/// write style, with `filter_spec` its filter.
pub(crate) struct Logger {
    inner: env_logger::Logger,
    out: BatchHandle,
    /// `inner`'s verdict for target `eventlet_wsgi` at each level (index
    /// `level - 1`): its filter does not change once built, and the server
    /// asks once per request.
    own_enabled: [bool; 5],
    /// The filter has a regex part (`RUST_LOG=info/text`), which
    /// `matches` applies to each record's text.
    has_regex: bool,
}

impl Logger {
    pub(crate) fn new(
        mut builder: env_logger::Builder,
        filter_spec: &str,
        out: impl io::Write + Send + 'static,
    ) -> Logger {
        let batched = BatchWriter::new(out);
        let handle = batched.handle();
        builder.target(env_logger::Target::Pipe(Box::new(batched)));
        let inner = builder.build();
        let own_enabled = [
            log::Level::Error,
            log::Level::Warn,
            log::Level::Info,
            log::Level::Debug,
            log::Level::Trace,
        ]
        .map(|level| inner.enabled(&Metadata::builder().level(level).target(OWN_TARGET).build()));
        Logger {
            inner,
            out: handle,
            own_enabled,
            // env_filter takes what follows a '/' as the regex.
            has_regex: filter_spec.contains('/'),
        }
    }

    fn own_enabled(&self, level: log::Level) -> bool {
        self.own_enabled[level as usize - 1]
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if metadata.target() == OWN_TARGET {
            return self.own_enabled(metadata.level());
        }
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if let Some(now) = batch_time() {
            let matches = if !self.has_regex && record.target() == OWN_TARGET {
                self.own_enabled(record.level())
            } else {
                self.inner.matches(record)
            };
            if !matches {
                return;
            }
            if self
                .out
                .append(|buf| write_default_format(buf, record, now))
            {
                return;
            }
        }
        self.inner.log(record);
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

impl std::fmt::Debug for Logger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("eventlet_wsgi::logging::Logger")
    }
}

/// Appends `record` as `env_logger`'s default format writes it without
/// styles (`[{timestamp} {level:<5} {target}] {args}\n`, timestamp in
/// RFC 3339 seconds, UTC); returns false, having appended nothing, where that
/// format would write something else: control characters (stripped by
/// `env_logger`, a newline indented), an empty target, a date past 9999.
fn write_default_format(buf: &mut Vec<u8>, record: &Record<'_>, now: SystemTime) -> bool {
    let target = record.target();
    if target.is_empty() {
        return false;
    }
    let Some(ts) = timestamp(now) else {
        return false;
    };
    let start = buf.len();
    buf.push(b'[');
    buf.extend_from_slice(&ts);
    buf.extend_from_slice(match record.level() {
        log::Level::Error => b" ERROR ",
        log::Level::Warn => b" WARN  ",
        log::Level::Info => b" INFO  ",
        log::Level::Debug => b" DEBUG ",
        log::Level::Trace => b" TRACE ",
    });
    let checked = buf.len();
    buf.extend_from_slice(target.as_bytes());
    buf.extend_from_slice(b"] ");
    let args = record.args();
    match args.as_str() {
        Some(s) => buf.extend_from_slice(s.as_bytes()),
        None => {
            // Writing to a Vec cannot fail.
            let _ = std::fmt::write(&mut VecWriter(buf), *args);
        }
    }
    if !is_plain(&buf[checked..]) {
        buf.truncate(start);
        return false;
    }
    buf.push(b'\n');
    true
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Whether `text` has no byte below 0x20 and no DEL: what `anstream` leaves
/// as it is (UTF-8 text is kept) and `env_logger`'s indentation does not
/// touch (newlines).
fn is_plain(text: &[u8]) -> bool {
    !crate::head::has_control(text)
}

/// Length of `YYYY-MM-DDTHH:MM:SSZ`.
const TIMESTAMP_LEN: usize = 20;

/// `env_logger`'s seconds timestamp (`jiff`'s RFC 3339, UTC) for `now`,
/// rendered once a second per thread; `None` before 1970 or after 9999.
// Never inlined: green threads migrate between worker threads at yields,
// and a caller that yields must not reuse a thread-local's address that
// the compiler computed before the yield (may's TLS hazard). No yield
// happens in here.
#[inline(never)]
fn timestamp(now: SystemTime) -> Option<[u8; TIMESTAMP_LEN]> {
    thread_local! {
        /// The second the text is for, as `[from, to)`, and the text.
        static LAST: Cell<Option<(SystemTime, SystemTime, [u8; TIMESTAMP_LEN])>> = const { Cell::new(None) };
    }
    // Two comparisons instead of a `duration_since` per line.
    if let Some((from, to, text)) = LAST.with(Cell::get) {
        if from <= now && now < to {
            return Some(text);
        }
    }
    let secs = now.duration_since(UNIX_EPOCH).ok()?.as_secs();
    let text = render_timestamp(secs)?;
    let from = UNIX_EPOCH + Duration::from_secs(secs);
    LAST.with(|c| c.set(Some((from, from + Duration::from_secs(1), text))));
    Some(text)
}

fn render_timestamp(secs: u64) -> Option<[u8; TIMESTAMP_LEN]> {
    let (year, month, day) = crate::logfmt::civil_from_days((secs / 86_400) as i64);
    if !(0..=9999).contains(&year) {
        return None;
    }
    let sod = secs % 86_400;
    let mut out = *b"0000-00-00T00:00:00Z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for i in (at..at + width).rev() {
            out[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    put(0, 4, year as u64);
    put(5, 2, u64::from(month));
    put(8, 2, u64::from(day));
    put(11, 2, sod / 3600);
    put(14, 2, sod / 60 % 60);
    put(17, 2, sod % 60);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accesslog::emit_batch;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl Write for Capture {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Capture {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
        }
    }

    const SPEC: &str = "info,may=warn,quiet=error,eventlet_wsgi::inner=off";

    fn builder_with(spec: &str) -> env_logger::Builder {
        let mut b = env_logger::Builder::new();
        b.parse_filters(spec);
        b
    }

    fn builder() -> env_logger::Builder {
        builder_with(SPEC)
    }

    /// What plain `env_logger` (default format, the example's `Target::Pipe`,
    /// write style left to env_logger) writes for each record, and what the
    /// fast path writes inside a batch, logged within one second.
    fn both(records: &[(log::Level, &str, &str)]) -> (String, String) {
        both_with(SPEC, records)
    }

    fn both_with(spec: &str, records: &[(log::Level, &str, &str)]) -> (String, String) {
        let reference_out = Capture::default();
        let mut reference = builder_with(spec);
        reference.target(env_logger::Target::Pipe(Box::new(reference_out.clone())));
        let reference = reference.build();
        let fast_out = Capture::default();
        let fast = Logger::new(builder_with(spec), spec, fast_out.clone());
        for _ in 0..5 {
            let second = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            for &(level, target, msg) in records {
                reference.log(
                    &Record::builder()
                        .level(level)
                        .target(target)
                        .args(format_args!("{msg}"))
                        .build(),
                );
            }
            emit_batch(|| {
                for &(level, target, msg) in records {
                    fast.log(
                        &Record::builder()
                            .level(level)
                            .target(target)
                            .args(format_args!("{msg}"))
                            .build(),
                    );
                }
            });
            let (want, got) = (reference_out.take(), fast_out.take());
            let later = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            if later == second {
                return (want, got);
            }
        }
        panic!("the clock ticked during each of five tries");
    }

    #[test]
    fn batched_lines_are_env_loggers_default_format_byte_for_byte() {
        let line = r#"127.0.0.1 - - [02/Dec/2026 00:08:09] "GET /caf%C3%A9?q=1 HTTP/1.1" 200 152 0.000123"#;
        let (want, got) = both(&[
            (log::Level::Info, "eventlet_wsgi", line),
            (
                log::Level::Error,
                "eventlet_wsgi",
                "(123) server error: boom",
            ),
            (log::Level::Warn, "eventlet_wsgi", "w"),
            (
                log::Level::Info,
                "other::module",
                "caf\u{e9} \u{1F600} \u{85} ~",
            ),
            (log::Level::Debug, "eventlet_wsgi", "filtered out at info"),
            (log::Level::Warn, "quiet", "filtered out below error"),
            (log::Level::Error, "quiet", "kept"),
            (log::Level::Info, "eventlet_wsgi", ""),
            (
                log::Level::Error,
                "eventlet_wsgi::inner",
                "filtered out entirely",
            ),
        ]);
        assert!(
            want.contains(&format!(" INFO  eventlet_wsgi] {line}\n")),
            "{want}"
        );
        assert_eq!(want.lines().count(), 6, "{want}");
        assert_eq!(got, want);
        // And these lines were written by the fast path, not handed to env_logger.
        let mut direct = Vec::new();
        let written = write_default_format(
            &mut direct,
            &Record::builder()
                .level(log::Level::Info)
                .target("eventlet_wsgi")
                .args(format_args!("{line}"))
                .build(),
            SystemTime::now(),
        );
        assert!(written);
        let direct = String::from_utf8(direct).unwrap();
        assert!(
            direct.ends_with(&format!(" INFO  eventlet_wsgi] {line}\n")),
            "{direct}"
        );
        assert!(want.contains(&direct[21..]));
    }

    #[test]
    fn records_the_fast_path_cannot_copy_go_to_env_logger_in_order() {
        let (want, got) = both(&[
            (log::Level::Info, "eventlet_wsgi", "before"),
            (
                log::Level::Info,
                "eventlet_wsgi",
                "a \x1b[31mred\x1b[0m line",
            ),
            (log::Level::Info, "eventlet_wsgi", "two\nlines\tand a tab\r"),
            (log::Level::Info, "eventlet_wsgi", "bell \x07 and del \x7f"),
            (log::Level::Info, "", "no target"),
            (log::Level::Info, "eventlet_wsgi", "after"),
        ]);
        assert!(
            want.contains("a red line"),
            "env_logger strips colours: {want:?}"
        );
        assert!(want.contains("two\n    lines"), "and indents: {want:?}");
        assert_eq!(got, want);
    }

    #[test]
    fn filters_and_a_regex_filter_apply_as_in_env_logger() {
        let (want, got) = both_with(
            "warn,eventlet_wsgi=info/keep",
            &[
                (log::Level::Info, "eventlet_wsgi", "keep this"),
                (log::Level::Info, "eventlet_wsgi", "drop this"),
                (log::Level::Debug, "eventlet_wsgi", "keep but debug"),
                (log::Level::Info, "other", "keep but info"),
                (log::Level::Warn, "other", "keep: warn"),
            ],
        );
        assert_eq!(want.lines().count(), 2, "{want}");
        assert_eq!(got, want);
        let fast = Logger::new(
            builder_with("warn,eventlet_wsgi=info"),
            "warn,eventlet_wsgi=info",
            Capture::default(),
        );
        let enabled =
            |level, target| fast.enabled(&Metadata::builder().level(level).target(target).build());
        assert!(enabled(log::Level::Info, "eventlet_wsgi"));
        assert!(!enabled(log::Level::Debug, "eventlet_wsgi"));
        assert!(!enabled(log::Level::Info, "other"));
        assert!(enabled(log::Level::Warn, "other"));
    }

    #[test]
    fn records_outside_a_batch_go_to_env_logger() {
        let out = Capture::default();
        let fast = Logger::new(builder(), SPEC, out.clone());
        fast.log(
            &Record::builder()
                .level(log::Level::Info)
                .target("t")
                .args(format_args!("x"))
                .build(),
        );
        let text = out.take();
        assert!(text.ends_with(" INFO  t] x\n"), "{text:?}");
    }

    #[test]
    fn plain_text_check_finds_every_control_byte_at_every_position() {
        assert!(is_plain(b""));
        assert!(is_plain("plain ~ text caf\u{e9} \u{85}".as_bytes()));
        for len in 1..40 {
            for at in 0..len {
                for bad in (0u8..0x20).chain([0x7f]) {
                    let mut text = vec![b'a'; len];
                    text[at] = bad;
                    assert!(!is_plain(&text), "{bad:#x} at {at} of {len}");
                }
                let mut text = vec![b'a'; len];
                text[at] = b' ';
                assert!(is_plain(&text));
                text[at] = 0x80;
                assert!(is_plain(&text));
            }
        }
    }

    #[test]
    fn timestamps_are_rfc3339_seconds_in_utc() {
        assert_eq!(&render_timestamp(0).unwrap(), b"1970-01-01T00:00:00Z");
        assert_eq!(
            &render_timestamp(1_785_929_948).unwrap(),
            b"2026-08-05T11:39:08Z"
        );
        assert_eq!(
            &render_timestamp(951_782_400).unwrap(),
            b"2000-02-29T00:00:00Z"
        );
        assert_eq!(
            &render_timestamp(253_402_300_799).unwrap(),
            b"9999-12-31T23:59:59Z"
        );
        assert_eq!(render_timestamp(253_402_300_800), None);
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_785_929_948);
        assert_eq!(timestamp(t), render_timestamp(1_785_929_948));
        assert_eq!(timestamp(t), render_timestamp(1_785_929_948));
        assert_eq!(
            timestamp(t + std::time::Duration::from_secs(1)),
            render_timestamp(1_785_929_949)
        );
    }
}
