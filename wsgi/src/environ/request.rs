//! The request a lazy environ answers from: the head's text, copied once,
//! and where its parts are. Nothing per variable is built until an app asks
//! for it; see [`Environ`](super::Environ).

use super::vars::{http_key_byte, percent_decode_latin1};
use crate::head::{Head, Version};
use std::ops::Range;

/// A byte range of a text (`start..end`), `Copy` unlike `Range`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Span(pub usize, pub usize);

impl Span {
    #[inline]
    pub fn of(r: &Range<usize>) -> Span {
        Span(r.start, r.end)
    }
}

/// `(name, value)` of one header line.
pub(crate) type HeaderSpans = (Range<usize>, Range<usize>);

/// One request's head as latin-1 text and the spans of its parts in it;
/// kept from request to request (cleared, not freed).
#[derive(Default)]
pub(super) struct Request {
    /// The head as latin-1 text (the very bytes, for an ASCII head), then
    /// the percent-decoded `PATH_INFO` when the path needed decoding.
    pub text: String,
    /// `(name, value)` of every header line: for an ASCII head the parser's
    /// own list, taken over (its offsets are the text's), not copied.
    pub headers: Vec<HeaderSpans>,
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
    /// Record `head`, parsed from `buf` (whose first `head.len` bytes are
    /// the head), forgetting the previous request. The head's header list
    /// is taken (the previous request's list, cleared, is left in its place
    /// for the connection to parse the next head into).
    #[inline(always)]
    pub fn load(&mut self, buf: &[u8], head: &mut Head) {
        self.text.clear();
        let bytes = &buf[..head.len];
        if crate::head::is_ascii(bytes) {
            // SAFETY: ASCII bytes (checked just above) are valid UTF-8, and
            // mean the same in latin-1: the head's offsets are the text's.
            self.text
                .push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
            self.headers.clear();
            std::mem::swap(&mut self.headers, &mut head.headers);
            self.fill(bytes, head, |i| i);
        } else {
            self.load_latin1(bytes, head);
        }
    }

    /// [`load`](Self::load) for a head with bytes ≥ 0x80 (PEP 3333's latin-1
    /// chars, two UTF-8 bytes each): offsets are mapped to the text's.
    #[cold]
    #[inline(never)]
    fn load_latin1(&mut self, bytes: &[u8], head: &Head) {
        let mut at = Vec::with_capacity(bytes.len() + 1);
        for &b in bytes {
            at.push(self.text.len());
            self.text.push(char::from(b));
        }
        at.push(self.text.len());
        let map = |r: &Range<usize>| at[r.start]..at[r.end];
        self.headers.clear();
        self.headers
            .extend(head.headers.iter().map(|(n, v)| (map(n), map(v))));
        self.fill(bytes, head, |i| at[i]);
    }

    #[inline(always)]
    fn fill(&mut self, bytes: &[u8], head: &Head, map: impl Fn(usize) -> usize) {
        let span = |r: &Range<usize>| Span(map(r.start), map(r.end));
        self.method = span(&head.method);
        self.target = span(&head.target);
        self.request_line = span(&head.request_line);
        self.http11 = head.version == Version::Http11;
        // One pass over the path (short: no memchr set-up): the query, and
        // whether the path before it has escapes to decode.
        let path = head.path.clone();
        let mut split = path.end;
        let mut escaped = false;
        for (i, &b) in bytes[path.clone()].iter().enumerate() {
            if b == b'?' {
                split = path.start + i;
                break;
            }
            escaped |= b == b'%';
        }
        self.query = (split < path.end).then(|| span(&(split + 1..path.end)));
        if split == path.start {
            self.raw_path = None;
            self.path_info = Span::default();
            return;
        }
        let raw = path.start..split;
        let raw_span = span(&raw);
        self.raw_path = Some(raw_span);
        self.path_info = if escaped {
            let start = self.text.len();
            percent_decode_latin1(&bytes[raw], &mut self.text);
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

    /// `PATH_INFO`: the (decoded) path, `/` for the absolute form's empty one.
    #[inline]
    pub fn path_info_str(&self) -> &str {
        match self.raw_path {
            Some(_) => self.str(self.path_info),
            None => "/",
        }
    }

    /// The value of the first header line named `name` (ASCII case-insensitive)
    /// whose value is non-empty, or any value when `non_empty` is false.
    pub fn header(&self, name: &[u8], non_empty: bool) -> Option<Span> {
        let text = self.text.as_bytes();
        self.headers
            .iter()
            .find(|(n, v)| {
                text[n.clone()].eq_ignore_ascii_case(name) && (!non_empty || v.end > v.start)
            })
            .map(|(_, v)| Span::of(v))
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
        for (n, v) in &self.headers {
            let name = &text[n.clone()];
            if name.len() == rest.len()
                && name.iter().zip(rest).all(|(&b, &k)| http_key_byte(b) == k)
                && !name.contains(&b'_')
            {
                if found.is_some() {
                    return HttpHeader::Repeated;
                }
                found = Some(Span::of(v));
            }
        }
        found.map_or(HttpHeader::Missing, HttpHeader::One)
    }
}
