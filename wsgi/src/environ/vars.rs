//! The full variable list of an environ, built from its [`Request`] when
//! something needs every variable or changes one (`vars()`, `set`,
//! `remove`, the server's `environ` option, a trusted proxy's rewrite).
//! Built exactly as the server always built every environ, so a
//! materialized environ lists and answers what the lazy one answered.

use super::request::{Request, Span};
use std::collections::HashMap;

/// A string of the environ: a constant, or a range of one of the three
/// texts (the request's, this list's own, the connection's).
#[derive(Clone, Copy)]
pub(super) enum Str {
    Static(&'static str),
    /// A range of [`Request::text`].
    Req(Span),
    /// A range of [`Vars::text`] (keys and values written by `set`, joined
    /// header values, `HTTP_*` keys).
    Own(Span),
    /// A range of `Environ::conn_text`.
    Conn(Span),
}

/// One CGI variable.
#[derive(Clone, Copy)]
struct Entry {
    key: Str,
    value: Str,
}

/// The texts that [`Str::Req`] and [`Str::Conn`] point into.
#[derive(Clone, Copy)]
pub(super) struct Texts<'a> {
    pub req: &'a str,
    pub conn: &'a str,
}

/// The connection's and request's facts the variables come from.
pub(super) struct Source<'a> {
    pub req: &'a Request,
    pub texts: Texts<'a>,
    /// `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT`.
    pub conn_vars: [Span; 4],
    pub tls: bool,
}

/// Every CGI variable in order, and the text written for them; kept from
/// request to request (cleared, not freed).
#[derive(Default)]
pub(super) struct Vars {
    entries: Vec<Entry>,
    text: String,
    /// A filter over the `HTTP_*` keys set (see `http_key_bit`): a header
    /// whose bit is clear needs no search for an earlier line to join.
    http_keys: u64,
}

impl Vars {
    /// The text of `s`.
    #[inline]
    fn s<'a>(&'a self, s: Str, t: Texts<'a>) -> &'a str {
        match s {
            Str::Static(x) => x,
            Str::Req(Span(a, b)) => &t.req[a..b],
            Str::Own(Span(a, b)) => &self.text[a..b],
            Str::Conn(Span(a, b)) => &t.conn[a..b],
        }
    }

    fn find(&self, key: &str, t: Texts<'_>) -> Option<usize> {
        self.entries.iter().position(|e| self.s(e.key, t) == key)
    }

    /// The first variable named `key`.
    pub fn get<'a>(&'a self, key: &str, t: Texts<'a>) -> Option<&'a str> {
        self.find(key, t).map(|i| self.s(self.entries[i].value, t))
    }

