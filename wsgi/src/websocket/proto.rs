//! RFC 6455 framing rules over tungstenite's frame types: the reader turns
//! client frames into messages and control events (or the close code a
//! violation earns), the writer formats server frames. Frame headers are
//! parsed and written here, over slices (tungstenite's `FrameHeader::parse`
//! and `format` go through `Read`/`Write` a field at a time; the unit tests
//! check both against them).
//!
//! tungstenite's own `WebSocket`/`FrameSocket` are not used: they take `&mut`
//! for reads and writes alike (no send while another green thread waits),
//! keep a fixed 128 KiB read buffer (too big for 10k idle connections) and
//! reject RSV1 (no permessage-deflate).

use super::deflate::{Deflater, InflateError, Inflater};
use super::Message;
use std::io::{self, Read, Write};
use tungstenite::protocol::frame::coding::{CloseCode, Control, Data, OpCode};
use tungstenite::protocol::frame::FrameHeader;

/// The read buffer of a new WebSocket: it is what one that never received
/// a burst keeps while idle (10,000 idle ones are the goal). It grows for
/// bigger frames, and to [`GROW_TO`] after a read that filled it (a burst of
/// pipelined frames: read them in one system call next time).
pub(crate) const READ_BUF: usize = 512;
/// The least the read buffer grows to when it is full. A buffer of this
/// size is kept once every byte read was used (a bigger one shrinks back to
/// [`READ_BUF`]): shrinking it between two bursts would cost a reallocation
/// and a second read per burst.
const GROW_TO: usize = 4096;
/// The writer's frame buffer is given back above this.
const SHRINK_ABOVE: usize = 64 * 1024;
/// Fed (queued) output is written once it grows past this: `feed` needs no
/// `flush` to stay bounded.
pub(crate) const FEED_LIMIT: usize = 64 * 1024;
/// A payload up to this is copied behind the frame header (and behind what
/// is queued) for one write; a bigger one goes out in a write of its own,
/// never copied.
const COPY_UP_TO: usize = 16 * 1024;

