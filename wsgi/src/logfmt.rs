//! The access-log line: eventlet's `log_format` (wsgi.py:24-26, 706-720).
//!
//! eventlet builds the line with Python's `%` operator over a dict, e.g.
//! `'%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s ...' % {...}`.
//! [`LogFormat::parse`] accepts the same mini-language once at start-up, rejecting at parse time
//! everything Python would reject at format time (unknown keys, bad conversions), so that a bad
//! format is a configuration error rather than a lost log line per request. [`LogFormat::render`]
//! then writes one line per request into a reused `String` without allocating.
//!
//! Supported: `%%`, and `%(key)` followed by optional flags (`-`, `0`, `+`, space, `#`), width,
//! `.precision`, an ignored length modifier (`h`, `l`, `L`) and one of the conversions `s`, `d`,
//! `i`, `u`, `f`, `F` — with Python's semantics for each combination that Python accepts.
//!
//! Deviations from eventlet:
//! * `date_time` is rendered in **UTC**, where eventlet (stdlib `log_date_time_string`) uses the
//!   server's local time zone. UTC needs no time-zone database and no `localtime_r` (which is not
//!   thread-safe with respect to `TZ` changes); log processors can rely on it.
//! * Python raises at format time for `%(client_port)d` on an AF_UNIX peer (port `''`); we render
//!   the empty string (padded to the width) instead of dropping the line.
//! * Non-finite `wall_seconds` with `%d` (a `ValueError`/`OverflowError` in Python) renders as
//!   `nan`/`inf`; it cannot happen for a real measurement.
//! * `*` widths and bare `%s` (no key) are rejected because they need positional arguments, as in
//!   Python with a dict argument.

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

/// eventlet's default access-log format (wsgi.py:25-26), byte for byte.
pub const DEFAULT_LOG_FORMAT: &str = "%(client_ip)s - - [%(date_time)s] \"%(request_line)s\" %(status_code)s %(body_length)s %(wall_seconds).6f";

/// Widths and precisions above this are refused at parse time: they can only be typos, and each
/// rendered line would otherwise be padded to that size.
const MAX_WIDTH: usize = 1024;

/// Padding material for [`pad`]; inserted in slices of at most this length.
const SPACES: &str = "                                                                ";
const ZEROS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A key of the dict eventlet formats its log line with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogKey {
    /// `client_ip`: peer address, prefixed by `X-Forwarded-For` (see [`client_ip`]); `unix` for AF_UNIX.
    ClientIp,
    /// `client_port`: peer port; empty for AF_UNIX.
    ClientPort,
    /// `date_time`: end of the request as `dd/Mon/YYYY HH:MM:SS` (UTC here, local time in eventlet).
    DateTime,
    /// `request_line`: the request line as received, without its CRLF.
    RequestLine,
    /// `status_code`: status of the last `start_response` (200 if it was never called).
    StatusCode,
    /// `body_length`: bytes written to the socket, status line, headers and chunk framing included.
    BodyLength,
    /// `wall_seconds`: seconds from the end of the request head to the end of the response.
    WallSeconds,
}

impl LogKey {
    /// Every key, in eventlet's dict order.
    pub const ALL: [LogKey; 7] = [
        LogKey::ClientIp,
        LogKey::ClientPort,
        LogKey::DateTime,
        LogKey::RequestLine,
        LogKey::StatusCode,
        LogKey::BodyLength,
        LogKey::WallSeconds,
    ];

