//! The connection's socket with its read and write buffers, shared by the
//! connection loop, `wsgi.input` and the response writer of one green thread.

use crate::reaper::{span_ms, Link, NO_SPAN};
use eventlet::net::Stream;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

/// First read-buffer size: holds a typical request head. A connection keeps
/// one this size for its whole life (see [`ConnIo::shrink_idle`]).
const READ_FIRST: usize = 1024;
/// Later growth step, for big heads, pipelined batches and bodies.
const READ_CHUNK: usize = 16 * 1024;
/// Queued response bytes past which [`ConnIo::queue`] writes the queue out
/// (a socket-sized batch).
pub(crate) const QUEUE_MAX: usize = 64 * 1024;

// `repr(C)`: what every request reads or writes first, the socket (whose
// own hot fields lead) next, the write timeout (set once) last: fewer cache
// lines per request at 1000 connections.
#[repr(C)]
pub(crate) struct ConnIo {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Response bytes not yet handed to the socket.
    pub out: Vec<u8>,
    /// The timeouts as [`Link::arm`] takes them, converted when set.
    read_span: u64,
    write_span: u64,
    /// Bytes read from / written to the socket, for the statistics.
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The server's reaper enforces the timeouts (`reaper.rs`): each
    /// operation publishes its deadline and the socket keeps no may timer.
    /// `None`: the timeouts are the socket's own.
    pub link: Option<Link>,
    read_timeout: Option<Duration>,
    /// Request body bytes still unread (Content-Length bodies only).
    pub body_left: u64,
    /// The app took the connection over (`Environ::upgrade`) with this status.
    pub upgraded: Option<u16>,
    /// The status line of the current response was written (or queued).
    pub headers_sent: bool,
    /// The request asked for 100-continue and the app has not read yet: the
    /// client may never send the body, so the connection cannot be reused.
    pub continue_owed: bool,
    /// Reading the request body failed: the connection cannot be reused.
    pub body_failed: bool,
    /// A read / a write failed on its deadline since the flags were cleared.
    pub read_timed_out: bool,
    pub write_timed_out: bool,
    pub stream: Stream,
    write_timeout: Option<Duration>,
}

impl ConnIo {
    pub fn new(stream: Stream) -> ConnIo {
        ConnIo {
            stream,
            buf: Vec::new(),
            start: 0,
            end: 0,
            out: Vec::new(),
            headers_sent: false,
            continue_owed: false,
            body_left: 0,
            body_failed: false,
            upgraded: None,
            read_timeout: None,
            write_timeout: None,
            read_span: NO_SPAN,
            write_span: NO_SPAN,
            bytes_in: 0,
            bytes_out: 0,
            read_timed_out: false,
            write_timed_out: false,
            link: None,
        }
    }

    /// How far [`now_ms`](Self::now_ms) may lag the real time: the reaper's
    /// tick, or 0 without one.
    pub fn clock_slack_ms(&self) -> u64 {
        self.link.as_ref().map_or(0, Link::tick_ms)
    }

    /// Milliseconds on the clock the timeouts use: the reaper's coarse one,
    /// or (without a reaper) the real time since the first call.
    pub fn now_ms(&self) -> u64 {
        match &self.link {
            Some(l) => l.now_ms(),
            None => {
                static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
                let ms = EPOCH.get_or_init(Instant::now).elapsed().as_millis();
                u64::try_from(ms).unwrap_or(u64::MAX >> 2)
            }
        }
    }

    /// Unread bytes already received.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Mark `n` buffered bytes as read.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.end - self.start);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read more bytes from the socket into the buffer; `Ok(0)` at EOF.
    /// The buffer grows to hold at least `READ_CHUNK` free bytes.
    pub fn fill(&mut self) -> io::Result<usize> {
        // Responses to pipelined requests are batched: whatever is queued
        // leaves before we wait for more input.
        if !self.out.is_empty() {
            self.flush_out()?;
        }
        if self.start > 0 && self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.is_empty() {
            self.buf.resize(READ_FIRST, 0);
        } else if self.buf.len() - self.end < READ_FIRST / 2 {
            let want = self.end + READ_CHUNK;
            self.buf.resize(want, 0);
        }
        let r = read_armed(
            &mut self.stream,
            self.link.as_ref(),
            self.read_span,
            &mut self.buf[self.end..],
        );
        match r {
            Ok(n) => {
                self.end += n;
                self.bytes_in += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.read_failed(e)),
        }
    }

    /// Read from the socket into `dst`, bypassing the (empty) buffer.
    pub fn read_unbuffered(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        debug_assert!(self.start == self.end);
        if !self.out.is_empty() {
            self.flush_out()?;
        }
        match read_armed(&mut self.stream, self.link.as_ref(), self.read_span, dst) {
            Ok(n) => {
                self.bytes_in += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.read_failed(e)),
        }
    }

    fn read_failed(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::TimedOut {
            self.read_timed_out = true;
        }
        e
    }

    fn write_failed(&mut self, e: io::Error) -> io::Error {
        if e.kind() == io::ErrorKind::TimedOut {
            self.write_timed_out = true;
        }
        e
    }

    /// Replace the buffered input with `bytes` (benchmarks only: no socket).
    pub(crate) fn load(&mut self, bytes: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(bytes);
        self.start = 0;
        self.end = bytes.len();
    }

