//! Pure, IO-free parsing of an HTTP/1.x request head (request line + header section).
//!
//! [`parse_head`] is a single left-to-right pass over the buffer that validates every byte once, with a
//! word-at-a-time fast path for the long parts (target, field values). It returns byte offsets into the
//! buffer and never allocates, except for growing the caller's reusable header vector.
//!
//! It is deliberately stricter than eventlet (which inherits the lenient CPython `http.server` parser,
//! see the inventory §5.1 items 2-5 and 14) and stricter than `httparse` (which accepts bare LF line ends):
//! the rules follow RFC 9112 and the recommended decisions of `http_conformance.md` §5/§6. Every rejection
//! maps to the status the server must answer before closing the connection ([`HeadError::status`]).

use std::fmt;
use std::ops::Range;

/// Size limits applied while parsing a request head, plus the Host policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A request line of this many bytes or more (CRLF included) is rejected with 414, as eventlet's
    /// `url_length_limit` (`len(line) >= limit`). Default 8192.
    pub max_request_line: usize,
    /// A header line of this many bytes or more (CRLF included) is rejected with 431 (eventlet's
    /// `MAX_HEADER_LINE` comparison, but 431 instead of eventlet's `400 Header Line Too Long`). Default 8192.
    pub max_header_line: usize,
    /// More header lines than this is rejected with 431. Default 100 (eventlet/CPython `_MAXHEADERS`).
    pub max_headers: usize,
    /// A head longer than this (leading empty lines and the final CRLF CRLF included) is rejected with 431.
    /// Default 65536 (eventlet's `MAX_TOTAL_HEADER_SIZE`).
    pub max_head: usize,
    /// Reject an HTTP/1.1 request without a Host field (RFC 9112 §3.2 MUST). Default true; eventlet accepts
    /// Host-less requests, so this is the escape hatch for compatibility.
    pub require_host: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_line: 8192,
            max_header_line: 8192,
            max_headers: 100,
            max_head: 65536,
            require_host: true,
        }
    }
}

/// The protocol version of a request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Version {
    /// `HTTP/1.0`.
    Http10,
    /// `HTTP/1.1`, and `HTTP/1.2` to `HTTP/1.9`, which RFC 9110 §2.5 says to process as 1.1.
    Http11,
}

/// How the length of the request body is determined (RFC 9112 §6.3).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BodyFraming {
    /// Neither Content-Length nor Transfer-Encoding: no body.
    Empty,
    /// `Content-Length: n` (n may be 0).
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// Which of the four request-target forms of RFC 9112 §3.2 the target has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TargetForm {
    /// `/path?query`.
    Origin,
    /// `http://authority/path?query` (scheme `http` or `https`, any case).
    Absolute,
    /// `host:port`, only with CONNECT.
    Authority,
    /// `*`, only with OPTIONS.
    Asterisk,
}

/// A parsed request head. Every `Range` indexes the buffer given to [`parse_head`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// The method token (case-sensitive, any token).
    pub method: Range<usize>,
    /// The raw request target.
    pub target: Range<usize>,
    /// The form of the target.
    pub target_form: TargetForm,
    /// Path and query of the target: the whole target for origin-, asterisk- and authority-form; for
    /// absolute-form the part after the authority, which is empty for `http://host` (meaning `/`).
    pub path: Range<usize>,
    /// The authority of an absolute-form or authority-form target. RFC 9112 §3.2.2: when present it
    /// identifies the host and the Host field MUST be ignored.
    pub authority: Option<Range<usize>>,
    /// The protocol version.
    pub version: Version,
    /// The request line without its CRLF, for the access log.
    pub request_line: Range<usize>,
    /// `(name, value)` of every header line, in order, duplicates kept; values trimmed of SP/HTAB only.
    /// Recover the allocation for the next request with [`Head::into_headers`].
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    /// Bytes consumed: leading empty lines, request line, header lines and the final empty line.
    pub len: usize,
    /// How the body is delimited.
    pub framing: BodyFraming,
    /// Both Content-Length and Transfer-Encoding were present (only possible when `reject_bad_requests`
    /// is false): the body is chunked and the connection MUST be closed after the response (RFC 9112 §6.1).
    pub te_and_cl: bool,
    /// A `close` token appeared in a Connection field.
    pub conn_close: bool,
    /// A `keep-alive` token appeared in a Connection field.
    pub conn_keep_alive: bool,
    /// An `Expect: 100-continue` expectation was present (meaningful for HTTP/1.1 only: RFC 9110 §10.1.1
    /// says a 1.0 request's expectation MUST be ignored, which is the caller's decision).
    pub expect_continue: bool,
    /// The value of the (single) Host field, if any. May be empty, which RFC 9110 §7.2 allows.
    pub host: Option<Range<usize>>,
}

impl Head {
    /// Gives back the header vector (cleared) so that the next [`parse_head`] call reuses its allocation.
    pub fn into_headers(self) -> Vec<(Range<usize>, Range<usize>)> {
        let mut headers = self.headers;
        headers.clear();
        headers
    }

    /// Whether the connection may serve another request after this one (RFC 9112 §9.3): HTTP/1.1 unless
    /// `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`; never after a TE + CL request.
    pub fn keep_alive(&self) -> bool {
        if self.conn_close || self.te_and_cl {
            return false;
        }
        match self.version {
            Version::Http11 => true,
            Version::Http10 => self.conn_keep_alive,
        }
    }
}

/// Why a request head was rejected. The server answers [`HeadError::status`] and closes the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// 400: malformed syntax or framing; the text says which rule was broken.
    BadRequest(&'static str),
    /// 414: the request line reached `max_request_line`.
    UriTooLong,
    /// 431: a header line, the number of headers or the whole head is over its limit.
    FieldsTooLarge(&'static str),
    /// 501: a transfer coding other than `chunked`.
    NotImplemented(&'static str),
    /// 505: a major version other than 1.
    VersionNotSupported,
}

impl HeadError {
    /// The status code to answer with.
    pub fn status(&self) -> u16 {
        match self {
            HeadError::BadRequest(_) => 400,
            HeadError::UriTooLong => 414,
            HeadError::FieldsTooLarge(_) => 431,
            HeadError::NotImplemented(_) => 501,
            HeadError::VersionNotSupported => 505,
        }
    }

    /// The reason phrase that goes with [`HeadError::status`].
    pub fn reason(&self) -> &'static str {
        match self {
            HeadError::BadRequest(_) => "Bad Request",
            HeadError::UriTooLong => "URI Too Long",
            HeadError::FieldsTooLarge(_) => "Request Header Fields Too Large",
            HeadError::NotImplemented(_) => "Not Implemented",
            HeadError::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    fn detail(&self) -> &'static str {
        match self {
            HeadError::BadRequest(d)
            | HeadError::FieldsTooLarge(d)
            | HeadError::NotImplemented(d) => d,
            HeadError::UriTooLong => "request line too long",
            HeadError::VersionNotSupported => "major version is not 1",
        }
    }
}

impl fmt::Display for HeadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status(), self.reason(), self.detail())
    }
}

impl std::error::Error for HeadError {}

/// How many empty lines may precede the request line (RFC 9112 §2.2: SHOULD ignore at least one; a few
/// cover clients that add CRLF after a POST body). More is garbage, not a request.
const MAX_LEADING_EMPTY_LINES: usize = 4;

/// RFC 9110 `tchar`: the bytes of a token (method, field name, coding).
pub(crate) const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 §5.6.2 `tchar`, as a table for the hot loop.
pub(crate) static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_tchar(i as u8);
        i += 1;
    }
    t
};

/// Bytes allowed inside a field value: VCHAR, SP, HTAB and obs-text (RFC 9110 §5.5).
const fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// Bytes allowed in a request target: VCHAR and obs-text (raw UTF-8 is tolerated, as gunicorn/hyper do),
/// except `#`: no target form of RFC 9112 §3.2 has a fragment, and passing one on would put it in PATH_INFO.
const fn is_target_byte(b: u8) -> bool {
    b > 0x20 && b != 0x7f && b != b'#'
}

pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is below `n` (n <= 128): the classic "hasless" bit trick, exact as a yes/no test.
pub(crate) const fn has_less(w: u64, n: u8) -> bool {
    (w.wrapping_sub(LO * n as u64) & !w & HI) != 0
}

/// Whether some byte of `w` equals `b`.
pub(crate) const fn has_byte(w: u64, b: u8) -> bool {
    let x = w ^ (LO * b as u64);
    (x.wrapping_sub(LO) & !x & HI) != 0
}

