//! `Environ`: the WSGI environ of one request.

use crate::input::Input;
use std::any::Any;
use std::cell::{Cell, OnceCell};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A hook run after the response was sent (eventlet's `eventlet.posthooks`).
pub type Posthook = Box<dyn FnOnce(&Environ<'_>)>;

mod request;
#[cfg(test)]
mod tests;
mod vars;

use request::{HttpHeader, Request, Span};
use vars::{Source, Texts, Vars};

/// The WSGI environ: CGI variables by name (`env["PATH_INFO"]`), the typed
/// WSGI and eventlet entries as methods, and room for middleware values of
/// any type ([`insert_ext`](Self::insert_ext)).
///
/// Header bytes ≥ 0x80 are mapped to the chars U+0080..U+00FF (latin-1), as
/// PEP 3333 says, so no request byte is lost or rejected for not being UTF-8.
// Lazy: a request only copies its head and the spans of its parts; `get`
// answers a CGI variable from them. The variable list itself is built (as
// the server always built it) only when something needs all of it or
// changes it: `vars()`, `set`, `remove`, the server's `environ` option, a
// repeated header's joined value.
// `repr(C)`: what every request reads or writes comes first (the head's
// spans, the body's state), so that a request touches a few consecutive
// cache lines of its connection's environ rather than one in each of its
// twelve (each a cache miss at 1000 connections); what an app may add (the
// variable list, posthooks, middleware values) is looked at only when
// `extras` says it did; the connection's own values, read on request, last.
#[repr(C)]
pub struct Environ<'c> {
    req: Request,
    /// Something may have been put in `vars`, `posthooks`, `min_chunk` or
    /// `ext` since the environ was last parked (all are empty otherwise).
    extras: Cell<bool>,
    /// `wsgi.url_scheme` is `https` (and `HTTPS` is `on`).
    tls: bool,
    pub(crate) input: Input<'c>,
    /// Every variable, once built (see [`full`](Self::full)).
    vars: OnceCell<Vars>,
    posthooks: Vec<Posthook>,
    pub(crate) min_chunk: Option<usize>,
    ext: HashMap<String, Box<dyn Any>>,
    /// A previous request's variable list, cleared, for the next to build in.
    spare_vars: Cell<Vars>,
    /// `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR`, `REMOTE_PORT` of the
    /// connection, written once (see [`set_connection`](Self::set_connection)).
    conn_text: String,
    conn_vars: [Span; 4],
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
            req: Request::default(),
            extras: Cell::new(false),
            tls: false,
            vars: OnceCell::new(),
            spare_vars: Cell::default(),
            conn_text: String::new(),
            conn_vars: [Span::default(); 4],
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
            *slot = Span(start, self.conn_text.len());
        }
    }

    /// Start the next request's environ: record `head`, parsed from `buf`
    /// (copied: the buffer moves on), in an environ that is new or was
    /// [parked](Self::park_storage) after the previous request (the
    /// connection loop parks it as the connection goes idle, so it is not
    /// cleared twice per request). `environ` is
    /// the server's `environ` option, set after `wsgi.url_scheme`/`HTTPS`
    /// and before the request's variables; `tls` makes the scheme `https`.
    pub(crate) fn load(
        &mut self,
        buf: &[u8],
        head: &mut crate::head::Head,
        tls: bool,
        environ: &HashMap<String, String>,
    ) {
        debug_assert!(
            self.vars.get().is_none() && self.posthooks.is_empty() && self.ext.is_empty(),
            "load() needs a new or parked environ"
        );
        self.tls = tls;
        self.req.load(buf, head);
        if !environ.is_empty() {
            // Set before the request's own variables, which it may shadow
            // or join: the list is built now, in the server's order.
            self.build_with(environ);
        }
    }

    #[inline(never)]
    fn build_with(&mut self, environ: &HashMap<String, String>) {
        self.extras.set(true);
        self.vars = OnceCell::from(self.build_vars(environ));
    }

    /// The connection goes idle: forget the request's variable list,
    /// posthooks and middleware values (keeping the allocations for the
    /// next, unless a big request grew them), so that an idle connection
    /// holds little. The head stays, for [`load`](Self::load) to overwrite.
    pub(crate) fn park_storage(&mut self) {
        if self.extras.replace(false) {
            self.park_extras();
        }
        if self.req.text.capacity() > IDLE_KEEP_BYTES
            || self.req.headers.capacity() > IDLE_KEEP_HEADERS
        {
            self.req = Request::default();
        }
    }

    /// [`park_storage`](Self::park_storage) of what an app added: the
    /// built variable list becomes the spare one (or is dropped, if a big
    /// request grew it); posthooks and middleware values go.
    #[cold]
    #[inline(never)]
    fn park_extras(&mut self) {
        self.posthooks.clear();
        self.ext.clear();
        self.min_chunk = None;
        if let Some(mut vars) = self.vars.take() {
            vars.clear();
            if vars.capacity() > IDLE_KEEP_BYTES {
                vars = Vars::default();
            }
            *self.spare_vars.get_mut() = vars;
        }
    }

    /// What the variable list is built from.
    fn source(&self) -> Source<'_> {
        Source {
            req: &self.req,
            texts: self.texts(),
            conn_vars: self.conn_vars,
            tls: self.tls,
        }
    }

    #[inline]
    fn texts(&self) -> Texts<'_> {
        Texts {
            req: &self.req.text,
            conn: &self.conn_text,
        }
    }

    /// Every variable, built on first need.
    fn full(&self) -> &Vars {
        self.extras.set(true);
        self.vars.get_or_init(|| self.build_vars(&HashMap::new()))
    }

    /// The variable list, built in the spare list's allocation, with the
    /// server's `environ` option set first.
    #[inline(never)]
    fn build_vars(&self, environ: &HashMap<String, String>) -> Vars {
        let mut vars = self.spare_vars.take();
        vars.build(&self.source(), environ);
        vars
    }

    /// Every variable, built on first need, to change.
    fn full_mut(&mut self) -> (&mut Vars, Texts<'_>) {
        self.full();
        let texts = Texts {
            req: &self.req.text,
            conn: &self.conn_text,
        };
        let vars = self.vars.get_mut().expect("built by full()");
        (vars, texts)
    }

    /// The CGI variable `key`, if set.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&str> {
        // What apps read most (routing), without a lookup: inlined into the
        // caller, a constant key folds to one of these tests or none.
        if self.built().is_none() {
            if key == "REQUEST_METHOD" {
                return Some(self.req.str(self.req.method));
            }
            if key == "PATH_INFO" {
                return Some(self.req.path_info_str());
            }
        }
        self.get_any(key)
    }

    /// `HTTP_X_FORWARDED_FOR` (what the access log reads for every line),
    /// the header found without [`get`](Self::get)'s key dispatch while the
    /// variable list is not built.
    pub(crate) fn forwarded_for(&self) -> Option<&str> {
        const KEY: &str = "HTTP_X_FORWARDED_FOR";
        if self.built().is_some() {
            return self.get(KEY);
        }
        // The names whose `HTTP_*` key is this one: `X-Forwarded-For` in
        // any case (a name with `_` has no key).
        let text = self.req.text.as_bytes();
        let mut found = None;
        for (n, v) in &self.req.headers {
            if n.len() == 15 && text[n.clone()].eq_ignore_ascii_case(b"x-forwarded-for") {
                if found.is_some() {
                    // Repeated: the variable is the lines joined.
                    return self.get(KEY);
                }
                found = Some(Span::of(v));
            }
        }
        found.map(|v| self.req.str(v))
    }

    /// The variable list, if this request built one (looked at only when
    /// `extras` says something may have been added).
    #[inline]
    fn built(&self) -> Option<&Vars> {
        if self.extras.get() {
            self.vars.get()
        } else {
            None
        }
    }

    fn get_any(&self, key: &str) -> Option<&str> {
        match self.built() {
            Some(vars) => vars.get(key, self.texts()),
            None => self.get_lazy(key),
        }
    }

    /// [`get`](Self::get) before the variable list is built: the answer the
    /// list would give, from the request's spans.
    fn get_lazy(&self, key: &str) -> Option<&str> {
        let r = &self.req;
        // Headers first: what apps and the access log (`X-Forwarded-For`)
        // ask for most, without trying every other name before.
        if let Some(rest) = key.strip_prefix("HTTP_") {
            let span = match r.http_header(rest.as_bytes()) {
                HttpHeader::One(v) => v,
                HttpHeader::Missing => return None,
                // The lines' values joined: the list has them.
                HttpHeader::Repeated => return self.full().get(key, self.texts()),
            };
            return Some(r.str(span));
        }
        let span = match key {
            "REQUEST_METHOD" => r.method,
            "PATH_INFO" => return Some(r.path_info_str()),
            "QUERY_STRING" => r.query?,
            "wsgi.url_scheme" => return Some(if self.tls { "https" } else { "http" }),
            "HTTPS" => return self.tls.then_some("on"),
            "SCRIPT_NAME" => return Some(""),
            "RAW_PATH_INFO" => match r.raw_path {
                Some(raw) => raw,
                None => return Some("/"),
            },
            "REQUEST_URI" => r.target,
            "SERVER_PROTOCOL" => return Some(if r.http11 { "HTTP/1.1" } else { "HTTP/1.0" }),
            "SERVER_NAME" => return Some(self.conn_str(0)),
            "SERVER_PORT" => return Some(self.conn_str(1)),
            "REMOTE_ADDR" => return Some(self.conn_str(2)),
            "REMOTE_PORT" => return Some(self.conn_str(3)),
            "GATEWAY_INTERFACE" => return Some("CGI/1.1"),
            "CONTENT_TYPE" => r.header(b"content-type", false)?,
            "CONTENT_LENGTH" => r.header(b"content-length", true)?,
            _ => return None,
        };
        Some(r.str(span))
    }

    fn conn_str(&self, i: usize) -> &str {
        let Span(a, b) = self.conn_vars[i];
        &self.conn_text[a..b]
    }

    /// Set a CGI variable (a middleware rewriting `PATH_INFO`, say).
    pub fn set(&mut self, key: &str, value: &str) {
        let (vars, t) = self.full_mut();
        vars.set(key, value, t);
    }

    /// Remove a CGI variable; returns whether it was set.
    pub fn remove(&mut self, key: &str) -> bool {
        let (vars, t) = self.full_mut();
        vars.remove(key, t)
    }

    /// Whether the CGI variable `key` is set.
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Every CGI variable, in the order set.
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.full().iter(self.texts())
    }

    /// The request line as received (latin-1), until the next request.
    pub(crate) fn request_line(&self) -> &str {
        self.req.str(self.req.request_line)
    }

    /// Whether the variable list has been built (tests of the lazy path).
    #[cfg(test)]
    fn is_materialized(&self) -> bool {
        self.vars.get().is_some()
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
        let r = &self.req;
        r.headers
            .iter()
            .map(|(n, v)| (r.str(Span::of(n)), r.str(Span::of(v))))
    }

    /// `eventlet.posthooks`: run `hook(environ)` after the response was sent
    /// (or the client went away), in the order added.
    pub fn add_posthook(&mut self, hook: impl FnOnce(&Environ<'_>) + 'static) {
        self.extras.set(true);
        self.posthooks.push(Box::new(hook));
    }

    /// The posthook list itself, to inspect or replace.
    pub fn posthooks(&mut self) -> &mut Vec<Posthook> {
        self.extras.set(true);
        &mut self.posthooks
    }

    pub(crate) fn take_posthooks(&mut self) -> Vec<Posthook> {
        std::mem::take(&mut self.posthooks)
    }

    /// Whether a posthook was added for this request.
    pub(crate) fn has_posthooks(&self) -> bool {
        self.extras.get() && !self.posthooks.is_empty()
    }

    /// `eventlet.minimum_write_chunk_size`: override the server's response
    /// coalescing size for this request (0 or 1: flush every chunk).
    pub fn set_minimum_write_chunk_size(&mut self, n: usize) {
        self.extras.set(true);
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
        self.extras.set(true);
        self.ext.insert(key.to_string(), Box::new(value));
    }

    /// A middleware value stored with [`insert_ext`](Self::insert_ext).
    pub fn ext<T: Any>(&self, key: &str) -> Option<&T> {
        self.ext.get(key).and_then(|b| b.downcast_ref())
    }

    /// Mutable access to a middleware value.
    pub fn ext_mut<T: Any>(&mut self, key: &str) -> Option<&mut T> {
        self.extras.set(true);
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

/// An idle connection frees a request text (or variable list) bigger than
/// this, and a header list longer than `IDLE_KEEP_HEADERS`: a browser's
/// head fits, a rare huge one is not held on to by every idle connection.
const IDLE_KEEP_BYTES: usize = 2048;
const IDLE_KEEP_HEADERS: usize = 64;