    /// The name used inside `%(...)`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            LogKey::ClientIp => "client_ip",
            LogKey::ClientPort => "client_port",
            LogKey::DateTime => "date_time",
            LogKey::RequestLine => "request_line",
            LogKey::StatusCode => "status_code",
            LogKey::BodyLength => "body_length",
            LogKey::WallSeconds => "wall_seconds",
        }
    }

    /// The key called `name`, if there is one (case-sensitive, like a Python dict).
    #[must_use]
    pub fn from_name(name: &str) -> Option<LogKey> {
        LogKey::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether eventlet passes a number for this key (so `%d`/`%f` are accepted).
    fn is_numeric(self) -> bool {
        matches!(
            self,
            LogKey::ClientPort | LogKey::StatusCode | LogKey::BodyLength | LogKey::WallSeconds
        )
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl fmt::Display for LogKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a `log_format` string was refused. Positions are byte offsets of the offending `%`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormatError {
    /// `%(name)` with a name that is not a [`LogKey`].
    UnknownKey {
        /// The name between the parentheses.
        key: String,
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// `%(` without the closing `)`.
    UnterminatedKey {
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// A conversion without `(key)`, e.g. `%s`; the format is applied to a dict.
    MissingKey {
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// The format ends inside a conversion, e.g. a trailing `%` or `%(client_ip)`.
    Incomplete {
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// A conversion character other than `s d i u f F`, or a `*` width/precision.
    UnsupportedConversion {
        /// The character found.
        conversion: char,
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// A numeric conversion (`d`, `f`, ...) of a text key; Python raises `TypeError` for it.
    NotANumber {
        /// The text key.
        key: LogKey,
        /// The conversion character.
        conversion: char,
        /// Byte offset of the `%`.
        pos: usize,
    },
    /// A width or precision above 1024.
    TooWide {
        /// Byte offset of the `%`.
        pos: usize,
    },
}

impl fmt::Display for LogFormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogFormatError::UnknownKey { key, pos } => {
                write!(f, "log_format: unknown key {key:?} at byte {pos}; valid keys: ")?;
                for (i, k) in LogKey::ALL.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{k}")?;
                }
                Ok(())
            }
            LogFormatError::UnterminatedKey { pos } => {
                write!(f, "log_format: '%(' at byte {pos} has no closing ')'")
            }
            LogFormatError::MissingKey { pos } => write!(
                f,
                "log_format: conversion at byte {pos} has no %(key); use e.g. %(client_ip)s"
            ),
            LogFormatError::Incomplete { pos } => {
                write!(f, "log_format: incomplete conversion at byte {pos}")
            }
            LogFormatError::UnsupportedConversion { conversion, pos } => write!(
                f,
                "log_format: unsupported conversion {conversion:?} at byte {pos} (supported: s d i u f F)"
            ),
            LogFormatError::NotANumber {
                key,
                conversion,
                pos,
            } => write!(
                f,
                "log_format: %{conversion} at byte {pos} needs a number but {key} is text; use %({key})s"
            ),
            LogFormatError::TooWide { pos } => write!(
                f,
                "log_format: width or precision at byte {pos} exceeds {MAX_WIDTH}"
            ),
        }
    }
}

impl std::error::Error for LogFormatError {}

/// The values of one access-log line. Build it after the response; only the fields the format
/// [`uses`](LogFormat::uses) are looked at, and `date_time` is converted to a calendar date only
/// if the format contains `%(date_time)`.
#[derive(Clone, Copy, Debug)]
pub struct LogRecord<'a> {
    /// See [`LogKey::ClientIp`]; build it with [`client_ip`].
    pub client_ip: &'a str,
    /// See [`LogKey::ClientPort`]; `None` for AF_UNIX peers (rendered as eventlet's `''`).
    pub client_port: Option<u16>,
    /// See [`LogKey::DateTime`]; normally `SystemTime::now()` when the line is logged.
    pub date_time: SystemTime,
    /// See [`LogKey::RequestLine`].
    pub request_line: &'a str,
    /// See [`LogKey::StatusCode`].
    pub status_code: u16,
    /// See [`LogKey::BodyLength`].
    pub body_length: u64,
    /// See [`LogKey::WallSeconds`].
    pub wall_seconds: f64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Flags {
    left: bool,
    zero: bool,
    plus: bool,
    space: bool,
    alt: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Conv {
    Str,
    Int,
    Float { upper: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Field {
    key: LogKey,
    conv: Conv,
    flags: Flags,
    width: usize,
    precision: Option<usize>,
    /// No flags, width or (except for `%f`) precision: [`render_plain`] applies.
    plain: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    /// A range of [`LogFormat::literals`].
    Literal(Range<usize>),
    Field(Field),
}

/// A parsed `log_format`. Parse once at start-up, render once per request.
///
/// ```
/// # use eventlet_wsgi::logfmt::{LogFormat, LogRecord};
/// let fmt = LogFormat::parse("%(client_ip)s %(status_code)3d %(wall_seconds).3f").unwrap();
/// let rec = LogRecord {
///     client_ip: "127.0.0.1",
///     client_port: Some(5000),
///     date_time: std::time::SystemTime::UNIX_EPOCH,
///     request_line: "GET / HTTP/1.1",
///     status_code: 200,
///     body_length: 42,
///     wall_seconds: 0.25,
/// };
/// let mut line = String::new();
/// fmt.render(&rec, &mut line);
/// assert_eq!(line, "127.0.0.1 200 0.250");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogFormat {
    source: String,
    /// All literal text (with `%%` already reduced to `%`), sliced by [`Piece::Literal`].
    literals: String,
    pieces: Vec<Piece>,
    used: u8,
    /// The format is [`DEFAULT_LOG_FORMAT`]: [`render_default`] applies.
    is_default: bool,
}

impl Default for LogFormat {
    /// [`DEFAULT_LOG_FORMAT`], parsed.
    fn default() -> Self {
        LogFormat::parse(DEFAULT_LOG_FORMAT).expect("DEFAULT_LOG_FORMAT is a valid format")
    }
}

impl std::str::FromStr for LogFormat {
    type Err = LogFormatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LogFormat::parse(s)
    }
}

impl LogFormat {
    /// Parses a Python `%`-format over eventlet's log dict; see the module docs for the syntax.
    pub fn parse(format: &str) -> Result<LogFormat, LogFormatError> {
        let mut parser = Parser {
            src: format,
            pos: 0,
            out: LogFormat {
                source: format.to_owned(),
                literals: String::new(),
                pieces: Vec::new(),
                used: 0,
                is_default: format == DEFAULT_LOG_FORMAT,
            },
        };
        parser.run()?;
        Ok(parser.out)
    }

    /// The format string this was parsed from.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the format mentions `key`, so the server can skip computing unused values.
    #[must_use]
    pub fn uses(&self, key: LogKey) -> bool {
        self.used & key.bit() != 0
    }

    /// Appends the line for `rec` to `out` (no newline). Allocates only to grow `out`.
    pub fn render(&self, rec: &LogRecord<'_>, out: &mut String) {
        if self.is_default && render_default(rec, out) {
            return;
        }
        for piece in &self.pieces {
            match piece {
                Piece::Literal(r) => out.push_str(&self.literals[r.clone()]),
                Piece::Field(field) if field.plain => render_plain(field, rec, out),
                Piece::Field(field) => render_field(field, value_of(field.key, rec), out),
            }
        }
    }
}

struct Parser<'s> {
    src: &'s str,
    pos: usize,
    out: LogFormat,
}

impl Parser<'_> {
    fn run(&mut self) -> Result<(), LogFormatError> {
        while let Some(off) = self.src[self.pos..].find('%') {
            let pct = self.pos + off;
            self.push_literal(&self.src[self.pos..pct]);
            self.pos = pct + 1;
            if self.peek() == Some(b'%') {
                self.pos += 1;
                self.push_literal("%");
                continue;
            }
            let field = self.field(pct)?;
            self.out.used |= field.key.bit();
            self.out.pieces.push(Piece::Field(field));
        }
        self.push_literal(&self.src[self.pos..]);
        Ok(())
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn push_literal(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        let start = self.out.literals.len();
        self.out.literals.push_str(text);
        let end = self.out.literals.len();
        // Merge with a directly preceding literal (e.g. around `%%`) to render fewer pieces.
        if let Some(Piece::Literal(prev)) = self.out.pieces.last_mut() {
            if prev.end == start {
                prev.end = end;
                return;
            }
        }
        self.out.pieces.push(Piece::Literal(start..end));
    }

    /// Parses what follows the `%` at `pct`: `(key)`, flags, width, precision, conversion.
    fn field(&mut self, pct: usize) -> Result<Field, LogFormatError> {
        let key = self.key(pct)?;
        let flags = self.flags();
        let width = self.number(pct)?.unwrap_or(0);
        let precision = if self.peek() == Some(b'.') {
            self.pos += 1;
            Some(self.number(pct)?.unwrap_or(0))
        } else {
            None
        };
        // Python accepts and ignores C length modifiers.
        while matches!(self.peek(), Some(b'h' | b'l' | b'L')) {
            self.pos += 1;
        }
        let conversion = match self.src[self.pos..].chars().next() {
            Some(c) => c,
            None => return Err(LogFormatError::Incomplete { pos: pct }),
        };
        self.pos += conversion.len_utf8();
        let conv = match conversion {
            's' => Conv::Str,
            'd' | 'i' | 'u' => Conv::Int,
            'f' => Conv::Float { upper: false },
            'F' => Conv::Float { upper: true },
            _ => {
                return Err(LogFormatError::UnsupportedConversion {
                    conversion,
                    pos: pct,
                })
            }
        };
        if conv != Conv::Str && !key.is_numeric() {
            return Err(LogFormatError::NotANumber {
                key,
                conversion,
                pos: pct,
            });
        }
        let plain = flags == Flags::default()
            && width == 0
            && (precision.is_none() || matches!(conv, Conv::Float { .. }));
        Ok(Field {
            key,
            conv,
            flags,
            width,
            precision,
            plain,
        })
    }

    /// `(name)` with Python's nesting rule: parentheses inside the name must balance.
    fn key(&mut self, pct: usize) -> Result<LogKey, LogFormatError> {
        match self.peek() {
            Some(b'(') => {}
            None => return Err(LogFormatError::Incomplete { pos: pct }),
            Some(_) => return Err(LogFormatError::MissingKey { pos: pct }),
        }
        let start = self.pos + 1;
        let mut depth = 0usize;
        for (i, b) in self.src.as_bytes()[self.pos..].iter().enumerate() {
            match b {
                b'(' => depth += 1,
                b')' => depth -= 1,
                _ => {}
            }
            if depth == 0 {
                let end = self.pos + i;
                self.pos = end + 1;
                let name = &self.src[start..end];
                return LogKey::from_name(name).ok_or_else(|| LogFormatError::UnknownKey {
                    key: name.to_owned(),
                    pos: pct,
                });
            }
        }
        Err(LogFormatError::UnterminatedKey { pos: pct })
    }

    fn flags(&mut self) -> Flags {
        let mut flags = Flags::default();
        loop {
            match self.peek() {
                Some(b'-') => flags.left = true,
                Some(b'0') => flags.zero = true,
                Some(b'+') => flags.plus = true,
                Some(b' ') => flags.space = true,
                Some(b'#') => flags.alt = true,
                _ => return flags,
            }
            self.pos += 1;
        }
    }

    /// An optional run of digits; `*` is refused because it takes a positional argument.
    fn number(&mut self, pct: usize) -> Result<Option<usize>, LogFormatError> {
        if self.peek() == Some(b'*') {
            return Err(LogFormatError::UnsupportedConversion {
                conversion: '*',
                pos: pct,
            });
        }
        let mut n: Option<usize> = None;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            let v = n.unwrap_or(0) * 10 + usize::from(d - b'0');
            if v > MAX_WIDTH {
                return Err(LogFormatError::TooWide { pos: pct });
            }
            n = Some(v);
            self.pos += 1;
        }
        Ok(n)
    }
}

/// A log value with the Python type eventlet puts in its dict.
#[derive(Clone, Copy)]
enum Value<'a> {
    Str(&'a str),
    /// An `int`; `None` stands for the `''` eventlet uses as the port of AF_UNIX peers.
    Int(Option<u64>),
    Float(f64),
    Date(SystemTime),
}

fn value_of<'a>(key: LogKey, rec: &LogRecord<'a>) -> Value<'a> {
    match key {
        LogKey::ClientIp => Value::Str(rec.client_ip),
        LogKey::ClientPort => Value::Int(rec.client_port.map(u64::from)),
        LogKey::DateTime => Value::Date(rec.date_time),
        LogKey::RequestLine => Value::Str(rec.request_line),
        LogKey::StatusCode => Value::Int(Some(u64::from(rec.status_code))),
        LogKey::BodyLength => Value::Int(Some(rec.body_length)),
        LogKey::WallSeconds => Value::Float(rec.wall_seconds),
    }
}

