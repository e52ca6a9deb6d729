//! `StartResponse` and the response writer: status line, headers, framing
//! (Content-Length, chunked, close-delimited), coalescing, HEAD/204/304.

use crate::connio::{ConnIo, QUEUE_MAX};
use crate::headers::Headers;
use crate::logfmt::digits_before;
use crate::status;
use std::cell::RefCell;
use std::fmt;
use std::io;

mod memo;
#[cfg(test)]
mod wire_tests;

/// `HTTP/1.1 ` before the status.
const STATUS_PREFIX_LEN: usize = 9;

/// Where [`StartResponse::start`] is in the last call's record.
struct Replay {
    /// Where the next header's record starts (or would).
    at: usize,
    /// While matching: where the record of the last header that matched
    /// starts (0: none did), whose state is the writer's (read once, at
    /// the end or at the first difference).
    last: usize,
    /// All headers so far were the same as last time.
    matching: bool,
    /// The call is being recorded (false once the record outgrew its limit).
    recording: bool,
}

/// The server's lines after the app's head: the framing line, the `Date`
/// line of a second, and the last line; equal tails are equal bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tail {
    line: FramingLine,
    /// The second of the `Date` line; `None` when the app sent its own.
    date: Option<u64>,
    last: LastLine,
}

/// The framing header the server adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FramingLine {
    None,
    Length(u64),
    Chunked,
}

/// What ends the head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LastLine {
    /// `Connection: close` and the blank line.
    Close,
    /// Only the blank line (the client did not ask for keep-alive).
    Blank,
    /// `Connection: keep-alive` (and `Keep-Alive: timeout=N` when the server
    /// is configured with an idle timeout) and the blank line.
    KeepAlive,
}

/// How the response body is delimited on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OutFraming {
    /// `Content-Length`: bytes still allowed.
    Length(u64),
    Chunked,
    /// Delimited by closing the connection (HTTP/1.0 without a length).
    Close,
    /// HEAD, 1xx, 204, 304: no body bytes at all.
    None,
}

/// What the connection told the writer about the request: set for each
/// request (a few flags: passed and stored in one move).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RequestInfo {
    pub http11: bool,
    pub is_head: bool,
    pub is_connect: bool,
    pub client_keep_alive: bool,
    /// Keep-alive is allowed by the request (before the server's, the
    /// state's and the app's say).
    pub may_keep_alive: bool,
}

/// What the server told the writer about the connection: set once, when
/// the connection's writer is made.
#[derive(Debug)]
pub(crate) struct ConnInfo {
    /// Keep-alive is on and the server speaks HTTP/1.1.
    pub keep_alive_allowed: bool,
    /// [`memo::flags`] of the two settings below.
    pub memo_flags: u8,
    pub capitalize: bool,
    pub keep_alive_header: Option<u64>,
    /// `max_http_version = HTTP/1.0`: every response says HTTP/1.0 and closes.
    pub http10_only: bool,
    /// The connection's shutdown state: a stopping server closes after this response.
    pub state: std::sync::Arc<crate::reaper::ConnState>,
    /// Unread request body beyond this is not drained: the connection closes.
    pub max_drain: u64,
}

impl ConnInfo {
    pub(crate) fn new(
        opts: &crate::options::ServerOptions,
        state: std::sync::Arc<crate::reaper::ConnState>,
    ) -> ConnInfo {
        use crate::options::{HttpVersion, Keepalive};
        let version_ok = opts.max_http_version == HttpVersion::Http11;
        ConnInfo {
            keep_alive_allowed: opts.keepalive != Keepalive::Disabled && version_ok,
            memo_flags: memo::flags(opts.capitalize_response_headers, !version_ok),
            capitalize: opts.capitalize_response_headers,
            keep_alive_header: match opts.keepalive {
                Keepalive::Idle(d) if d.as_secs() > 0 => Some(d.as_secs()),
                _ => None,
            },
            http10_only: !version_ok,
            state,
            max_drain: opts.max_drain,
        }
    }
}

/// An app-supplied status or header that cannot be sent (→ 500).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidResponse(pub String);

impl fmt::Display for InvalidResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid response from the application: {}", self.0)
    }
}

