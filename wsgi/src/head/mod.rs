//! Pure, IO-free parsing of an HTTP/1.x request head (request line + header section).
//!
//! [`parse_head`] is a single left-to-right pass over the buffer that validates every byte once: targets
//! and field values sixteen bytes at a time (SSE2 on x86-64, eight with SWAR elsewhere and at the end of
//! the buffer), tokens through a table, with shortcuts for what nearly every request has (`GET `/`POST `,
//! ` HTTP/1.1\r\n`, an origin-form target, a `Host: name[:port]` line checked in the pass that finds
//! its end). It returns byte offsets into the buffer and never allocates, except for growing the
//! caller's reusable header vector.
//!
//! Layout: `scan.rs` (byte classes and the loops over them), `target.rs` (version, target forms,
//! authority syntax), `fields.rs` (the framing and connection fields). Under `cfg(test)`, `reference.rs`
//! keeps the simpler parser this one replaced, and `differential.rs` checks that both give the same
//! result or the same error on generated inputs.
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

impl Default for Head {
    /// An empty head (empty spans, HTTP/1.1, no fields, an empty header vector): a slot for
    /// [`parse_head_into`].
    fn default() -> Self {
        Head {
            method: 0..0,
            target: 0..0,
            target_form: TargetForm::Origin,
            path: 0..0,
            authority: None,
            version: Version::Http11,
            request_line: 0..0,
            headers: Vec::new(),
            len: 0,
            framing: BodyFraming::Empty,
            te_and_cl: false,
            conn_close: false,
            conn_keep_alive: false,
            expect_continue: false,
            host: None,
        }
    }
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

#[cfg(test)]
mod differential;
mod fields;
#[cfg(test)]
mod reference;
mod scan;
mod target;
#[cfg(test)]
mod tests;

use fields::{set_host, Fields, Special};
#[cfg(test)]
use scan::is_value_byte;
pub(crate) use scan::{has_control, is_ascii, is_tchar, load_word, HI, LO, TCHAR};
use scan::{scan_field_name, scan_target, scan_token, scan_value};
use target::{classify_target, parse_version, scan_reg_name, VERSION_LEN};

/// How many empty lines may precede the request line (RFC 9112 §2.2: SHOULD ignore at least one; a few
/// cover clients that add CRLF after a POST body). More is garbage, not a request.
const MAX_LEADING_EMPTY_LINES: usize = 4;

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
    let mut head = Head {
        headers: std::mem::take(headers),
        ..Head::default()
    };
    match parse_head_into(buf, limits, reject_bad_requests, &mut head) {
        Ok(true) => Ok(Some(head)),
        other => {
            *headers = head.into_headers();
            other.map(|_| None)
        }
    }
}