/// Advances from `i` over bytes in class `ok`, eight at a time while no byte of the word can stop the
/// scan (`stop_word`), and returns the index of the first byte not in the class (or `buf.len()`).
#[inline]
fn scan(
    buf: &[u8],
    mut i: usize,
    stop_word: impl Fn(u64) -> bool,
    ok: impl Fn(u8) -> bool,
) -> usize {
    loop {
        while let Some(word) = buf.get(i..i + 8) {
            let w = u64::from_le_bytes([
                word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
            ]);
            if stop_word(w) {
                break;
            }
            i += 8;
        }
        // Slow path for at most one word: it holds the stop byte, or an allowed byte that the word test
        // cannot tell apart (HTAB in a value), after which the fast path resumes.
        let end = (i + 8).min(buf.len());
        while i < end {
            if !ok(buf[i]) {
                return i;
            }
            i += 1;
        }
        if i == buf.len() {
            return i;
        }
    }
}

fn scan_value(buf: &[u8], i: usize) -> usize {
    scan(
        buf,
        i,
        |w| has_less(w, 0x20) || has_byte(w, 0x7f),
        is_value_byte,
    )
}

fn scan_target(buf: &[u8], i: usize) -> usize {
    scan(
        buf,
        i,
        |w| has_less(w, 0x21) || has_byte(w, 0x7f) || has_byte(w, b'#'),
        is_target_byte,
    )
}

fn scan_token(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && TCHAR[buf[i] as usize] {
        i += 1;
    }
    i
}

fn bad(why: &'static str) -> HeadError {
    HeadError::BadRequest(why)
}

/// Parses the request head at the start of `buf`.
///
/// Returns `Ok(None)` when `buf` holds a valid but incomplete head: read more and call again with the
/// longer buffer. Each call re-parses from the start, linear in `buf.len()`; gate the calls with
/// [`HeadProgress`] so that a trickled head costs one parse per line instead of one per read. Limits are
/// enforced on incomplete buffers too, so a peer cannot make the caller buffer more than `max_head` bytes.
/// Errors are final: the bytes seen so far can never start a valid head, and a longer buffer gives an
/// error too. A head found in a prefix is the same head in any longer buffer.
///
/// `reject_bad_requests` is eventlet's `HttpProtocol.reject_bad_requests`: when false, a request with both
/// Transfer-Encoding and Content-Length is accepted as chunked with [`Head::te_and_cl`] set, instead of 400.
///
/// `headers` is the caller's reusable vector: it is cleared, filled, and on success moved into
/// [`Head::headers`]; get it back with [`Head::into_headers`] to reuse its allocation on a keep-alive
/// connection. On `Ok(None)` and errors it stays with the caller.
pub fn parse_head(
    buf: &[u8],
    limits: &Limits,
    reject_bad_requests: bool,
    headers: &mut Vec<(Range<usize>, Range<usize>)>,
) -> Result<Option<Head>, HeadError> {
    headers.clear();
    let Some(start) = skip_empty_lines(buf)? else {
        return Ok(None);
    };
    let Some(line) = parse_request_line(buf, start, limits)? else {
        return incomplete_head(buf, limits);
    };
    let mut fields = Fields::default();
    let mut pos = line.end;
    let end = loop {
        match parse_field_line(buf, pos, limits)? {
            FieldLine::Incomplete => return incomplete_head(buf, limits),
            FieldLine::End(end) => break end,
            FieldLine::Field { name, value, next } => {
                if headers.len() == limits.max_headers {
                    return Err(HeadError::FieldsTooLarge("too many headers"));
                }
                fields.observe(buf, name.clone(), value.clone())?;
                headers.push((name, value));
                pos = next;
            }
        }
    };
    if end > limits.max_head {
        return Err(HeadError::FieldsTooLarge("request head too large"));
    }
    let framing = fields.framing(line.version, reject_bad_requests)?;
    if fields.host.is_none() && line.version == Version::Http11 && limits.require_host {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    Ok(Some(Head {
        method: line.method,
        target: line.target,
        target_form: line.form,
        path: line.path,
        authority: line.authority,
        version: line.version,
        request_line: start..line.end - 2,
        headers: std::mem::take(headers),
        len: end,
        framing,
        te_and_cl: fields.te.seen && fields.content_length.is_some(),
        conn_close: fields.conn_close,
        conn_keep_alive: fields.conn_keep_alive,
        expect_continue: fields.expect_continue,
        host: fields.host,
    }))
}

/// Tells a connection when re-parsing its growing read buffer can give a new answer, so that a peer
/// trickling a head byte by byte cannot make [`parse_head`] (which re-parses from the start) quadratic.
///
/// A head can only become complete when a LF arrives, and a limit can only be crossed when the partial
/// line or the buffer grows past it; in between, `parse_head` would return `Ok(None)` again (or an error
/// it will still return later). With this gate a head costs at most one full parse per line.
#[derive(Clone, Debug, Default)]
pub struct HeadProgress {
    /// Buffer length at the previous call.
    seen: usize,
    /// Start of the line still being received.
    line_start: usize,
}

impl HeadProgress {
    /// A gate for an empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `parse_head(buf, limits, ..)` may answer differently than at the previous call. `buf` must
    /// extend the buffer of the previous call; call [`HeadProgress::reset`] when bytes are removed from
    /// its front (after a head is consumed).
    pub fn should_parse(&mut self, buf: &[u8], limits: &Limits) -> bool {
        let from = self.seen.min(buf.len());
        self.seen = buf.len();
        if let Some(lf) = buf[from..].iter().rposition(|&b| b == b'\n') {
            self.line_start = from + lf + 1;
            return true;
        }
        let partial = buf.len() - self.line_start.min(buf.len());
        partial >= limits.max_request_line.min(limits.max_header_line)
            || buf.len() > limits.max_head
    }

    /// Starts over for a buffer whose front was consumed.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// `buf` holds no complete head: that is only acceptable while it fits in `max_head`.
fn incomplete_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HeadError> {
    if buf.len() > limits.max_head {
        Err(HeadError::FieldsTooLarge("request head too large"))
    } else {
        Ok(None)
    }
}

/// The value of the first header named `name` (ASCII case-insensitive), if any.
pub fn header_value<'a>(buf: &'a [u8], head: &Head, name: &str) -> Option<&'a [u8]> {
    head.headers
        .iter()
        .find(|(n, _)| buf[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(|(_, v)| &buf[v.clone()])
}

/// The values of every header named `name` (ASCII case-insensitive), in order.
pub fn header_values<'a>(
    buf: &'a [u8],
    head: &'a Head,
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    head.headers
        .iter()
        .filter(move |(n, _)| buf[n.clone()].eq_ignore_ascii_case(name.as_bytes()))
        .map(move |(_, v)| &buf[v.clone()])
}

/// Skips up to [`MAX_LEADING_EMPTY_LINES`] CRLFs; `Ok(None)` if the buffer ends inside them.
fn skip_empty_lines(buf: &[u8]) -> Result<Option<usize>, HeadError> {
    let mut i = 0;
    for _ in 0..=MAX_LEADING_EMPTY_LINES {
        match buf.get(i..) {
            Some([]) | Some([b'\r']) => return Ok(None),
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\r', ..]) => return Err(bad("bare CR")),
            Some([b'\n', ..]) => return Err(bad("bare LF")),
            _ => return Ok(Some(i)),
        }
    }
    Err(bad("too many empty lines before the request line"))
}

struct RequestLine {
    method: Range<usize>,
    target: Range<usize>,
    form: TargetForm,
    path: Range<usize>,
    authority: Option<Range<usize>>,
    version: Version,
    /// Index just after the CRLF.
    end: usize,
}

/// `method SP request-target SP HTTP-version CRLF` with exactly one SP each (RFC 9112 §3).
fn parse_request_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
) -> Result<Option<RequestLine>, HeadError> {
    let incomplete = || {
        if buf.len() - start >= limits.max_request_line {
            Err(HeadError::UriTooLong)
        } else {
            Ok(None)
        }
    };
    let method_end = scan_token(buf, start);
    match buf.get(method_end) {
        None => return incomplete(),
        Some(b' ') if method_end > start => {}
        Some(_) => return Err(bad("invalid method")),
    }
    let target_start = method_end + 1;
    let target_end = scan_target(buf, target_start);
    match buf.get(target_end) {
        None => return incomplete(),
        Some(b' ') if target_end > target_start => {}
        Some(_) => return Err(bad("invalid request target")),
    }
    let version_start = target_end + 1;
    // The version is exactly 8 bytes: look no further than one byte past it for the line end.
    let window = &buf[version_start..buf.len().min(version_start + VERSION_LEN + 1)];
    let cr = match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(cr) => version_start + cr,
        None if window.len() > VERSION_LEN => return Err(bad("invalid HTTP version")),
        None => return incomplete(),
    };
    match (buf[cr], buf.get(cr + 1)) {
        (b'\n', _) => return Err(bad("bare LF")),
        (_, None) => return incomplete(),
        (_, Some(b'\n')) => {}
        (_, Some(_)) => return Err(bad("bare CR")),
    }
    let end = cr + 2;
    if end - start >= limits.max_request_line {
        return Err(HeadError::UriTooLong);
    }
    let version = parse_version(&buf[version_start..cr])?;
    let target = classify_target(&buf[start..method_end], &buf[target_start..target_end])?;
    let shift = |r: Range<usize>| r.start + target_start..r.end + target_start;
    Ok(Some(RequestLine {
        method: start..method_end,
        target: target_start..target_end,
        form: target.form,
        path: shift(target.path),
        authority: target.authority.map(shift),
        version,
        end,
    }))
}