impl std::error::Error for InvalidResponse {}

/// `start_response` already sent the headers; the `exc_info` form hands the
/// error back (PEP 3333: re-raise).
#[derive(Debug)]
pub struct HeadersAlreadySent<E>(pub E);

impl<E> fmt::Display for HeadersAlreadySent<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("start_response: the headers were already sent")
    }
}

impl<E: fmt::Debug> std::error::Error for HeadersAlreadySent<E> {}

/// WSGI's `start_response` callable, and the legacy `write` it returns.
///
/// ```no_run
/// # use eventlet_wsgi::{Body, Environ, StartResponse};
/// fn app(_env: &mut Environ, start_response: &mut StartResponse) -> Body {
///     start_response.start("200 OK", [("Content-Type", "text/plain")]);
///     Body::from("Hello, World!\r\n")
/// }
/// ```
pub struct StartResponse<'c> {
    io: &'c RefCell<ConnIo>,
    conn: ConnInfo,
    pub(crate) req: RequestInfo,
    pub(crate) code: u16,
    /// The status line and the app's headers as they go on the wire
    /// (`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n`), written by `start`,
    /// then the server's lines (`tail`), written by `send_headers`, which
    /// copies the whole head in one go. Kept from one request to the next
    /// with `memo`; changed only through [`app_head`](Self::app_head).
    head: Vec<u8>,
    /// The server's lines that follow the app's head in `head` (after
    /// `app_end`), kept for the next response while they stay the same:
    /// the whole head is then copied in one go. `None`: `head` is the app's
    /// head alone.
    tail: Option<Tail>,
    app_end: usize,
    /// What `head` was made from (see [`memo`]): the next request's
    /// identical `start` call reuses it.
    memo: Vec<u8>,
    app_length: Option<u64>,
    app_date: bool,
    app_close: bool,
    started: bool,
    pub(crate) invalid: Option<InvalidResponse>,
    pub(crate) framing: OutFraming,
    pub(crate) close: bool,
    /// Bytes handed to the socket, headers and framing included (eventlet's
    /// `body_length` log field).
    pub(crate) bytes_sent: u64,
    pending: Vec<u8>,
    pub(crate) broken: bool,
}

impl fmt::Debug for StartResponse<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StartResponse")
            .field("started", &self.started)
            .field("status_code", &self.code)
            .finish_non_exhaustive()
    }
}

