//! `Input`: `wsgi.input`, the request body as a stream.

use crate::chunked::{ChunkError, ChunkedDecoder, ChunkedLimits, Step};
use crate::connio::ConnIo;
use std::cell::RefCell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::time::Duration;

/// A malformed chunked body met while reading `wsgi.input` (eventlet's
/// `ChunkReadError`). Reads return it inside an [`io::Error`] of kind
/// `InvalidData`; the connection is closed after the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkReadError(pub ChunkError);

impl fmt::Display for ChunkReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "chunked encoding error: {}", self.0)
    }
}

impl std::error::Error for ChunkReadError {}

/// The body was larger than the server's `max_body_size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyTooLarge;

impl fmt::Display for BodyTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("request body larger than the server allows")
    }
}

impl std::error::Error for BodyTooLarge {}

#[derive(Debug)]
enum Framing {
    Length(u64),
    /// Boxed: the decoder is 80 bytes, and the framing sits on a line every
    /// request touches; chunked bodies are the rare case.
    Chunked(Box<ChunkedDecoder>),
    Done,
}

/// Why the body could not be read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFault {
    /// Bad framing (chunk syntax): the request was malformed → 400.
    Malformed,
    /// Over `max_body_size` → 413.
    TooLarge,
    /// The client went away or stalled.
    Io,
}

/// The first error met reading the body; every later read repeats it.
#[derive(Debug, Clone)]
struct Fault {
    what: BodyFault,
    kind: io::ErrorKind,
    chunk: Option<ChunkError>,
    msg: String,
}