/// The length of `HTTP/x.y`.
const VERSION_LEN: usize = 8;

/// `HTTP/` DIGIT `.` DIGIT, case-sensitive (RFC 9112 §2.3).
fn parse_version(v: &[u8]) -> Result<Version, HeadError> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                // RFC 9110 §2.5: a higher minor version is processed as the highest one we implement.
                (b'1', _) => Ok(Version::Http11),
                _ => Err(HeadError::VersionNotSupported),
            }
        }
        _ => Err(bad("invalid HTTP version")),
    }
}

/// The parts of a request target; ranges are relative to the target.
struct TargetParts {
    form: TargetForm,
    path: Range<usize>,
    authority: Option<Range<usize>>,
}

/// Checks the target's form against the method (RFC 9112 §3.2) and splits an absolute-form target.
fn classify_target(method: &[u8], target: &[u8]) -> Result<TargetParts, HeadError> {
    let whole = 0..target.len();
    let parts = |form, authority| {
        Ok(TargetParts {
            form,
            path: whole.clone(),
            authority,
        })
    };
    if method == b"CONNECT" {
        // RFC 9112 §3.2.3: authority-form = uri-host ":" port, and only CONNECT uses it.
        return if valid_authority(target, true) {
            parts(TargetForm::Authority, Some(whole.clone()))
        } else {
            Err(bad("CONNECT target must be host:port"))
        };
    }
    match target {
        [b'/', ..] => parts(TargetForm::Origin, None),
        b"*" if method == b"OPTIONS" => parts(TargetForm::Asterisk, None),
        b"*" => Err(bad("asterisk-form target is only allowed with OPTIONS")),
        _ => {
            let scheme_len = if starts_with_ignore_case(target, b"http://") {
                7
            } else if starts_with_ignore_case(target, b"https://") {
                8
            } else {
                return Err(bad("invalid request target form"));
            };
            let rest = &target[scheme_len..];
            let auth_len = rest
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            // RFC 9110 §4.2.1: an http(s) URI with an empty host MUST be rejected; userinfo (`@`) is not
            // a valid authority character here, so it is rejected too (RFC 9110 §4.2.4 SHOULD).
            if auth_len == 0 || !valid_authority(&rest[..auth_len], false) {
                return Err(bad("invalid authority in absolute-form target"));
            }
            let auth = scheme_len..scheme_len + auth_len;
            Ok(TargetParts {
                form: TargetForm::Absolute,
                path: auth.end..target.len(),
                authority: Some(auth),
            })
        }
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2): a reg-name, an IPv4 address (a reg-name syntactically) or a
/// bracketed IPv6 literal; the host must not be empty. With `require_port` the port must have digits.
fn valid_authority(a: &[u8], require_port: bool) -> bool {
    // Fast path, one pass: a plain reg-name (no `%`), then nothing or a port.
    let plain = a.iter().position(|&b| !REG_NAME[usize::from(b)]);
    match plain {
        None => return !a.is_empty() && !require_port,
        Some(i) if i > 0 && a[i] == b':' => {
            let port = &a[i + 1..];
            return port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty());
        }
        _ => {}
    }
    let (host_ok, rest) = if let Some(inner) = a.strip_prefix(b"[") {
        match inner.iter().position(|&b| b == b']') {
            Some(close) => (valid_ipv6_literal(&inner[..close]), &inner[close + 1..]),
            None => return false,
        }
    } else {
        let host_len = a.iter().position(|&b| b == b':').unwrap_or(a.len());
        (
            host_len > 0 && valid_reg_name(&a[..host_len]),
            &a[host_len..],
        )
    };
    let port_ok = match rest {
        [] => !require_port,
        [b':', port @ ..] => {
            port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty())
        }
        _ => false,
    };
    host_ok && port_ok
}

fn valid_ipv6_literal(s: &[u8]) -> bool {
    s.contains(&b':')
        && s.iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// The bytes a reg-name may hold as they are: unreserved and sub-delims (RFC 3986 §3.2.2).
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    t
};

/// unreserved / pct-encoded / sub-delims.
fn valid_reg_name(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if REG_NAME[usize::from(b)] {
            i += 1;
            continue;
        }
        if b != b'%'
            || !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return false;
        }
        i += 3;
    }
    true
}

enum FieldLine {
    Incomplete,
    /// The empty line ending the head; the index just after it.
    End(usize),
    Field {
        name: Range<usize>,
        value: Range<usize>,
        next: usize,
    },
}

/// One `field-name ":" OWS field-value OWS CRLF` line at `pos`, or the final CRLF (RFC 9112 §5).
fn parse_field_line(buf: &[u8], pos: usize, limits: &Limits) -> Result<FieldLine, HeadError> {
    let incomplete = || {
        if buf.len() - pos >= limits.max_header_line {
            Err(HeadError::FieldsTooLarge("header line too long"))
        } else {
            Ok(FieldLine::Incomplete)
        }
    };
    match buf.get(pos..) {
        Some([]) | Some([b'\r']) | None => return Ok(FieldLine::Incomplete),
        Some([b'\r', b'\n', ..]) => return Ok(FieldLine::End(pos + 2)),
        Some([b'\r', ..]) => return Err(bad("bare CR")),
        Some([b'\n', ..]) => return Err(bad("bare LF")),
        // After the request line this is whitespace before the first field (RFC 9112 §2.2), after a
        // field it is obs-fold (§5.2): both MUST be rejected or fixed up, and we reject.
        Some([b' ' | b'\t', ..]) => return Err(bad("obsolete line folding or leading whitespace")),
        Some(_) => {}
    }
    let name_end = scan_token(buf, pos);
    match buf.get(name_end) {
        None => return incomplete(),
        Some(b':') if name_end > pos => {}
        Some(b':') => return Err(bad("empty header name")),
        Some(b' ' | b'\t') => return Err(bad("whitespace before colon")),
        Some(_) => return Err(bad("invalid header name")),
    }
    let mut value_start = name_end + 1;
    while matches!(buf.get(value_start), Some(b' ' | b'\t')) {
        value_start += 1;
    }
    let stop = scan_value(buf, value_start);
    match buf.get(stop) {
        None => return incomplete(),
        Some(b'\r') => match buf.get(stop + 1) {
            None => return incomplete(),
            Some(b'\n') => {}
            Some(_) => return Err(bad("bare CR")),
        },
        Some(b'\n') => return Err(bad("bare LF")),
        Some(_) => return Err(bad("invalid byte in header value")),
    }
    let next = stop + 2;
    if next - pos >= limits.max_header_line {
        return Err(HeadError::FieldsTooLarge("header line too long"));
    }
    let mut value_end = stop;
    while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
        value_end -= 1;
    }
    Ok(FieldLine::Field {
        name: pos..name_end,
        value: value_start..value_end,
        next,
    })
}

/// What the framing and connection-management fields said so far.
#[derive(Default)]
struct Fields {
    content_length: Option<u64>,
    te: TransferCodings,
    host: Option<Range<usize>>,
    conn_close: bool,
    conn_keep_alive: bool,
    expect_continue: bool,
}

/// The Transfer-Encoding list, accumulated over every TE line.
#[derive(Default)]
struct TransferCodings {
    seen: bool,
    chunked: bool,
    last_is_chunked: bool,
    other: bool,
}