impl<'c> StartResponse<'c> {
    /// The connection's writer: it lives as long as the connection and is
    /// [`reset`](Self::reset) for each request, so that the connection's
    /// settings are set once and the buffers (and the last head, see
    /// [`memo`]) are kept from one request to the next.
    pub(crate) fn new(io: &'c RefCell<ConnIo>, conn: ConnInfo) -> StartResponse<'c> {
        StartResponse {
            io,
            conn,
            req: RequestInfo::default(),
            code: 200,
            head: Vec::new(),
            tail: None,
            app_end: 0,
            memo: Vec::new(),
            app_length: None,
            app_date: false,
            app_close: false,
            started: false,
            invalid: None,
            framing: OutFraming::None,
            close: false,
            bytes_sent: 0,
            pending: Vec::new(),
            broken: false,
        }
    }

    /// Start the response to a new request: what the last one set goes,
    /// the last head stays for [`memo`]'s reuse.
    #[inline]
    pub(crate) fn reset(&mut self, req: RequestInfo) {
        self.req = req;
        self.code = 200;
        self.app_length = None;
        self.app_date = false;
        self.app_close = false;
        self.started = false;
        if self.invalid.is_some() {
            self.invalid = None;
        }
        self.framing = OutFraming::None;
        self.close = false;
        self.bytes_sent = 0;
        self.broken = false;
    }

    /// The request is over: a streamed body's coalescing buffer is not
    /// kept while the connection idles (it was the request's before).
    #[inline]
    pub(crate) fn end_request(&mut self) {
        if self.pending.capacity() != 0 {
            self.pending = Vec::new();
        }
    }

    /// Set the status (`"200 OK"`) and headers of the response. They are sent
    /// with the first body bytes. Calling it again before anything was sent
    /// replaces them (eventlet's behaviour); after, it only changes the status
    /// recorded in the access log. An invalid status or header (CR, LF, NUL,
    /// other control characters, a non-token name, chars above U+00FF) makes
    /// the response a 500: it is never written.
    #[inline(always)]
    pub fn start(&mut self, status: &str, headers: impl Headers) {
        // The usual call, the same status as last time, is told apart here
        // (in the app's code); anything else is `begin`'s.
        let hit = self.begin_hit(status);
        let Some(mut replay) = hit.or_else(|| self.begin(status)) else {
            return;
        };
        headers.each(&mut |k, v| {
            if replay.matching {
                // The same header as last time at this place: its bytes are
                // in `head` already.
                if let Some(next) = memo::header_hit(&self.memo, replay.at, k, v) {
                    replay.last = replay.at;
                    replay.at = next;
                    return;
                }
            }
            self.header(&mut replay, k, v);
        });
        self.end(&replay);
    }

    /// [`begin`](Self::begin) when the status is the one recorded and the
    /// headers were not sent; `None` for anything else.
    #[inline(always)]
    fn begin_hit(&mut self, status: &str) -> Option<Replay> {
        // The code was checked when it was recorded.
        let (code, at) = memo::status_hit(&self.memo, self.conn.memo_flags, status)?;
        if self.io.borrow().headers_sent {
            return None;
        }
        self.code = code;
        self.started = true;
        if self.invalid.is_some() {
            self.invalid = None;
        }
        // `head` starts with this very status line.
        Some(Replay {
            at,
            last: 0,
            matching: true,
            recording: true,
        })
    }

    /// The status part of [`start`](Self::start) when
    /// [`begin_hit`](Self::begin_hit) did not take it: a status other than
    /// the recorded one, or headers already sent (then only the code
    /// changes). `None` when the headers are not to be looked at.
    #[inline(never)]
    fn begin(&mut self, status: &str) -> Option<Replay> {
        let flags = self.conn.memo_flags;
        let hit = memo::status_hit(&self.memo, flags, status);
        let code = match hit {
            // Checked when it was recorded.
            Some((code, _)) => code,
            None => match status::parse_status(status) {
                Ok(c) => c,
                Err(e) => {
                    self.invalid = Some(InvalidResponse(format!("status {status:?}: {e}")));
                    return None;
                }
            },
        };
        self.code = code;
        if self.io.borrow().headers_sent {
            return None;
        }
        // A recorded status with the headers unsent is `begin_hit`'s.
        debug_assert!(hit.is_none());
        self.started = true;
        self.invalid = None;
        self.set_state(memo::State::default());
        let http10_only = self.conn.http10_only;
        let h = self.app_head();
        h.clear();
        h.reserve(status.len() + 128);
        h.extend_from_slice(if http10_only {
            b"HTTP/1.0 "
        } else {
            b"HTTP/1.1 "
        });
        h.extend_from_slice(status.as_bytes());
        h.extend_from_slice(b"\r\n");
        let recording = memo::push_status(&mut self.memo, flags, code, status);
        Some(Replay {
            at: self.memo.len(),
            last: 0,
            matching: false,
            recording,
        })
    }

    /// What the headers so far told `send_headers`.
    #[inline(always)]
    fn set_state(&mut self, state: memo::State) {
        self.app_length = state.app_length;
        self.app_date = state.app_date;
        self.app_close = state.app_close;
    }

    /// A header of [`start`](Self::start) that is not the same as last
    /// time: added to `head` (and to the record).
    #[inline(never)]
    fn header(&mut self, replay: &mut Replay, name: &str, value: &str) {
        if self.invalid.is_some() {
            return;
        }
        if replay.matching {
            // The first difference: the rest of the old head and record go.
            replay.matching = false;
            let state = memo::state_after(&self.memo, replay.last);
            self.memo.truncate(replay.at);
            self.app_head().truncate(state.head_end);
            self.set_state(state);
        }
        if let Err(e) = self.add_header(name, value) {
            self.invalid = Some(e);
            return;
        }
        let state = memo::State {
            head_end: self.head.len(),
            app_length: self.app_length,
            app_date: self.app_date,
            app_close: self.app_close,
        };
        if replay.recording && !memo::push_header(&mut self.memo, name, value, &state) {
            replay.recording = false;
            self.memo.clear();
        }
    }

    /// The end of [`start`](Self::start).
    #[inline(always)]
    fn end(&mut self, replay: &Replay) {
        if self.invalid.is_some() {
            // `head` holds part of a response that is never sent.
            self.memo.clear();
            return;
        }
        if replay.matching {
            let state = memo::state_after(&self.memo, replay.last);
            if replay.at != self.memo.len() {
                // Fewer headers than last time.
                self.memo.truncate(replay.at);
                self.app_head().truncate(state.head_end);
            }
            self.set_state(state);
        }
    }

    /// `start_response(status, headers, exc_info)`: replace the response if
    /// nothing was sent yet, otherwise hand `err` back (PEP 3333's re-raise).
    pub fn start_with_exc_info<E>(
        &mut self,
        status: &str,
        headers: impl Headers,
        err: E,
    ) -> Result<(), HeadersAlreadySent<E>> {
        if self.headers_sent() {
            return Err(HeadersAlreadySent(err));
        }
        self.start(status, headers);
        Ok(())
    }

    /// Whether the status line went out already.
    pub fn headers_sent(&self) -> bool {
        self.io.borrow().headers_sent
    }

    /// Whether `start` was called.
    pub fn started(&self) -> bool {
        self.started
    }

    /// The status code set by the app (200 until `start` is called).
    pub fn status_code(&self) -> u16 {
        self.code
    }

    // Inlined into `header`: one call less per header.
    #[inline(always)]
    fn add_header(&mut self, name: &str, value: &str) -> Result<(), InvalidResponse> {
        // The names the server treats specially, told apart by length first:
        // most headers an app sends are none of them.
        let special = match name.len() {
            4 => name.eq_ignore_ascii_case("date"),
            10 => {
                name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive")
            }
            14 => name.eq_ignore_ascii_case("content-length"),
            17 => name.eq_ignore_ascii_case("transfer-encoding"),
            _ => false,
        };
        if special {
            // The value is read before it is written: it must be valid first.
            status::validate_header_value(value).map_err(|e| invalid_header(name, e))?;
            if !self.special_header(name, value)? {
                return Ok(());
            }
        }
        // Validated as they are written (one pass over each); on an error
        // the response is a 500 and `head` is never sent.
        let capitalize = self.conn.capitalize;
        status::write_header_line(name, value, capitalize, self.app_head())
            .map_err(|e| invalid_header(name, e))
    }

    /// Content-Length, Connection, Transfer-Encoding, Keep-Alive or Date:
    /// whether the header is written as the app gave it.
    #[inline(never)]
    fn special_header(&mut self, name: &str, value: &str) -> Result<bool, InvalidResponse> {
        if name.eq_ignore_ascii_case("content-length") {
            let n = value
                .trim()
                .parse::<u64>()
                .map_err(|_| InvalidResponse(format!("Content-Length {value:?}")))?;
            if self.app_length.is_some_and(|m| m != n) {
                return Err(InvalidResponse("two different Content-Length".into()));
            }
            if self.app_length.is_some() {
                return Ok(false);
            }
            self.app_length = Some(n);
        } else if name.eq_ignore_ascii_case("connection") {
            // The server owns the connection header; honour a close request.
            if value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                self.app_close = true;
            }
            return Ok(false);
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            || name.eq_ignore_ascii_case("keep-alive")
        {
            // Framing is the server's job (PEP 3333: no hop-by-hop headers).
            return Ok(false);
        } else if name.eq_ignore_ascii_case("date") {
            self.app_date = true;
        }
        Ok(true)
    }

    /// The legacy `write(data)` callable: sends the headers first if needed.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        if !self.started {
            return Err(io::Error::other("write() before start_response()"));
        }
        if let Some(e) = &self.invalid {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, e.clone()));
        }
        self.send_headers(None)?;
        self.write_framed(data)?;
        self.flush()
    }

    /// Queue the status line and headers, choosing the framing. `known_len`
    /// is the body length when the app returned a sized body.
    pub(crate) fn send_headers(&mut self, known_len: Option<u64>) -> io::Result<()> {
        let mut io = self.io.borrow_mut();
        if io.headers_sent {
            return Ok(());
        }
        let start = io.out.len();
        self.put_head(&mut io, known_len, 0);
        self.bytes_sent += (io.out.len() - start) as u64;
        // Big heads go out at once; small ones wait for the body.
        let r = if io.out.len() > QUEUE_MAX {
            io.flush_out()
        } else {
            Ok(())
        };
        drop(io);
        self.check(r)
    }

    /// The head of [`send_headers`](Self::send_headers) into the output
    /// buffer, with room reserved for `extra` body bytes after it: decides
    /// the close and the framing.
    #[inline(always)]
    fn put_head(&mut self, io: &mut ConnIo, known_len: Option<u64>, extra: usize) {
        let stopping = self.conn.state.load(std::sync::atomic::Ordering::Acquire)
            == crate::server::STATE_CLOSE;
        let unread_body = io.continue_owed || io.body_failed || io.body_left > self.conn.max_drain;
        self.close = !self.req.may_keep_alive
            || !self.conn.keep_alive_allowed
            || self.app_close
            || self.close
            || stopping
            || unread_body;
        let bodyless = status::is_bodyless(self.code, self.req.is_head)
            || (self.req.is_connect && (200..300).contains(&self.code));
        let (framing, line) = match (self.app_length, known_len) {
            _ if bodyless => match (self.app_length, known_len, self.req.is_head) {
                (None, Some(n), true) => (OutFraming::None, FramingLine::Length(n)),
                _ => (OutFraming::None, FramingLine::None),
            },
            (Some(n), _) => (OutFraming::Length(n), FramingLine::None),
            (None, Some(n)) => (OutFraming::Length(n), FramingLine::Length(n)),
            (None, None) if self.req.http11 && !self.conn.http10_only => {
                (OutFraming::Chunked, FramingLine::Chunked)
            }
            (None, None) => {
                self.close = true;
                (OutFraming::Close, FramingLine::None)
            }
        };
        self.framing = framing;
        let last = if self.close {
            LastLine::Close
        } else if !self.req.client_keep_alive {
            LastLine::Blank
        } else {
            LastLine::KeepAlive
        };
        let tail = Tail {
            line,
            date: (!self.app_date).then(crate::date::now_secs),
            last,
        };
        if self.tail != Some(tail) {
            self.write_tail(tail);
        }
        // The head is written straight into the connection's output buffer,
        // in one piece: a small response leaves in one write with its body.
        let h = &mut io.out;
        // One reservation for all: the body's append then never grows it.
        h.reserve(self.head.len() + extra);
        h.extend_from_slice(&self.head);
        io.headers_sent = true;
    }

    /// Put the server's lines `tail` after the app's head in `head`, in
    /// place of the last response's.
    #[cold]
    #[inline(never)]
    fn write_tail(&mut self, tail: Tail) {
        let keep_alive_header = self.conn.keep_alive_header;
        let h = self.app_head();
        let app_end = h.len();
        match tail.line {
            FramingLine::None => {}
            FramingLine::Length(n) => write_content_length(h, n),
            FramingLine::Chunked => h.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
        }
        if let Some(secs) = tail.date {
            h.extend_from_slice(&crate::date::date_line_at(secs));
        }
        // The last line and the blank line after it as one constant each.
        match tail.last {
            LastLine::Close => h.extend_from_slice(b"Connection: close\r\n\r\n"),
            LastLine::Blank => h.extend_from_slice(b"\r\n"),
            LastLine::KeepAlive => match keep_alive_header {
                Some(t) => {
                    h.extend_from_slice(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
                    write_decimal(h, t);
                    h.extend_from_slice(b"\r\n\r\n");
                }
                None => h.extend_from_slice(b"Connection: keep-alive\r\n\r\n"),
            },
        }
        self.app_end = app_end;
        self.tail = Some(tail);
    }

    /// `head` without the server's lines, to be changed.
    fn app_head(&mut self) -> &mut Vec<u8> {
        if self.tail.take().is_some() {
            self.head.truncate(self.app_end);
        }
        &mut self.head
    }

    fn check(&mut self, r: io::Result<()>) -> io::Result<()> {
        if r.is_err() {
            self.broken = true;
            self.close = true;
        }
        r
    }

    /// Frame and queue body bytes (headers must be out).
    pub(crate) fn write_framed(&mut self, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let r = match self.framing {
            OutFraming::None => Ok(()),
            OutFraming::Close => self.queue(data),
            OutFraming::Length(left) => {
                let n = self.take_length(left, data.len());
                self.queue(&data[..n])
            }
            OutFraming::Chunked => self.queue_chunk(data),
        };
        self.check(r)
    }

    /// How many of `len` body bytes go out under `Length(left)` framing,
    /// counted off it. More than the app's Content-Length (the rest would be
    /// read as the next response) is cut, and the connection closes.
    #[inline(always)]
    fn take_length(&mut self, left: u64, len: usize) -> usize {
        let n = (len as u64).min(left) as usize;
        if n < len {
            self.close = true;
        }
        self.framing = OutFraming::Length(left - n as u64);
        n
    }

    /// `data` as one chunk. Apart so that the sized path above stays small.
    #[inline(never)]
    fn queue_chunk(&mut self, data: &[u8]) -> io::Result<()> {
        let (size, from) = chunk_size_line(data.len());
        self.queue(&size[from..])?;
        self.queue(data)?;
        self.queue(b"\r\n")
    }

    fn queue(&mut self, data: &[u8]) -> io::Result<()> {
        self.bytes_sent += data.len() as u64;
        self.io.borrow_mut().queue(data)
    }

    /// Coalesce body bytes until `min` are pending (eventlet's
    /// `minimum_chunk_size`), then send them as one chunk.
    pub(crate) fn write_coalesced(&mut self, data: &[u8], min: usize) -> io::Result<()> {
        if self.pending.is_empty() && data.len() >= min {
            self.send_headers(None)?;
            self.write_framed(data)?;
            return self.flush();
        }
        self.pending.extend_from_slice(data);
        if self.pending.len() >= min.max(1) {
            self.flush_pending()?;
        }
        Ok(())
    }

    pub(crate) fn flush_pending(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        self.send_headers(None)?;
        let r = self.write_framed(&pending);
        self.pending = pending;
        self.pending.clear();
        r?;
        self.flush()
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        let r = self.io.borrow_mut().flush_out();
        self.check(r)
    }

    /// End the body: the chunked terminator, and a close if the app sent
    /// fewer bytes than its Content-Length promised.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        match self.framing {
            OutFraming::Chunked => {
                let r = self.queue(b"0\r\n\r\n");
                self.check(r)?;
            }
            OutFraming::Length(left) if left > 0 => self.close = true,
            _ => {}
        }
        // With a pipelined request already buffered, keep the response queued:
        // it leaves with the next ones, before the connection waits to read
        // (one write for a batch, as hyper does).
        if !self.close && !self.io.borrow().buffered().is_empty() {
            return Ok(());
        }
        self.flush()
    }

    /// Forget what the app set, to send an error response instead.
    pub(crate) fn reset_for_error(&mut self) {
        self.started = false;
        self.invalid = None;
        self.pending.clear();
        self.app_head().clear();
        self.memo.clear();
        self.app_length = None;
        self.app_date = false;
    }

    /// Send a complete sized response (headers and body): a small one is
    /// written into the output buffer in one go (one reservation, one borrow
    /// of the connection) and leaves with one write syscall.
    pub(crate) fn send_sized(&mut self, body: &[u8]) -> io::Result<()> {
        let mut io = self.io.borrow_mut();
        // Within the bound, `send_headers` and `queue` would not flush
        // before the end either: the bytes and the writes are the same.
        if io.headers_sent || io.out.len() + self.head.len() + body.len() > SMALL_RESPONSE {
            drop(io);
            return self.send_sized_apart(body);
        }
        let start = io.out.len();
        self.put_head(&mut io, Some(body.len() as u64), body.len());
        if let OutFraming::Length(left) = self.framing {
            let n = self.take_length(left, body.len());
            io.out.extend_from_slice(&body[..n]);
            // Less than the app's Content-Length: close, as `finish` does.
            if left > n as u64 {
                self.close = true;
            }
        }
        self.bytes_sent += (io.out.len() - start) as u64;
        // As `finish`: a pipelined request already buffered keeps it queued.
        if !self.close && !io.buffered().is_empty() {
            return Ok(());
        }
        let r = io.flush_out();
        drop(io);
        self.check(r)
    }

    /// [`send_sized`](Self::send_sized) in steps, for a big body (it may
    /// leave in several writes) or after the headers were sent.
    #[inline(never)]
    fn send_sized_apart(&mut self, body: &[u8]) -> io::Result<()> {
        self.send_headers(Some(body.len() as u64))?;
        self.write_framed(body)?;
        self.finish()
    }
}