/// A field without flags, width or precision (every field of the default format): written
/// straight from the record, falling back to [`render_field`] for the rare values (a negative
/// or non-finite `%f`, an AF_UNIX peer's empty port) that need its rules.
fn render_plain(field: &Field, rec: &LogRecord<'_>, out: &mut String) {
    match (field.key, field.conv) {
        (LogKey::ClientIp, _) => out.push_str(rec.client_ip),
        (LogKey::RequestLine, _) => out.push_str(rec.request_line),
        (LogKey::DateTime, _) => push_log_date_time(rec.date_time, out),
        (LogKey::StatusCode, Conv::Str | Conv::Int) => push_u64(rec.status_code.into(), out),
        (LogKey::BodyLength, Conv::Str | Conv::Int) => push_u64(rec.body_length, out),
        (LogKey::WallSeconds, Conv::Float { .. })
            if push_fixed(rec.wall_seconds, field.precision.unwrap_or(6), out) => {}
        _ => render_field(field, value_of(field.key, rec), out),
    }
}

fn render_field(field: &Field, value: Value<'_>, out: &mut String) {
    let start = out.len();
    let sign_len = match (field.conv, value) {
        (_, Value::Int(None)) => 0,
        (Conv::Str, v) => {
            write_str_value(v, out);
            if let Some(p) = field.precision {
                truncate_chars(out, start, p);
            }
            0
        }
        (Conv::Int, Value::Int(Some(n))) => write_int(false, field, out, |o| {
            push_u64(n, o);
            Ok(())
        }),
        (Conv::Int, Value::Float(x)) if x.is_finite() => {
            // Python's `%d` of a float truncates toward zero (`int(x)`); `-0.5` gives `0`.
            // `{:.0}` of an integral float prints all its digits exactly, like Python's int().
            let t = x.trunc();
            write_int(t < 0.0, field, out, |o| write!(o, "{:.0}", t.abs()))
        }
        (Conv::Int, Value::Float(x)) => write_float(x, Conv::Str, field, out),
        (Conv::Float { .. }, Value::Int(Some(n))) => write_float(n as f64, field.conv, field, out),
        (Conv::Float { .. }, Value::Float(x)) => write_float(x, field.conv, field, out),
        // The parser only pairs numeric conversions with numeric keys.
        (_, Value::Str(_) | Value::Date(_)) => {
            write_str_value(value, out);
            0
        }
    };
    let zero = field.flags.zero && field.conv != Conv::Str && !matches!(value, Value::Int(None));
    pad(out, start, sign_len, field.width, field.flags.left, zero);
}

/// Python's `str()` of the value.
fn write_str_value(value: Value<'_>, out: &mut String) {
    match value {
        Value::Str(s) => out.push_str(s),
        Value::Int(Some(n)) => push_u64(n, out),
        Value::Int(None) => {}
        Value::Float(x) => write_py_float_repr(x, out),
        Value::Date(t) => push_log_date_time(t, out),
    }
}

/// `n` in decimal, by hand: `write!(out, "{n}")` costs several times more, once per request.
fn push_u64(n: u64, out: &mut String) {
    let mut buf = [0u8; 20];
    let start = digits_before(n, &mut buf, 20);
    push_ascii(&buf[start..], out);
}

/// "00" to "99": two digits per division.
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

/// Writes `n` in decimal into `buf`, ending just before `end`; returns where it starts.
pub(crate) fn digits_before(mut n: u64, buf: &mut [u8], mut end: usize) -> usize {
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        end -= 2;
        buf[end..end + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        end -= 2;
        buf[end..end + 2].copy_from_slice(&PAIRS[n as usize * 2..n as usize * 2 + 2]);
    } else {
        end -= 1;
        buf[end] = b'0' + n as u8;
    }
    end
}

