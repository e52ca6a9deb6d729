//! `Environ`: the WSGI environ of one request.

use crate::input::Input;
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

/// A hook run after the response was sent (eventlet's `eventlet.posthooks`).
pub type Posthook = Box<dyn FnOnce(&Environ<'_>)>;

/// One CGI variable (or raw header): key and value in one string (one
/// allocation each, reused from request to request).
#[derive(Default)]
pub(crate) struct Var {
    text: String,
    split: usize,
}

impl Var {
    pub(crate) fn key(&self) -> &str {
        &self.text[..self.split]
    }

    pub(crate) fn value(&self) -> &str {
        &self.text[self.split..]
    }

    /// The value, to append to: it is the tail of the string.
    pub(crate) fn value_tail(&mut self) -> &mut String {
        &mut self.text
    }

    /// Start over with the key `write_key` writes and an empty value.
    #[inline]
    fn reset(&mut self, write_key: impl FnOnce(&mut String)) {
        self.text.clear();
        write_key(&mut self.text);
        self.split = self.text.len();
    }

    fn set_value(&mut self, value: &str) {
        self.text.truncate(self.split);
        self.text.push_str(value);
    }
}

/// The WSGI environ: CGI variables by name (`env["PATH_INFO"]`), the typed
/// WSGI and eventlet entries as methods, and room for middleware values of
/// any type ([`insert_ext`](Self::insert_ext)).
///
/// Header bytes ≥ 0x80 are mapped to the chars U+0080..U+00FF (latin-1), as
/// PEP 3333 says, so no request byte is lost or rejected for not being UTF-8.
pub struct Environ<'c> {
    vars: Vec<Var>,
    len: usize,
    /// A filter over the `HTTP_*` keys set (see `http_key_bit`): a header
    /// whose bit is clear needs no search for an earlier line to join.
    http_keys: u64,
    pub(crate) input: Input<'c>,
    raw_headers: Vec<Var>,
    raw_len: usize,
    posthooks: Vec<Posthook>,
    ext: HashMap<String, Box<dyn Any>>,
    pub(crate) min_chunk: Option<usize>,
    pub(crate) conn_state: Option<Arc<AtomicU8>>,
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
            vars: Vec::with_capacity(24),
            len: 0,
            http_keys: 0,
            input,
            raw_headers: Vec::new(),
            raw_len: 0,
            posthooks: Vec::new(),
            ext: HashMap::new(),
            min_chunk: None,
            conn_state: None,
            errors: ErrorsSink::default(),
        }
    }

    /// Forget the previous request, keeping every allocation for the next.
    pub(crate) fn clear(&mut self) {
        if self.vars.capacity() == 0 {
            self.take_spare_storage();
        }
        self.len = 0;
        self.http_keys = 0;
        self.raw_len = 0;
        self.posthooks.clear();
        self.ext.clear();
        self.min_chunk = None;
    }

    /// Hand this environ's strings to the next request of any connection
    /// while this one idles (see [`SPARE`]); [`clear`](Self::clear) takes
    /// storage back for the next request.
    pub(crate) fn park_storage(&mut self) {
        self.clear();
        if self.vars.capacity() == 0 {
            return;
        }
        let storage = (
            std::mem::take(&mut self.vars),
            std::mem::take(&mut self.raw_headers),
        );
        let mut spare = SPARE.lock().unwrap_or_else(|p| p.into_inner());
        if spare.len() < SPARE_MAX {
            spare.push(storage);
        }
    }

    fn take_spare_storage(&mut self) {
        let spare = SPARE.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match spare {
            Some((vars, raw)) => {
                self.vars = vars;
                self.raw_headers = raw;
            }
            None => self.vars.reserve(24),
        }
    }

    /// The CGI variable `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars[..self.len]
            .iter()
            .find(|v| v.key() == key)
            .map(Var::value)
    }

    /// Set a CGI variable (a middleware rewriting `PATH_INFO`, say).
    pub fn set(&mut self, key: &str, value: &str) {
        self.slot(key).set_value(value);
    }

    /// Remove a CGI variable; returns whether it was set.
    pub fn remove(&mut self, key: &str) -> bool {
        match self.vars[..self.len].iter().position(|v| v.key() == key) {
            Some(i) => {
                self.vars[i..self.len].rotate_left(1);
                self.len -= 1;
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
        self.vars[..self.len].iter().map(|v| (v.key(), v.value()))
    }

    /// The variable's value buffer, found or appended (reusing old strings).
    fn slot(&mut self, key: &str) -> &mut Var {
        if let Some(i) = self.vars[..self.len].iter().position(|v| v.key() == key) {
            return &mut self.vars[i];
        }
        self.push_key(|k| k.push_str(key))
    }

    /// Append a variable whose key is written by `write_key` (no lookup: the
    /// server fills a fresh environ).
    pub(crate) fn push_key(&mut self, write_key: impl FnOnce(&mut String)) -> &mut Var {
        let var = next_slot(&mut self.vars, &mut self.len);
        var.reset(write_key);
        // The value is still empty: the text is the key.
        if let Some(rest) = var.text.as_bytes().strip_prefix(b"HTTP_") {
            self.http_keys |= http_key_bit(rest);
        }
        var
    }

    /// Append a variable the server knows is not set yet.
    pub(crate) fn push(&mut self, key: &str, value: &str) {
        self.push_key(|k| k.push_str(key))
            .value_tail()
            .push_str(value);
    }

    /// Append a variable with a latin-1 value.
    pub(crate) fn push_latin1(&mut self, key: &str, value: &[u8]) {
        push_latin1(self.push_key(|k| k.push_str(key)).value_tail(), value);
    }

    /// Append to (comma-join) or create the `HTTP_*` variable for a header.
    pub(crate) fn add_header_var(&mut self, key_from_name: &[u8], value: &[u8]) {
        let existing = if self.http_keys & http_key_bit(key_from_name) != 0 {
            self.vars[..self.len]
                .iter()
                .position(|v| key_matches(v.key(), key_from_name))
        } else {
            None
        };
        match existing {
            Some(i) => {
                let v = self.vars[i].value_tail();
                v.push(',');
                push_latin1(v, value);
            }
            None => {
                let var = self.push_key(|k| write_http_key(k, key_from_name));
                push_latin1(var.value_tail(), value);
            }
        }
    }

    pub(crate) fn push_raw_header(&mut self, name: &[u8], value: &[u8]) {
        let h = next_slot(&mut self.raw_headers, &mut self.raw_len);
        h.reset(|k| push_latin1(k, name));
        push_latin1(h.value_tail(), value);
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
        self.raw_headers[..self.raw_len]
            .iter()
            .map(|h| (h.key(), h.value()))
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

/// The variable strings of idle connections' environs, most recently used
/// last. A request takes the top one, whose memory is still in the CPU's
/// caches, instead of its own connection's strings, which went cold while
/// it idled (at 1000 connections, writing them was the largest share of the
/// cache misses per request, measured with callgrind's cache model); idle
/// connections hold none. A std mutex: the critical sections are a push or
/// a pop.
type Storage = (Vec<Var>, Vec<Var>);
static SPARE: Mutex<Vec<Storage>> = Mutex::new(Vec::new());
/// More spare sets than requests in flight at once buy nothing.
const SPARE_MAX: usize = 64;

/// The used prefix of `slots` grown by one, reusing an old entry's strings.
#[inline]
fn next_slot<'v>(slots: &'v mut Vec<Var>, used: &mut usize) -> &'v mut Var {
    if *used == slots.len() {
        slots.push(Var::default());
    }
    *used += 1;
    &mut slots[*used - 1]
}

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