    /// Every variable, in order.
    pub fn iter<'a>(&'a self, t: Texts<'a>) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        self.entries
            .iter()
            .map(move |e| (self.s(e.key, t), self.s(e.value, t)))
    }

    /// Append what `write` writes to this list's text; its range. Text is
    /// only ever appended (a replaced value leaves its old bytes unused until
    /// the list is cleared), so every range stays valid.
    #[inline]
    fn own(&mut self, write: impl FnOnce(&mut String)) -> Str {
        let start = self.text.len();
        write(&mut self.text);
        Str::Own(Span(start, self.text.len()))
    }

    /// Set `key` (its first occurrence) to `value`, or append it.
    pub fn set(&mut self, key: &str, value: &str, t: Texts<'_>) {
        let value = self.own(|s| s.push_str(value));
        match self.find(key, t) {
            Some(i) => self.entries[i].value = value,
            None => {
                let k = self.own(|s| s.push_str(key));
                if let Some(rest) = key.as_bytes().strip_prefix(b"HTTP_") {
                    self.http_keys |= http_key_bit(rest);
                }
                self.entries.push(Entry { key: k, value });
            }
        }
    }

    /// Remove the first variable named `key`; whether there was one.
    pub fn remove(&mut self, key: &str, t: Texts<'_>) -> bool {
        match self.find(key, t) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    fn push(&mut self, key: &'static str, value: Str) {
        self.entries.push(Entry {
            key: Str::Static(key),
            value,
        });
    }

    /// Forget every variable, keeping the allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.text.clear();
        self.http_keys = 0;
    }

    /// The bytes this list holds on to (for freeing oversized ones).
    pub fn capacity(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>() + self.text.capacity()
    }

    /// Build every variable of `src`'s request, in the server's order:
    /// `wsgi.url_scheme` (and `HTTPS`), the server's `environ` option
    /// (`prelude`, set in its iteration order), the request line's
    /// variables, the connection's, `GATEWAY_INTERFACE`, then the headers'.
    pub fn build(&mut self, src: &Source<'_>, prelude: &HashMap<String, String>) {
        self.clear();
        let (r, t) = (src.req, src.texts);
        let req = |s: Span| Str::Req(s);
        let scheme = if src.tls { "https" } else { "http" };
        self.push("wsgi.url_scheme", Str::Static(scheme));
        if src.tls {
            self.push("HTTPS", Str::Static("on"));
        }
        for (k, v) in prelude {
            self.set(k, v, t);
        }
        self.push("REQUEST_METHOD", req(r.method));
        self.push("SCRIPT_NAME", Str::Static(""));
        match r.raw_path {
            // `GET http://host HTTP/1.1`: the absolute form's empty path means `/`.
            None => {
                self.push("RAW_PATH_INFO", Str::Static("/"));
                self.push("PATH_INFO", Str::Static("/"));
            }
            Some(raw) => {
                self.push("RAW_PATH_INFO", req(raw));
                self.push("PATH_INFO", req(r.path_info));
            }
        }
        if let Some(q) = r.query {
            self.push("QUERY_STRING", req(q));
        }
        self.push("REQUEST_URI", req(r.target));
        let protocol = if r.http11 { "HTTP/1.1" } else { "HTTP/1.0" };
        self.push("SERVER_PROTOCOL", Str::Static(protocol));
        let [name, port, addr, rport] = src.conn_vars.map(Str::Conn);
        self.push("SERVER_NAME", name);
        self.push("SERVER_PORT", port);
        self.push("REMOTE_ADDR", addr);
        self.push("REMOTE_PORT", rport);
        self.push("GATEWAY_INTERFACE", Str::Static("CGI/1.1"));
        for (n, v) in &r.headers {
            self.push_header(&t.req.as_bytes()[n.clone()], Span::of(v), t);
        }
    }

    /// One header line's `CONTENT_TYPE`, `CONTENT_LENGTH` or `HTTP_*`
    /// variable (the first Content-Type, the first non-empty Content-Length).
    /// Names with `_` get no variable (they could pose as a dash-named header).
    fn push_header(&mut self, name: &[u8], value: Span, t: Texts<'_>) {
        if name.eq_ignore_ascii_case(b"content-type") {
            if self.find("CONTENT_TYPE", t).is_none() {
                self.push("CONTENT_TYPE", Str::Req(value));
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if value.1 > value.0 && self.find("CONTENT_LENGTH", t).is_none() {
                self.push("CONTENT_LENGTH", Str::Req(value));
            }
        } else if !name.contains(&b'_') {
            self.add_header_var(name, Str::Req(value), t);
        }
    }

    /// Append to (comma-join) or create the `HTTP_*` variable for a header.
    fn add_header_var(&mut self, name: &[u8], value: Str, t: Texts<'_>) {
        let bit = http_key_bit(name);
        let existing = if self.http_keys & bit != 0 {
            self.entries
                .iter()
                .position(|e| key_matches(self.s(e.key, t), name))
        } else {
            None
        };
        match existing {
            Some(i) => {
                let old = self.entries[i].value;
                let start = self.text.len();
                self.append(old, t);
                self.text.push(',');
                self.append(value, t);
                self.entries[i].value = Str::Own(Span(start, self.text.len()));
            }
            None => {
                let key = match static_http_key(name) {
                    Some(k) => Str::Static(k),
                    None => self.own(|s| write_http_key(s, name)),
                };
                self.http_keys |= bit;
                self.entries.push(Entry { key, value });
            }
        }
    }

    /// Append the text of `s` to this list's text.
    fn append(&mut self, s: Str, t: Texts<'_>) {
        match s {
            Str::Own(Span(a, b)) => self.text.extend_from_within(a..b),
            other => {
                let s = match other {
                    Str::Static(x) => x,
                    Str::Req(Span(a, b)) => &t.req[a..b],
                    Str::Conn(Span(a, b)) => &t.conn[a..b],
                    Str::Own(_) => "",
                };
                self.text.push_str(s);
            }
        }
    }
}