impl Fault {
    fn to_io(&self) -> io::Error {
        match (self.chunk, self.what) {
            (Some(c), _) => io::Error::new(io::ErrorKind::InvalidData, ChunkReadError(c)),
            (None, BodyFault::TooLarge) => io::Error::new(io::ErrorKind::InvalidData, BodyTooLarge),
            _ => io::Error::new(self.kind, self.msg.clone()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Continue {
    None,
    Owed,
    Sent,
}

/// `wsgi.input`: the request body. `Content-Length` and chunked bodies are
/// streamed from the socket with bounded memory; reads return EOF (`Ok(0)`)
/// at the end of the body, never past it.
///
/// eventlet's methods: [`read`](Self::read_all) (`read()`),
/// [`read_n`](Self::read_n) (`read(n)`), [`readline`](Self::readline),
/// [`readlines`](Self::readlines), iteration (lines, as PEP 3333 says),
/// plus [`std::io::Read`] and [`std::io::BufRead`].
///
/// With `Expect: 100-continue` (HTTP/1.1 only), the first read sends
/// `HTTP/1.1 100 Continue`, unless the response already started.
// `repr(C)`: the fields a body-less request touches come first, on one
// cache line (at 1000 connections each line of a connection's state is a
// cache miss per request).
#[repr(C)]
pub struct Input<'c> {
    io: &'c RefCell<ConnIo>,
    /// The last [`reset`](Self::reset) was for a request without a body, and
    /// nothing has changed since but (maybe) `continue_headers`: reads of a
    /// finished body change nothing, so the next body-less request's reset
    /// has nothing to redo.
    bodyless: bool,
    cont: Continue,
    was_chunked: bool,
    framing: Framing,
    max_body: Option<u64>,
    timeout: Option<Duration>,
    continue_headers: Vec<u8>,
    /// Decoded bytes not yet handed out (for `BufRead` and partial chunks).
    staged: Vec<u8>,
    staged_pos: usize,
    total: u64,
    fault: Option<Fault>,
    limits: ChunkedLimits,
}

impl<'c> Input<'c> {
    pub(crate) fn new(io: &'c RefCell<ConnIo>, limits: ChunkedLimits) -> Input<'c> {
        Input {
            io,
            framing: Framing::Done,
            limits,
            staged: Vec::new(),
            staged_pos: 0,
            cont: Continue::None,
            continue_headers: Vec::new(),
            total: 0,
            max_body: None,
            fault: None,
            timeout: None,
            was_chunked: false,
            bodyless: true,
        }
    }

    /// The connection's IO (for `Environ::upgrade`).
    pub(crate) fn conn_io(&self) -> &'c RefCell<ConnIo> {
        self.io
    }

    /// Prepare for the next request's body.
    pub(crate) fn reset(
        &mut self,
        framing: &crate::head::BodyFraming,
        expect_continue: bool,
        max_body: Option<u64>,
        timeout: Option<Duration>,
    ) {
        let empty = matches!(
            framing,
            crate::head::BodyFraming::Empty | crate::head::BodyFraming::Length(0)
        );
        if empty && self.bodyless && self.max_body == max_body && self.timeout == timeout {
            // As the last reset left it: framing done, nothing staged, read
            // or owed, no fault (and the connection's body fields as reset).
            debug_assert!(self.body_done() && self.total == 0 && self.cont == Continue::None);
            self.continue_headers.clear();
            return;
        }
        self.reset_full(framing, expect_continue, max_body, timeout);
    }

    #[inline(never)]
    fn reset_full(
        &mut self,
        framing: &crate::head::BodyFraming,
        expect_continue: bool,
        max_body: Option<u64>,
        timeout: Option<Duration>,
    ) {
        self.framing = match framing {
            crate::head::BodyFraming::Empty => Framing::Done,
            crate::head::BodyFraming::Length(0) => Framing::Done,
            crate::head::BodyFraming::Length(n) => Framing::Length(*n),
            crate::head::BodyFraming::Chunked => {
                Framing::Chunked(Box::new(ChunkedDecoder::new(self.limits.clone())))
            }
        };
        self.staged.clear();
        self.staged_pos = 0;
        self.cont = if expect_continue && !matches!(self.framing, Framing::Done) {
            Continue::Owed
        } else {
            Continue::None
        };
        self.continue_headers.clear();
        {
            let mut io = self.io.borrow_mut();
            io.continue_owed = self.cont == Continue::Owed;
            io.body_failed = false;
            io.body_left = match self.framing {
                Framing::Length(n) => n,
                _ => 0,
            };
        }
        self.total = 0;
        self.max_body = max_body;
        self.fault = None;
        self.timeout = timeout;
        self.was_chunked = matches!(framing, crate::head::BodyFraming::Chunked);
        self.bodyless = matches!(self.framing, Framing::Done) && self.cont == Continue::None;
    }

    /// Read the whole (rest of the) body: eventlet's `read()`.
    pub fn read_all(&mut self) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        self.read_to_end(&mut v)?;
        Ok(v)
    }

    /// Read up to `n` bytes, fewer only at the end of the body: eventlet's
    /// `read(n)`.
    pub fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut v = Vec::new();
        Read::take(Read::by_ref(self), n as u64).read_to_end(&mut v)?;
        Ok(v)
    }

    /// Read one line (up to and including `\n`), at most `limit` bytes:
    /// eventlet's `readline(size)`. Empty at the end of the body.
    pub fn readline(&mut self, limit: Option<usize>) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let cap = limit.unwrap_or(usize::MAX);
        while line.len() < cap {
            let avail = self.fill_buf()?;
            if avail.is_empty() {
                break;
            }
            let room = cap - line.len();
            let take = avail.len().min(room);
            let (n, done) = match avail[..take].iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (take, false),
            };
            line.extend_from_slice(&avail[..n]);
            self.consume(n);
            if done {
                break;
            }
        }
        Ok(line)
    }

    /// Read the remaining lines, stopping once `hint` bytes were read:
    /// eventlet's `readlines(hint)`.
    pub fn readlines(&mut self, hint: Option<usize>) -> io::Result<Vec<Vec<u8>>> {
        let mut lines = Vec::new();
        let mut total = 0;
        loop {
            let line = self.readline(None)?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.push(line);
            if hint.is_some_and(|h| total >= h) {
                break;
            }
        }
        Ok(lines)
    }

    /// Headers to send with the `100 Continue` response (eventlet's
    /// `set_hundred_continue_response_headers`); names are capitalized like
    /// eventlet's (`hundred-continue-header-k` → `Hundred-Continue-Header-K`).
    /// Invalid names or values are refused.
    pub fn set_hundred_continue_response_headers<K, V>(
        &mut self,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> io::Result<()>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut out = Vec::new();
        for (k, v) in headers {
            let (k, v) = (k.as_ref(), v.as_ref());
            crate::status::validate_header(k, v)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
            crate::status::capitalize_header_name(k, &mut out);
            out.extend_from_slice(b": ");
            crate::status::write_latin1(v, &mut out);
            out.extend_from_slice(b"\r\n");
        }
        self.continue_headers = out;
        Ok(())
    }

    /// Send (another) `100 Continue` now (eventlet's
    /// `send_hundred_continue_response`). For a chunked body the client is then
    /// expected to send a whole new chunked body (eventlet's extension for
    /// multiple 100 responses). Does nothing once the response started; an
    /// error if the request had no `Expect: 100-continue`.
    pub fn send_hundred_continue_response(&mut self) -> io::Result<()> {
        if self.cont == Continue::None {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the request did not ask for 100-continue",
            ));
        }
        self.write_continue()?;
        if let Framing::Chunked(d) = &mut self.framing {
            d.reset();
        } else if matches!(self.framing, Framing::Done) && self.was_chunked {
            self.framing = Framing::Chunked(Box::new(ChunkedDecoder::new(self.limits.clone())));
        }
        Ok(())
    }

    fn write_continue(&mut self) -> io::Result<()> {
        self.bodyless = false;
        let mut io = self.io.borrow_mut();
        if io.headers_sent {
            self.cont = Continue::Sent;
            io.continue_owed = false;
            return Ok(());
        }
        let mut msg = Vec::with_capacity(32 + self.continue_headers.len());
        msg.extend_from_slice(b"HTTP/1.1 100 Continue\r\n");
        msg.extend_from_slice(&self.continue_headers);
        msg.extend_from_slice(b"\r\n");
        io.queue(&msg)?;
        io.flush_out()?;
        io.continue_owed = false;
        self.cont = Continue::Sent;
        Ok(())
    }

    /// Whether the whole body was read. A fault also ends the framing, but
    /// the rest of the body may still come: the connection cannot be reused.
    pub(crate) fn finished(&self) -> bool {
        self.bodyless || self.body_done()
    }

    fn body_done(&self) -> bool {
        self.fault.is_none()
            && matches!(self.framing, Framing::Done)
            && self.staged_pos == self.staged.len()
    }

    pub(crate) fn fault(&self) -> Option<BodyFault> {
        self.fault.as_ref().map(|f| f.what)
    }

    /// Read and drop the rest of the body, at most `limit` bytes; true when
    /// the body ended (the connection can be reused).
    pub(crate) fn drain(&mut self, limit: u64) -> bool {
        if self.cont == Continue::Owed {
            return false;
        }
        self.staged_pos = self.staged.len();
        // On the heap: a stack array here would sit in the connection loop's
        // frame (it is inlined there) and make every idle connection's green
        // thread keep one more stack page resident.
        let mut scratch = vec![0u8; 4096];
        let mut left = limit;
        loop {
            match self.read_body(&mut scratch) {
                Ok(0) => return true,
                Ok(n) if (n as u64) <= left => left -= n as u64,
                _ => return false,
            }
        }
    }

    fn fail(&mut self, what: BodyFault, kind: io::ErrorKind, msg: String) -> io::Error {
        self.fail_with(Fault {
            what,
            kind,
            chunk: None,
            msg,
        })
    }

    fn fail_with(&mut self, fault: Fault) -> io::Error {
        self.bodyless = false;
        self.framing = Framing::Done;
        self.io.borrow_mut().body_failed = true;
        let e = fault.to_io();
        self.fault = Some(fault);
        e
    }

    fn sticky_error(&self) -> Option<io::Error> {
        self.fault.as_ref().map(Fault::to_io)
    }

    /// Decode body bytes straight from the connection buffer into `dst`.
    fn read_body(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        if let Some(e) = self.sticky_error() {
            return Err(e);
        }
        if dst.is_empty() || matches!(self.framing, Framing::Done) {
            return Ok(0);
        }
        if self.cont == Continue::Owed {
            self.write_continue()?;
        }
        let n = match &mut self.framing {
            Framing::Done => 0,
            Framing::Length(_) => self.read_length(dst)?,
            Framing::Chunked(_) => self.read_chunked(dst)?,
        };
        self.total += n as u64;
        if self.max_body.is_some_and(|m| self.total > m) {
            return Err(self.fail(
                BodyFault::TooLarge,
                io::ErrorKind::InvalidData,
                BodyTooLarge.to_string(),
            ));
        }
        Ok(n)
    }

    fn fill(&mut self) -> io::Result<()> {
        let r = {
            let mut io = self.io.borrow_mut();
            io.set_read_timeout(self.timeout).and_then(|_| io.fill())
        };
        self.socket_read(r).map(|_| ())
    }

    /// A body read from the socket: EOF before the end of the body, or an
    /// IO error, is a fault that every later read repeats.
    fn socket_read(&mut self, r: io::Result<usize>) -> io::Result<usize> {
        match r {
            Ok(0) => Err(self.fail(
                BodyFault::Io,
                io::ErrorKind::UnexpectedEof,
                "unexpected end of file while reading the request body".into(),
            )),
            Ok(n) => Ok(n),
            Err(e) => Err(self.fail(BodyFault::Io, e.kind(), e.to_string())),
        }
    }

    fn read_length(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        let Framing::Length(remaining) = self.framing else {
            return Ok(0);
        };
        if self.io.borrow().buffered().is_empty() {
            if dst.len() >= 4096 {
                // Big reads go straight from the socket to the caller.
                return self.read_direct(dst, remaining);
            }
            self.fill()?;
        }
        let n = {
            let mut io = self.io.borrow_mut();
            let avail = io.buffered();
            let n = avail.len().min(dst.len()).min(remaining as usize);
            dst[..n].copy_from_slice(&avail[..n]);
            io.consume(n);
            n
        };
        Ok(self.advance_length(remaining, n))
    }

    fn read_direct(&mut self, dst: &mut [u8], remaining: u64) -> io::Result<usize> {
        let want = dst.len().min(remaining.min(usize::MAX as u64) as usize);
        let r = {
            let mut io = self.io.borrow_mut();
            io.set_read_timeout(self.timeout)
                .and_then(|_| io.read_unbuffered(&mut dst[..want]))
        };
        let n = self.socket_read(r)?;
        Ok(self.advance_length(remaining, n))
    }

    /// `n` more bytes of a Content-Length body were read.
    fn advance_length(&mut self, remaining: u64, n: usize) -> usize {
        let left = remaining - n as u64;
        self.io.borrow_mut().body_left = left;
        self.framing = if left == 0 {
            Framing::Done
        } else {
            Framing::Length(left)
        };
        n
    }

    fn read_chunked(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        loop {
            let Framing::Chunked(dec) = &mut self.framing else {
                return Ok(0);
            };
            let mut io = self.io.borrow_mut();
            let step = dec.decode(io.buffered());
            match step {
                Ok((used, Step::Data(r))) => {
                    let data = &io.buffered()[r.clone()];
                    let n = data.len().min(dst.len());
                    dst[..n].copy_from_slice(&data[..n]);
                    // What does not fit waits in `staged`.
                    self.staged.clear();
                    self.staged.extend_from_slice(&data[n..]);
                    self.staged_pos = 0;
                    io.consume(used);
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Ok((used, Step::NeedMore)) => {
                    io.consume(used);
                    drop(io);
                    self.fill()?;
                }
                Ok((used, Step::Done)) => {
                    io.consume(used);
                    drop(io);
                    self.framing = Framing::Done;
                    return Ok(0);
                }
                Err(e) => {
                    drop(io);
                    return Err(self.fail_with(Fault {
                        what: BodyFault::Malformed,
                        kind: io::ErrorKind::InvalidData,
                        chunk: Some(e),
                        msg: String::new(),
                    }));
                }
            }
        }
    }
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.staged_pos < self.staged.len() {
            let avail = &self.staged[self.staged_pos..];
            let n = avail.len().min(buf.len());
            buf[..n].copy_from_slice(&avail[..n]);
            self.staged_pos += n;
            return Ok(n);
        }
        self.read_body(buf)
    }
}