impl Fields {
    fn observe(
        &mut self,
        buf: &[u8],
        name: Range<usize>,
        value: Range<usize>,
    ) -> Result<(), HeadError> {
        let name = &buf[name];
        let v = &buf[value.clone()];
        match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => {
                if self.host.is_some() {
                    return Err(bad("more than one Host"));
                }
                // RFC 9110 §7.2: an empty Host is legal when the target has no authority.
                if !v.is_empty() && !valid_authority(v, false) {
                    return Err(bad("invalid Host"));
                }
                self.host = Some(value);
            }
            6 if name.eq_ignore_ascii_case(b"expect") => {
                for e in list_elements(v) {
                    self.expect_continue |= e.eq_ignore_ascii_case(b"100-continue");
                }
            }
            10 if name.eq_ignore_ascii_case(b"connection") => {
                for token in list_elements(v) {
                    self.conn_close |= token.eq_ignore_ascii_case(b"close");
                    self.conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                // Any repetition is rejected, identical or not: the simplest safe reading of RFC 9112 §6.3.
                if self.content_length.is_some() {
                    return Err(bad("duplicate Content-Length"));
                }
                self.content_length = Some(parse_content_length(v)?);
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => self.te.observe(v)?,
            _ => {}
        }
        Ok(())
    }

    /// RFC 9112 §6.1 and §6.3: the body length, from the fields of a complete head.
    fn framing(
        &self,
        version: Version,
        reject_bad_requests: bool,
    ) -> Result<BodyFraming, HeadError> {
        if !self.te.seen {
            return Ok(self
                .content_length
                .map_or(BodyFraming::Empty, BodyFraming::Length));
        }
        if version == Version::Http10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !self.te.last_is_chunked {
            return Err(bad("chunked is not the final transfer coding"));
        }
        if self.te.other {
            return Err(HeadError::NotImplemented("unsupported transfer coding"));
        }
        if self.content_length.is_some() && reject_bad_requests {
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        Ok(BodyFraming::Chunked)
    }
}

impl TransferCodings {
    fn observe(&mut self, value: &[u8]) -> Result<(), HeadError> {
        self.seen = true;
        for coding in list_elements(value) {
            let name_len = scan_token(coding, 0);
            if name_len == 0 {
                return Err(bad("invalid transfer coding"));
            }
            let params = trim_ows(&coding[name_len..]);
            if !(params.is_empty() || params[0] == b';') {
                return Err(bad("invalid transfer coding"));
            }
            if coding[..name_len].eq_ignore_ascii_case(b"chunked") {
                if !params.is_empty() {
                    return Err(bad("parameters on chunked"));
                }
                if self.chunked {
                    return Err(bad("chunked applied twice"));
                }
                self.chunked = true;
                self.last_is_chunked = true;
            } else {
                // An unsupported coding: its parameters are never interpreted, so they are not validated.
                self.other = true;
                self.last_is_chunked = false;
            }
        }
        Ok(())
    }
}

/// The non-empty elements of a comma-separated list, trimmed of OWS (RFC 9110 §5.6.1: empty elements are
/// allowed and ignored).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Content-Length = 1*DIGIT`. Not `str::parse`, which accepts a sign.
fn parse_content_length(v: &[u8]) -> Result<u64, HeadError> {
    if v.is_empty() {
        return Err(bad("empty Content-Length"));
    }
    v.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(bad("invalid Content-Length"));
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(bad("Content-Length overflows"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(input: &[u8], limits: &Limits, reject: bool) -> Result<Option<Head>, HeadError> {
        parse_head(input, limits, reject, &mut Vec::new())
    }

    fn parse(input: &[u8]) -> Result<Option<Head>, HeadError> {
        parse_with(input, &Limits::default(), true)
    }

    fn complete(input: &[u8]) -> Head {
        match parse(input) {
            Ok(Some(head)) => head,
            other => panic!(
                "{:?} should parse, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    fn status(input: &[u8]) -> u16 {
        match parse(input) {
            Err(e) => e.status(),
            other => panic!(
                "{:?} should be rejected, got {other:?}",
                String::from_utf8_lossy(input)
            ),
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        Parsed,
        Incomplete,
        Status(u16),
    }
    use Want::*;

    fn outcome(input: &[u8]) -> Want {
        match parse(input) {
            Ok(Some(head)) => {
                assert_eq!(head.len, input.len(), "table inputs are exactly one head");
                Parsed
            }
            Ok(None) => Incomplete,
            Err(e) => Status(e.status()),
        }
    }

    /// Sources: conformance §1 (gunicorn invalid categories), §3, §5 table (httparse vs us), RFC 9112.
    #[rustfmt::skip]
    const TABLE: &[(&str, &[u8], Want)] = &[
        ("minimal 1.1", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        ("1.0 needs no Host", b"GET / HTTP/1.0\r\n\r\n", Parsed),
        ("empty buffer", b"", Incomplete),
        ("partial method", b"GE", Incomplete),
        ("partial version", b"GET / HTTP/1.", Incomplete),
        ("CR of request line", b"GET / HTTP/1.1\r", Incomplete),
        ("no final empty line", b"GET / HTTP/1.1\r\nHost: a\r\n", Incomplete),
        ("final CR only", b"GET / HTTP/1.1\r\nHost: a\r\n\r", Incomplete),
        ("partial header name", b"GET / HTTP/1.1\r\nHo", Incomplete),
        ("partial header value", b"GET / HTTP/1.1\r\nHost: ab", Incomplete),
        ("one leading CRLF", b"\r\nGET / HTTP/1.0\r\n\r\n", Parsed),
        ("four leading CRLFs", b"\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", Parsed),
        ("five leading CRLFs", b"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.0\r\n\r\n", Status(400)),
        ("leading bare LF", b"\nGET / HTTP/1.0\r\n\r\n", Status(400)),
        ("leading bare CR", b"\rGET / HTTP/1.0\r\n\r\n", Status(400)),
        // request line shape (gunicorn 002, 003, 016; llhttp)
        ("missing target", b"GET HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("HTTP/0.9", b"GET /\r\n\r\n", Status(400)),
        ("two spaces after method", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("two spaces before version", b"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("tab separator", b"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("space after version", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Status(400)),
        ("space in target", b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("leading space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("bare LF ends request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", Status(400)),
        ("bare CR in request line", b"GET / HTTP/1.1\rHost: a\r\n\r\n", Status(400)),
        ("NUL in target", b"GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("DEL in target", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("raw UTF-8 in target tolerated", "GET /caf\u{e9} HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), Parsed),
        ("quote and braces in target", b"GET /\"{x}\" HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        ("fragment in target", b"GET /x#frag HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("fragment in absolute-form", b"GET http://a/x#f HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("double slash kept", b"GET ///keeping_slashes HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        // method token (gunicorn 003b, nonascii, prefix_01/02/05)
        ("method with colon", b"bla:rgh / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("non-ASCII method", "GET\u{df} / HTTP/1.1\r\nHost: a\r\n\r\n".as_bytes(), Status(400)),
        ("NUL in method", b"GET\0 / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("method ends in colon", b"GET: / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("dash method is a token", b"-BLARGH / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        ("lowercase method is a token", b"get! / HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        // version (gunicorn 004, 018, prefix_06, version_01/02)
        ("HTTP/1.2 is 1.1", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Parsed),
        ("HTTP/1.9 is 1.1", b"GET / HTTP/1.9\r\nHost: a\r\n\r\n", Parsed),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Status(505)),
        ("HTTP/3.0", b"GET / HTTP/3.0\r\nHost: a\r\n\r\n", Status(505)),
        ("HTTP/0.9 version", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", Status(505)),
        ("h2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", Status(505)),
        ("HTTP/1", b"GET / HTTP/1\r\nHost: a\r\n\r\n", Status(400)),
        ("HTTP/1.1.1", b"GET / HTTP/1.1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("lowercase http", b"GET / http/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("HTTP/11", b"GET / HTTP/11\r\nHost: a\r\n\r\n", Status(400)),
        ("HTTP/111", b"GET / HTTP/111\r\nHost: a\r\n\r\n", Status(400)),
        ("HTTP/0.99", b"GET / HTTP/0.99\r\nHost: a\r\n\r\n", Status(400)),
        ("FTP/1.1", b"GET / FTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("long version rejected early", b"GET / HTTP/1111111111", Status(400)),
        // target forms (gunicorn rfc9112_target_*)
        ("absolute-form", b"GET http://a.example/x?y HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
        ("absolute-form uppercase https", b"GET HTTPS://a.example HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
        ("absolute-form IPv6", b"GET http://[::1]:8080/x HTTP/1.1\r\nHost: b\r\n\r\n", Parsed),
        ("absolute-form userinfo", b"GET http://u:p@a/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("absolute-form empty host", b"GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("absolute-form bad scheme", b"GET s://]ufd/: HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("absolute-form ftp", b"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("relative target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("OPTIONS *", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Parsed),
        ("GET *", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("CONNECT authority", b"CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n", Parsed),
        ("CONNECT without port", b"CONNECT a.example HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        ("authority-form without CONNECT", b"GET a.example:80 HTTP/1.1\r\nHost: a\r\n\r\n", Status(400)),
        // line ends and whitespace (CVE-2019-16785, gunicorn invalid_field_value_01, obs_fold_01)
        ("bare LF after header", b"GET / HTTP/1.1\r\nHost: a\nX: 1\r\n\r\n", Status(400)),
        ("bare LF final line", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Status(400)),
        ("all bare LF", b"GET / HTTP/1.1\nHost: a\n\n", Status(400)),
        ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Status(400)),
        ("CR CR LF", b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\r\n\r\n", Status(400)),
        ("bare CR final line", b"GET / HTTP/1.1\r\nHost: a\r\n\rX", Status(400)),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Status(400)),
        ("obs-fold with tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", Status(400)),
        ("whitespace before first field", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Status(400)),
        // field names (gunicorn 005, 020, nonascii_03/04; eventlet pitfall 5)
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Status(400)),
        ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", Status(400)),
        ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", Status(400)),
        ("space in name", b"GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n", Status(400)),
        ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", Status(400)),
        ("NUL in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\0: 1\r\n\r\n", Status(400)),
        ("non-ASCII name", "GET / HTTP/1.1\r\nHost: a\r\nX\u{e9}: 1\r\n\r\n".as_bytes(), Status(400)),
        ("CTL before name", b"GET / HTTP/1.1\r\nHost: a\r\n\x01X: 1\r\n\r\n", Status(400)),
        ("NEL in name", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length\x85: 1\r\n\r\n", Status(400)),
        ("special tchars in name", b"GET / HTTP/1.1\r\nHost: a\r\nX.Custom|Pipe~!#: 1\r\n\r\n", Parsed),
        // field values (rfc9110_field_value_ctl_*, waitress CVE-2019-16789)
        ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7fb\r\n\r\n", Status(400)),
        ("BEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x07b\r\n\r\n", Status(400)),
        ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Status(400)),
        ("VT before value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x0bchunked\r\n\r\n", Status(400)),
        ("obs-text in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x80\xa0\xff\r\n\r\n", Parsed),
        ("HTAB inside value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\tb\r\n\r\n", Parsed),
        ("empty value", b"GET / HTTP/1.1\r\nHost: a\r\nX:\r\n\r\n", Parsed),
        // Content-Length (gunicorn 014, 015, 021-024, prefix_03/04, cl_list_form_01)
        ("CL -1", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", Status(400)),
        ("CL word", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: bla-bla-bla\r\n\r\n", Status(400)),
        ("CL -0", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -0\r\n\r\n", Status(400)),
        ("CL underscore", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0_1\r\n\r\n", Status(400)),
        ("CL plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", Status(400)),
        ("CL inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0 1\r\n\r\n", Status(400)),
        ("CL hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n", Status(400)),
        ("CL empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n", Status(400)),
        ("CL list", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Status(400)),
        ("CL differing lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 2\r\n\r\n", Status(400)),
        ("CL identical lines", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\ncontent-length: 5\r\n\r\n", Status(400)),
        ("CL overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Status(400)),
        ("CL u64::MAX", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", Parsed),
        // Transfer-Encoding (gunicorn chunked_02-08, CVE-2024-1135, CVE-2024-6827, CVE-2019-16786)
        ("TE chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Parsed),
        ("TE mixed case", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ChUnKeD\r\n\r\n", Parsed),
        ("TE leading empty element", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", Parsed),
        ("TE trailing empty element", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked , \r\n\r\n", Parsed),
        ("TE gzip, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Status(501)),
        ("TE identity, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked\r\n\r\n", Status(501)),
        ("TE gzip then chunked lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Status(501)),
        ("TE chunked, gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Status(400)),
        ("TE chunked then gzip lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", Status(400)),
        ("TE chunked then identity lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", Status(400)),
        ("TE gzip only", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Status(400)),
        ("TE chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Status(400)),
        ("TE chunked twice over lines", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
        ("TE identity chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity, chunked, identity, chunked\r\n\r\n", Status(400)),
        ("TE chunked, cow", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, cow\r\n\r\n", Status(400)),
        ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Status(400)),
        ("TE quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Status(400)),
        ("TE chunked with parameter", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Status(400)),
        ("TE two words", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n", Status(400)),
        ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
        ("TE and CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", Status(400)),
        ("tab-padded TE and CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \tchunked\r\nContent-Length: 3\r\n\r\n", Status(400)),
        // Host (RFC 9112 §3.2, gunicorn 042)
        ("1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", Status(400)),
        ("two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Status(400)),
        ("Host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Status(400)),
        ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Status(400)),
        ("Host with bad port", b"GET / HTTP/1.1\r\nHost: a:b\r\n\r\n", Status(400)),
        ("Host without host", b"GET / HTTP/1.1\r\nHost: :80\r\n\r\n", Status(400)),
        ("Host with unclosed bracket", b"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", Status(400)),
        ("Host empty", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Parsed),
        ("Host with port", b"GET / HTTP/1.1\r\nHost: a.example:8080\r\n\r\n", Parsed),
        ("Host IPv6", b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n", Parsed),
        ("Host pct-encoded", b"GET / HTTP/1.1\r\nHost: a%2Db\r\n\r\n", Parsed),
        ("Host bad pct", b"GET / HTTP/1.1\r\nHost: a%2\r\n\r\n", Status(400)),
        ("invalid Host on 1.0", b"GET / HTTP/1.0\r\nHost: a/b\r\n\r\n", Status(400)),
        // Smuggling one-liners (conformance §3 "observed in eventlet")
        (
            "bad header then CL",
            b"POST / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\nContent-Length: 34\r\n\r\n",
            Status(400),
        ),
        ("NEL-prefixed TE", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \x85chunked\r\n\r\n", Status(400)),
    ];

    #[test]
    fn table_of_valid_invalid_and_incomplete_heads() {
        let mut failures = Vec::new();
        for (name, input, want) in TABLE {
            let got = outcome(input);
            if got != *want {
                failures.push(format!("{name}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn ranges_of_a_simple_head_point_at_its_parts() {
        let buf = b"\r\nPOST /a?b=1 HTTP/1.1\r\nHost: ex.com\r\nX-Pad: \t v a l \t\r\nContent-Length: 5\r\n\r\nhello";
        let head = complete(buf);
        assert_eq!(&buf[head.method.clone()], b"POST");
        assert_eq!(&buf[head.target.clone()], b"/a?b=1");
        assert_eq!(&buf[head.path.clone()], b"/a?b=1");
        assert_eq!(&buf[head.request_line.clone()], b"POST /a?b=1 HTTP/1.1");
        assert_eq!(head.version, Version::Http11);
        assert_eq!(head.target_form, TargetForm::Origin);
        assert_eq!(head.authority, None);
        assert_eq!(head.len, buf.len() - 5, "the body is not part of the head");
        assert_eq!(head.framing, BodyFraming::Length(5));
        assert_eq!(&buf[head.host.clone().unwrap()], b"ex.com");
        let fields: Vec<(&[u8], &[u8])> = head
            .headers
            .iter()
            .map(|(n, v)| (&buf[n.clone()], &buf[v.clone()]))
            .collect();
        let want: Vec<(&[u8], &[u8])> = vec![
            (b"Host", b"ex.com"),
            (b"X-Pad", b"v a l"),
            (b"Content-Length", b"5"),
        ];
        assert_eq!(fields, want);
    }

    #[test]
    fn higher_minor_versions_are_processed_as_1_1() {
        for minor in b'2'..=b'9' {
            let buf = [b"GET / HTTP/1.", &[minor][..], b"\r\nHost: a\r\n\r\n"].concat();
            assert_eq!(complete(&buf).version, Version::Http11);
        }
        assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").version, Version::Http10);
    }

    #[test]
    fn absolute_form_yields_authority_and_path() {
        let buf = b"GET http://a.example:81/p?q HTTP/1.1\r\nHost: other\r\n\r\n";
        let head = complete(buf);
        assert_eq!(head.target_form, TargetForm::Absolute);
        assert_eq!(&buf[head.authority.clone().unwrap()], b"a.example:81");
        assert_eq!(&buf[head.path.clone()], b"/p?q");
        assert_eq!(
            &buf[head.host.clone().unwrap()],
            b"other",
            "Host is still reported"
        );

        let buf = b"GET http://a.example?q HTTP/1.1\r\nHost: a\r\n\r\n";
        let head = complete(buf);
        assert_eq!(&buf[head.authority.clone().unwrap()], b"a.example");
        assert_eq!(&buf[head.path.clone()], b"?q");
    }

    #[test]
    fn authority_and_asterisk_forms_are_tagged() {
        let buf = b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n";
        let head = complete(buf);
        assert_eq!(head.target_form, TargetForm::Authority);
        assert_eq!(&buf[head.authority.clone().unwrap()], b"[::1]:443");
        assert_eq!(
            complete(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").target_form,
            TargetForm::Asterisk
        );
    }

    #[test]
    fn framing_is_empty_without_cl_or_te() {
        let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Empty);
        assert!(!head.te_and_cl);
    }

    #[test]
    fn content_length_keeps_leading_zeros_value() {
        let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Length(7));
        let head = complete(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Length(0));
    }

    #[test]
    fn chunked_transfer_encoding_wins_framing() {
        let head =
            complete(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,, chunked ,\r\n\r\n");
        assert_eq!(head.framing, BodyFraming::Chunked);
    }

    // Ports eventlet's test_rfc9112_reject_bad_request_escape_hatch: with reject_bad_requests = False the
    // TE + CL request is served (chunked) but the connection must not be kept.
    #[test]
    fn te_and_cl_is_chunked_and_flagged_without_reject_bad_requests() {
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        let head = parse_with(buf, &Limits::default(), false).unwrap().unwrap();
        assert_eq!(head.framing, BodyFraming::Chunked);
        assert!(head.te_and_cl);
        assert!(!head.keep_alive());
        // The escape hatch does not relax the other TE rules.
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: gzip, chunked\r\n\r\n";
        assert_eq!(
            parse_with(buf, &Limits::default(), false)
                .unwrap_err()
                .status(),
            501
        );
        let buf = b"POST / HTTP/1.0\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_with(buf, &Limits::default(), false)
                .unwrap_err()
                .status(),
            400
        );
    }

    // Ports eventlet's test_rfc9112_reject_bad_request (CL + TE → 400).
    #[test]
    fn te_and_cl_is_rejected_with_reject_bad_requests() {
        let buf = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(
            parse(buf).unwrap_err(),
            HeadError::BadRequest("both Transfer-Encoding and Content-Length")
        );
    }

    #[test]
    fn connection_tokens_are_case_insensitive_lists_over_several_lines() {
        let h = complete(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n");
        assert!(h.conn_close && !h.conn_keep_alive && !h.keep_alive());
        let h = complete(b"GET / HTTP/1.0\r\nConnection: foo\r\nconnection: ,Keep-Alive\r\n\r\n");
        assert!(!h.conn_close && h.conn_keep_alive && h.keep_alive());
        let h = complete(b"GET / HTTP/1.0\r\nConnection: closed, keep-alives\r\n\r\n");
        assert!(!h.conn_close && !h.conn_keep_alive && !h.keep_alive());
        let h = complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(h.keep_alive(), "1.1 is persistent by default");
        let h = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!h.keep_alive(), "1.0 is not persistent by default");
    }

    #[test]
    fn expect_100_continue_is_recognised_case_insensitively() {
        assert!(
            complete(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n\r\n").expect_continue
        );
        assert!(!complete(b"PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n").expect_continue);
        assert!(!complete(b"PUT / HTTP/1.1\r\nHost: a\r\n\r\n").expect_continue);
    }

    #[test]
    fn host_is_optional_when_not_required() {
        let limits = Limits {
            require_host: false,
            ..Limits::default()
        };
        let head = parse_with(b"GET / HTTP/1.1\r\n\r\n", &limits, true)
            .unwrap()
            .unwrap();
        assert_eq!(head.host, None);
        // Two Host lines stay an error.
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
        assert_eq!(parse_with(buf, &limits, true).unwrap_err().status(), 400);
    }

    #[test]
    fn empty_host_value_is_an_empty_range() {
        let head = complete(b"GET / HTTP/1.1\r\nHost:  \r\n\r\n");
        let host = head.host.unwrap();
        assert!(host.is_empty());
    }

    #[test]
    fn header_value_lookup_is_case_insensitive_and_keeps_duplicates() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: \"x\"\r\nif-match: \"y\"\r\n\r\n";
        let head = complete(buf);
        assert_eq!(header_value(buf, &head, "IF-MATCH"), Some(&b"\"x\""[..]));
        let all: Vec<&[u8]> = header_values(buf, &head, "if-match").collect();
        assert_eq!(all, vec![&b"\"x\""[..], &b"\"y\""[..]]);
        assert_eq!(header_value(buf, &head, "missing"), None);
    }

    #[test]
    fn into_headers_returns_the_allocation_for_reuse() {
        let mut spare = Vec::with_capacity(32);
        let ptr = spare.as_ptr();
        let head = parse_head(
            b"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n\r\n",
            &Limits::default(),
            true,
            &mut spare,
        )
        .unwrap()
        .unwrap();
        assert_eq!(head.headers.len(), 2);
        assert_eq!(
            head.headers.as_ptr(),
            ptr,
            "the caller's vector was moved into the head"
        );
        let spare = head.into_headers();
        assert!(spare.is_empty());
        assert_eq!(spare.as_ptr(), ptr);
        assert!(spare.capacity() >= 32);
    }

    #[test]
    fn request_line_at_the_limit_is_414_and_just_below_is_accepted() {
        let limits = Limits::default();
        // "GET " + target + " HTTP/1.1\r\n" = 4 + t + 11 bytes.
        let line = |total: usize| {
            let target = format!("/{}", "a".repeat(total - 16));
            format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n")
        };
        let ok = line(limits.max_request_line - 1);
        assert!(parse(ok.as_bytes()).unwrap().is_some());
        let too_long = line(limits.max_request_line);
        assert_eq!(
            parse(too_long.as_bytes()).unwrap_err(),
            HeadError::UriTooLong
        );
    }

    #[test]
    fn incomplete_request_line_over_the_limit_is_414() {
        let buf = format!("GET /{}", "a".repeat(8192));
        assert_eq!(parse(buf.as_bytes()).unwrap_err(), HeadError::UriTooLong);
        let buf = format!("GET /{}", "a".repeat(8000));
        assert_eq!(parse(buf.as_bytes()).unwrap(), None);
    }

    #[test]
    fn header_line_at_the_limit_is_431_and_just_below_is_accepted() {
        // "X: " + value + "\r\n" = 5 + v bytes.
        let head = |line_len: usize| {
            format!(
                "GET / HTTP/1.1\r\nHost: a\r\nX: {}\r\n\r\n",
                "v".repeat(line_len - 5)
            )
        };
        assert!(parse(head(8191).as_bytes()).unwrap().is_some());
        assert_eq!(parse(head(8192).as_bytes()).unwrap_err().status(), 431);
        let partial = format!("GET / HTTP/1.1\r\nHost: a\r\nX: {}", "v".repeat(8200));
        assert_eq!(parse(partial.as_bytes()).unwrap_err().status(), 431);
    }

    // Ports the intent of eventlet's test_030/031 (long header lines, large headers) with 431 instead of
    // eventlet's "400 Header Line Too Long" / "400 Headers Too Large" (conformance §6).
    #[test]
    fn header_count_and_head_size_limits_are_431() {
        let with_headers = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("X-{i}: v\r\n"));
            }
            s + "\r\n"
        };
        // Host is one of the 100: X-0 plays its part syntactically, so turn Host off.
        let limits = Limits {
            require_host: false,
            ..Limits::default()
        };
        assert!(parse_with(with_headers(100).as_bytes(), &limits, true)
            .unwrap()
            .is_some());
        assert_eq!(
            parse_with(with_headers(101).as_bytes(), &limits, true).unwrap_err(),
            HeadError::FieldsTooLarge("too many headers")
        );

        let mut big = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        while big.len() <= 65536 {
            big.push_str(&format!("X: {}\r\n", "v".repeat(1000)));
        }
        big.push_str("\r\n");
        let limits = Limits {
            max_headers: 1000,
            ..Limits::default()
        };
        assert_eq!(
            parse_with(big.as_bytes(), &limits, true)
                .unwrap_err()
                .status(),
            431
        );
        // Without its end, the same bytes are rejected as soon as they pass max_head.
        assert_eq!(
            parse_with(&big.as_bytes()[..big.len() - 2], &limits, true)
                .unwrap_err()
                .status(),
            431
        );
    }

    #[test]
    fn leading_empty_lines_count_in_len_and_are_outside_the_request_line() {
        let buf = b"\r\n\r\nGET / HTTP/1.0\r\n\r\n";
        let head = complete(buf);
        assert_eq!(head.len, buf.len());
        assert_eq!(head.request_line, 4..18);
        assert_eq!(parse(b"\r\n\r\n").unwrap(), None);
        assert_eq!(parse(b"\r\n\r").unwrap(), None);
    }

    #[test]
    fn errors_are_reported_before_the_head_is_complete() {
        // A bad method, a duplicate Content-Length or a bare LF can never become valid: no need to wait.
        assert_eq!(status(b"G@T / HTTP/1.1\r\n"), 400);
        assert_eq!(
            status(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n"),
            400
        );
        assert_eq!(status(b"GET / HTTP/1.1\r\nHost: a\n"), 400);
        assert_eq!(status(b"GET / HTTP/2.0\r\n"), 505);
    }

    #[test]
    fn status_and_reason_phrases() {
        let cases = [
            (HeadError::BadRequest("x"), 400, "Bad Request"),
            (HeadError::UriTooLong, 414, "URI Too Long"),
            (
                HeadError::FieldsTooLarge("x"),
                431,
                "Request Header Fields Too Large",
            ),
            (HeadError::NotImplemented("x"), 501, "Not Implemented"),
            (
                HeadError::VersionNotSupported,
                505,
                "HTTP Version Not Supported",
            ),
        ];
        for (e, code, reason) in cases {
            assert_eq!((e.status(), e.reason()), (code, reason));
        }
        assert_eq!(
            HeadError::BadRequest("bare LF").to_string(),
            "400 Bad Request: bare LF"
        );
    }

    #[test]
    fn word_scanner_stops_at_the_first_forbidden_byte_anywhere_in_a_word() {
        // Exercise every position of the 8-byte fast path, with HTAB (allowed, slow path) around it.
        for len in 0..40 {
            for bad_at in 0..len {
                for bad in [0u8, b'\n', b'\r', 0x1f, 0x7f] {
                    let mut v = vec![b'a'; len];
                    v[bad_at] = bad;
                    assert_eq!(scan_value(&v, 0), bad_at);
                    assert_eq!(scan_target(&v, 0), bad_at);
                }
                let mut v = vec![b'\t'; len];
                v[bad_at] = b'x';
                assert_eq!(scan_value(&v, 0), len, "HTAB and x are value bytes");
                let want = usize::from(bad_at == 0);
                assert_eq!(scan_target(&v, 0), want, "HTAB is not a target byte");
            }
            let v: Vec<u8> = (0..len).map(|i| 0x80 + i as u8).collect();
            assert_eq!(scan_value(&v, 0), len, "obs-text passes");
            assert_eq!(scan_target(&v, 0), len);
            let v = vec![b' '; len];
            assert_eq!(scan_value(&v, 0), len);
            assert_eq!(scan_target(&v, 0), 0);
        }
    }

    #[test]
    fn head_progress_parses_once_per_line_of_a_trickled_head() {
        let buf = b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: abcdefghijklmnopqrstuvwxyz\r\n\r\n";
        let limits = Limits::default();
        let mut gate = HeadProgress::new();
        let mut parses = 0;
        for end in 1..=buf.len() {
            if gate.should_parse(&buf[..end], &limits) {
                parses += 1;
                let got = parse(&buf[..end]).unwrap();
                assert_eq!(got.is_some(), end == buf.len());
            }
        }
        assert_eq!(parses, 4, "one parse per LF");
    }

    #[test]
    fn head_progress_still_reports_an_overlong_line_without_lf() {
        let limits = Limits::default();
        let buf = format!("GET /{}", "a".repeat(9000));
        let mut gate = HeadProgress::new();
        let first = (1..=buf.len()).find(|&end| gate.should_parse(&buf.as_bytes()[..end], &limits));
        assert_eq!(first, Some(limits.max_request_line));
        assert_eq!(
            parse(&buf.as_bytes()[..limits.max_request_line]).unwrap_err(),
            HeadError::UriTooLong
        );

        let buf = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000));
        let mut gate = HeadProgress::new();
        let parsed: Vec<usize> = (1..=buf.len())
            .filter(|&end| gate.should_parse(&buf.as_bytes()[..end], &limits))
            .take(2)
            .collect();
        assert_eq!(parsed, vec![16, 16 + limits.max_header_line]);
        assert_eq!(
            parse(&buf.as_bytes()[..parsed[1]]).unwrap_err().status(),
            431
        );
    }

    #[test]
    fn head_progress_reset_starts_over() {
        let limits = Limits::default();
        let mut gate = HeadProgress::new();
        assert!(gate.should_parse(b"GET / HTTP/1.0\r\n\r\n", &limits));
        assert!(!gate.should_parse(b"GET / HTTP/1.0\r\n\r\nPO", &limits));
        gate.reset();
        assert!(!gate.should_parse(b"PO", &limits));
        assert!(gate.should_parse(b"POST / HTTP/1.0\r\n", &limits));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Small by default so `cargo test` stays fast; `PROPTEST_CASES` overrides it.
        fn config(default_cases: u32) -> ProptestConfig {
            let mut config = ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            };
            if std::env::var_os("PROPTEST_CASES").is_none() {
                config.cases = default_cases;
            }
            config
        }

        /// A valid head, built piece by piece so that the expected [`Head`] is known exactly.
        #[derive(Clone, Debug)]
        struct Model {
            bytes: Vec<u8>,
            head: Head,
        }

        fn token(max: usize) -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(
                proptest::sample::select(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()),
                1..max,
            )
        }

        fn special(name: &[u8]) -> bool {
            [
                &b"host"[..],
                b"content-length",
                b"transfer-encoding",
                b"connection",
                b"expect",
            ]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s))
        }

        fn value_byte() -> impl Strategy<Value = u8> {
            prop_oneof![8 => 0x21u8..=0x7e, 1 => Just(b' '), 1 => Just(b'\t'), 1 => 0x80u8..=0xff]
        }

        fn ows() -> impl Strategy<Value = Vec<u8>> {
            proptest::collection::vec(proptest::sample::select(vec![b' ', b'\t']), 0..3)
        }

        /// Leading OWS, value, trailing OWS.
        type PaddedValue = (Vec<u8>, Vec<u8>, Vec<u8>);

        /// A value that starts and ends with a visible byte, with OWS padding to be trimmed.
        fn padded_value() -> impl Strategy<Value = PaddedValue> {
            let core = proptest::collection::vec(value_byte(), 0..40).prop_map(|mut v| {
                while let Some(b' ' | b'\t') = v.first() {
                    v.remove(0);
                }
                while let Some(b' ' | b'\t') = v.last() {
                    v.pop();
                }
                v
            });
            (ows(), core, ows())
        }

        fn method() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::sample::select(vec![&b"GET"[..], b"POST", b"PUT", b"DELETE", b"-BLARGH"])
                    .prop_map(|m| m.to_vec()),
                // Lowercase tokens can never be CONNECT or OPTIONS.
                proptest::collection::vec(
                    proptest::sample::select(b"abcxyz!#$%&'*+-.^_`|~09".to_vec()),
                    1..10
                ),
            ]
        }

        fn target() -> impl Strategy<Value = Vec<u8>> {
            let vchar_but_hash = (0x21u8..=0x7e).prop_map(|b| if b == b'#' { b'/' } else { b });
            proptest::collection::vec(prop_oneof![9 => vchar_but_hash, 1 => 0x80u8..=0xff], 0..60)
                .prop_map(|rest| [&b"/"[..], &rest].concat())
        }

        #[derive(Clone, Debug)]
        enum Framing {
            None,
            Length(u64),
            Chunked,
        }

        prop_compose! {
            fn model()(
                empties in 0..=MAX_LEADING_EMPTY_LINES,
                method in method(),
                target in target(),
                minor in 0u8..=9,
                host in proptest::option::of("[a-z0-9.-]{1,20}(:[0-9]{1,5})?"),
                fields in proptest::collection::vec((token(20), padded_value()), 0..12),
                framing in prop_oneof![Just(Framing::None), any::<u64>().prop_map(Framing::Length), Just(Framing::Chunked)],
                connection in proptest::option::of(proptest::sample::select(vec!["close", "Keep-Alive", "Upgrade, keep-alive", "te"])),
                expect in any::<bool>(),
                insert_at in any::<proptest::sample::Index>(),
            ) -> Model {
                let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
                // 1.1 needs a Host; 1.0 must not use TE.
                let host = match (version, host) {
                    (Version::Http11, None) => Some("h".to_string()),
                    (_, h) => h,
                };
                let framing = match (version, framing) {
                    (Version::Http10, Framing::Chunked) => Framing::None,
                    (_, f) => f,
                };
                let mut fields: Vec<(Vec<u8>, PaddedValue)> =
                    fields.into_iter().filter(|(n, _)| !special(n)).collect();
                let mut extra = Vec::new();
                if let Some(h) = &host {
                    extra.push((b"Host".to_vec(), h.as_bytes().to_vec()));
                }
                match framing {
                    Framing::None => {}
                    Framing::Length(n) => extra.push((b"content-length".to_vec(), n.to_string().into_bytes())),
                    Framing::Chunked => extra.push((b"Transfer-Encoding".to_vec(), b"chunked".to_vec())),
                }
                if let Some(c) = connection {
                    extra.push((b"Connection".to_vec(), c.as_bytes().to_vec()));
                }
                if expect {
                    extra.push((b"Expect".to_vec(), b"100-continue".to_vec()));
                }
                // Put the special fields at one random place among the others.
                let at = insert_at.index(fields.len() + 1);
                for (i, (n, v)) in extra.into_iter().enumerate() {
                    fields.insert(at + i, (n, (b" ".to_vec(), v, Vec::new())));
                }

                let mut bytes = b"\r\n".repeat(empties);
                let start = bytes.len();
                bytes.extend_from_slice(&method);
                let method_r = start..bytes.len();
                bytes.push(b' ');
                let t0 = bytes.len();
                bytes.extend_from_slice(&target);
                let target_r = t0..bytes.len();
                bytes.extend_from_slice(format!(" HTTP/1.{minor}").as_bytes());
                let request_line = start..bytes.len();
                bytes.extend_from_slice(b"\r\n");
                let mut headers = Vec::new();
                let mut host_r = None;
                for (name, (pre, value, post)) in &fields {
                    let n0 = bytes.len();
                    bytes.extend_from_slice(name);
                    let name_r = n0..bytes.len();
                    bytes.push(b':');
                    bytes.extend_from_slice(pre);
                    let v0 = bytes.len();
                    bytes.extend_from_slice(value);
                    let mut value_r = v0..bytes.len();
                    bytes.extend_from_slice(post);
                    if value.is_empty() {
                        // All the OWS is leading whitespace then: the empty value sits after it.
                        value_r = bytes.len()..bytes.len();
                    }
                    bytes.extend_from_slice(b"\r\n");
                    if name.eq_ignore_ascii_case(b"host") {
                        host_r = Some(value_r.clone());
                    }
                    headers.push((name_r, value_r));
                }
                bytes.extend_from_slice(b"\r\n");
                let conn = connection.unwrap_or("").to_ascii_lowercase();
                let head = Head {
                    method: method_r,
                    target: target_r.clone(),
                    target_form: TargetForm::Origin,
                    path: target_r,
                    authority: None,
                    version,
                    request_line,
                    headers,
                    len: bytes.len(),
                    framing: match framing {
                        Framing::None => BodyFraming::Empty,
                        Framing::Length(n) => BodyFraming::Length(n),
                        Framing::Chunked => BodyFraming::Chunked,
                    },
                    te_and_cl: false,
                    conn_close: conn == "close",
                    conn_keep_alive: conn.contains("keep-alive"),
                    expect_continue: expect,
                    host: host_r,
                };
                Model { bytes, head }
            }
        }

        fn check_invariants(buf: &[u8], head: &Head) {
            let n = head.len;
            assert!(n <= buf.len());
            let mut ranges = vec![&head.method, &head.target, &head.path, &head.request_line];
            ranges.extend(head.authority.iter());
            ranges.extend(head.host.iter());
            for (name, value) in &head.headers {
                ranges.push(name);
                ranges.push(value);
                assert!(!name.is_empty() && buf[name.clone()].iter().all(|&b| TCHAR[b as usize]));
                assert!(buf[value.clone()].iter().all(|&b| is_value_byte(b)));
            }
            for r in ranges {
                assert!(r.start <= r.end && r.end <= n, "{r:?} out of 0..{n}");
            }
            assert!(!buf[head.request_line.clone()]
                .iter()
                .any(|&b| b == b'\r' || b == b'\n'));
            assert!(buf[..n].ends_with(b"\r\n\r\n"));
        }

        proptest! {
            #![proptest_config(config(256))]

            /// (1) Growing prefixes: incomplete until the head is whole, then exactly the modelled head.
            #[test]
            fn prefixes_of_a_valid_head_are_incomplete_then_yield_the_same_head(
                model in model(),
                body in proptest::collection::vec(any::<u8>(), 0..20),
                cuts in (any::<proptest::sample::Index>(), any::<proptest::sample::Index>()),
            ) {
                let buf = [&model.bytes[..], &body].concat();
                let mut cuts = [cuts.0.index(buf.len() + 1), cuts.1.index(buf.len() + 1)];
                cuts.sort_unstable();
                let mut spare = Vec::new();
                for end in [cuts[0], cuts[1], model.head.len - 1, buf.len()] {
                    let got = parse_head(&buf[..end], &Limits::default(), true, &mut spare);
                    if end < model.head.len {
                        prop_assert_eq!(got, Ok(None), "prefix of {} bytes", end);
                    } else {
                        let head = got.unwrap().unwrap();
                        prop_assert_eq!(&head, &model.head);
                        spare = head.into_headers();
                    }
                }
            }

            /// (3) Arbitrary bytes never panic, and a head found is consistent with the input.
            #[test]
            fn random_bytes_never_panic_and_heads_are_consistent(
                buf in proptest::collection::vec(any::<u8>(), 0..200),
                cut in any::<proptest::sample::Index>(),
            ) {
                check_consistency(&buf, cut.index(buf.len() + 1));
            }

            /// (3) Valid heads with a few random edits: most stay close to valid, which reaches deep states.
            #[test]
            fn mutated_heads_never_panic_and_heads_are_consistent(
                model in model(),
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
                cut in any::<proptest::sample::Index>(),
            ) {
                let mut buf = model.bytes.clone();
                for (at, kind, byte) in edits {
                    let i = at.index(buf.len() + 1);
                    match kind {
                        0 if i < buf.len() => buf[i] = byte,
                        1 if i < buf.len() => { buf.remove(i); }
                        _ => buf.insert(i, byte),
                    }
                }
                check_consistency(&buf, cut.index(buf.len() + 1));
            }
        }

        proptest! {
            #![proptest_config(config(256))]

            /// Skipping the parses [`HeadProgress`] advises against never changes an answer; it can only
            /// delay an error until the next line end or limit.
            #[test]
            fn head_progress_only_skips_parses_that_would_not_change_the_answer(
                model in model(),
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 0..3),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 1..12),
            ) {
                let mut buf = model.bytes.clone();
                for (at, kind, byte) in edits {
                    let i = at.index(buf.len() + 1);
                    match kind {
                        0 if i < buf.len() => buf[i] = byte,
                        1 if i < buf.len() => { buf.remove(i); }
                        _ => buf.insert(i, byte),
                    }
                }
                let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(buf.len()) + 1).collect();
                ends.push(buf.len());
                ends.sort_unstable();
                ends.dedup();
                let limits = Limits::default();
                let mut gate = HeadProgress::new();
                let mut last = Ok(None);
                for end in ends {
                    let now = parse_head(&buf[..end], &limits, true, &mut Vec::new());
                    if gate.should_parse(&buf[..end], &limits) {
                        last = now;
                    } else {
                        prop_assert!(now == last || (last == Ok(None) && now.is_err()), "{:?} then {:?}", last, now);
                    }
                }
            }
        }

        /// A head is consistent with its input; results are monotone in the input length: an error on a
        /// prefix is an error on the whole, and a head found on a prefix is the head of the whole.
        fn check_consistency(buf: &[u8], cut: usize) {
            let limits = Limits::default();
            let whole = parse_head(buf, &limits, true, &mut Vec::new());
            let prefix = parse_head(&buf[..cut], &limits, true, &mut Vec::new());
            if let Ok(Some(head)) = &whole {
                check_invariants(buf, head);
                let exact = parse_head(&buf[..head.len], &limits, true, &mut Vec::new());
                assert_eq!(exact.as_ref(), Ok(&Some(head.clone())));
                if cut < head.len {
                    assert_eq!(prefix, Ok(None));
                }
            }
            match prefix {
                Err(_) => assert!(
                    whole.is_err(),
                    "{prefix:?} on a prefix but {whole:?} on the whole"
                ),
                Ok(Some(head)) => assert_eq!(whole, Ok(Some(head))),
                Ok(None) => {}
            }
        }
    }
}
