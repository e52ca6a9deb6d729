//! Checking and spelling what the application hands to `start_response`: the status string and
//! the header names and values (eventlet wsgi.py:584-615 and 525-535).
//!
//! eventlet writes all of them verbatim, so a CR/LF from the application splits the response
//! (inventory §5.1 item 1). Here every piece is validated before anything is sent, so the server
//! can still answer 500 instead (§5.1 item 16). Header bytes are written as latin-1 (PEP 3333),
//! the status line as UTF-8 like eventlet does.

use std::fmt;

/// Why a WSGI status string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusError {
    /// It does not start with three ASCII digits followed by a space or the end.
    BadCode,
    /// The three digits are outside 100..=599, the range RFC 9110 §15 defines.
    OutOfRange(u16),
    /// The code is not followed by a space and a reason phrase (PEP 3333 requires both).
    MissingReason,
    /// The reason phrase contains a control byte (CR, LF, NUL, DEL, ...), i.e. it would split or
    /// corrupt the status line.
    InvalidReasonByte {
        /// The offending byte.
        byte: u8,
        /// Its byte offset in the status string.
        index: usize,
    },
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusError::BadCode => f.write_str("status must start with a 3-digit code"),
            StatusError::OutOfRange(code) => {
                write!(f, "status code {code} is outside 100..=599")
            }
            StatusError::MissingReason => {
                f.write_str("status must be a code, a space and a reason phrase, e.g. \"200 OK\"")
            }
            StatusError::InvalidReasonByte { byte, index } => write!(
                f,
                "status reason phrase contains control byte 0x{byte:02x} at offset {index}"
            ),
        }
    }
}

impl std::error::Error for StatusError {}

/// Why a response header was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderError {
    /// The name is empty.
    EmptyName,
    /// The name contains a character outside RFC 9110's `tchar` (with the lenient rule, outside
    /// `tchar` and U+0080..=U+00FF), e.g. a space, `:`, CR or LF.
    InvalidNameChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the name.
        index: usize,
    },
    /// The value contains a control character other than HTAB (CR, LF, NUL, DEL, ...).
    InvalidValueChar {
        /// The offending character.
        ch: char,
        /// Its byte offset in the value.
        index: usize,
    },
    /// The value contains a character above U+00FF, which latin-1 cannot carry.
    NotLatin1 {
        /// The offending character.
        ch: char,
        /// Its byte offset in the value.
        index: usize,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::EmptyName => f.write_str("response header name is empty"),
            HeaderError::InvalidNameChar { ch, index } => write!(
                f,
                "response header name contains {ch:?} at offset {index} (not a token character)"
            ),
            HeaderError::InvalidValueChar { ch, index } => write!(
                f,
                "response header value contains control character {ch:?} at offset {index}"
            ),
            HeaderError::NotLatin1 { ch, index } => write!(
                f,
                "response header value contains {ch:?} at offset {index}, which is not latin-1"
            ),
        }
    }
}

impl std::error::Error for HeaderError {}

/// Parses a WSGI status string such as `"200 OK"` and returns its code.
///
/// Accepted: three ASCII digits in 100..=599, one space, then a reason phrase of
/// `*( HTAB / SP / VCHAR / obs-text )` (RFC 9112 §4), possibly empty (`"200 "`). The reason is
/// not interpreted: the caller writes the string verbatim (`"200 oK"` stays `oK`). Checked on
/// the UTF-8 bytes, which is what eventlet writes; every non-ASCII byte counts as obs-text.
///
/// Refused, where eventlet accepts: a bare `"200"` (PEP 3333 requires the reason, and RFC 9112
/// the space), codes outside 100..=599, and control bytes in the reason (response splitting).
///
/// ```
/// # use eventlet_wsgi::status::parse_status;
/// assert_eq!(parse_status("404 not found"), Ok(404));
/// assert!(parse_status("200 OK\r\nSet-Cookie: x=1").is_err());
/// ```
pub fn parse_status(status: &str) -> Result<u16, StatusError> {
    let b = status.as_bytes();
    // Most apps send exactly this: one six-byte compare instead of the checks below.
    if b == b"200 OK" {
        return Ok(200);
    }
    let code = match b {
        [x, y, z, ..] if x.is_ascii_digit() && y.is_ascii_digit() && z.is_ascii_digit() => {
            u16::from(x - b'0') * 100 + u16::from(y - b'0') * 10 + u16::from(z - b'0')
        }
        _ => return Err(StatusError::BadCode),
    };
    match b.get(3) {
        Some(b' ') => {}
        Some(d) if d.is_ascii_digit() => return Err(StatusError::BadCode),
        _ => return Err(StatusError::MissingReason),
    }
    if !(100..=599).contains(&code) {
        return Err(StatusError::OutOfRange(code));
    }
    match b[4..].iter().position(|&x| is_ctl_except_htab(x)) {
        Some(i) => Err(StatusError::InvalidReasonByte {
            byte: b[4 + i],
            index: 4 + i,
        }),
        None => Ok(code),
    }
}