impl BufRead for Input<'_> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.staged_pos >= self.staged.len() {
            let mut tmp = std::mem::take(&mut self.staged);
            tmp.resize(8192, 0);
            let n = match self.read_body(&mut tmp) {
                Ok(n) => n,
                Err(e) => {
                    tmp.clear();
                    self.staged = tmp;
                    self.staged_pos = 0;
                    return Err(e);
                }
            };
            // `read_body` may have staged the tail of a chunk: keep order.
            let tail = std::mem::take(&mut self.staged);
            tmp.truncate(n);
            tmp.extend_from_slice(&tail);
            self.staged = tmp;
            self.staged_pos = 0;
        }
        Ok(&self.staged[self.staged_pos..])
    }

    fn consume(&mut self, amt: usize) {
        self.staged_pos = (self.staged_pos + amt).min(self.staged.len());
    }
}

/// Iterating `wsgi.input` yields its lines (PEP 3333), each with its `\n`.
impl Iterator for Input<'_> {
    type Item = io::Result<Vec<u8>>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.readline(None) {
            Ok(line) if line.is_empty() => None,
            r => Some(r),
        }
    }
}

impl fmt::Debug for Input<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Input")
            .field("framing", &self.framing)
            .field("read", &self.total)
            .finish()
    }
}

/// Whether an error from `wsgi.input` is a [`ChunkReadError`].
pub fn is_chunk_read_error(e: &io::Error) -> bool {
    e.get_ref()
        .is_some_and(|inner| inner.downcast_ref::<ChunkReadError>().is_some())
}