    /// Give grown buffers' memory back while the connection idles.
    ///
    /// A first-size read buffer is kept: the next head read needs it at once
    /// (before it waits), so dropping it saved no memory while idle, and
    /// re-taking it cost a malloc, a free and zeroing 1 KiB per request — 16
    /// cache lines of memory that was cold again by the time the request came
    /// (measured with callgrind's cache model at 1000 connections, where it
    /// was the largest single source of misses).
    pub fn shrink_idle(&mut self) {
        if self.start == self.end {
            if self.buf.capacity() > READ_FIRST {
                self.buf = Vec::new();
            }
            self.start = 0;
            self.end = 0;
        }
        if self.out.is_empty() && self.out.capacity() > READ_FIRST {
            self.out = Vec::new();
        }
    }

    /// Give both buffers back: the app took the connection over, the server
    /// reads and writes nothing more while it runs (an idle WebSocket).
    pub fn release_buffers(&mut self) {
        debug_assert!(self.start == self.end && self.out.is_empty());
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
        self.out = Vec::new();
    }

    /// Bytes read and written since the last call.
    pub fn take_bytes(&mut self) -> (u64, u64) {
        let r = (self.bytes_in, self.bytes_out);
        self.bytes_in = 0;
        self.bytes_out = 0;
        r
    }

    /// Put `other` (a handle of the same socket) in the stream's place and
    /// return the old one; the timeouts in force carry over to `other`.
    pub fn swap_stream(&mut self, other: Stream) -> Stream {
        let old = std::mem::replace(&mut self.stream, other);
        if self.link.is_none() {
            // Valid values: they were accepted before.
            let _ = self.stream.set_read_timeout(self.read_timeout);
            let _ = self.stream.set_write_timeout(self.write_timeout);
        }
        old
    }

    /// The inactivity limit of each read from now on.
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if self.read_timeout != t {
            if self.link.is_none() {
                self.stream.set_read_timeout(t)?;
            } else if t.is_some_and(|d| d.is_zero()) {
                return Err(zero_timeout());
            }
            self.read_timeout = t;
            self.read_span = span_ms(t);
        }
        Ok(())
    }

    /// The inactivity limit of each write from now on.
    pub fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        if self.write_timeout != t {
            if self.link.is_none() {
                self.stream.set_write_timeout(t)?;
            } else if t.is_some_and(|d| d.is_zero()) {
                return Err(zero_timeout());
            }
            self.write_timeout = t;
            self.write_span = span_ms(t);
        }
        Ok(())
    }

    /// Send everything queued in `out`.
    pub fn flush_out(&mut self) -> io::Result<()> {
        if !self.out.is_empty() {
            let r = write_armed(
                &mut self.stream,
                self.link.as_ref(),
                self.write_span,
                &self.out,
            );
            self.bytes_out += self.out.len() as u64;
            self.out.clear();
            r.map_err(|e| self.write_failed(e))?;
        }
        // A plain socket's flush writes nothing (TLS connections have no link).
        let r = match (self.stream.flush(), &self.link) {
            (Err(e), Some(l)) => Err(timed_out_if_fired(l, e)),
            (r, _) => r,
        };
        r.map_err(|e| self.write_failed(e))
    }

    /// Queue `data`, sending the queue once it grows past a socket-sized batch.
    pub fn queue(&mut self, data: &[u8]) -> io::Result<()> {
        if self.out.len() + data.len() > QUEUE_MAX {
            return self.queue_past_batch(data);
        }
        self.out.extend_from_slice(data);
        Ok(())
    }

    /// [`queue`](Self::queue) when the batch is full: send it first, and a
    /// big `data` straight from the caller's buffer. Out of line, so that
    /// the common small queue has no socket code (and frame) to set up.
    #[cold]
    #[inline(never)]
    fn queue_past_batch(&mut self, data: &[u8]) -> io::Result<()> {
        self.flush_out()?;
        if data.len() > 16 * 1024 {
            self.bytes_out += data.len() as u64;
            return write_armed(&mut self.stream, self.link.as_ref(), self.write_span, data)
                .map_err(|e| self.write_failed(e));
        }
        self.out.extend_from_slice(data);
        Ok(())
    }
}

/// One read, its deadline published for the reaper while it may wait. A
/// read the reaper cut (its EOF or error) fails with `TimedOut`, as may's
/// timer made it fail.
// Inlined: its callers are thin, and a frame per request costs ~15
// instructions (the socket read itself is inlined into this one).
#[inline(always)]
fn read_armed(
    stream: &mut Stream,
    link: Option<&Link>,
    span: u64,
    dst: &mut [u8],
) -> io::Result<usize> {
    loop {
        if let Some(l) = link {
            l.arm(span, false);
        }
        let r = stream.read(dst);
        let Some(l) = link else {
            match r {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => return r,
            }
        };
        l.disarm();
        return match r {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(0) if !dst.is_empty() && l.fired() => Err(reaped()),
            Err(e) => Err(timed_out_if_fired(l, e)),
            r => r,
        };
    }
}

/// `write_all`, each write's deadline published for the reaper (an
/// inactivity limit per write, as the socket's own timeout was).
#[inline(always)]
fn write_armed(
    stream: &mut Stream,
    link: Option<&Link>,
    span: u64,
    mut data: &[u8],
) -> io::Result<()> {
    let Some(l) = link else {
        return stream.write_all(data);
    };
    while !data.is_empty() {
        l.arm(span, true);
        let r = stream.write(data);
        l.disarm();
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timed_out_if_fired(l, e)),
        }
    }
    Ok(())
}

fn timed_out_if_fired(l: &Link, e: io::Error) -> io::Error {
    if l.fired() && e.kind() != io::ErrorKind::TimedOut {
        reaped()
    } else {
        e
    }
}

fn reaped() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "timed out")
}

fn zero_timeout() -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        "cannot set a 0 duration timeout",
    )
}