fn is_ctl_except_htab(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

use crate::head::{load_word, HI, LO, TCHAR};

/// Whether `s` is a non-empty RFC 9110 token.
#[must_use]
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| TCHAR[usize::from(b)])
}

/// Checks a response header name.
///
/// Strict (`allow_latin1 == false`): a non-empty RFC 9110 token. Lenient (`true`): token
/// characters plus U+0080..=U+00FF, written as one latin-1 byte each. The lenient rule exists
/// because eventlet's `test_header_name_capitalization` sends the name `wiTH-\u{df}-LATIN1-\u{ff}`
/// and expects it back; such bytes cannot split a response, but they are not valid HTTP and
/// strict clients (e.g. `httparse`) reject them.
pub fn validate_header_name(name: &str, allow_latin1: bool) -> Result<(), HeaderError> {
    // Nearly every name is an ASCII token: one table lookup per byte.
    if is_token(name) {
        return Ok(());
    }
    if name.is_empty() {
        return Err(HeaderError::EmptyName);
    }
    let bad = name.char_indices().find(|&(_, c)| match u8::try_from(c) {
        Ok(b) => !(TCHAR[usize::from(b)] || (allow_latin1 && b >= 0x80)),
        Err(_) => true,
    });
    match bad {
        Some((index, ch)) => Err(HeaderError::InvalidNameChar { ch, index }),
        None => Ok(()),
    }
}

/// Checks a response header value: `*( HTAB / SP / VCHAR / obs-text )` after latin-1 encoding,
/// i.e. no control character but HTAB and nothing above U+00FF. Leading/trailing whitespace and
/// the empty value are allowed.
pub fn validate_header_value(value: &str) -> Result<(), HeaderError> {
    // Fast path over the UTF-8 bytes: U+0080..=U+00FF encode as 0xC2/0xC3 + a continuation byte
    // (0x80..=0xBF); a lead byte >= 0xC4 starts a char above U+00FF.
    // Eight bytes at a time while they are all printable ASCII.
    let bytes = value.as_bytes();
    let mut from = 0;
    while from + 8 <= bytes.len() && !has_unprintable(load_word(bytes, from)) {
        from += 8;
    }
    let bad = bytes[from..]
        .iter()
        .position(|&b| is_ctl_except_htab(b) || b >= 0xC4)
        .map(|i| from + i);
    let Some(index) = bad else {
        return Ok(());
    };
    let ch = value[index..].chars().next().unwrap_or('\u{fffd}');
    if u32::from(ch) > 0xFF {
        Err(HeaderError::NotLatin1 { ch, index })
    } else {
        Err(HeaderError::InvalidValueChar { ch, index })
    }
}

/// [`validate_header_name`] (strict) and [`validate_header_value`]: what may be written as
/// `name: value\r\n` without changing the meaning of the response.
///
/// ```
/// # use eventlet_wsgi::status::validate_header;
/// assert!(validate_header("Content-Type", "text/plain; charset=utf-8").is_ok());
/// assert!(validate_header("X-A", "v\r\nInjected: 1").is_err());
/// ```
pub fn validate_header(name: &str, value: &str) -> Result<(), HeaderError> {
    validate_header_name(name, false)?;
    validate_header_value(value)
}

/// Appends `s` encoded as latin-1: each char <= U+00FF as one byte. Callers validate first;
/// anything above U+00FF is written as `?` rather than as invalid latin-1.
pub fn write_latin1(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    out.extend(s.chars().map(|c| u8::try_from(c).unwrap_or(b'?')));
}