/// [`parse_head`] into a head kept from request to request (a connection's
/// slot), writing each part in place as it is found: no `Head` (168 bytes)
/// is assembled and copied, and `head.headers` is the reused header vector.
/// `Ok(true)` when `head` now holds the head; on `Ok(false)` and errors its
/// contents are unspecified (but its vector's allocation stays).
#[inline]
pub fn parse_head_into(
    buf: &[u8],
    limits: &Limits,
    reject_bad_requests: bool,
    head: &mut Head,
) -> Result<bool, HeadError> {
    head.headers.clear();
    let start = match buf.first() {
        Some(b'\r' | b'\n') | None => match skip_empty_lines(buf)? {
            Some(start) => start,
            None => return Ok(false),
        },
        Some(_) => 0,
    };
    let Some(line_end) = parse_request_line(buf, start, limits, head)? else {
        return incomplete_head(buf, limits);
    };
    // The connection fields go straight into the head; the framing fields are combined at the end.
    head.host = None;
    head.conn_close = false;
    head.conn_keep_alive = false;
    head.expect_continue = false;
    let mut fields = Fields::default();
    let mut pos = line_end;
    // One field line per turn: `name ":" OWS value OWS CRLF` (RFC 9112 §5), or the final CRLF.
    let end = loop {
        let Some(&first) = buf.get(pos) else {
            return incomplete_head(buf, limits);
        };
        // A field name starts above SP; the rest is rare but for the final CRLF.
        if first <= b' ' {
            match first {
                b'\r' => match buf.get(pos + 1) {
                    None => return incomplete_head(buf, limits),
                    Some(b'\n') => break pos + 2,
                    Some(_) => return Err(bad("bare CR")),
                },
                b'\n' => return Err(bad("bare LF")),
                // After the request line this is whitespace before the first field (RFC 9112 §2.2),
                // after a field it is obs-fold (§5.2): both MUST be rejected or fixed up; we reject.
                b' ' | b'\t' => return Err(bad("obsolete line folding or leading whitespace")),
                _ => {}
            }
        }
        // `Host:` comes first in nearly every request: recognise it without the token loop. Setting bit
        // 0x20 maps only `H`/`h` onto `h` (and so on), so this accepts exactly the valid token `host`.
        let (name_end, kind) = match buf.get(pos..pos + 5) {
            Some(&[.., b':'])
                if load_u32(buf, pos) | 0x2020_2020 == u32::from_le_bytes(*b"host") =>
            {
                (pos + 4, Special::Host)
            }
            _ => {
                let name_end = scan_field_name(buf, pos);
                match buf.get(name_end) {
                    None => return incomplete_line(buf, pos, limits),
                    Some(b':') if name_end > pos => {}
                    Some(b':') => return Err(bad("empty header name")),
                    Some(b' ' | b'\t') => return Err(bad("whitespace before colon")),
                    Some(_) => return Err(bad("invalid header name")),
                }
                (name_end, Special::of(&buf[pos..name_end]))
            }
        };
        // The common Host value (`name` or `name:port`, then CRLF) is checked in the same pass that
        // finds its end, on a path of its own; anything else takes the general way, where Host is
        // validated afterwards. Both paths make the same checks in the same order.
        if kind == Special::Host {
            if let Some(value) = plain_authority(buf, name_end + 1) {
                let next = value.end + 2;
                if next - pos >= limits.max_header_line {
                    return Err(HeadError::FieldsTooLarge("header line too long"));
                }
                if head.headers.len() == limits.max_headers {
                    return Err(HeadError::FieldsTooLarge("too many headers"));
                }
                set_host(&mut head.host, buf, value.clone(), true)?;
                head.headers.push((pos..name_end, value));
                pos = next;
                continue;
            }
        }
        let (value, next) = match field_value(buf, name_end + 1) {
            Ok(found) => found,
            Err(FieldValueEnd::Incomplete) => return incomplete_line(buf, pos, limits),
            Err(FieldValueEnd::Bad(e)) => return Err(e),
        };
        if next - pos >= limits.max_header_line {
            return Err(HeadError::FieldsTooLarge("header line too long"));
        }
        if head.headers.len() == limits.max_headers {
            return Err(HeadError::FieldsTooLarge("too many headers"));
        }
        if kind == Special::Host {
            set_host(&mut head.host, buf, value.clone(), false)?;
        } else if kind != Special::Other {
            fields.observe(kind, buf, value.clone(), head)?;
        }
        head.headers.push((pos..name_end, value));
        pos = next;
    };
    if end > limits.max_head {
        return Err(HeadError::FieldsTooLarge("request head too large"));
    }
    head.framing = fields.framing(head.version, reject_bad_requests)?;
    if head.host.is_none() && head.version == Version::Http11 && limits.require_host {
        return Err(bad("HTTP/1.1 request without Host"));
    }
    head.len = end;
    head.te_and_cl = fields.te.seen && fields.content_length.is_some();
    Ok(true)
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

/// The four bytes at `at` (all within `buf`) as a little-endian word: one load.
#[inline(always)]
fn load_u32(buf: &[u8], at: usize) -> u32 {
    let w: [u8; 4] = buf[at..at + 4].try_into().expect("four bytes");
    u32::from_le_bytes(w)
}

/// Why [`field_value`] found no value.
enum FieldValueEnd {
    /// The buffer ends inside the line.
    Incomplete,
    /// The line is malformed.
    Bad(HeadError),
}

/// The value of the field line whose colon is just before `from`: its range trimmed of OWS, and the
/// index just after its CRLF.
#[inline(always)]
fn field_value(buf: &[u8], from: usize) -> Result<(Range<usize>, usize), FieldValueEnd> {
    let stop = scan_value(buf, from);
    match buf.get(stop) {
        Some(b'\r') => match buf.get(stop + 1) {
            Some(b'\n') => {}
            Some(_) => return Err(FieldValueEnd::Bad(bad("bare CR"))),
            None => return Err(FieldValueEnd::Incomplete),
        },
        None => return Err(FieldValueEnd::Incomplete),
        Some(b'\n') => return Err(FieldValueEnd::Bad(bad("bare LF"))),
        Some(_) => return Err(FieldValueEnd::Bad(bad("invalid byte in header value"))),
    }
    // Every byte before `stop` is a value byte, and the only value bytes up to SP are SP and HTAB, so
    // `<= b' '` is the OWS test here.
    // The checks before the loops take the common case (one SP before the value, none after) in a few
    // compares: `buf[from]` (and after a SP the next byte) is a value byte or the CR at `stop`, and
    // `buf[stop - 1]` is the colon or a value byte.
    let mut start = from;
    if buf[start] == b' ' {
        start += 1;
    }
    if buf[start] <= b' ' {
        while start < stop && buf[start] <= b' ' {
            start += 1;
        }
    }
    let mut end = stop;
    if buf[stop - 1] <= b' ' {
        while end > start && buf[end - 1] <= b' ' {
            end -= 1;
        }
    }
    Ok((start..end, stop + 2))
}

/// A Host value from `from` (after the colon) that is a plain reg-name with an optional port, the line
/// ending right after it: `Some(value)`, the value ending at the CR. Such a value is a valid authority
/// with no OWS around it but one SP before, and [`field_value`] would find the same range. `None` for
/// anything else (which may still be valid).
#[inline(always)]
fn plain_authority(buf: &[u8], from: usize) -> Option<Range<usize>> {
    let mut start = from;
    if buf.get(start) == Some(&b' ') {
        start += 1;
    }
    let mut end = scan_reg_name(buf, start);
    if end == start {
        return None;
    }
    if buf.get(end) == Some(&b':') {
        end += 1;
        while buf.get(end).is_some_and(u8::is_ascii_digit) {
            end += 1;
        }
    }
    // `end` is within the buffer or at its end: no overflow to check for.
    match (buf.get(end), buf.get(end + 1)) {
        (Some(b'\r'), Some(b'\n')) => Some(start..end),
        _ => None,
    }
}

/// `buf` holds no complete head: that is only acceptable while it fits in `max_head`.
#[cold]
fn incomplete_head(buf: &[u8], limits: &Limits) -> Result<bool, HeadError> {
    if buf.len() > limits.max_head {
        Err(HeadError::FieldsTooLarge("request head too large"))
    } else {
        Ok(false)
    }
}

/// The buffer ends inside the field line starting at `pos`.
#[cold]
fn incomplete_line(buf: &[u8], pos: usize, limits: &Limits) -> Result<bool, HeadError> {
    if buf.len() - pos >= limits.max_header_line {
        Err(HeadError::FieldsTooLarge("header line too long"))
    } else {
        incomplete_head(buf, limits)
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

/// `method SP request-target SP HTTP-version CRLF` with exactly one SP each (RFC 9112 §3).
/// Writes the line's parts into `head`; returns the index just after its CRLF.
#[inline(always)]
fn parse_request_line(
    buf: &[u8],
    start: usize,
    limits: &Limits,
    head: &mut Head,
) -> Result<Option<usize>, HeadError> {
    let incomplete = || {
        if buf.len() - start >= limits.max_request_line {
            Err(HeadError::UriTooLong)
        } else {
            Ok(None)
        }
    };
    // `GET ` and `POST ` are valid tokens followed by their SP: skip the token loop for them.
    let method_end = match buf.get(start..start + 5) {
        Some(&[a, b, c, d, e])
            if u32::from_le_bytes([a, b, c, d]) == u32::from_le_bytes(*b"GET ") =>
        {
            let _ = e;
            start + 3
        }
        Some(&[a, b, c, d, b' '])
            if u32::from_le_bytes([a, b, c, d]) == u32::from_le_bytes(*b"POST") =>
        {
            start + 4
        }
        _ => {
            let method_end = scan_token(buf, start);
            match buf.get(method_end) {
                None => return incomplete(),
                Some(b' ') if method_end > start => method_end,
                Some(_) => return Err(bad("invalid method")),
            }
        }
    };
    let target_start = method_end + 1;
    // The root, `/` and its SP, is the most common target of all (front pages, health checks, load
    // generators): no scan for it.
    let target_end = match buf.get(target_start..target_start + 2) {
        Some(b"/ ") => target_start + 1,
        _ => scan_target(buf, target_start),
    };
    match buf.get(target_end) {
        None => return incomplete(),
        Some(b' ') if target_end > target_start => {}
        Some(_) => return Err(bad("invalid request target")),
    }
    let version_start = target_end + 1;
    let (version, cr) = match buf.get(version_start..version_start + VERSION_LEN + 2) {
        Some(&[a, b, c, d, e, f, g, h, b'\r', b'\n'])
            if u64::from_le_bytes([a, b, c, d, e, f, g, h]) == u64::from_le_bytes(*b"HTTP/1.1") =>
        {
            (Version::Http11, version_start + VERSION_LEN)
        }
        _ => {
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
            if cr + 2 - start >= limits.max_request_line {
                return Err(HeadError::UriTooLong);
            }
            (parse_version(&buf[version_start..cr])?, cr)
        }
    };
    let end = cr + 2;
    if end - start >= limits.max_request_line {
        return Err(HeadError::UriTooLong);
    }
    head.method = start..method_end;
    head.target = target_start..target_end;
    head.version = version;
    head.request_line = start..cr;
    // Origin-form (`/...`) with any method but CONNECT needs no further look (RFC 9112 §3.2.1).
    if buf[target_start] == b'/' && method_end - start != 7 {
        head.target_form = TargetForm::Origin;
        head.path = target_start..target_end;
        head.authority = None;
        return Ok(Some(end));
    }
    let target = classify_target(&buf[start..method_end], &buf[target_start..target_end])?;
    let shift = |r: Range<usize>| r.start + target_start..r.end + target_start;
    head.target_form = target.form;
    head.path = shift(target.path);
    head.authority = target.authority.map(shift);
    Ok(Some(end))
}