/// Append bytes as latin-1 chars (PEP 3333's "bytes as native strings").
fn push_latin1(out: &mut String, bytes: &[u8]) {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8 (and means the
        // same in latin-1); `is_ascii` was checked just above.
        out.push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
    } else {
        out.extend(bytes.iter().map(|&b| b as char));
    }
}

/// `%XX` → the byte, as a latin-1 char (eventlet's `unquote(path,
/// encoding='latin1')`); malformed escapes are kept as they are.
pub(super) fn percent_decode_latin1(raw: &[u8], out: &mut String) {
    let mut i = 0;
    while i < raw.len() {
        let b = raw[i];
        if b == b'%' && i + 2 < raw.len() {
            if let (Some(h), Some(l)) = (hex(raw[i + 1]), hex(raw[i + 2])) {
                out.push(char::from(h * 16 + l));
                i += 3;
                continue;
            }
        }
        out.push(char::from(b));
        i += 1;
    }
}

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// A header-name byte as its `HTTP_*` key has it: `-` → `_`, upper case.
pub(super) const fn http_key_byte(b: u8) -> u8 {
    match b {
        b'-' => b'_',
        _ => b.to_ascii_uppercase(),
    }
}

/// One bit of a 64-bit filter for an `HTTP_*` key, from the header name (or
/// the key without `HTTP_`): its length and first byte, as the key has them.
fn http_key_bit(name: &[u8]) -> u64 {
    let first = name.first().map_or(0, |&b| http_key_byte(b));
    1 << ((name.len() * 7 + first as usize) % 64)
}

/// The `HTTP_*` key of a common header name, without writing it.
fn static_http_key(name: &[u8]) -> Option<&'static str> {
    const KEYS: [(&[u8], &str); 12] = [
        (b"host", "HTTP_HOST"),
        (b"accept", "HTTP_ACCEPT"),
        (b"cookie", "HTTP_COOKIE"),
        (b"origin", "HTTP_ORIGIN"),
        (b"referer", "HTTP_REFERER"),
        (b"upgrade", "HTTP_UPGRADE"),
        (b"user-agent", "HTTP_USER_AGENT"),
        (b"connection", "HTTP_CONNECTION"),
        (b"authorization", "HTTP_AUTHORIZATION"),
        (b"cache-control", "HTTP_CACHE_CONTROL"),
        (b"accept-encoding", "HTTP_ACCEPT_ENCODING"),
        (b"accept-language", "HTTP_ACCEPT_LANGUAGE"),
    ];
    KEYS.iter()
        .find(|(n, _)| n.len() == name.len() && n.eq_ignore_ascii_case(name))
        .map(|&(_, k)| k)
}

/// `X-Foo-Bar` → `HTTP_X_FOO_BAR`.
fn write_http_key(k: &mut String, name: &[u8]) {
    k.push_str("HTTP_");
    // A byte block at a time: pushing char by char was most of the cost of
    // building an environ for a browser's headers.
    for part in name.chunks(64) {
        let mut block = [0u8; 64];
        for (d, &b) in block.iter_mut().zip(part) {
            *d = http_key_byte(b);
        }
        push_latin1(k, &block[..part.len()]);
    }
}

fn key_matches(key: &str, name: &[u8]) -> bool {
    let k = key.as_bytes();
    k.len() == name.len() + 5
        && k.starts_with(b"HTTP_")
        && k[5..]
            .iter()
            .zip(name)
            .all(|(&a, &b)| a == http_key_byte(b))
}