/// A sized response up to this size (head, body and what is queued before
/// it) is written into the output buffer in one go.
const SMALL_RESPONSE: usize = QUEUE_MAX - SERVER_LINES_MAX;

/// The most bytes `send_headers` adds after the app's head: a
/// `Content-Length` line (its longest framing line), the `Date` line, and
/// `Connection: keep-alive`, `Keep-Alive: timeout=<u64>` and the blank line.
const SERVER_LINES_MAX: usize = 38 + crate::date::DATE_LINE_LEN + 44 + 20 + 4;

fn invalid_header(name: &str, e: status::HeaderError) -> InvalidResponse {
    InvalidResponse(format!("header {name:?}: {e}"))
}

/// `Content-Length: n\r\n`, built on the stack and appended as one
/// fixed-size block (a few moves, no `memcpy` call), then cut to its length.
fn write_content_length(h: &mut Vec<u8>, n: u64) {
    const PREFIX: &[u8] = b"Content-Length: ";
    let mut line = [0u8; PREFIX.len() + 20 + 2];
    line[..PREFIX.len()].copy_from_slice(PREFIX);
    let end = PREFIX.len() + decimal_len(n);
    digits_before(n, &mut line, end);
    line[end..end + 2].copy_from_slice(b"\r\n");
    let at = h.len();
    h.extend_from_slice(&line);
    h.truncate(at + end + 2);
}