/// Whether every byte of `b` is printable ASCII (0x20..=0x7E): the usual header value, valid
/// and its own latin-1 encoding, so it is copied as it is. Eight bytes at a time (the last word
/// overlapping the one before), a byte at a time below eight.
fn is_printable_ascii(b: &[u8]) -> bool {
    if b.len() < 8 {
        return b.iter().all(|&c| (0x20..0x7f).contains(&c));
    }
    let mut at = 0;
    while at + 8 <= b.len() {
        if has_unprintable(load_word(b, at)) {
            return false;
        }
        at += 8;
    }
    at == b.len() || !has_unprintable(load_word(b, b.len() - 8))
}

/// Whether some byte of `w` is outside printable ASCII (0x20..=0x7E). A byte is outside iff it
/// is >= 0x80, or subtracting 0x20 borrows (< 0x20), or adding 1 reaches 0x80 (0x7F). A borrow
/// or carry crossing into the next byte only happens when a byte is already out of range, so
/// the yes/no answer is exact.
#[inline(always)]
fn has_unprintable(w: u64) -> bool {
    (w.wrapping_sub(LO * 0x20) | w.wrapping_add(LO) | w) & HI != 0
}

/// [`validate_header_value`] and [`write_latin1`] in one call: appends the latin-1 encoding of
/// `value`, or returns the error and appends nothing. A printable-ASCII value (nearly all of
/// them) is checked a word at a time and copied in one go.
pub(crate) fn write_header_value(value: &str, out: &mut Vec<u8>) -> Result<(), HeaderError> {
    if is_printable_ascii(value.as_bytes()) {
        out.extend_from_slice(value.as_bytes());
        return Ok(());
    }
    validate_header_value(value)?;
    write_latin1(value, out);
    Ok(())
}

/// Appends a response header name as `start_response` sends it: an RFC 9110 token, in
/// eventlet's capitalization when `capitalize` is set, else verbatim. Returns false and appends
/// nothing when the name is not a token ([`validate_header_name`] says why).
pub(crate) fn write_header_name(name: &str, capitalize: bool, out: &mut Vec<u8>) -> bool {
    if capitalize {
        return write_capitalized_token(name.as_bytes(), out);
    }
    if !is_token(name) {
        return false;
    }
    out.extend_from_slice(name.as_bytes());
    true
}