/// A violation of the protocol by the client: the close code it earns.
#[derive(Debug)]
pub(crate) enum Fault {
    /// 1002.
    Protocol(&'static str),
    /// 1007.
    InvalidData(&'static str),
    /// 1009.
    TooBig(&'static str),
    /// The connection failed or ended without a close frame.
    Io(io::Error),
}

impl Fault {
    /// The close code to send, if any.
    pub(crate) fn close_code(&self) -> Option<(u16, &'static str)> {
        match self {
            Fault::Protocol(r) => Some((1002, r)),
            Fault::InvalidData(r) => Some((1007, r)),
            Fault::TooBig(r) => Some((1009, r)),
            Fault::Io(_) => None,
        }
    }
}

/// What one read produced.
#[derive(Debug)]
pub(crate) enum Event {
    Message(Message),
    Ping(Vec<u8>),
    Pong,
    /// The client's close frame: code and reason, or none.
    Close(Option<(u16, String)>),
}

/// Limits on what a client may send.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_frame: usize,
    pub max_message: usize,
}

struct Partial {
    text: bool,
    compressed: bool,
    data: Vec<u8>,
    /// Bytes of `data` known to be valid UTF-8 (text, uncompressed).
    checked: usize,
}

/// Reads frames from the client; [`next_event`](Self::next_event) assembles
/// them. Resumable after a timed-out read (nothing is lost).
pub(crate) struct Reader<R> {
    pub(crate) stream: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    partial: Option<Partial>,
    inflater: Option<Inflater>,
    limits: Limits,
    /// The client sent a close frame (valid or not): it will send no other.
    pub(crate) saw_close: bool,
    /// A buffer to take the next payload (a message the handler gave back,
    /// see [`give_spare`](Self::give_spare)): no allocation per echoed
    /// message. Dropped before each read from the stream, so that an idle
    /// WebSocket keeps none.
    spare: Vec<u8>,
}

/// The largest buffer kept as [`Reader`]'s spare.
pub(crate) const SPARE_MAX: usize = 4096;

/// What [`Reader::next_event`] runs before it reads from the stream.
pub(crate) type BeforeRead<'a> = &'a mut dyn FnMut() -> io::Result<()>;

/// XOR `data` with the client's masking key (RFC 6455 §5.3), eight bytes
/// at a time.
fn unmask(data: &mut [u8], mask: [u8; 4]) {
    let [a, b, c, d] = mask;
    let m = u64::from_ne_bytes([a, b, c, d, a, b, c, d]);
    let mut chunks = data.chunks_exact_mut(8);
    for ch in &mut chunks {
        let v = u64::from_ne_bytes(ch.try_into().expect("8 bytes")) ^ m;
        ch.copy_from_slice(&v.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at mask byte 0.
    for (i, x) in chunks.into_remainder().iter_mut().enumerate() {
        *x ^= mask[i & 3];
    }
}

/// The frame header at the front of `buf` (RFC 6455 §5.2): the header, its
/// length in bytes and the payload length; `None` while it is incomplete.
/// As tungstenite's `FrameHeader::parse` (reserved opcodes rejected once the
/// header is complete), over a slice: no `Read` cursor per field.
fn parse_header(buf: &[u8]) -> Result<Option<(FrameHeader, usize, u64)>, Fault> {
    let (first, second) = match buf {
        [a, b, ..] => (*a, *b),
        _ => return Ok(None),
    };
    let (len_bytes, short) = match second & 0x7f {
        126 => (2, 0),
        127 => (8, 0),
        n => (0, u64::from(n)),
    };
    let masked = second & 0x80 != 0;
    let hlen = 2 + len_bytes + if masked { 4 } else { 0 };
    if buf.len() < hlen {
        return Ok(None);
    }
    let len = match len_bytes {
        2 => u64::from(u16::from_be_bytes([buf[2], buf[3]])),
        8 => u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
        _ => short,
    };
    let opcode = OpCode::from(first & 0x0f);
    if let OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) = opcode {
        return Err(Fault::Protocol("reserved opcode"));
    }
    let at = 2 + len_bytes;
    let hdr = FrameHeader {
        is_final: first & 0x80 != 0,
        rsv1: first & 0x40 != 0,
        rsv2: first & 0x20 != 0,
        rsv3: first & 0x10 != 0,
        opcode,
        mask: masked.then(|| buf[at..at + 4].try_into().expect("4 bytes")),
    };
    Ok(Some((hdr, hlen, len)))
}

/// Append an unmasked server frame's header (final, RSV2/3 clear) for a
/// payload of `len` bytes: as tungstenite's `FrameHeader::format`, in one
/// `extend_from_slice`.
#[inline]
fn put_header(out: &mut Vec<u8>, opcode: OpCode, rsv1: bool, len: usize) {
    let first = 0x80 | if rsv1 { 0x40 } else { 0 } | u8::from(opcode);
    if len < 126 {
        // Fixed-size: copied inline, no memcpy call (most frames).
        out.extend_from_slice(&[first, len as u8]);
    } else {
        put_long_header(out, first, len);
    }
}

/// [`put_header`] with a 2- or 8-byte extended length.
#[cold]
fn put_long_header(out: &mut Vec<u8>, first: u8, len: usize) {
    let mut h = [first, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let n = if len <= usize::from(u16::MAX) {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    out.extend_from_slice(&h[..n]);
}

/// Extend the checked prefix of a text message; `Err` at the first byte that
/// can never start valid UTF-8 (fail fast, RFC 6455 §8.1).
fn check_utf8(p: &mut Partial) -> Result<(), Fault> {
    match std::str::from_utf8(&p.data[p.checked..]) {
        Ok(_) => p.checked = p.data.len(),
        Err(e) if e.error_len().is_some() => return Err(Fault::InvalidData("invalid UTF-8")),
        Err(e) => p.checked += e.valid_up_to(),
    }
    Ok(())
}

impl<R: Read> Reader<R> {
    pub(crate) fn new(
        stream: R,
        leftover: Vec<u8>,
        limits: Limits,
        inflater: Option<Inflater>,
    ) -> Self {
        let mut buf = leftover;
        let end = buf.len();
        buf.resize(end.max(READ_BUF), 0);
        Reader {
            stream,
            buf,
            start: 0,
            end,
            partial: None,
            inflater,
            limits,
            saw_close: false,
            spare: Vec::new(),
        }
    }

    /// Read more bytes, keeping room for `need` bytes from `start`;
    /// `before_read` runs first (the WebSocket writes its queued output
    /// there: the read may block).
    fn fill(&mut self, need: usize, before_read: BeforeRead<'_>) -> Result<(), Fault> {
        before_read().map_err(Fault::Io)?;
        // The read may block for long: keep no spare while idle.
        self.spare = Vec::new();
        if self.start > 0 && (self.start == self.end || self.buf.len() - self.start < need) {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() < need {
            self.buf.resize(need, 0);
        }
        if self.end == self.buf.len() {
            self.buf.resize((self.buf.len() * 2).max(GROW_TO), 0);
        }
        loop {
            match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    return Err(Fault::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed without a close frame",
                    )))
                }
                Ok(n) => {
                    self.end += n;
                    if self.end == self.buf.len() && self.buf.len() < GROW_TO {
                        // More may be queued behind a full read.
                        self.buf.resize(GROW_TO, 0);
                    }
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Fault::Io(e)),
            }
        }
    }

    /// The next frame's header and payload (unmasked), rules checked that
    /// need no message state.
    fn frame(&mut self, before_read: BeforeRead<'_>) -> Result<(FrameHeader, Vec<u8>), Fault> {
        loop {
            let avail = &self.buf[self.start..self.end];
            let Some((hdr, hlen, len)) = parse_header(avail)? else {
                self.fill(14, before_read)?;
                continue;
            };
            check_header(&hdr, len, self.limits, self.inflater.is_some())?;
            let total = hlen + len as usize;
            if avail.len() < total {
                self.fill(total, before_read)?;
                continue;
            }
            let at = self.start + hlen;
            let src = &self.buf[at..at + len as usize];
            // The spare only for a payload of about its size: a message the
            // app keeps should not hold much more memory than its bytes.
            let cap = self.spare.capacity();
            let mut payload = if cap >= src.len() && cap <= src.len().max(32) * 2 {
                let mut v = std::mem::take(&mut self.spare);
                v.clear();
                v.extend_from_slice(src);
                v
            } else {
                src.to_vec()
            };
            self.start += total;
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
                if self.buf.len() > GROW_TO {
                    self.buf.truncate(READ_BUF);
                    self.buf.shrink_to_fit();
                }
            }
            if let Some(mask) = hdr.mask {
                unmask(&mut payload, mask);
            }
            return Ok((hdr, payload));
        }
    }

    /// Keep `buf` (a message's bytes the caller is done with) for the next
    /// payload, if it is at most [`SPARE_MAX`] and no spare is kept yet.
    pub(crate) fn give_spare(&mut self, buf: Vec<u8>) {
        if self.spare.capacity() == 0 && buf.capacity() <= SPARE_MAX {
            self.spare = buf;
        }
    }

    /// Read until a message, a control frame, or a fault; `before_read`
    /// runs before each read from the stream (none while buffered frames
    /// last).
    pub(crate) fn next_event(&mut self, before_read: BeforeRead<'_>) -> Result<Event, Fault> {
        loop {
            let (hdr, payload) = self.frame(before_read)?;
            match hdr.opcode {
                OpCode::Control(Control::Ping) => return Ok(Event::Ping(payload)),
                OpCode::Control(Control::Pong) => return Ok(Event::Pong),
                OpCode::Control(Control::Close) => {
                    self.saw_close = true;
                    return parse_close(&payload).map(Event::Close);
                }
                OpCode::Control(Control::Reserved(_)) | OpCode::Data(Data::Reserved(_)) => {
                    return Err(Fault::Protocol("reserved opcode"))
                }
                OpCode::Data(Data::Continue) => {
                    if self.partial.is_none() {
                        return Err(Fault::Protocol("continuation without a message"));
                    }
                }
                OpCode::Data(d) => {
                    if self.partial.is_some() {
                        return Err(Fault::Protocol("new message inside a fragmented one"));
                    }
                    if hdr.is_final {
                        // A whole message in one frame (the common case).
                        if payload.len() > self.limits.max_message {
                            return Err(Fault::TooBig("message too big"));
                        }
                        let p = Partial {
                            text: d == Data::Text,
                            compressed: hdr.rsv1,
                            data: payload,
                            checked: 0,
                        };
                        return self.finish(p).map(Event::Message);
                    }
                    self.partial = Some(Partial {
                        text: d == Data::Text,
                        compressed: hdr.rsv1,
                        data: Vec::new(),
                        checked: 0,
                    });
                }
            }
            let p = self.partial.as_mut().expect("a message in progress");
            if p.data.len() + payload.len() > self.limits.max_message {
                return Err(Fault::TooBig("message too big"));
            }
            if p.data.is_empty() {
                p.data = payload;
            } else {
                p.data.extend_from_slice(&payload);
            }
            // Fail fast inside a fragmented text message (RFC 6455 §8.1); a
            // final frame is checked once, in `finish`.
            if p.text && !p.compressed && !hdr.is_final {
                check_utf8(p)?;
            }
            if hdr.is_final {
                let p = self.partial.take().expect("a message in progress");
                return self.finish(p).map(Event::Message);
            }
        }
    }

    fn finish(&mut self, p: Partial) -> Result<Message, Fault> {
        let checked = p.checked;
        let data = if p.compressed {
            let inflater = self.inflater.as_mut().expect("RSV1 only with deflate");
            inflater
                .inflate(&p.data, self.limits.max_message)
                .map_err(|e| match e {
                    InflateError::TooBig => Fault::TooBig("message too big"),
                    InflateError::Corrupt => Fault::InvalidData("invalid compressed data"),
                })?
        } else {
            p.data
        };
        if !p.text {
            return Ok(Message::Binary(data));
        }
        // The first `checked` bytes were validated frame by frame (0 for a
        // compressed message): validate only the rest, each byte once.
        // ASCII (most short text) is checked a word at a time, cheaper
        // than the full validation.
        let rest = &data[checked..];
        if !rest.is_ascii() && std::str::from_utf8(rest).is_err() {
            return Err(Fault::InvalidData("invalid UTF-8"));
        }
        // SAFETY: `data[..checked]` is valid UTF-8 that ends on a character
        // boundary (`check_utf8` only advances `checked` to the end of a
        // valid prefix) and `data[checked..]` was just validated; two valid
        // UTF-8 strings joined are valid UTF-8.
        Ok(Message::Text(unsafe { String::from_utf8_unchecked(data) }))
    }
}

/// Rules on one frame's header alone.
fn check_header(hdr: &FrameHeader, len: u64, limits: Limits, deflate: bool) -> Result<(), Fault> {
    if hdr.mask.is_none() {
        return Err(Fault::Protocol("unmasked client frame"));
    }
    if hdr.rsv2 || hdr.rsv3 {
        return Err(Fault::Protocol("reserved bits set"));
    }
    let starts_message = matches!(hdr.opcode, OpCode::Data(Data::Text | Data::Binary));
    if hdr.rsv1 && !(deflate && starts_message) {
        return Err(Fault::Protocol("RSV1 set without a compressed message"));
    }
    if let OpCode::Control(_) = hdr.opcode {
        if !hdr.is_final {
            return Err(Fault::Protocol("fragmented control frame"));
        }
        if len > 125 {
            return Err(Fault::Protocol("control frame over 125 bytes"));
        }
    }
    if len > limits.max_frame as u64 {
        return Err(Fault::TooBig("frame too big"));
    }
    Ok(())
}

/// A close frame's payload (RFC 6455 §5.5.1, §7.4).
fn parse_close(payload: &[u8]) -> Result<Option<(u16, String)>, Fault> {
    match payload {
        [] => Ok(None),
        [_] => Err(Fault::Protocol("one-byte close payload")),
        [a, b, reason @ ..] => {
            let code = u16::from_be_bytes([*a, *b]);
            if !CloseCode::from(code).is_allowed() {
                return Err(Fault::Protocol("invalid close code"));
            }
            let reason = std::str::from_utf8(reason)
                .map_err(|_| Fault::InvalidData("invalid UTF-8 in close reason"))?;
            Ok(Some((code, reason.to_string())))
        }
    }
}

/// Formats and writes server frames (never masked, never fragmented).
pub(crate) struct Writer<W> {
    pub(crate) stream: W,
    /// Fed frames not yet written (see [`feed`](Self::feed)), then, while
    /// a frame is being written, that frame: they go out in one write.
    out: Vec<u8>,
    deflater: Option<Deflater>,
    /// A close frame went out: nothing may follow it.
    pub(crate) close_sent: bool,
    /// A write failed after part of a frame went out: the stream is unusable
    /// (nothing more is sent; the caller closes the connection).
    pub(crate) torn: bool,
}

/// `write_all` that counts what went out, so that a failed write tells a
/// torn frame from one that never started.
fn write_counted<W: Write>(w: &mut W, mut buf: &[u8], sent: &mut usize) -> io::Result<()> {
    while !buf.is_empty() {
        match w.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *sent += n;
                buf = &buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Whether a frame goes out now or may wait in the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum When {
    Now,
    Queued,
}

impl<W: Write> Writer<W> {
    pub(crate) fn new(stream: W, deflater: Option<Deflater>) -> Self {
        Writer {
            stream,
            out: Vec::new(),
            deflater,
            close_sent: false,
            torn: false,
        }
    }

    /// Whether fed frames wait to be written.
    pub(crate) fn queued(&self) -> bool {
        !self.out.is_empty()
    }

    /// Format a frame behind the queued ones; write them all unless `when`
    /// lets it wait (and the queue stays within [`FEED_LIMIT`]). On an error
    /// before any byte went out, the queue is as it was (this frame is
    /// dropped); after some did, the stream is torn.
    fn frame(&mut self, opcode: OpCode, payload: &[u8], rsv1: bool, when: When) -> io::Result<()> {
        if self.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket is closing",
            ));
        }
        let start = self.out.len();
        if payload.len() <= COPY_UP_TO {
            // Header and payload: one capacity check.
            self.out.reserve(10 + payload.len());
        }
        put_header(&mut self.out, opcode, rsv1, payload.len());
        let mut sent = 0;
        let r = if payload.len() <= COPY_UP_TO {
            self.out.extend_from_slice(payload);
            if when == When::Queued && self.out.len() <= FEED_LIMIT {
                return Ok(());
            }
            write_counted(&mut self.stream, &self.out, &mut sent)
        } else {
            write_counted(&mut self.stream, &self.out, &mut sent)
                .and_then(|_| write_counted(&mut self.stream, payload, &mut sent))
        };
        self.written(r.is_ok(), sent, start);
        r
    }