/// How many decimal digits `n` has; small numbers (body sizes) by compares.
fn decimal_len(n: u64) -> usize {
    match n {
        0..=9 => 1,
        10..=99 => 2,
        100..=999 => 3,
        1000..=9999 => 4,
        _ => n.ilog10() as usize + 1,
    }
}

fn write_decimal(h: &mut Vec<u8>, n: u64) {
    let mut digits = [0u8; 20];
    let from = digits_before(n, &mut digits, 20);
    h.extend_from_slice(&digits[from..]);
}

/// A chunk's size line (`1a2b\r\n`): the buffer and where it starts in it.
fn chunk_size_line(n: usize) -> ([u8; 18], usize) {
    let mut line = [0u8; 18];
    line[16..].copy_from_slice(b"\r\n");
    let mut from = 16;
    let mut v = n;
    loop {
        from -= 1;
        line[from] = b"0123456789abcdef"[v & 0xf];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    (line, from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_length_lines_match_format() {
        let mut cases: Vec<u64> = (0..=1000).collect();
        let mut p = 1u64;
        while let Some(next) = p.checked_mul(10) {
            cases.extend([p - 1, p, p + 1, next - 1]);
            p = next;
        }
        cases.extend([u64::MAX - 1, u64::MAX]);
        for n in cases {
            let mut out = b"x".to_vec();
            write_content_length(&mut out, n);
            assert_eq!(out, format!("xContent-Length: {n}\r\n").into_bytes());
            let mut out = Vec::new();
            write_decimal(&mut out, n);
            assert_eq!(out, n.to_string().into_bytes());
        }
    }

    #[test]
    fn chunk_size_lines_match_format() {
        let mut cases: Vec<usize> = (0..=4096).collect();
        for shift in 0..usize::BITS {
            let p = 1usize << shift;
            cases.extend([p - 1, p, p + 1]);
        }
        cases.push(usize::MAX);
        for n in cases {
            let (line, from) = chunk_size_line(n);
            assert_eq!(&line[from..], format!("{n:x}\r\n").as_bytes(), "{n}");
        }
    }
}
