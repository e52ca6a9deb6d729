//! `Environ`: the WSGI environ of one request.

use crate::input::Input;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A hook run after the response was sent (eventlet's `eventlet.posthooks`).
pub type Posthook = Box<dyn FnOnce(&Environ<'_>)>;

/// A string of the environ: a constant, or a range of the request's or the
/// connection's text. Variables point into two strings instead of owning
/// one allocation each: building an environ is then a few appends to one
/// buffer, and constant keys and values are never copied.
#[derive(Clone, Copy)]
enum Str {
    Static(&'static str),
    /// A range of [`Storage::text`] (this request's).
    Req(usize, usize),
    /// A range of `Environ::conn_text` (this connection's, set once).
    Conn(usize, usize),
}

/// One CGI variable (or raw header line).
#[derive(Clone, Copy)]
struct Entry {
    key: Str,
    value: Str,
}

/// A request's variables, raw header lines and the text they point into:
/// kept from request to request (cleared, not freed) and handed to other
/// connections while this one idles (see [`SPARE`]).
#[derive(Default)]
struct Storage {
    vars: Vec<Entry>,
    raw: Vec<Entry>,
    text: String,
}

/// The WSGI environ: CGI variables by name (`env["PATH_INFO"]`), the typed
/// WSGI and eventlet entries as methods, and room for middleware values of
/// any type ([`insert_ext`](Self::insert_ext)).
///
/// Header bytes ≥ 0x80 are mapped to the chars U+0080..U+00FF (latin-1), as
/// PEP 3333 says, so no request byte is lost or rejected for not being UTF-8.
pub struct Environ<'c> {
    st: Storage,
    /// `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT` of the
    /// connection, written once (see [`set_connection`](Self::set_connection)).
    conn_text: String,
    conn_vars: [Str; 4],
    /// Where this request's head starts in the text, when it was copied
    /// there whole (an ASCII head: its offsets are the text's).
    head_base: Option<usize>,
    /// The request line, for the access log and error messages.
    request_line: Str,
    /// A filter over the `HTTP_*` keys set (see `http_key_bit`): a header
    /// whose bit is clear needs no search for an earlier line to join.
    http_keys: u64,
    pub(crate) input: Input<'c>,
    posthooks: Vec<Posthook>,
    ext: HashMap<String, Box<dyn Any>>,
    pub(crate) min_chunk: Option<usize>,
    pub(crate) conn_state: Option<Arc<crate::reaper::ConnState>>,
    pub(crate) errors: ErrorsSink,
}

/// `wsgi.errors`: where an app writes diagnostics (the server's error log).
#[derive(Clone, Debug, Default)]
pub struct ErrorsSink {
    pub(crate) log: Option<crate::options::LogSink>,
}

impl std::io::Write for ErrorsSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        match &self.log {
            Some(sink) => sink.error(text.trim_end()),
            None => log::error!(target: "eventlet_wsgi::errors", "{}", text.trim_end()),
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'c> Environ<'c> {
    pub(crate) fn new(input: Input<'c>) -> Environ<'c> {
        Environ {
            st: Storage::default(),
            conn_text: String::new(),
            conn_vars: [Str::Static(""); 4],
            head_base: None,
            request_line: Str::Static(""),
            http_keys: 0,
            input,
            posthooks: Vec::new(),
            ext: HashMap::new(),
            min_chunk: None,
            conn_state: None,
            errors: ErrorsSink::default(),
        }
    }

    /// Record the connection's `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`
    /// and `REMOTE_PORT` once; every request's environ points at them.
    pub(crate) fn set_connection(&mut self, values: [&str; 4]) {
        self.conn_text.clear();
        for (slot, v) in self.conn_vars.iter_mut().zip(values) {
            let start = self.conn_text.len();
            self.conn_text.push_str(v);
            *slot = Str::Conn(start, self.conn_text.len());
        }
    }

    /// Forget the previous request, keeping every allocation for the next.
    pub(crate) fn clear(&mut self) {
        if self.st.vars.capacity() == 0 {
            self.take_spare_storage();
        }
        self.st.vars.clear();
        self.st.raw.clear();
        self.st.text.clear();
        self.head_base = None;
        self.request_line = Str::Static("");
        self.http_keys = 0;
        self.posthooks.clear();
        self.ext.clear();
        self.min_chunk = None;
    }

    /// Hand this environ's storage to the next request of any connection
    /// while this one idles (see [`SPARE`]); [`clear`](Self::clear) takes
    /// storage back for the next request.
    // Never inlined: green threads migrate between worker threads at yields,
    // and a caller that yields must not reuse a thread-local's address that
    // the compiler computed before the yield (may's TLS hazard). No yield
    // happens in here.
    #[inline(never)]
    pub(crate) fn park_storage(&mut self) {
        self.posthooks.clear();
        self.ext.clear();
        if self.st.vars.capacity() == 0 {
            return;
        }
        // Cleared by `clear` when taken: a parked set costs nothing here.
        let storage = std::mem::take(&mut self.st);
        let _ = SPARE.try_with(|spare| {
            if let Ok(mut spare) = spare.try_borrow_mut() {
                if spare.len() < SPARE_MAX {
                    spare.push(storage);
                }
            }
        });
    }

    // Never inlined: green threads migrate between worker threads at yields,
    // and a caller that yields must not reuse a thread-local's address that
    // the compiler computed before the yield (may's TLS hazard). No yield
    // happens in here.
    #[inline(never)]
    fn take_spare_storage(&mut self) {
        let spare = SPARE
            .try_with(|spare| spare.try_borrow_mut().ok().and_then(|mut s| s.pop()))
            .ok()
            .flatten();
        match spare {
            Some(st) => self.st = st,
            None => {
                self.st.vars.reserve(24);
                self.st.text.reserve(256);
            }
        }
    }

    /// The text of `s`.
    #[inline]
    fn s(&self, s: Str) -> &str {
        match s {
            Str::Static(t) => t,
            Str::Req(a, b) => &self.st.text[a..b],
            Str::Conn(a, b) => &self.conn_text[a..b],
        }
    }

    fn find(&self, key: &str) -> Option<usize> {
        self.st.vars.iter().position(|e| self.s(e.key) == key)
    }

    /// The CGI variable `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.st
            .vars
            .iter()
            .find(|e| self.s(e.key) == key)
            .map(|e| self.s(e.value))
    }

    /// Set a CGI variable (a middleware rewriting `PATH_INFO`, say).
    pub fn set(&mut self, key: &str, value: &str) {
        let value = self.text(|t| t.push_str(value));
        match self.find(key) {
            Some(i) => self.st.vars[i].value = value,
            None => {
                let key = self.text(|t| t.push_str(key));
                self.push_entry(key, value);
            }
        }
    }

    /// Remove a CGI variable; returns whether it was set.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.find(key) {
            Some(i) => {
                self.st.vars.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether the CGI variable `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every CGI variable, in the order set.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.st
            .vars
            .iter()
            .map(|e| (self.s(e.key), self.s(e.value)))
    }

    /// Append what `write` writes to the request's text; its range. Text is
    /// only ever appended (a replaced value leaves its old bytes unused until
    /// the next request), so every range stays valid.
    #[inline]
    fn text(&mut self, write: impl FnOnce(&mut String)) -> Str {
        let start = self.st.text.len();
        write(&mut self.st.text);
        Str::Req(start, self.st.text.len())
    }

    /// Append a variable (no lookup: the server fills a fresh environ).
    #[inline]
    fn push_entry(&mut self, key: Str, value: Str) {
        if let Str::Req(a, b) = key {
            if let Some(rest) = self.st.text.as_bytes()[a..b].strip_prefix(b"HTTP_") {
                self.http_keys |= http_key_bit(rest);
            }
        }
        self.st.vars.push(Entry { key, value });
    }

    /// Append a constant variable the server knows is not set yet.
    pub(crate) fn push_static(&mut self, key: &'static str, value: &'static str) {
        self.st.vars.push(Entry {
            key: Str::Static(key),
            value: Str::Static(value),
        });
    }

    /// Append the connection's variables (see [`set_connection`](Self::set_connection)).
    pub(crate) fn push_connection(&mut self) {
        let [name, port, addr, rport] = self.conn_vars;
        let entry = |key, value| Entry {
            key: Str::Static(key),
            value,
        };
        self.st.vars.extend_from_slice(&[
            entry("SERVER_NAME", name),
            entry("SERVER_PORT", port),
            entry("REMOTE_ADDR", addr),
            entry("REMOTE_PORT", rport),
        ]);
    }

    /// Copy the request head into the text in one piece when it is ASCII
    /// (nearly always): every variable taken from it is then a range of
    /// that copy, without a copy or a latin-1 check of its own.
    pub(crate) fn set_head(&mut self, head: &[u8]) {
        self.head_base = head.is_ascii().then(|| {
            let base = self.st.text.len();
            // SAFETY: ASCII bytes (checked just above) are valid UTF-8.
            self.st
                .text
                .push_str(unsafe { std::str::from_utf8_unchecked(head) });
            base
        });
    }

    /// Record `head[r]` as the request line (see [`request_line`](Self::request_line)).
    pub(crate) fn set_request_line(&mut self, head: &[u8], r: Range<usize>) {
        self.request_line = self.head_str(head, r);
    }

    /// The request line as received (latin-1), until the next request.
    pub(crate) fn request_line(&self) -> &str {
        self.s(self.request_line)
    }

    /// `head[r]` as latin-1 text (see [`set_head`](Self::set_head)).
    #[inline(always)]
    fn head_str(&mut self, head: &[u8], r: Range<usize>) -> Str {
        match self.head_base {
            Some(base) => Str::Req(base + r.start, base + r.end),
            None => self.head_str_copied(head, r),
        }
    }

    /// [`head_str`](Self::head_str) for a head with bytes ≥ 0x80: a latin-1 copy.
    #[cold]
    #[inline(never)]
    fn head_str_copied(&mut self, head: &[u8], r: Range<usize>) -> Str {
        self.text(|t| push_latin1(t, &head[r]))
    }

    /// Append a variable whose value is `head[r]`.
    pub(crate) fn push_head_var(&mut self, key: &'static str, head: &[u8], r: Range<usize>) {
        let value = self.head_str(head, r);
        self.st.vars.push(Entry {
            key: Str::Static(key),
            value,
        });
    }

    /// `PATH_INFO`: `head[raw]` percent-decoded (as latin-1, eventlet's
    /// `unquote(path, encoding='latin1')`); the raw path's own text when
    /// there is nothing to decode.
    pub(crate) fn push_path_info(&mut self, head: &[u8], raw: Range<usize>) {
        let bytes = &head[raw.clone()];
        let value = if bytes.contains(&b'%') {
            self.text(|t| percent_decode_latin1(bytes, t))
        } else {
            self.head_str(head, raw)
        };
        self.st.vars.push(Entry {
            key: Str::Static("PATH_INFO"),
            value,
        });
    }

    /// One header line of the request (`head[name]: head[value]`): its raw
    /// line (`headers_raw`), and its `CONTENT_TYPE`, `CONTENT_LENGTH` or
    /// `HTTP_*` variable. Names with `_` get no variable (they could pose as
    /// a dash-named header).
    pub(crate) fn push_header(&mut self, head: &[u8], name: Range<usize>, value: Range<usize>) {
        let key = self.head_str(head, name.clone());
        let val = self.head_str(head, value.clone());
        let (name, value) = (&head[name], &head[value]);
        self.st.raw.push(Entry { key, value: val });
        if name.eq_ignore_ascii_case(b"content-type") {
            if !self.contains("CONTENT_TYPE") {
                self.st.vars.push(Entry {
                    key: Str::Static("CONTENT_TYPE"),
                    value: val,
                });
            }
        } else if name.eq_ignore_ascii_case(b"content-length") {
            if !value.is_empty() && !self.contains("CONTENT_LENGTH") {
                self.st.vars.push(Entry {
                    key: Str::Static("CONTENT_LENGTH"),
                    value: val,
                });
            }
        } else if !name.contains(&b'_') {
            self.add_header_var(name, val);
        }
    }

    /// Append to (comma-join) or create the `HTTP_*` variable for a header.
    fn add_header_var(&mut self, name: &[u8], val: Str) {
        let bit = http_key_bit(name);
        let existing = if self.http_keys & bit != 0 {
            self.st
                .vars
                .iter()
                .position(|e| key_matches(self.s(e.key), name))
        } else {
            None
        };
        match existing {
            Some(i) => {
                let (old, new) = (self.st.vars[i].value, val);
                let joined = match (old, new) {
                    (Str::Req(a, b), Str::Req(c, d)) => self.text(|t| {
                        t.extend_from_within(a..b);
                        t.push(',');
                        t.extend_from_within(c..d);
                    }),
                    // Header values are always request text; keep the first.
                    _ => old,
                };
                self.st.vars[i].value = joined;
            }
            None => {
                let key = match static_http_key(name) {
                    Some(k) => Str::Static(k),
                    None => self.text(|t| write_http_key(t, name)),
                };
                self.http_keys |= bit;
                self.st.vars.push(Entry { key, value: val });
            }
        }
    }

    /// `wsgi.input`: the request body.
    pub fn input(&mut self) -> &mut Input<'c> {
        &mut self.input
    }

    /// `wsgi.errors`: a writer for the server's error log.
    pub fn errors(&self) -> ErrorsSink {
        self.errors.clone()
    }

    /// `wsgi.url_scheme`: `"http"` or `"https"`.
    pub fn url_scheme(&self) -> &str {
        self.get("wsgi.url_scheme").unwrap_or("http")
    }

    /// `wsgi.version`: `(1, 0)`.
    pub fn wsgi_version(&self) -> (u32, u32) {
        (1, 0)
    }

    /// `wsgi.multithread`: true (green threads run concurrently).
    pub fn multithread(&self) -> bool {
        true
    }

    /// `wsgi.multiprocess`: false.
    pub fn multiprocess(&self) -> bool {
        false
    }

    /// `wsgi.run_once`: false.
    pub fn run_once(&self) -> bool {
        false
    }

    /// `wsgi.input_terminated`: true — `wsgi.input` reads return EOF at the end
    /// of the body (chunked bodies included), so apps may read to EOF.
    pub fn input_terminated(&self) -> bool {
        true
    }

    /// eventlet's `headers_raw`: every header line as received (original name
    /// case, duplicates and underscore names included), values trimmed.
    pub fn headers_raw(&self) -> impl Iterator<Item = (&str, &str)> {
        self.st.raw.iter().map(|h| (self.s(h.key), self.s(h.value)))
    }

    /// `eventlet.posthooks`: run `hook(environ)` after the response was sent
    /// (or the client went away), in the order added.
    pub fn add_posthook(&mut self, hook: impl FnOnce(&Environ<'_>) + 'static) {
        self.posthooks.push(Box::new(hook));
    }

    /// The posthook list itself, to inspect or replace.
    pub fn posthooks(&mut self) -> &mut Vec<Posthook> {
        &mut self.posthooks
    }

    pub(crate) fn take_posthooks(&mut self) -> Vec<Posthook> {
        std::mem::take(&mut self.posthooks)
    }

    /// Whether a posthook was added for this request.
    pub(crate) fn has_posthooks(&self) -> bool {
        !self.posthooks.is_empty()
    }

    /// `eventlet.minimum_write_chunk_size`: override the server's response
    /// coalescing size for this request (0 or 1: flush every chunk).
    pub fn set_minimum_write_chunk_size(&mut self, n: usize) {
        self.min_chunk = Some(n);
    }

    /// `eventlet.set_idle`: mark the connection idle so that a server
    /// shutdown closes it instead of waiting for it (for long-lived streams).
    pub fn set_idle(&self) {
        if let Some(state) = &self.conn_state {
            let _ = state.compare_exchange(
                crate::server::STATE_REQUEST,
                crate::server::STATE_IDLE,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
        }
    }

    /// Store a middleware value of any type under `key`.
    pub fn insert_ext<T: Any>(&mut self, key: &str, value: T) {
        self.ext.insert(key.to_string(), Box::new(value));
    }

    /// A middleware value stored with [`insert_ext`](Self::insert_ext).
    pub fn ext<T: Any>(&self, key: &str) -> Option<&T> {
        self.ext.get(key).and_then(|b| b.downcast_ref())
    }

    /// Mutable access to a middleware value.
    pub fn ext_mut<T: Any>(&mut self, key: &str) -> Option<&mut T> {
        self.ext.get_mut(key).and_then(|b| b.downcast_mut())
    }
}

impl std::ops::Index<&str> for Environ<'_> {
    type Output = str;
    /// `env["PATH_INFO"]`; panics if the variable is not set, like a
    /// Python `KeyError`. Use [`Environ::get`] for optional keys.
    fn index(&self, key: &str) -> &str {
        match self.get(key) {
            Some(v) => v,
            None => panic!("environ has no key {key:?}"),
        }
    }
}

impl fmt::Debug for Environ<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.vars()).finish()
    }
}

/// Append bytes as latin-1 chars (PEP 3333's "bytes as native strings").
pub(crate) fn push_latin1(out: &mut String, bytes: &[u8]) {
    if bytes.is_ascii() {
        // SAFETY: every ASCII byte sequence is valid UTF-8 (and means the
        // same in latin-1); `is_ascii` was checked just above.
        out.push_str(unsafe { std::str::from_utf8_unchecked(bytes) });
    } else {
        out.extend(bytes.iter().map(|&b| b as char));
    }
}

/// `%XX` → the byte, as a latin-1 char; malformed escapes are kept as they are.
fn percent_decode_latin1(raw: &[u8], out: &mut String) {
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

thread_local! {
    /// The storage of idle connections' environs, most recently used last. A
    /// request takes the top one, whose memory is still in the CPU's caches,
    /// instead of its own connection's storage, which went cold while
    /// it idled (at 1000 connections, writing them was the largest share of the
    /// cache misses per request, measured with callgrind's cache model); idle
    /// connections hold none. One pool per worker thread (a green thread
    /// takes from the pool of the worker it runs on): no lock, and the set
    /// taken last is in that core's caches.
    static SPARE: std::cell::RefCell<Vec<Storage>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// More spare sets than requests in flight at once buy nothing.
const SPARE_MAX: usize = 64;

/// A header-name byte as its `HTTP_*` key has it: `-` → `_`, upper case.
const fn http_key_byte(b: u8) -> u8 {
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