    /// After a write of the queue from `out[..start]` on: empty the queue,
    /// or keep it as before the failed write when nothing went out.
    fn written(&mut self, ok: bool, sent: usize, start: usize) {
        if !ok && sent == 0 {
            self.out.truncate(start);
            return;
        }
        if !ok {
            self.torn = true;
            self.close_sent = true;
        }
        self.out.clear();
        if self.out.capacity() > SHRINK_ABOVE {
            self.out = Vec::new();
        }
    }

    /// Write the queued frames (nothing to do when none are queued).
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        let mut sent = 0;
        let r = write_counted(&mut self.stream, &self.out, &mut sent);
        let start = self.out.len();
        self.written(r.is_ok(), sent, start);
        r
    }

    /// Send a data message (compressed when deflate was negotiated), after
    /// the queued frames.
    pub(crate) fn message(&mut self, msg: &Message) -> io::Result<()> {
        self.data(msg, When::Now)
    }

    /// Queue a data message: it goes out with the next write (or now, if
    /// the queue grows past [`FEED_LIMIT`]).
    pub(crate) fn feed(&mut self, msg: &Message) -> io::Result<()> {
        self.data(msg, When::Queued)
    }

    fn data(&mut self, msg: &Message, when: When) -> io::Result<()> {
        let (opcode, data) = match msg {
            Message::Text(t) => (OpCode::Data(Data::Text), t.as_bytes()),
            Message::Binary(b) => (OpCode::Data(Data::Binary), b.as_slice()),
        };
        if self.close_sent {
            return self.frame(opcode, data, false, when);
        }
        match self.deflater.as_mut() {
            Some(d) => {
                let mut z = Vec::new();
                d.compress(data, &mut z);
                let r = self.frame(opcode, &z, true, when);
                if r.is_err() {
                    // The compressor's window now holds a message the client
                    // never got: later ones could not be inflated.
                    self.torn = true;
                    self.close_sent = true;
                }
                r
            }
            None => self.frame(opcode, data, false, when),
        }
    }

    /// Whether a compressor is allocated (see [`Deflater::release_if_idle`]).
    pub(crate) fn compressor_live(&self) -> bool {
        self.deflater.as_ref().is_some_and(Deflater::is_live)
    }

    /// Drop the compressor if it was idle for `idle`; true when none is left.
    pub(crate) fn release_idle_compressor(&mut self, idle: std::time::Duration) -> bool {
        self.deflater
            .as_mut()
            .is_none_or(|d| d.release_if_idle(idle))
    }

    pub(crate) fn ping(&mut self, data: &[u8]) -> io::Result<()> {
        self.frame(OpCode::Control(Control::Ping), data, false, When::Now)
    }

    pub(crate) fn pong(&mut self, data: &[u8]) -> io::Result<()> {
        self.frame(OpCode::Control(Control::Pong), data, false, When::Now)
    }

    /// Send a close frame (code and reason, or an empty one) after the
    /// queued frames; afterwards every send fails (and, if this write
    /// failed, the queue is dropped).
    pub(crate) fn close(&mut self, code: Option<u16>, reason: &str) -> io::Result<()> {
        let mut payload = Vec::with_capacity(2 + reason.len());
        if let Some(c) = code {
            payload.extend_from_slice(&c.to_be_bytes());
            // A close payload is at most 125 bytes: cut the reason on a char boundary.
            let mut end = reason.len().min(123);
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            payload.extend_from_slice(&reason.as_bytes()[..end]);
        }
        let r = self.frame(OpCode::Control(Control::Close), &payload, false, When::Now);
        self.close_sent = true;
        self.out = Vec::new();
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    const LIMITS: Limits = Limits {
        max_frame: 1000,
        max_message: 3000,
    };

    /// A masked client frame.
    fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [1u8, 2, 3, 4];
        let mut v = vec![first];
        let len = payload.len();
        if len < 126 {
            v.push(0x80 | len as u8);
        } else if len < 65536 {
            v.push(0x80 | 126);
            v.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            v.push(0x80 | 127);
            v.extend_from_slice(&(len as u64).to_be_bytes());
        }
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        v
    }

    fn events(bytes: Vec<u8>) -> Vec<Result<String, String>> {
        let mut r = Reader::new(Cursor::new(bytes), Vec::new(), LIMITS, None);
        let mut out = Vec::new();
        loop {
            match r.next_event(&mut || Ok(())) {
                Ok(e) => out.push(Ok(format!("{e:?}"))),
                Err(Fault::Io(_)) => return out,
                Err(f) => {
                    out.push(Err(format!("{:?}", f.close_code().unwrap().0)));
                    return out;
                }
            }
        }
    }

    fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
        parts.concat()
    }

    #[test]
    fn messages_and_control_frames() {
        let got = events(cat(&[
            frame(0x81, b"hello"),
            frame(0x82, &[1, 2, 3]),
            frame(0x01, b"frag"),
            frame(0x89, b"p"), // ping inside a fragmented message
            frame(0x80, b"ment"),
            frame(0x8a, b""),
            frame(0x88, &[0x03, 0xe8, b'b', b'y', b'e']),
        ]));
        assert_eq!(
            got,
            vec![
                Ok("Message(Text(\"hello\"))".into()),
                Ok("Message(Binary([1, 2, 3]))".into()),
                Ok("Ping([112])".into()),
                Ok("Message(Text(\"fragment\"))".into()),
                Ok("Pong".into()),
                Ok("Close(Some((1000, \"bye\")))".into()),
            ]
        );
    }

    #[test]
    fn violations_and_their_codes() {
        let unmasked = {
            let mut f = vec![0x81, 0x02];
            f.extend_from_slice(b"hi");
            f
        };
        let rows: Vec<(&str, Vec<u8>, &str)> = vec![
            ("unmasked", unmasked, "1002"),
            ("rsv1 without deflate", frame(0xc1, b"x"), "1002"),
            ("rsv2", frame(0xa1, b"x"), "1002"),
            ("rsv3", frame(0x91, b"x"), "1002"),
            ("reserved data opcode", frame(0x83, b""), "1002"),
            ("reserved control opcode", frame(0x8b, b""), "1002"),
            ("ping over 125", frame(0x89, &[0; 126]), "1002"),
            ("fragmented ping", frame(0x09, b""), "1002"),
            ("orphan continuation", frame(0x80, b"x"), "1002"),
            (
                "nested message",
                cat(&[frame(0x01, b"a"), frame(0x81, b"b")]),
                "1002",
            ),
            ("invalid utf-8", frame(0x81, &[0xce, 0xba, 0xff]), "1007"),
            ("invalid utf-8, fail fast", frame(0x01, &[0xff]), "1007"),
            ("truncated utf-8 at the end", frame(0x81, &[0xce]), "1007"),
            ("frame too big", frame(0x82, &[0; 1001]), "1009"),
            (
                "message too big",
                cat(&[
                    frame(0x02, &[0; 1000]),
                    frame(0x00, &[0; 1000]),
                    frame(0x00, &[0; 1000]),
                    frame(0x80, &[0; 1]),
                ]),
                "1009",
            ),
            ("one-byte close", frame(0x88, &[3]), "1002"),
            ("close code 1005", frame(0x88, &[0x03, 0xed]), "1002"),
            ("close code 999", frame(0x88, &[0x03, 0xe7]), "1002"),
            ("close code 5000", frame(0x88, &[0x13, 0x88]), "1002"),
            (
                "close reason not utf-8",
                frame(0x88, &[0x03, 0xe8, 0xff]),
                "1007",
            ),
        ];
        for (name, bytes, code) in rows {
            let got = events(bytes);
            assert_eq!(got.last(), Some(&Err(code.to_string())), "{name}: {got:?}");
        }
    }

    #[test]
    fn utf8_split_across_frames_is_fine() {
        // "κ" = ce ba split between two fragments
        let got = events(cat(&[frame(0x01, &[b'a', 0xce]), frame(0x80, &[0xba])]));
        assert_eq!(got, vec![Ok("Message(Text(\"aκ\"))".into())]);
    }

    #[test]
    fn trickled_bytes_and_leftover_assemble() {
        struct OneByte(Cursor<Vec<u8>>);
        impl Read for OneByte {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = b.len().min(1);
                self.0.read(&mut b[..n])
            }
        }
        let bytes = cat(&[frame(0x81, b"first"), frame(0x82, &[9; 5000])]);
        let (lead, rest) = bytes.split_at(3);
        let mut r = Reader::new(
            OneByte(Cursor::new(rest.to_vec())),
            lead.to_vec(),
            LIMITS_BIG,
            None,
        );
        assert!(
            matches!(r.next_event(&mut || Ok(())), Ok(Event::Message(Message::Text(t))) if t == "first")
        );
        assert!(
            matches!(r.next_event(&mut || Ok(())), Ok(Event::Message(Message::Binary(b))) if b == vec![9; 5000])
        );
    }

    const LIMITS_BIG: Limits = Limits {
        max_frame: 10_000,
        max_message: 10_000,
    };

    /// A stream that records each write call; `fail: Some(n)` makes the
    /// next call accept only `n` bytes and the one after it (or, for 0, that
    /// call) fail with `WouldBlock`.
    #[derive(Default)]
    struct Writes {
        calls: Vec<Vec<u8>>,
        fail: Option<usize>,
    }

    impl Write for Writes {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if let Some(accept) = self.fail.take() {
                if accept == 0 {
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                self.fail = Some(0);
                self.calls.push(b[..accept].to_vec());
                return Ok(accept);
            }
            self.calls.push(b.to_vec());
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn fed_frames_go_out_with_the_next_write_in_one_call() {
        let mut w = Writer::new(Writes::default(), None);
        w.feed(&Message::Text("a".into())).unwrap();
        w.feed(&Message::Binary(vec![1, 2])).unwrap();
        assert!(w.stream.calls.is_empty() && w.queued());
        w.message(&Message::Text("b".into())).unwrap();
        assert_eq!(
            w.stream.calls,
            vec![vec![0x81, 1, b'a', 0x82, 2, 1, 2, 0x81, 1, b'b']]
        );
        assert!(!w.queued());
        // flush writes the queue, and nothing when it is empty
        w.feed(&Message::Text("c".into())).unwrap();
        w.flush().unwrap();
        w.flush().unwrap();
        assert_eq!(w.stream.calls.len(), 2);
        assert_eq!(w.stream.calls[1], vec![0x81, 1, b'c']);
        // pings and the close frame go out behind the queue
        w.feed(&Message::Text("d".into())).unwrap();
        w.ping(b"").unwrap();
        w.feed(&Message::Text("e".into())).unwrap();
        w.close(Some(1000), "").unwrap();
        assert_eq!(w.stream.calls[2], vec![0x81, 1, b'd', 0x89, 0]);
        assert_eq!(w.stream.calls[3], vec![0x81, 1, b'e', 0x88, 2, 0x03, 0xe8]);
        assert!(w.feed(&Message::Text("late".into())).is_err());
        assert!(!w.queued());
    }

    #[test]
    fn the_queue_is_bounded() {
        let mut w = Writer::new(Writes::default(), None);
        let msg = Message::Binary(vec![7; 1000]);
        // 1004 bytes a frame: the 66th takes the queue past 64 KiB.
        for _ in 0..65 {
            w.feed(&msg).unwrap();
        }
        assert!(w.stream.calls.is_empty());
        w.feed(&msg).unwrap();
        assert_eq!(w.stream.calls.len(), 1);
        assert_eq!(w.stream.calls[0].len(), 66 * 1004);
        assert!(!w.queued());
        // A big payload is written at once, behind the queue, never queued.
        w.feed(&msg).unwrap();
        w.feed(&Message::Binary(vec![8; 20_000])).unwrap();
        assert!(!w.queued());
        let tail: Vec<u8> = w.stream.calls[1..].concat();
        assert_eq!(tail.len(), 1004 + 4 + 20_000);
        assert_eq!(&tail[1004..1008], &[0x82, 126, 0x4e, 0x20]);
    }

    #[test]
    fn a_failed_write_keeps_the_queue_or_tears_the_stream() {
        // Nothing went out: the queue stays, the new frame is dropped.
        let mut w = Writer::new(Writes::default(), None);
        w.feed(&Message::Text("q".into())).unwrap();
        w.stream.fail = Some(0);
        assert!(w.message(&Message::Text("x".into())).is_err());
        assert!(w.queued() && !w.torn && !w.close_sent);
        w.flush().unwrap();
        assert_eq!(w.stream.calls, vec![vec![0x81, 1, b'q']]);
        // Part of it went out: torn, nothing more is sent.
        let mut w = Writer::new(Writes::default(), None);
        w.feed(&Message::Text("q".into())).unwrap();
        w.stream.fail = Some(1);
        assert!(w.flush().is_err());
        assert_eq!(w.stream.calls, vec![vec![0x81]]);
        assert!(w.torn && w.close_sent && !w.queued());
        assert!(w.message(&Message::Text("y".into())).is_err());
        assert_eq!(w.stream.calls.len(), 1);
    }

    /// A stream that hands out queued bursts, at most one burst per read,
    /// and counts reads.
    struct Bursts {
        bursts: std::collections::VecDeque<Vec<u8>>,
        reads: usize,
    }

    impl Read for Bursts {
        fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let Some(front) = self.bursts.front_mut() else {
                return Ok(0);
            };
            let n = b.len().min(front.len());
            b[..n].copy_from_slice(&front[..n]);
            front.drain(..n);
            if front.is_empty() {
                self.bursts.pop_front();
            }
            Ok(n)
        }
    }

    #[test]
    fn a_burst_of_small_frames_is_read_at_once_after_the_first() {
        // 16 frames of 38 bytes (32-byte payloads): more than READ_BUF.
        let burst: Vec<u8> = (0..16).flat_map(|_| frame(0x81, &[b'x'; 32])).collect();
        assert!(burst.len() > READ_BUF && burst.len() < GROW_TO);
        let mut r = Reader::new(
            Bursts {
                bursts: vec![burst.clone(); 4].into(),
                reads: 0,
            },
            Vec::new(),
            LIMITS,
            None,
        );
        let mut before = 0;
        for round in 0..4 {
            let reads = r.stream.reads;
            for _ in 0..16 {
                let ev = r.next_event(&mut || {
                    before += 1;
                    Ok(())
                });
                assert!(matches!(ev, Ok(Event::Message(Message::Text(t))) if t.len() == 32));
            }
            let used = r.stream.reads - reads;
            // The first burst fills the small buffer (two reads); it grows,
            // and every later burst takes one.
            assert_eq!(used, if round == 0 { 2 } else { 1 }, "round {round}");
        }
        assert_eq!(before, r.stream.reads, "before_read runs before each read");
    }

    #[test]
    fn writer_formats_unmasked_frames_and_stops_after_close() {
        let mut w = Writer::new(Vec::new(), None);
        w.message(&Message::Text("hi".into())).unwrap();
        w.pong(b"p").unwrap();
        w.close(Some(1000), "").unwrap();
        assert!(w.message(&Message::Text("late".into())).is_err());
        assert_eq!(
            w.stream,
            vec![0x81, 2, b'h', b'i', 0x8a, 1, b'p', 0x88, 2, 0x03, 0xe8]
        );
        let mut w = Writer::new(Vec::new(), None);
        w.message(&Message::Binary(vec![5; 70_000])).unwrap();
        assert_eq!(&w.stream[..10], &[0x82, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
        assert_eq!(w.stream.len(), 10 + 70_000);
    }
    /// `parse_header` against tungstenite's `FrameHeader::parse`: every first
    /// byte, every length form, masked or not, and each prefix of them.
    #[test]
    fn parse_header_agrees_with_tungstenite() {
        let lens: [&[u8]; 6] = [
            &[0x00],
            &[0x7d],
            &[0x7e, 0x01, 0x02],
            &[0x7e, 0xff, 0xff],
            &[0x7f, 0, 0, 0, 0, 0x01, 0x02, 0x03, 0x04],
            &[0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0x01],
        ];
        for first in 0..=255u8 {
            for len in lens {
                for masked in [false, true] {
                    let mut bytes = vec![first, len[0] | if masked { 0x80 } else { 0 }];
                    bytes.extend_from_slice(&len[1..]);
                    if masked {
                        bytes.extend_from_slice(&[9, 8, 7, 6]);
                    }
                    bytes.extend_from_slice(b"payload");
                    for cut in 0..=bytes.len() {
                        let b = &bytes[..cut];
                        let ours = parse_header(b);
                        let mut cur = Cursor::new(b);
                        let theirs = FrameHeader::parse(&mut cur);
                        match (ours, theirs) {
                            (Ok(None), Ok(None)) => {}
                            (Ok(Some((h, hlen, n))), Ok(Some((t, tn)))) => {
                                assert_eq!((h, hlen, n), (t, cur.position() as usize, tn));
                            }
                            (Err(Fault::Protocol("reserved opcode")), Err(_)) => {}
                            (o, t) => panic!("{bytes:?}[..{cut}]: ours {o:?}, tungstenite {t:?}"),
                        }
                    }
                }
            }
        }
    }

    /// `put_header` against tungstenite's `FrameHeader::format`.
    #[test]
    fn put_header_agrees_with_tungstenite() {
        let ops = [
            OpCode::Data(Data::Text),
            OpCode::Data(Data::Binary),
            OpCode::Control(Control::Ping),
            OpCode::Control(Control::Pong),
            OpCode::Control(Control::Close),
        ];
        for opcode in ops {
            for rsv1 in [false, true] {
                for len in [0, 1, 125, 126, 127, 65_535, 65_536, 1 << 33] {
                    let mut ours = vec![1];
                    put_header(&mut ours, opcode, rsv1, len);
                    let mut theirs = vec![1];
                    let hdr = FrameHeader {
                        is_final: true,
                        rsv1,
                        rsv2: false,
                        rsv3: false,
                        opcode,
                        mask: None,
                    };
                    hdr.format(len as u64, &mut theirs).unwrap();
                    assert_eq!(ours, theirs, "{opcode:?} rsv1 {rsv1} len {len}");
                }
            }
        }
    }

    #[test]
    fn unmask_every_length_and_offset() {
        let mask = [0x12, 0x34, 0x56, 0x78];
        for n in 0..40 {
            let plain: Vec<u8> = (0..n as u8).map(|i| i.wrapping_mul(37)).collect();
            let mut data: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            unmask(&mut data, mask);
            assert_eq!(data, plain, "length {n}");
        }
    }
    #[test]
    fn a_spare_buffer_takes_the_next_payload_and_is_dropped_before_a_read() {
        let bytes = cat(&[frame(0x81, b"one"), frame(0x82, b"two")]);
        let mut r = Reader::new(Cursor::new(Vec::new()), bytes, LIMITS, None);
        let spare = Vec::with_capacity(64);
        let ptr = spare.as_ptr();
        r.give_spare(spare);
        r.give_spare(Vec::with_capacity(8)); // one is kept already
        match r.next_event(&mut || Ok(())) {
            Ok(Event::Message(Message::Text(t))) => {
                assert_eq!(t, "one");
                assert_eq!(t.as_ptr(), ptr, "the spare's allocation");
            }
            other => panic!("{other:?}"),
        }
        // Too small for the payload: not used, and dropped before the read.
        r.give_spare(Vec::with_capacity(2));
        assert_eq!(r.spare.capacity(), 2);
        r.give_spare(Vec::with_capacity(SPARE_MAX + 1)); // never kept
        assert!(
            matches!(r.next_event(&mut || Ok(())), Ok(Event::Message(Message::Binary(b))) if b == b"two")
        );
        assert_eq!(r.spare.capacity(), 2);
        assert!(matches!(r.next_event(&mut || Ok(())), Err(Fault::Io(_))));
        assert_eq!(r.spare.capacity(), 0, "no spare kept while reading");
    }
    #[test]
    fn a_spare_much_bigger_than_the_payload_is_not_used() {
        let bytes = cat(&[frame(0x82, b"tiny"), frame(0x82, &[7; 100])]);
        let mut r = Reader::new(Cursor::new(Vec::new()), bytes, LIMITS, None);
        r.give_spare(Vec::with_capacity(1000));
        match r.next_event(&mut || Ok(())) {
            Ok(Event::Message(Message::Binary(b))) => assert!(b == b"tiny" && b.capacity() < 1000),
            other => panic!("{other:?}"),
        }
        assert_eq!(r.spare.capacity(), 1000, "kept for a bigger payload");
        r.spare = Vec::with_capacity(150);
        match r.next_event(&mut || Ok(())) {
            Ok(Event::Message(Message::Binary(b))) => {
                assert!(b == vec![7; 100] && b.capacity() == 150)
            }
            other => panic!("{other:?}"),
        }
    }
}