/// Appends bytes known to be ASCII without `from_utf8`'s validation pass (a third of the cost
/// of a short number). Panics in debug builds if they are not ASCII.
fn push_ascii(ascii: &[u8], out: &mut String) {
    debug_assert!(ascii.is_ascii());
    // SAFETY: every caller passes ASCII bytes only (digits, and the ASCII date text of
    // `write_log_date_time`), which are valid UTF-8 on their own.
    out.push_str(unsafe { std::str::from_utf8_unchecked(ascii) });
}

/// [`write_log_date_time`] with the text kept per thread for the current second: every line
/// of a second has the same date, so it is rendered once a second per worker, not per request.
fn push_log_date_time(t: SystemTime, out: &mut String) {
    match cached_log_date_time(t) {
        // ASCII (checked before it was cached).
        Some(text) => push_ascii(&text, out),
        // A year past 9999 does not fit the cached width: written, not cached.
        None => write_log_date_time(t, out),
    }
}

/// [`write_log_date_time`]'s text for `t`, kept per thread for the current second; `None` for
/// a year past 9999.
// Never inlined: green threads migrate between worker threads at yields,
// and a caller that yields must not reuse a thread-local's address that
// the compiler computed before the yield (may's TLS hazard). No yield
// happens in here.
#[inline(never)]
fn cached_log_date_time(t: SystemTime) -> Option<[u8; DATE_TIME_LEN]> {
    thread_local! {
        /// The second the text is for, as `[from, to)`, and the text.
        static LAST: std::cell::Cell<Option<(SystemTime, SystemTime, [u8; DATE_TIME_LEN])>> =
            const { std::cell::Cell::new(None) };
    }
    // Two comparisons instead of a `duration_since` per line.
    if let Some((from, to, text)) = LAST.with(std::cell::Cell::get) {
        if from <= t && t < to {
            return Some(text);
        }
    }
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let mut s = String::with_capacity(DATE_TIME_LEN);
    write_log_date_time(t, &mut s);
    let text = <[u8; DATE_TIME_LEN]>::try_from(s.as_bytes()).ok()?;
    if !s.is_ascii() {
        return None;
    }
    let from = UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let to = from + std::time::Duration::from_secs(1);
    if from <= t && t < to {
        LAST.with(|c| c.set(Some((from, to, text))));
    }
    Some(text)
}

/// The length of `dd/Mon/YYYY HH:MM:SS`.
const DATE_TIME_LEN: usize = 20;

/// Writes the sign and then, via `digits`, the magnitude of an integer conversion; returns the
/// length of the sign.
fn write_int(
    negative: bool,
    field: &Field,
    out: &mut String,
    digits: impl FnOnce(&mut String) -> fmt::Result,
) -> usize {
    let sign_len = write_sign(negative, field.flags, out);
    let start = out.len();
    // Writing to a String cannot fail.
    let _ = digits(out);
    if let Some(p) = field.precision {
        // `%.5d` pads the digits themselves to the precision with zeros.
        pad(out, start, 0, p, false, true);
    }
    sign_len
}

/// `%f` (or `%d`/`%s` of a non-finite float); returns the length of the sign.
fn write_float(x: f64, conv: Conv, field: &Field, out: &mut String) -> usize {
    let sign_len = write_sign(x.is_sign_negative() && !x.is_nan(), field.flags, out);
    let a = x.abs();
    let upper = conv == (Conv::Float { upper: true });
    if a.is_nan() {
        out.push_str(if upper { "NAN" } else { "nan" });
    } else if a.is_infinite() {
        out.push_str(if upper { "INF" } else { "inf" });
    } else {
        let precision = field.precision.unwrap_or(6);
        if !push_fixed(a, precision, out) {
            let _ = write!(out, "{a:.precision$}");
        }
        if precision == 0 && field.flags.alt {
            out.push('.');
        }
    }
    sign_len
}

