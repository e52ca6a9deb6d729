//! The request-head parser as it was before the word-at-a-time rewrite (commit 2039bd8), kept verbatim
//! for tests only: the differential test (`differential.rs`) checks that [`super::parse_head`] gives the
//! same `Ok` head or the same error as this straightforward version on every input it generates.

use super::{BodyFraming, Head, HeadError, Limits, TargetForm, Version, MAX_LEADING_EMPTY_LINES};
use std::ops::Range;

/// RFC 9110 `tchar`: the bytes of a token (method, field name, coding).
const fn is_tchar(b: u8) -> bool {
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
static TCHAR: [bool; 256] = {
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

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// Whether some byte of `w` is below `n` (n <= 128): the classic "hasless" bit trick, exact as a yes/no test.
const fn has_less(w: u64, n: u8) -> bool {
    (w.wrapping_sub(LO * n as u64) & !w & HI) != 0
}

/// Whether some byte of `w` equals `b`.
const fn has_byte(w: u64, b: u8) -> bool {
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

/// The old `parse_head`, with the same contract as [`super::parse_head`].
pub(super) fn parse_head(
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

/// `buf` holds no complete head: that is only acceptable while it fits in `max_head`.
fn incomplete_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, HeadError> {
    if buf.len() > limits.max_head {
        Err(HeadError::FieldsTooLarge("request head too large"))
    } else {
        Ok(None)
    }
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
