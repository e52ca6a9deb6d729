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
//! with the timestamp rendered once a batch instead of per line and without
//! `anstream`'s pass stripping colour codes from a line that has none. Every
//! line still goes through the `log` crate's level checks and the same
//! `env_logger` filter as a record of target `eventlet_wsgi` would; the
//! flusher hands the installed logger the line's text directly instead of a
//! record whose arguments it would format again. A line the fast path
//! cannot reproduce byte for byte (control characters in it, which
//! `env_logger` strips; a filter with a regex part) is handed to
//! `env_logger` itself as a record. Records from anywhere else go to
//! `env_logger` unchanged.
//!
//! `RUST_LOG_STYLE=always` keeps `env_logger`'s colours in a file, as it
//! would without this module (and its cost). A program that installs its own
//! logger instead still receives every access line as a record.

use crate::accesslog::{batch_time, BatchHandle, BatchWriter};
use log::{Log, Metadata, Record};
use std::cell::Cell;
use std::io::{self, IsTerminal};
use std::sync::{Arc, OnceLock};
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
    let core = logger.core.clone();
    log::set_boxed_logger(Box::new(logger))?;
    log::set_max_level(max);
    // Installed: the flushers may hand it their lines directly.
    let _ = INSTALLED.set(core);
    Ok(())
}

/// The logger [`try_init`] installed as the `log` backend, once it is.
static INSTALLED: OnceLock<Arc<Core>> = OnceLock::new();

/// Writes an access-log batch's lines (`emit_batch`'s caller, on the
/// flusher's thread) through the logger [`try_init`] installed, if it did:
/// what `log::log!(target: "eventlet_wsgi", level, "{line}")` would do for
/// each, without building a record and formatting its arguments per line.
/// False, having written nothing, when that logger is not installed.
pub(crate) fn emit_lines<'l>(lines: impl Iterator<Item = (log::Level, &'l str)>) -> bool {
    let Some(core) = INSTALLED.get() else {
        return false;
    };
    core.emit_lines(lines);
    true
}

/// The target of the server's lines.
const OWN_TARGET: &str = "eventlet_wsgi";

/// `env_logger` writing to a [`BatchWriter`] on `out`, with the fast path for
/// batched lines. `builder` must keep `env_logger`'s default format and
/// write style, with `filter_spec` its filter.
pub(crate) struct Logger {
    /// Shared with [`INSTALLED`] once installed.
    core: Arc<Core>,
}

pub(crate) struct Core {
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
            core: Arc::new(Core {
                inner,
                out: handle,
                own_enabled,
                // env_filter takes what follows a '/' as the regex.
                has_regex: filter_spec.contains('/'),
            }),
        }
    }
}

impl std::ops::Deref for Logger {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.core
    }
}

impl Core {
    fn own_enabled(&self, level: log::Level) -> bool {
        self.own_enabled[level as usize - 1]
    }

