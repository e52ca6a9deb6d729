//! The request a lazy environ answers from: the head's text, copied once,
//! and where its parts are. Nothing per variable is built until an app asks
//! for it; see [`Environ`](super::Environ).

use super::vars::{http_key_byte, percent_decode_latin1};
use std::ops::Range;

/// A byte range of a text (`start..end`), `Copy` unlike `Range`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span(pub usize, pub usize);

/// Where a parsed request head's parts are: offsets into `head`, which is
/// the head as received (leading empty lines included), `buf[..head.len]`.
pub(crate) struct HeadParts<'h> {
    /// The head's bytes.
    pub head: &'h [u8],
    /// The method token.
    pub method: Range<usize>,
    /// The raw request target.
    pub target: Range<usize>,
    /// Path and query of the target (empty for `http://host`, meaning `/`).
    pub path: Range<usize>,
    /// The request line without its CRLF.
    pub request_line: Range<usize>,
    /// `HTTP/1.1` (else `HTTP/1.0`).
    pub http11: bool,
    /// `(name, value)` of every header line, in order.
    pub headers: &'h [(Range<usize>, Range<usize>)],
}

/// One request's head as latin-1 text and the spans of its parts in it;
/// kept from request to request (cleared, not freed).
#[derive(Default)]
pub(super) struct Request {
    /// The head as latin-1 text (the very bytes, for an ASCII head), then
    /// the percent-decoded `PATH_INFO` when the path needed decoding.
    pub text: String,
    /// `(name, value)` of every header line.
    pub headers: Vec<(Span, Span)>,
    pub method: Span,
    pub target: Span,
    pub request_line: Span,
    /// The path without the query; `None` when empty (`GET http://host`),
    /// which `RAW_PATH_INFO` and `PATH_INFO` give as `/`.
    pub raw_path: Option<Span>,
    /// `PATH_INFO` when `raw_path` is set: `raw_path` itself, or its
    /// percent-decoded copy after the head.
    pub path_info: Span,
    pub query: Option<Span>,
    pub http11: bool,
}

/// What the header lines say about an `HTTP_*` key.
pub(super) enum HttpHeader {
    Missing,
    One(Span),
    /// Several lines: the variable is their values joined with `,`.
    Repeated,
}

impl Request {
    /// Record `p`'s head, forgetting the previous request.
    pub fn load(&mut self, p: &HeadParts<'_>) {
        self.text.clear();
        self.headers.clear();
        if p.head.is_ascii() {
            // SAFETY: ASCII bytes (checked just above) are valid UTF-8, and
            // mean the same in latin-1: the head's offsets are the text's.
            self.text
                .push_str(unsafe { std::str::from_utf8_unchecked(p.head) });
            self.fill(p, |i| i);
        } else {
            self.load_latin1(p);
        }
    }

    /// [`load`](Self::load) for a head with bytes ≥ 0x80 (PEP 3333's latin-1
    /// chars, two UTF-8 bytes each): offsets are mapped to the text's.
    #[cold]
    #[inline(never)]
    fn load_latin1(&mut self, p: &HeadParts<'_>) {
        let mut at = Vec::with_capacity(p.head.len() + 1);
        for &b in p.head {
            at.push(self.text.len());
            self.text.push(char::from(b));
        }
        at.push(self.text.len());
        self.fill(p, |i| at[i]);
    }

    #[inline(always)]
    fn fill(&mut self, p: &HeadParts<'_>, map: impl Fn(usize) -> usize) {
        let span = |r: &Range<usize>| Span(map(r.start), map(r.end));
        self.headers
            .extend(p.headers.iter().map(|(n, v)| (span(n), span(v))));
        self.method = span(&p.method);
        self.target = span(&p.target);
        self.request_line = span(&p.request_line);
        self.http11 = p.http11;
        let path = p.path.clone();
        let (raw, query) = match p.head[path.clone()].iter().position(|&b| b == b'?') {
            Some(i) => (
                path.start..path.start + i,
                Some(path.start + i + 1..path.end),
            ),
            None => (path, None),
        };
        self.query = query.as_ref().map(span);
        if raw.is_empty() {
            self.raw_path = None;
            self.path_info = Span::default();
            return;
        }
        let raw_span = span(&raw);
        self.raw_path = Some(raw_span);
        let bytes = &p.head[raw];
        self.path_info = if bytes.contains(&b'%') {
            let start = self.text.len();
            percent_decode_latin1(bytes, &mut self.text);
            Span(start, self.text.len())
        } else {
            raw_span
        };
    }

    /// The text of `s`.
    #[inline]
    pub fn str(&self, s: Span) -> &str {
        &self.text[s.0..s.1]
    }

    /// The value of the first header line named `name` (ASCII case-insensitive)
    /// whose value is non-empty, or any value when `non_empty` is false.
    pub fn header(&self, name: &[u8], non_empty: bool) -> Option<Span> {
        let text = self.text.as_bytes();
        self.headers
            .iter()
            .find(|(n, v)| text[n.0..n.1].eq_ignore_ascii_case(name) && (!non_empty || v.1 > v.0))
            .map(|&(_, v)| v)
    }

    /// The header lines behind `HTTP_{rest}`: names without `_` whose
    /// `HTTP_*` spelling (upper case, `-` → `_`) is `rest`; Content-Type and
    /// Content-Length have variables of their own instead.
    pub fn http_header(&self, rest: &[u8]) -> HttpHeader {
        if rest == b"CONTENT_TYPE" || rest == b"CONTENT_LENGTH" {
            return HttpHeader::Missing;
        }
        let text = self.text.as_bytes();
        let mut found = None;
        for &(n, v) in &self.headers {
            let name = &text[n.0..n.1];
            if name.len() == rest.len()
                && name.iter().zip(rest).all(|(&b, &k)| http_key_byte(b) == k)
                && !name.contains(&b'_')
            {
                if found.is_some() {
                    return HttpHeader::Repeated;
                }
                found = Some(v);
            }
        }
        found.map_or(HttpHeader::Missing, HttpHeader::One)
    }
}