fn write_sign(negative: bool, flags: Flags, out: &mut String) -> usize {
    let sign = if negative {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else {
        ""
    };
    out.push_str(sign);
    sign.len()
}

/// `{a:.precision$}` of a finite `a >= 0` by hand (Rust's and Python's `%.Nf` both give the
/// exact binary value correctly rounded, ties to even), for `a < 2^53` and `precision <= 9`;
/// returns false, having written nothing, for the rest. `%(wall_seconds).6f` is in every
/// default access-log line, and `write!` spends several hundred instructions on it.
fn push_fixed(a: f64, precision: usize, out: &mut String) -> bool {
    let mut buf = [b'0'; FIXED_LEN];
    match fixed_digits(a, precision, &mut buf) {
        Some(range) => {
            push_ascii(&buf[range], out);
            true
        }
        None => false,
    }
}

/// Room for [`fixed_digits`]: up to 20 integer digits, the point, up to 9 decimals.
const FIXED_LEN: usize = 30;

/// [`push_fixed`]'s text written into `buf` (which must be all `b'0'`); returns where it is.
fn fixed_digits(a: f64, precision: usize, buf: &mut [u8; FIXED_LEN]) -> Option<Range<usize>> {
    const POW10: [u64; 10] = [
        1,
        10,
        100,
        1_000,
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
    ];
    let scale = *POW10.get(precision)?;
    let bits = a.to_bits();
    let biased = (bits >> 52) & 0x7ff;
    let fraction = bits & ((1 << 52) - 1);
    // a = m * 2^-k exactly.
    let (m, k) = if biased == 0 {
        (fraction, 1074)
    } else {
        (fraction | (1 << 52), 1075 - biased as i64)
    };
    if k < 0 || a.is_sign_negative() || !a.is_finite() {
        return None;
    }
    // a * 10^precision = product * 2^-k; m < 2^53 and scale < 2^30, so no overflow.
    let product = u128::from(m) * u128::from(scale);
    let q: u128 = if k == 0 {
        product
    } else if k >= 127 {
        // a * 10^precision < 2^83 * 2^-127: rounds to zero.
        0
    } else {
        let q = product >> k;
        let rest = product & ((1u128 << k) - 1);
        let half = 1u128 << (k - 1);
        if rest > half || (rest == half && q & 1 == 1) {
            q + 1
        } else {
            q
        }
    };
    // q < 2^53 * 10^9 < 2^83; the integer part q / scale < 2^54. Divide in 64 bits when q fits
    // (any wall time under 5 hours at 6 decimals): a 128-bit division is a library call.
    let (int, frac) = match u64::try_from(q) {
        Ok(q) => (q / scale, q % scale),
        Err(_) => (
            (q / u128::from(scale)) as u64,
            (q % u128::from(scale)) as u64,
        ),
    };
    let start = digits_before(int, buf, 20);
    let mut end = 20;
    if precision > 0 {
        buf[20] = b'.';
        end = 21 + precision;
        // Zero-padded on the left to `precision` digits (the buffer is all '0').
        digits_before(frac, buf, end);
    }
    Some(start..end)
}

/// [`DEFAULT_LOG_FORMAT`] rendered by hand:
/// `%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f`.
/// The fixed text is appended as constants (copied inline, where the general path's literal
/// slices each cost a `memcpy` call), after one `reserve`. Returns false, having written
/// nothing, for what the general path must handle: a wall time that is negative, not finite or
/// over 2^53 s, a year past 9999. `render_default_matches_the_general_path` checks that both
/// agree.
fn render_default(rec: &LogRecord<'_>, out: &mut String) -> bool {
    // Everything but the two strings: " - - [" date "] \"" "\" " 5 " " 20 " " 30.
    const FIXED: usize = 6 + DATE_TIME_LEN + 3 + 2 + 5 + 1 + 20 + 1 + FIXED_LEN;
    let mut wall = [b'0'; FIXED_LEN];
    let Some(wall_range) = fixed_digits(rec.wall_seconds, 6, &mut wall) else {
        return false;
    };
    let Some(date) = cached_log_date_time(rec.date_time) else {
        return false;
    };
    out.reserve(FIXED + rec.client_ip.len() + rec.request_line.len());
    out.push_str(rec.client_ip);
    out.push_str(" - - [");
    push_ascii(&date, out);
    out.push_str("] \"");
    out.push_str(rec.request_line);
    // `" <status> <length> <wall>`, written right to left into one buffer
    // and appended at once (each append is a length check and a copy).
    let mut tail = [0u8; 2 + 5 + 1 + 20 + 1 + FIXED_LEN];
    let wall = &wall[wall_range];
    let mut at = tail.len() - wall.len();
    tail[at..].copy_from_slice(wall);
    at -= 1;
    tail[at] = b' ';
    at = digits_before(rec.body_length, &mut tail, at);
    at -= 1;
    tail[at] = b' ';
    at = digits_before(rec.status_code.into(), &mut tail, at);
    at -= 2;
    tail[at..at + 2].copy_from_slice(b"\" ");
    push_ascii(&tail[at..], out);
    true
}

/// Keeps at most `max` chars of `out[start..]` (Python's `%.Ns`).
fn truncate_chars(out: &mut String, start: usize, max: usize) {
    if let Some((i, _)) = out[start..].char_indices().nth(max) {
        out.truncate(start + i);
    }
}

/// Pads `out[start..]` to `width` chars: spaces on the right (`-`), zeros after the sign (`0`
/// on numbers) or spaces on the left. Python counts width in code points.
fn pad(out: &mut String, start: usize, sign_len: usize, width: usize, left: bool, zero: bool) {
    if width == 0 {
        return;
    }
    let len = out[start..].chars().count();
    let mut missing = width.saturating_sub(len);
    if missing == 0 {
        return;
    }
    if left {
        out.extend(std::iter::repeat_n(' ', missing));
        return;
    }
    let (fill, at) = if zero {
        (ZEROS, start + sign_len)
    } else {
        (SPACES, start)
    };
    while missing > 0 {
        let n = missing.min(fill.len());
        out.insert_str(at, &fill[..n]);
        missing -= n;
    }
}

/// A fixed stack buffer for `fmt::Write`, so float digits can be inspected without allocating.
struct StackBuf {
    buf: [u8; 48],
    len: usize,
}

impl fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Python's `repr(float)` (= `str(float)`): shortest round-trip digits, scientific notation when
/// the decimal exponent is < -4 or >= 16, `.0` appended to integral values.
fn write_py_float_repr(x: f64, out: &mut String) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_sign_negative() {
        out.push('-');
    }
    let a = x.abs();
    if a.is_infinite() {
        out.push_str("inf");
        return;
    }
    let mut sci = StackBuf {
        buf: [0; 48],
        len: 0,
    };
    // Shortest round-trip digits, like Python's repr; at most 17 digits plus "e-324".
    if write!(sci, "{a:e}").is_err() {
        let _ = write!(out, "{a}");
        return;
    }
    let text = std::str::from_utf8(&sci.buf[..sci.len]).unwrap_or("0e0");
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (first, rest) = mantissa.split_at(1);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if !(-4..16).contains(&exp) {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let sign = if exp < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exp.unsigned_abs());
        return;
    }
    write_positional(first, rest, exp, out);
}