    /// [`emit_lines`]: each line as the record `log::log!` would make of
    /// it (target `eventlet_wsgi`) logged by [`Log::log`], for less: the
    /// line's prefix (`[{timestamp} {level:<5} eventlet_wsgi] `) is made
    /// once a batch, and lines are appended a few hundred per lock.
    fn emit_lines<'l>(&self, lines: impl Iterator<Item = (log::Level, &'l str)>) {
        // `log::log!`'s own level checks.
        let max = log::max_level().min(log::STATIC_MAX_LEVEL);
        let prefixes = match batch_time().and_then(timestamp) {
            Some(ts) if !self.has_regex => Some(LEVELS_ALL.map(|level| own_prefix(&ts, level))),
            // A regex filter reads each record's text: records it is.
            _ => None,
        };
        let mut lines =
            lines.filter(|&(level, _)| level <= max && (self.has_regex || self.own_enabled(level)));
        loop {
            let mut slow = None;
            let done = self.out.append(|buf| {
                for _ in 0..LINES_PER_LOCK {
                    let Some((level, line)) = lines.next() else {
                        return true;
                    };
                    match &prefixes {
                        Some(p) if is_plain(line.as_bytes()) => {
                            buf.extend_from_slice(&p[level as usize - 1]);
                            buf.extend_from_slice(line.as_bytes());
                            buf.push(b'\n');
                        }
                        _ => {
                            slow = Some((level, line));
                            return false;
                        }
                    }
                }
                false
            });
            // What the default format cannot copy as it is: `env_logger`'s
            // (outside the lock, which its writes take).
            if let Some((level, line)) = slow {
                self.log(
                    &Record::builder()
                        .level(level)
                        .target(OWN_TARGET)
                        .args(format_args!("{line}"))
                        .build(),
                );
            }
            if done {
                return;
            }
        }
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
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        if metadata.target() == OWN_TARGET {
            return self.own_enabled(metadata.level());
        }
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        self.core.log(record);
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
    push_prefix(buf, &ts, record.level());
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

/// Lines appended under one lock of the writer's buffer: other threads'
/// log writes wait for at most this many.
const LINES_PER_LOCK: usize = 256;

const LEVELS_ALL: [log::Level; 5] = [
    log::Level::Error,
    log::Level::Warn,
    log::Level::Info,
    log::Level::Debug,
    log::Level::Trace,
];

/// Length of `[{timestamp} {level:<5} eventlet_wsgi] `.
const OWN_PREFIX_LEN: usize = 1 + TIMESTAMP_LEN + 7 + OWN_TARGET.len() + 2;

/// The default format's text before a line of the server's own (target
/// `eventlet_wsgi`) of `level`, stamped `ts`.
fn own_prefix(ts: &[u8; TIMESTAMP_LEN], level: log::Level) -> [u8; OWN_PREFIX_LEN] {
    let mut v = Vec::with_capacity(OWN_PREFIX_LEN);
    push_prefix(&mut v, ts, level);
    v.extend_from_slice(OWN_TARGET.as_bytes());
    v.extend_from_slice(b"] ");
    v.try_into().expect("OWN_PREFIX_LEN bytes")
}

/// `[{timestamp} {level:<5} `: the default format up to the target.
fn push_prefix(buf: &mut Vec<u8>, ts: &[u8; TIMESTAMP_LEN], level: log::Level) {
    buf.push(b'[');
    buf.extend_from_slice(ts);
    buf.extend_from_slice(match level {
        log::Level::Error => b" ERROR ",
        log::Level::Warn => b" WARN  ",
        log::Level::Info => b" INFO  ",
        log::Level::Debug => b" DEBUG ",
        log::Level::Trace => b" TRACE ",
    });
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
        let log_all = |logger: &dyn Log| {
            for &(level, target, msg) in records {
                logger.log(
                    &Record::builder()
                        .level(level)
                        .target(target)
                        .args(format_args!("{msg}"))
                        .build(),
                );
            }
        };
        within_one_second(|| {
            log_all(&reference);
            emit_batch(|| log_all(&fast));
            (reference_out.take(), fast_out.take())
        })
    }

    /// `f`'s result from a try that began and ended in the same second of
    /// the clock (the lines' timestamps are seconds), of five tries.
    fn within_one_second<T>(mut f: impl FnMut() -> T) -> T {
        let second = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        for _ in 0..5 {
            let before = second();
            let r = f();
            if second() == before {
                return r;
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

    /// What `emit_lines` writes for the server's lines (target
    /// `eventlet_wsgi`) in a batch, logged within one second, beside what
    /// plain `env_logger` writes for them as records.
    fn both_direct(spec: &str, lines: &[(log::Level, &str)]) -> (String, String) {
        let fast_out = Capture::default();
        let fast = Logger::new(builder_with(spec), spec, fast_out.clone());
        let records: Vec<_> = lines.iter().map(|&(l, m)| (l, OWN_TARGET, m)).collect();
        within_one_second(|| {
            let (want, _) = both_with(spec, &records);
            emit_batch(|| fast.emit_lines(lines.iter().copied()));
            (want, fast_out.take())
        })
    }

    #[test]
    fn a_batchs_own_lines_handed_over_directly_are_what_records_give() {
        // log::log!'s level check: what the installed logger would be set to.
        log::set_max_level(log::LevelFilter::Trace);
        let lines = [
            (
                log::Level::Info,
                r#"keep 127.0.0.1 - - [02/Dec/2026 00:08:09] "GET /caf%C3%A9 HTTP/1.1" 200 13 0.000100"#,
            ),
            (log::Level::Error, "keep (123) server error: boom"),
            (log::Level::Info, "keep a \x1b[31mred\x1b[0m line"),
            (log::Level::Info, "drop this"),
            (log::Level::Debug, "keep but debug"),
            (log::Level::Info, "keep two\nlines"),
            (log::Level::Warn, "keep caf\u{e9} \u{85} ~"),
            (log::Level::Info, ""),
        ];
        for spec in [SPEC, "warn,eventlet_wsgi=info/keep", "error", "trace"] {
            let (want, got) = both_direct(spec, &lines);
            assert_eq!(got, want, "filter {spec}");
            assert!(!want.is_empty(), "filter {spec}");
        }
        let (want, _) = both_direct("trace", &lines);
        assert_eq!(want.lines().count(), 9, "{want}");
        // More lines than one lock takes, with lines for env_logger itself
        // at the edges of those runs: every line, in order.
        let many: Vec<String> = (0..700)
            .map(|i| match i {
                0 | 255 | 256 | 300 | 511 | 699 => format!("keep {i} with a\ttab"),
                _ => format!("keep {i}"),
            })
            .collect();
        let many: Vec<(log::Level, &str)> = many
            .iter()
            .enumerate()
            .map(|(i, m)| (LEVELS_ALL[i % 5], m.as_str()))
            .collect();
        let (many_want, many_got) = both_direct("trace", &many);
        assert_eq!(many_got, many_want);
        assert_eq!(many_want.lines().count(), 700, "{many_want}");
        assert!(
            want.contains("a red line") && want.contains("two\n    lines"),
            "{want}"
        );
        // A program that lowers the `log` crate's level after init drops
        // the lines below it, as `log::log!` would.
        log::set_max_level(log::LevelFilter::Warn);
        let out = Capture::default();
        let fast = Logger::new(builder_with("trace"), "trace", out.clone());
        emit_batch(|| fast.emit_lines(lines.iter().copied()));
        log::set_max_level(log::LevelFilter::Trace);
        let text = out.take();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains(" ERROR eventlet_wsgi] keep (123)"), "{text}");
        assert!(text.contains(" WARN  eventlet_wsgi] keep caf"), "{text}");
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