/// `name: value\r\n` as `start_response` writes a header: [`write_header_name`] and
/// [`write_header_value`]. On an error nothing is appended and the error says what is wrong.
pub(crate) fn write_header_line(
    name: &str,
    value: &str,
    capitalize: bool,
    out: &mut Vec<u8>,
) -> Result<(), HeaderError> {
    let start = out.len();
    if !write_common_name(name.as_bytes(), out) {
        if !write_header_name(name, capitalize, out) {
            return Err(name_error(name));
        }
        out.extend_from_slice(b": ");
    }
    if let Err(e) = write_header_value(value, out) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Why [`write_header_name`] refused `name`.
#[cold]
fn name_error(name: &str) -> HeaderError {
    match validate_header_name(name, false) {
        Err(e) => e,
        // Not reached: both accept exactly the tokens.
        Ok(()) => HeaderError::EmptyName,
    }
}

/// Writes `name: ` when `name` is, byte for byte, one of the header names apps send most, spelled
/// the way eventlet capitalizes it (so capitalizing changes nothing) and a token (so it is valid):
/// no per-byte work, and each a copy of a constant (a few moves, no `memcpy` call). Told apart
/// by length first; each compare is a couple of word compares. False (nothing written) otherwise.
fn write_common_name(name: &[u8], out: &mut Vec<u8>) -> bool {
    macro_rules! by_length {
        ($($len:literal => [$($n:literal),+],)*) => {
            match name.len() {
                $($len => {
                    $(if name == $n.as_bytes() {
                        out.extend_from_slice(concat!($n, ": ").as_bytes());
                        return true;
                    })+
                    false
                })*
                _ => false,
            }
        };
    }
    by_length! {
        3 => ["Age"],
        4 => ["Vary", "Etag", "Link"],
        6 => ["Server", "Pragma"],
        7 => ["Expires"],
        8 => ["Location"],
        10 => ["Set-Cookie"],
        12 => ["Content-Type"],
        13 => ["Cache-Control", "Last-Modified", "Accept-Ranges"],
        14 => ["Content-Length"],
        15 => ["X-Frame-Options"],
        16 => ["Content-Encoding", "Content-Language"],
        19 => ["Content-Disposition"],
        22 => ["X-Content-Type-Options"],
        25 => ["Strict-Transport-Security"],
        27 => ["Access-Control-Allow-Origin"],
    }
}

/// Appends `name` with eventlet's capitalization (wsgi.py:606-612): split on `-`, then in each
/// part the first byte upper-cased and the rest lower-cased, ASCII letters only (Python's
/// `bytes.capitalize` on the latin-1 encoding). Output is latin-1 like [`write_latin1`].
///
/// ```
/// # use eventlet_wsgi::status::capitalize_header_name;
/// let mut out = Vec::new();
/// capitalize_header_name("x-WWW-authenticate", &mut out);
/// assert_eq!(out, b"X-Www-Authenticate");
/// ```
pub fn capitalize_header_name(name: &str, out: &mut Vec<u8>) {
    if write_capitalized_token(name.as_bytes(), out) {
        return;
    }
    if !name.is_ascii() {
        capitalize_latin1(name, out);
        return;
    }
    let bytes = name.as_bytes();
    if is_capitalized(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    out.reserve(bytes.len());
    let mut at_start = true;
    for &b in bytes {
        out.push(if at_start {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        });
        at_start = b == b'-';
    }
}

/// The common case of [`capitalize_header_name`] in one pass: a name made of RFC 9110 token
/// bytes is written capitalized; anything else writes nothing and returns false.
pub(crate) fn write_capitalized_token(name: &[u8], out: &mut Vec<u8>) -> bool {
    if name.is_empty() {
        return false;
    }
    let start = out.len();
    out.extend_from_slice(name);
    let mut at_start = true;
    for b in &mut out[start..] {
        if !TCHAR[usize::from(*b)] {
            out.truncate(start);
            return false;
        }
        *b = if at_start {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        };
        at_start = *b == b'-';
    }
    true
}

/// Whether capitalizing ASCII `bytes` would leave them unchanged (the common case: apps and the
/// server itself mostly send canonical names), so they can be copied in one go.
fn is_capitalized(bytes: &[u8]) -> bool {
    let mut at_start = true;
    for &b in bytes {
        if (at_start && b.is_ascii_lowercase()) || (!at_start && b.is_ascii_uppercase()) {
            return false;
        }
        at_start = b == b'-';
    }
    true
}

fn capitalize_latin1(name: &str, out: &mut Vec<u8>) {
    let mut at_start = true;
    for c in name.chars() {
        let b = u8::try_from(c).unwrap_or(b'?');
        out.push(if at_start {
            b.to_ascii_uppercase()
        } else {
            b.to_ascii_lowercase()
        });
        at_start = b == b'-';
    }
}

/// The reason phrase the server uses for `code` in the responses it generates itself; `""` for
/// codes it has no phrase for. RFC 9110 §15 phrases, except 414, which keeps eventlet's
/// `Request URI Too Long` (its `RESPONSE_414`, asserted by eventlet's tests).
#[must_use]
pub fn reason_phrase(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// eventlet's `bodyless` (wsgi.py:595-600): 1xx, 204, 304, or the answer to HEAD. Such a
/// response gets no automatic `Content-Length` or chunked framing, and (unlike eventlet,
/// inventory §5.1 item 6) none of the application's body bytes. A 2xx answer to CONNECT is
/// bodyless too; the caller checks that, since it turns the connection into a tunnel.
#[must_use]
pub fn is_bodyless(status: u16, method_is_head: bool) -> bool {
    method_is_head || (100..200).contains(&status) || status == 204 || status == 304
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn status_strings_apps_send_are_accepted() {
        let cases = [
            ("200 OK", 200),
            ("404 not found", 404),
            // eventlet test_header_name_capitalization: the reason is passed verbatim.
            ("200 oK", 200),
            ("100 Continue", 100),
            ("599 Custom", 599),
            ("500 eventlet.posthooks not supported", 500),
            ("204 ", 204),
            ("200 OK\tfine", 200),
            ("200 \u{c7}a va", 200),
            ("418 I'm a teapot \u{1f375}", 418),
        ];
        for (status, code) in cases {
            assert_eq!(parse_status(status), Ok(code), "{status:?}");
        }
    }

    #[test]
    fn malformed_status_codes_are_rejected() {
        let cases = [
            ("", StatusError::BadCode),
            ("OK", StatusError::BadCode),
            ("20 OK", StatusError::BadCode),
            ("2000 OK", StatusError::BadCode),
            (" 200 OK", StatusError::BadCode),
            ("+20 OK", StatusError::BadCode),
            ("2O0 OK", StatusError::BadCode),
            ("\u{662}00 OK", StatusError::BadCode),
            ("200", StatusError::MissingReason),
            ("200\tOK", StatusError::MissingReason),
            ("200-OK", StatusError::MissingReason),
            ("099 Low", StatusError::OutOfRange(99)),
            ("600 High", StatusError::OutOfRange(600)),
            ("999 Max", StatusError::OutOfRange(999)),
        ];
        for (status, err) in cases {
            assert_eq!(parse_status(status), Err(err), "{status:?}");
        }
    }

    #[test]
    fn control_bytes_in_reason_are_rejected() {
        let cases = [
            ("200 OK\r\nSet-Cookie: admin=1", b'\r', 6),
            ("200 OK\nX: y", b'\n', 6),
            ("200 OK\r", b'\r', 6),
            ("200 O\0K", 0, 5),
            ("200 OK\x7f", 0x7f, 6),
            ("200 \x1b[31mred", 0x1b, 4),
        ];
        for (status, byte, index) in cases {
            assert_eq!(
                parse_status(status),
                Err(StatusError::InvalidReasonByte { byte, index }),
                "{status:?}"
            );
        }
    }

    #[test]
    fn valid_headers_are_accepted() {
        let cases = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("X-Empty", ""),
            ("ETag", "\"abc\""),
            ("x-weird!#$%&'*+.^_`|~0", "v"),
            ("Set-Cookie", "a=b; Path=/; HttpOnly"),
            ("X-Tab", "a\tb"),
            ("X-Latin1", "caf\u{e9} \u{ff} \u{a0}"),
            ("X-Padded", " spaces around "),
        ];
        for (name, value) in cases {
            assert_eq!(validate_header(name, value), Ok(()), "{name}: {value:?}");
        }
    }

    #[test]
    fn header_value_injection_is_rejected() {
        // eventlet emits these verbatim (inventory §1.6, response splitting).
        let cases = [
            ("v\r\nInjected: 1", '\r', 1),
            ("v\nInjected: 1", '\n', 1),
            ("v\r", '\r', 1),
            ("a\0b", '\0', 1),
            ("\x01", '\x01', 0),
            ("del\x7f", '\x7f', 3),
        ];
        for (value, ch, index) in cases {
            assert_eq!(
                validate_header("X-A", value),
                Err(HeaderError::InvalidValueChar { ch, index }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn non_latin1_header_values_are_rejected() {
        // eventlet fails to encode these after marking headers sent (inventory §5.1 item 16).
        let cases = [
            ("\u{100}", '\u{100}', 0),
            ("price: 5\u{20ac}", '\u{20ac}', 8),
            ("caf\u{e9} \u{1f600}", '\u{1f600}', 6),
        ];
        for (value, ch, index) in cases {
            assert_eq!(
                validate_header_value(value),
                Err(HeaderError::NotLatin1 { ch, index }),
                "{value:?}"
            );
        }
    }

    #[test]
    fn invalid_header_names_are_rejected() {
        assert_eq!(validate_header("", "v"), Err(HeaderError::EmptyName));
        let cases = [
            ("X Space", ' ', 1),
            ("X:Colon", ':', 1),
            ("X-A\r\nInjected", '\r', 3),
            ("X\n", '\n', 1),
            ("X\0", '\0', 1),
            ("X(y)", '(', 1),
            ("X/Y", '/', 1),
            ("X-\u{e9}", '\u{e9}', 2),
            ("\u{20ac}", '\u{20ac}', 0),
        ];
        for (name, ch, index) in cases {
            assert_eq!(
                validate_header(name, "v"),
                Err(HeaderError::InvalidNameChar { ch, index }),
                "{name:?}"
            );
        }
    }

    #[test]
    fn lenient_names_allow_latin1_but_not_delimiters() {
        // eventlet test_header_name_capitalization's second header name.
        assert_eq!(
            validate_header_name("wiTH-\u{df}-LATIN1-\u{ff}", true),
            Ok(())
        );
        assert!(validate_header_name("wiTH-\u{df}-LATIN1-\u{ff}", false).is_err());
        for bad in ["X\u{100}", "X Y", "X:", "X\r\n"] {
            assert!(validate_header_name(bad, true).is_err(), "{bad:?}");
        }
        assert_eq!(validate_header_name("", true), Err(HeaderError::EmptyName));
    }

    #[test]
    fn is_token_follows_rfc9110_tchar() {
        assert!(is_token("GET"));
        assert!(is_token("!#$%&'*+-.^_`|~09azAZ"));
        for bad in [
            "", "a b", "a\"", "a,b", "a;b", "a=b", "a@b", "a[b]", "a{b}", "a\\b", "\u{e9}",
        ] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn write_latin1_writes_one_byte_per_char() {
        let mut out = b"> ".to_vec();
        write_latin1("caf\u{e9} \u{ff}\u{80}", &mut out);
        assert_eq!(out, b"> caf\xe9 \xff\x80");
        let mut ascii = Vec::new();
        write_latin1("text/plain", &mut ascii);
        assert_eq!(ascii, b"text/plain");
    }

    #[test]
    fn write_latin1_replaces_unvalidated_wide_chars() {
        let mut out = Vec::new();
        write_latin1("a\u{20ac}b", &mut out);
        assert_eq!(out, b"a?b");
    }

    fn capitalized(name: &str) -> Vec<u8> {
        let mut out = Vec::new();
        capitalize_header_name(name, &mut out);
        out
    }

    #[test]
    fn header_names_are_capitalized_like_eventlet() {
        // eventlet test_header_name_capitalization.
        assert_eq!(capitalized("sOMe-WEirD"), b"Some-Weird");
        assert_eq!(
            capitalized("wiTH-\u{df}-LATIN1-\u{ff}"),
            b"With-\xdf-Latin1-\xff"
        );
        // eventlet's docs/comment examples (wsgi.py:603-605, inventory §1.2).
        assert_eq!(capitalized("x-WWW-authenticate"), b"X-Www-Authenticate");
        assert_eq!(capitalized("CONTent-TYpe"), b"Content-Type");
        let cases: [(&str, &[u8]); 10] = [
            ("content-length", b"Content-Length"),
            ("ETag", b"Etag"),
            ("WWW-Authenticate", b"Www-Authenticate"),
            ("x-1abc", b"X-1abc"),
            ("-x-", b"-X-"),
            ("a--b", b"A--B"),
            ("", b""),
            ("\u{df}AB", b"\xdfab"),
            ("\u{e9}T\u{c9}-\u{e9}t\u{e9}", b"\xe9t\xc9-\xe9t\xe9"),
            ("x_Y.z", b"X_y.z"),
        ];
        for (name, want) in cases {
            assert_eq!(capitalized(name), want, "{name:?}");
        }
    }

    #[test]
    fn canonical_names_are_copied_unchanged_and_appended() {
        for name in [
            "Content-Type",
            "Date",
            "X-Request-Id",
            "Content-Md5",
            "-",
            "X-1",
        ] {
            assert_eq!(capitalized(name), name.as_bytes(), "{name:?}");
        }
        let mut out = b"Head: ".to_vec();
        capitalize_header_name("set-cookie", &mut out);
        assert_eq!(out, b"Head: Set-Cookie");
    }

    #[test]
    fn reason_phrases_cover_server_generated_statuses() {
        let cases = [
            (100, "Continue"),
            (200, "OK"),
            (400, "Bad Request"),
            (404, "Not Found"),
            (408, "Request Timeout"),
            (411, "Length Required"),
            (413, "Content Too Large"),
            // eventlet's RESPONSE_414 wording, asserted by its test_006_reject_long_urls.
            (414, "Request URI Too Long"),
            (417, "Expectation Failed"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (501, "Not Implemented"),
            (503, "Service Unavailable"),
            (505, "HTTP Version Not Supported"),
        ];
        for (code, phrase) in cases {
            assert_eq!(reason_phrase(code), phrase, "{code}");
        }
        assert_eq!(reason_phrase(299), "");
        // Every phrase is a valid reason for a status line.
        for code in 100..=599 {
            let status = format!("{code} {}", reason_phrase(code));
            assert_eq!(parse_status(&status), Ok(code), "{status:?}");
        }
    }

    #[test]
    fn bodyless_statuses_match_eventlet() {
        for code in [100, 101, 199, 204, 304] {
            assert!(is_bodyless(code, false), "{code}");
        }
        for code in [200, 201, 205, 206, 300, 301, 303, 400, 404, 500] {
            assert!(!is_bodyless(code, false), "{code}");
            assert!(is_bodyless(code, true), "HEAD {code}");
        }
    }

    #[test]
    fn error_messages_describe_the_problem() {
        let msg = parse_status("200 OK\r\nX: y").unwrap_err().to_string();
        assert!(msg.contains("0x0d") && msg.contains('6'), "{msg}");
        let msg = validate_header("X-A", "a\u{20ac}").unwrap_err().to_string();
        assert!(msg.contains('\u{20ac}') && msg.contains("latin-1"), "{msg}");
        let msg = validate_header("X A", "v").unwrap_err().to_string();
        assert!(msg.contains("' '") && msg.contains("token"), "{msg}");
        assert!(parse_status("600 x")
            .unwrap_err()
            .to_string()
            .contains("600"));
    }

    /// The old per-char rule for a value: validate, then encode.
    fn value_reference(value: &str) -> Result<Vec<u8>, HeaderError> {
        validate_header_value(value)?;
        let mut out = Vec::new();
        write_latin1(value, &mut out);
        Ok(out)
    }

    fn value_fast(value: &str) -> Result<Vec<u8>, HeaderError> {
        let mut out = b"x".to_vec();
        let r = write_header_value(value, &mut out);
        if r.is_err() {
            assert_eq!(out, b"x", "nothing appended on an error: {value:?}");
        }
        r.map(|()| out[1..].to_vec())
    }

    /// The old rule for a name: validate strictly, then capitalize or copy.
    fn name_reference(name: &str, capitalize: bool) -> Option<Vec<u8>> {
        validate_header_name(name, false).ok()?;
        let mut out = Vec::new();
        if capitalize {
            capitalize_header_name(name, &mut out);
        } else {
            write_latin1(name, &mut out);
        }
        Some(out)
    }

    /// The name as [`write_header_line`] writes it (and, the same, [`write_header_name`]).
    fn name_fast(name: &str, capitalize: bool) -> Option<Vec<u8>> {
        let mut out = b"x".to_vec();
        let mut alone = b"x".to_vec();
        let ok = write_header_name(name, capitalize, &mut alone);
        if write_header_line(name, "v", capitalize, &mut out).is_err() {
            assert_eq!(out, b"x", "nothing appended on an error: {name:?}");
            assert!(!ok && alone == b"x", "{name:?}");
            return None;
        }
        assert!(out.ends_with(b": v\r\n"), "{name:?}");
        out.truncate(out.len() - 5);
        assert!(ok && alone == out, "{name:?}");
        Some(out[1..].to_vec())
    }

    fn is_common_canonical(name: &[u8]) -> bool {
        let mut out = Vec::new();
        let hit = write_common_name(name, &mut out);
        if hit {
            assert_eq!(out, [name, b": "].concat());
        } else {
            assert!(out.is_empty());
        }
        hit
    }

    /// A string of `len` chars drawn mostly from `common`, sometimes any char up to U+00FF,
    /// now and then one above it.
    fn random_string(rng: &mut Rng, len: usize, common: &[u8]) -> String {
        (0..len)
            .map(|_| match rng.next() % 16 {
                0 => char::from((rng.next() % 256) as u8),
                1 if rng.next().is_multiple_of(8) => '\u{20ac}',
                _ => char::from(common[rng.below(common.len())]),
            })
            .collect()
    }

    #[test]
    fn fast_value_writer_agrees_with_the_per_char_rule_on_every_char_up_to_u00ff() {
        for c in (0u32..=0xff).chain([0x100, 0x20ac, 0x1f375]) {
            let c = char::from_u32(c).expect("a char");
            // Alone, and at each position of words of several lengths (the word-at-a-time
            // path reads 8 bytes at a time and the last word overlapping).
            for len in [1, 7, 8, 9, 15, 16, 17, 24, 31] {
                for at in 0..len {
                    let mut v: Vec<char> = "text/plain; charset=utf-8 and more"
                        .chars()
                        .cycle()
                        .take(len)
                        .collect();
                    v[at] = c;
                    let v: String = v.into_iter().collect();
                    assert_eq!(value_fast(&v), value_reference(&v), "{v:?}");
                }
            }
        }
    }

    #[test]
    fn fast_value_writer_agrees_with_the_per_char_rule_on_random_values() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let printable: Vec<u8> = (0x20..0x7f).chain([b'\t']).collect();
        for _ in 0..20_000 {
            let len = (rng.next() % 40) as usize;
            let v = random_string(&mut rng, len, &printable);
            assert_eq!(value_fast(&v), value_reference(&v), "{v:?}");
        }
        assert_eq!(value_fast(""), Ok(Vec::new()));
    }

    #[test]
    fn fast_name_writer_agrees_with_the_per_char_rule() {
        let mut names: Vec<String> = (0u32..=0xff)
            .map(|c| format!("X-{}a", char::from_u32(c).expect("a char")))
            .collect();
        names.extend(
            [
                "",
                "Content-Type",
                "content-type",
                "CONTENT-TYPE",
                "Etag",
                "ETag",
                "Vary",
                "vary",
                "Set-Cookie",
                "set-cookie",
                "Content-Length",
                "Location",
                "X-Frame-Options",
                "Strict-Transport-Security",
                "Access-Control-Allow-Origin",
                "a-",
                "-a",
                "--",
                "Content-Type ",
                "Content-Type:",
                "Content\u{e9}-Type",
                "X-\u{20ac}",
            ]
            .map(String::from),
        );
        let mut rng = Rng(0x1234_5678_9abc_def1);
        let token: Vec<u8> = (0u8..=0x7f).filter(|&b| TCHAR[usize::from(b)]).collect();
        for _ in 0..20_000 {
            let len = (rng.next() % 30) as usize;
            names.push(random_string(&mut rng, len, &token));
        }
        for name in &names {
            for capitalize in [false, true] {
                assert_eq!(
                    name_fast(name, capitalize),
                    name_reference(name, capitalize),
                    "{name:?} capitalize={capitalize}"
                );
            }
        }
    }

    #[test]
    fn common_canonical_names_are_tokens_that_capitalizing_keeps() {
        for name in [
            "Age",
            "Vary",
            "Etag",
            "Link",
            "Server",
            "Pragma",
            "Expires",
            "Location",
            "Set-Cookie",
            "Content-Type",
            "Cache-Control",
            "Last-Modified",
            "Accept-Ranges",
            "Content-Length",
            "X-Frame-Options",
            "Content-Encoding",
            "Content-Language",
            "Content-Disposition",
            "X-Content-Type-Options",
            "Strict-Transport-Security",
            "Access-Control-Allow-Origin",
        ] {
            assert!(is_common_canonical(name.as_bytes()), "{name}");
            assert_eq!(capitalized(name), name.as_bytes(), "{name}");
            assert!(is_token(name), "{name}");
            let lower = name.to_ascii_lowercase();
            assert!(!is_common_canonical(lower.as_bytes()), "{lower}");
        }
        // Spellings that capitalizing changes are not in the table.
        for name in [
            "ETag",
            "WWW-Authenticate",
            "X-XSS-Protection",
            "content-type",
        ] {
            assert!(!is_common_canonical(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn the_200_ok_fast_path_and_its_neighbours() {
        assert_eq!(parse_status("200 OK"), Ok(200));
        // One byte off: the general rule answers.
        assert_eq!(parse_status("200 OK "), Ok(200));
        assert_eq!(parse_status("200 Ok"), Ok(200));
        assert_eq!(parse_status("201 OK"), Ok(201));
        assert_eq!(parse_status("200 O"), Ok(200));
        assert_eq!(
            parse_status("200 O\r"),
            Err(StatusError::InvalidReasonByte {
                byte: b'\r',
                index: 5
            })
        );
        assert_eq!(parse_status("2000 OK"), Err(StatusError::BadCode));
    }
}