/// `d.ddd × 10^exp` written without an exponent, with at least one digit after the point.
fn write_positional(first: &str, rest: &str, exp: i32, out: &mut String) {
    if exp < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(first);
        out.push_str(rest);
        return;
    }
    let int_digits = exp as usize + 1;
    out.push_str(first);
    if rest.len() < int_digits {
        out.push_str(rest);
        out.extend(std::iter::repeat_n('0', int_digits - 1 - rest.len()));
        out.push_str(".0");
    } else {
        let (int_part, frac) = rest.split_at(int_digits - 1);
        out.push_str(int_part);
        out.push('.');
        out.push_str(if frac.is_empty() { "0" } else { frac });
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// stdlib `log_date_time_string()` format, `"%02d/%3s/%04d %02d:%02d:%02d"`, e.g.
/// `05/Aug/2026 11:39:08`, in UTC (eventlet uses local time; see the module docs).
/// Times before 1970 are written as the epoch.
pub fn write_log_date_time(t: SystemTime, out: &mut String) {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let sod = secs % 86_400;
    let _ = write!(
        out,
        "{day:02}/{}/{year:04} {:02}:{:02}:{:02}",
        MONTHS[month as usize - 1],
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
}

/// Proleptic Gregorian (year, month 1-12, day 1-31) of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// eventlet's `get_client_address()[0]` (wsgi.py:722-729): with `log_x_forwarded_for` and a
/// non-blank `X-Forwarded-For`, the header with spaces removed, a comma, then the peer address;
/// otherwise the peer address alone. Appends to `out`.
///
/// The header is logged as sent: it is client-controlled and proves nothing about the client.
///
/// ```
/// # use eventlet_wsgi::logfmt::client_ip;
/// let mut s = String::new();
/// client_ip("127.0.0.1", Some("1.2.3.4, 5.6.7.8"), true, &mut s);
/// assert_eq!(s, "1.2.3.4,5.6.7.8,127.0.0.1");
/// ```
pub fn client_ip(
    peer_ip: &str,
    x_forwarded_for: Option<&str>,
    log_x_forwarded_for: bool,
    out: &mut String,
) {
    if let (true, Some(xff)) = (log_x_forwarded_for, x_forwarded_for) {
        let start = out.len();
        out.extend(xff.chars().filter(|&c| c != ' '));
        if out.len() > start {
            out.push(',');
        }
    }
    out.push_str(peer_ip);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// 2026-08-05 11:39:08 UTC, the example in the stdlib docs-derived inventory.
    const AUG_5_2026: u64 = 1_785_929_948;

    fn record() -> LogRecord<'static> {
        LogRecord {
            client_ip: "127.0.0.1",
            client_port: Some(54321),
            date_time: UNIX_EPOCH + Duration::from_secs(AUG_5_2026),
            request_line: "GET /yo! HTTP/1.1",
            status_code: 200,
            body_length: 135,
            wall_seconds: 0.001_234_5,
        }
    }

    fn render(format: &str, rec: &LogRecord<'_>) -> String {
        let fmt = LogFormat::parse(format).expect("format parses");
        let mut out = String::new();
        fmt.render(rec, &mut out);
        out
    }

    #[test]
    fn default_format_is_eventlets() {
        // wsgi.py:25-26, with the quotes around the request line.
        assert_eq!(
            DEFAULT_LOG_FORMAT,
            r#"%(client_ip)s - - [%(date_time)s] "%(request_line)s" %(status_code)s %(body_length)s %(wall_seconds).6f"#
        );
        assert_eq!(LogFormat::default().as_str(), DEFAULT_LOG_FORMAT);
    }

    #[test]
    fn default_format_renders_byte_exact_line() {
        assert_eq!(
            render(DEFAULT_LOG_FORMAT, &record()),
            r#"127.0.0.1 - - [05/Aug/2026 11:39:08] "GET /yo! HTTP/1.1" 200 135 0.001234"#
        );
    }

    #[test]
    fn custom_format_with_literal_text_around_request_line() {
        // eventlet test_026_log_format.
        assert_eq!(
            render("HI %(request_line)s HI", &record()),
            "HI GET /yo! HTTP/1.1 HI"
        );
    }

    #[test]
    fn client_ip_key_renders_text() {
        let rec = LogRecord {
            client_ip: "1.2.3.4,5.6.7.8,127.0.0.1",
            ..record()
        };
        assert_eq!(
            render("<%(client_ip)s>", &rec),
            "<1.2.3.4,5.6.7.8,127.0.0.1>"
        );
    }

    #[test]
    fn client_port_key_renders_port_or_empty_for_unix() {
        assert_eq!(render("%(client_port)s", &record()), "54321");
        assert_eq!(render("%(client_port)d", &record()), "54321");
        let unix = LogRecord {
            client_ip: "unix",
            client_port: None,
            ..record()
        };
        assert_eq!(render("[%(client_port)s]", &unix), "[]");
        assert_eq!(render("[%(client_port)5d]", &unix), "[     ]");
    }

    #[test]
    fn date_time_key_renders_log_date_time_string() {
        assert_eq!(render("%(date_time)s", &record()), "05/Aug/2026 11:39:08");
        let epoch = LogRecord {
            date_time: UNIX_EPOCH,
            ..record()
        };
        assert_eq!(render("%(date_time)s", &epoch), "01/Jan/1970 00:00:00");
        // 2000-02-29 23:59:59, a leap day in a century leap year.
        let leap = LogRecord {
            date_time: UNIX_EPOCH + Duration::from_secs(951_868_799),
            ..record()
        };
        assert_eq!(render("%(date_time)s", &leap), "29/Feb/2000 23:59:59");
    }

    #[test]
    fn request_line_key_is_verbatim() {
        let rec = LogRecord {
            request_line: "POST /caf\u{e9}?a=%20 HTTP/1.0",
            ..record()
        };
        assert_eq!(
            render("%(request_line)s", &rec),
            "POST /caf\u{e9}?a=%20 HTTP/1.0"
        );
    }

    #[test]
    fn status_code_and_body_length_render_like_python_str() {
        let rec = LogRecord {
            status_code: 404,
            body_length: u64::MAX,
            ..record()
        };
        assert_eq!(
            render("%(status_code)s %(body_length)s", &rec),
            "404 18446744073709551615"
        );
        assert_eq!(render("%(status_code)d", &rec), "404");
    }

    #[test]
    fn wall_seconds_f_defaults_to_six_decimals() {
        let rec = LogRecord {
            wall_seconds: 1.5,
            ..record()
        };
        assert_eq!(render("%(wall_seconds)f", &rec), "1.500000");
        assert_eq!(render("%(wall_seconds).6f", &rec), "1.500000");
    }

    #[test]
    fn precision_rounds_like_python() {
        // Values chosen so that binary representation decides the rounding (as in CPython).
        let at = |x: f64, f: &str| {
            render(
                f,
                &LogRecord {
                    wall_seconds: x,
                    ..record()
                },
            )
        };
        assert_eq!(at(0.125, "%(wall_seconds).2f"), "0.12");
        assert_eq!(at(2.5, "%(wall_seconds).0f"), "2");
        assert_eq!(at(0.35, "%(wall_seconds).1f"), "0.3");
        assert_eq!(at(1.0, "%(wall_seconds)#.0f"), "1.");
        assert_eq!(at(-0.4, "%(wall_seconds)+.0f"), "-0");
        assert_eq!(at(3.25, "%(wall_seconds).3F"), "3.250");
    }

    /// `push_fixed` against Rust's own `{:.N}` (exact, ties to even, as Python's `%.Nf`).
    fn check_fixed(x: f64) {
        for p in 0..=9 {
            let mut ours = String::new();
            if push_fixed(x, p, &mut ours) {
                assert_eq!(ours, format!("{x:.p$}"), "{x:e} at precision {p}");
            } else {
                assert!(ours.is_empty() && (x >= 9_007_199_254_740_992.0 || !x.is_finite()));
            }
        }
    }

    #[test]
    fn fixed_point_by_hand_matches_rust_formatting() {
        let specials = [
            0.0,
            0.001_234_5,
            0.000_000_5,
            0.000_001_5,
            0.000_002_5,
            0.125,
            0.5,
            1.5,
            2.5,
            0.999_999_5,
            9.999_999_999_5,
            1e-300,
            f64::MIN_POSITIVE,
            5e-324,
            1e15,
            4_503_599_627_370_495.5,
            9_007_199_254_740_991.0,
            9_007_199_254_740_992.0,
            1e300,
            f64::INFINITY,
        ];
        for x in specials {
            check_fixed(x);
        }
        // Exact ties at every precision: odd multiples of 2^-n.
        for n in 1..=40 {
            for odd in [1u64, 3, 5, 7, 1001, 123_457] {
                check_fixed(odd as f64 / (1u64 << n) as f64);
            }
        }
        // A deterministic spread over magnitudes (xorshift bits as doubles in [2^-40, 2^54)).
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let exp = 1023 - 40 + (state >> 58) % 94;
            let x = f64::from_bits((exp << 52) | (state & ((1 << 52) - 1)));
            check_fixed(x);
            check_fixed(x / 1e6);
        }
    }

    #[test]
    fn render_default_matches_the_general_path() {
        let fast = LogFormat::default();
        assert!(fast.is_default);
        let general = LogFormat {
            is_default: false,
            ..LogFormat::default()
        };
        let long = format!("GET /{} HTTP/1.1", "x".repeat(9000));
        let ips = [
            "127.0.0.1",
            "::1",
            "1.2.3.4,5.6.7.8,10.0.0.1",
            "unix",
            "caf\u{e9}",
            "",
        ];
        let lines = [
            "GET / HTTP/1.1",
            "POST /caf\u{e9}?q=%20 HTTP/1.0",
            "",
            long.as_str(),
        ];
        let walls = [
            0.0,
            0.000_123_4,
            1.5,
            0.000_000_5,
            59.999_999_6,
            1e9,
            1e17,
            -0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
        ];
        let dates = [
            0,
            AUG_5_2026,
            AUG_5_2026 + 1,
            253_402_300_799,
            253_402_300_800,
        ];
        let mut fast_taken = 0;
        for ip in ips {
            for request_line in lines {
                for (i, &wall_seconds) in walls.iter().enumerate() {
                    let date = dates[i % dates.len()];
                    let rec = LogRecord {
                        client_ip: ip,
                        client_port: None,
                        date_time: UNIX_EPOCH + Duration::from_secs(date),
                        request_line,
                        status_code: [200, 404, 65_535, 0][i % 4],
                        body_length: [0, 15, 1 << 40, u64::MAX][i % 4],
                        wall_seconds,
                    };
                    let mut want = String::from(">");
                    general.render(&rec, &mut want);
                    let mut got = String::from(">");
                    fast.render(&rec, &mut got);
                    assert_eq!(got, want);
                    let mut direct = String::new();
                    if render_default(&rec, &mut direct) {
                        fast_taken += 1;
                        assert_eq!(format!(">{direct}"), want);
                    } else {
                        assert!(direct.is_empty());
                    }
                }
            }
        }
        // Every ip and request line, and five wall times: not -0.0, -1, NaN, inf, 1e17 (over
        // 2^53), nor 59.9999996, which meets year 10000.
        assert_eq!(fast_taken, 6 * 4 * 5);
    }

    #[test]
    fn integers_by_hand_match_display() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            404,
            65_535,
            1 << 32,
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::from("x");
            push_u64(n, &mut out);
            assert_eq!(out, format!("x{n}"));
        }
    }

    #[test]
    fn cached_date_follows_the_clock() {
        let at = |secs: u64| {
            let mut cached = String::new();
            push_log_date_time(UNIX_EPOCH + Duration::from_secs(secs), &mut cached);
            let mut direct = String::new();
            write_log_date_time(UNIX_EPOCH + Duration::from_secs(secs), &mut direct);
            assert_eq!(cached, direct);
            cached
        };
        assert_eq!(at(AUG_5_2026), "05/Aug/2026 11:39:08");
        assert_eq!(at(AUG_5_2026), "05/Aug/2026 11:39:08");
        assert_eq!(at(AUG_5_2026 + 1), "05/Aug/2026 11:39:09");
        // Back in time (a clock step) and the epoch itself.
        assert_eq!(at(AUG_5_2026 - 86_400), "04/Aug/2026 11:39:08");
        assert_eq!(at(0), "01/Jan/1970 00:00:00");
        // Year 10000 does not fit the cached width: written directly.
        assert_eq!(at(253_402_300_800), "01/Jan/10000 00:00:00");
        assert_eq!(at(AUG_5_2026), "05/Aug/2026 11:39:08");
    }

    #[test]
    fn percent_percent_is_a_literal_percent() {
        assert_eq!(render("100%% %(status_code)s%%", &record()), "100% 200%");
        assert_eq!(render("%%(client_ip)s", &record()), "%(client_ip)s");
    }

    #[test]
    fn width_and_flags_pad_like_python() {
        let rec = record();
        assert_eq!(render("[%(client_ip)-15s]", &rec), "[127.0.0.1      ]");
        assert_eq!(render("[%(client_ip)15s]", &rec), "[      127.0.0.1]");
        assert_eq!(render("[%(status_code)5d]", &rec), "[  200]");
        assert_eq!(render("[%(status_code)05d]", &rec), "[00200]");
        assert_eq!(render("[%(status_code)+05d]", &rec), "[+0200]");
        assert_eq!(render("[%(status_code)-+6d]", &rec), "[+200  ]");
        assert_eq!(render("[%(status_code) d]", &rec), "[ 200]");
        // The zero flag does not apply to text, only to numbers.
        assert_eq!(render("[%(status_code)05s]", &rec), "[  200]");
        assert_eq!(render("[%(wall_seconds)010.4f]", &rec), "[00000.0012]");
    }

    #[test]
    fn integer_precision_pads_digits_with_zeros() {
        let rec = record();
        assert_eq!(render("%(status_code).5d", &rec), "00200");
        assert_eq!(render("[%(status_code)8.5d]", &rec), "[   00200]");
    }

    #[test]
    fn string_precision_truncates_characters() {
        let rec = LogRecord {
            request_line: "\u{e9}\u{e9}\u{e9}\u{e9}",
            ..record()
        };
        assert_eq!(render("%(client_ip).3s", &rec), "127");
        assert_eq!(render("%(status_code).2s", &rec), "20");
        assert_eq!(render("%(request_line).2s", &rec), "\u{e9}\u{e9}");
        // Width counts characters, not UTF-8 bytes, as Python counts code points.
        assert_eq!(
            render("[%(request_line)6s]", &rec),
            "[  \u{e9}\u{e9}\u{e9}\u{e9}]"
        );
    }

    #[test]
    fn numeric_conversions_cross_int_and_float_like_python() {
        let rec = LogRecord {
            wall_seconds: -1.9,
            ..record()
        };
        assert_eq!(render("%(wall_seconds)d", &rec), "-1");
        assert_eq!(render("%(status_code).2f", &rec), "200.00");
        let tiny = LogRecord {
            wall_seconds: -0.5,
            ..record()
        };
        assert_eq!(render("%(wall_seconds)d", &tiny), "0");
        let huge = LogRecord {
            wall_seconds: 1e20,
            ..record()
        };
        assert_eq!(render("%(wall_seconds)i", &huge), "100000000000000000000");
    }

    #[test]
    fn wall_seconds_s_renders_python_repr() {
        let cases = [
            (1e-5, "1e-05"),
            (1e-4, "0.0001"),
            (0.000_123_456, "0.000123456"),
            (0.25, "0.25"),
            (3.0, "3.0"),
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (123_456_789.123, "123456789.123"),
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e300, "1.5e+300"),
            (f64::INFINITY, "inf"),
            (f64::NAN, "nan"),
        ];
        for (x, want) in cases {
            let rec = LogRecord {
                wall_seconds: x,
                ..record()
            };
            assert_eq!(render("%(wall_seconds)s", &rec), want, "repr of {x:e}");
        }
    }

    #[test]
    fn length_modifiers_are_ignored() {
        assert_eq!(
            render("%(status_code)ld %(body_length)Lu", &record()),
            "200 135"
        );
    }

    #[test]
    fn render_appends_to_existing_buffer() {
        let fmt = LogFormat::parse("%(status_code)s").unwrap();
        let mut out = String::from("line: ");
        fmt.render(&record(), &mut out);
        fmt.render(&record(), &mut out);
        assert_eq!(out, "line: 200200");
    }

    #[test]
    fn unknown_key_is_rejected_listing_valid_keys() {
        let err = LogFormat::parse("ok %(client_addr)s").unwrap_err();
        assert_eq!(
            err,
            LogFormatError::UnknownKey {
                key: "client_addr".into(),
                pos: 3
            }
        );
        let msg = err.to_string();
        for key in LogKey::ALL {
            assert!(msg.contains(key.name()), "{msg} lists {key}");
        }
        // Keys are case-sensitive, like dict keys; nested parentheses belong to the name.
        assert!(matches!(
            LogFormat::parse("%(Client_IP)s"),
            Err(LogFormatError::UnknownKey { .. })
        ));
        assert_eq!(
            LogFormat::parse("%(a(b))s"),
            Err(LogFormatError::UnknownKey {
                key: "a(b)".into(),
                pos: 0
            })
        );
    }

    #[test]
    fn unterminated_key_is_rejected() {
        assert_eq!(
            LogFormat::parse("x %(client_ip"),
            Err(LogFormatError::UnterminatedKey { pos: 2 })
        );
        assert_eq!(
            LogFormat::parse("%(client_ip(s)"),
            Err(LogFormatError::UnterminatedKey { pos: 0 })
        );
    }

    #[test]
    fn incomplete_conversions_are_rejected() {
        for (f, pos) in [("abc %", 4), ("%(client_ip)", 0), ("%(status_code)05.", 0)] {
            assert_eq!(
                LogFormat::parse(f),
                Err(LogFormatError::Incomplete { pos }),
                "{f}"
            );
        }
    }

    #[test]
    fn bad_conversions_are_rejected() {
        for (f, c) in [
            ("%(client_ip)x", 'x'),
            ("%(client_ip)r", 'r'),
            ("%(status_code)q", 'q'),
            ("%(client_ip)%", '%'),
            ("%(client_ip)\u{e9}", '\u{e9}'),
            ("%(status_code)*d", '*'),
            ("%(wall_seconds).*f", '*'),
        ] {
            assert_eq!(
                LogFormat::parse(f),
                Err(LogFormatError::UnsupportedConversion {
                    conversion: c,
                    pos: 0
                }),
                "{f}"
            );
        }
    }

    #[test]
    fn numeric_conversion_of_text_key_is_rejected() {
        for (f, key) in [
            ("%(client_ip)d", LogKey::ClientIp),
            ("%(request_line)f", LogKey::RequestLine),
            ("%(date_time)i", LogKey::DateTime),
        ] {
            assert!(
                matches!(LogFormat::parse(f), Err(LogFormatError::NotANumber { key: k, .. }) if k == key),
                "{f}"
            );
        }
    }

    #[test]
    fn conversion_without_key_is_rejected() {
        assert_eq!(
            LogFormat::parse("%s - %(client_ip)s"),
            Err(LogFormatError::MissingKey { pos: 0 })
        );
        assert_eq!(
            LogFormat::parse("%5d"),
            Err(LogFormatError::MissingKey { pos: 0 })
        );
    }

    #[test]
    fn absurd_width_is_rejected() {
        assert_eq!(
            LogFormat::parse("%(client_ip)99999s"),
            Err(LogFormatError::TooWide { pos: 0 })
        );
        assert!(LogFormat::parse("%(client_ip)1024s").is_ok());
    }

    #[test]
    fn uses_reports_exactly_the_keys_in_the_format() {
        let default = LogFormat::default();
        for key in LogKey::ALL {
            assert_eq!(default.uses(key), key != LogKey::ClientPort, "{key}");
        }
        let hi = LogFormat::parse("HI %(request_line)s HI %%(date_time)s").unwrap();
        let used: Vec<LogKey> = LogKey::ALL.into_iter().filter(|&k| hi.uses(k)).collect();
        assert_eq!(used, [LogKey::RequestLine]);
    }

    #[test]
    fn key_names_round_trip() {
        for key in LogKey::ALL {
            assert_eq!(LogKey::from_name(key.name()), Some(key));
        }
        assert_eq!(LogKey::from_name("pid"), None);
    }

    #[test]
    fn format_without_conversions_renders_verbatim() {
        assert_eq!(render("", &record()), "");
        assert_eq!(render("plain text", &record()), "plain text");
    }

    #[test]
    fn x_forwarded_for_is_prefixed_without_spaces() {
        // eventlet test_020_x_forwarded_for.
        let mut out = String::new();
        client_ip("127.0.0.1", Some("1.2.3.4, 5.6.7.8"), true, &mut out);
        assert_eq!(out, "1.2.3.4,5.6.7.8,127.0.0.1");
    }

    #[test]
    fn x_forwarded_for_is_ignored_when_disabled_absent_or_blank() {
        // eventlet test_020_x_forwarded_for, second half (log_x_forwarded_for=False).
        let cases = [
            (Some("1.2.3.4, 5.6.7.8"), false),
            (None, true),
            (Some(""), true),
            (Some("   "), true),
        ];
        for (xff, enabled) in cases {
            let mut out = String::new();
            client_ip("127.0.0.1", xff, enabled, &mut out);
            assert_eq!(out, "127.0.0.1", "{xff:?} {enabled}");
        }
    }

    #[test]
    fn x_forwarded_for_keeps_tabs_and_appends_to_buffer() {
        // Python's `.replace(' ', '')` removes spaces only.
        let mut out = String::from(">");
        client_ip("unix", Some("a,\tb"), true, &mut out);
        assert_eq!(out, ">a,\tb,unix");
    }

    #[test]
    fn error_messages_name_the_problem() {
        let msg = LogFormat::parse("%(client_ip)d").unwrap_err().to_string();
        assert!(
            msg.contains("client_ip") && msg.contains("%(client_ip)s"),
            "{msg}"
        );
        let msg = LogFormat::parse("%(x").unwrap_err().to_string();
        assert!(msg.contains("no closing ')'"), "{msg}");
    }
}
