//! `eventlet.websocket`: WebSocket (RFC 6455) handlers as WSGI apps.
//!
//! ```no_run
//! use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
//!
//! fn echo(ws: WebSocket) {
//!     while let Some(msg) = ws.wait() {
//!         if ws.send(msg).is_err() {
//!             break;
//!         }
//!     }
//! }
//!
//! fn main() -> std::io::Result<()> {
//!     eventlet_wsgi::server(eventlet::listen("127.0.0.1:7000")?, WebSocketWsgi::new(echo))
//! }
//! ```
//!
//! Differences from eventlet, each on purpose: the handshake is strict (GET,
//! HTTP/1.1, a 16-byte key; only version 13, no hixie-75/76); there is a
//! per-message limit besides the per-frame one; invalid UTF-8 closes with
//! 1007; a handler panic closes with 1011 (eventlet wrote an HTTP 500 into
//! the WebSocket stream); bytes sent right after the handshake are kept;
//! [`WebSocket::send`] works from any green thread over TLS too; on server
//! shutdown every WebSocket gets `1001 Going Away` and `wait()` returns `None`;
//! the peer's close code and reason are readable. Added:
//! [`WebSocket::feed`] queues a message for the next write (eventlet's
//! `send` always writes at once, as `send` does here).

mod deflate;
mod handshake;
mod proto;
mod spare;
mod vars;

use crate::environ::Environ;
use crate::response::StartResponse;
use crate::upgrade::UpgradeError;
use crate::{App, Body};
use eventlet::net::Stream;
use eventlet::sync::{Mutex as GreenMutex, MutexGuard as GreenGuard};
use eventlet::{Event, TimeoutError};
use proto::{Event as WsEvent, Fault, Limits, Reader, Writer};
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// eventlet's `DEFAULT_MAX_FRAME_LENGTH`: 8 MiB.
pub const DEFAULT_MAX_FRAME_LENGTH: usize = 8 << 20;
/// Default per-message limit (a fragmented message's total): 8 MiB.
pub const DEFAULT_MAX_MESSAGE_LENGTH: usize = 8 << 20;

/// A WebSocket message: eventlet's `str` (text) or `bytes` (binary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message (valid UTF-8).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
}

impl Message {
    /// The payload's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    /// The text, for a text message.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Message::Text(t) => Some(t),
            Message::Binary(_) => None,
        }
    }
}

impl From<String> for Message {
    fn from(s: String) -> Message {
        Message::Text(s)
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Message {
        Message::Text(s.to_string())
    }
}

impl From<Vec<u8>> for Message {
    fn from(b: Vec<u8>) -> Message {
        Message::Binary(b)
    }
}

impl From<&[u8]> for Message {
    fn from(b: &[u8]) -> Message {
        Message::Binary(b.to_vec())
    }
}

type OriginChecker = Box<dyn Fn(&str, &str) -> bool + Send + Sync>;

struct Config {
    protocols: Vec<String>,
    origin_checker: Option<OriginChecker>,
    limits: Limits,
    deflate: bool,
    keepalive: Option<(Duration, Duration)>,
    close_timeout: Duration,
}

/// eventlet's `WebSocketWSGI`: wraps a handler `Fn(WebSocket)` into an
/// [`App`]. The handshake is answered here; the handler runs on the
/// connection's green thread, and the WebSocket closes (`1000`) when it
/// returns, or `1011` if it panics.
///
/// `configured(handler, supported_protocols, origin_checker)` maps to the
/// builder methods:
///
/// ```
/// use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
/// let app = WebSocketWsgi::new(|ws: WebSocket| while ws.wait().is_some() {})
///     .supported_protocols(["chat"])
///     .origin_checker(|host, origin| origin == format!("http://{host}"))
///     .max_frame_length(1 << 20)
///     .max_message_length(4 << 20);
/// ```
pub struct WebSocketWsgi<H> {
    handler: H,
    cfg: Arc<Config>,
}

impl<H> std::fmt::Debug for WebSocketWsgi<H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketWsgi").finish_non_exhaustive()
    }
}

impl<H: Fn(WebSocket) + Send + Sync + 'static> WebSocketWsgi<H> {
    /// `WebSocketWSGI(handler)`: 8 MiB frame and message limits,
    /// permessage-deflate on, no subprotocols, any origin, no keepalive.
    pub fn new(handler: H) -> WebSocketWsgi<H> {
        WebSocketWsgi {
            handler,
            cfg: Arc::new(Config {
                protocols: Vec::new(),
                origin_checker: None,
                limits: Limits {
                    max_frame: DEFAULT_MAX_FRAME_LENGTH,
                    max_message: DEFAULT_MAX_MESSAGE_LENGTH,
                },
                deflate: true,
                keepalive: None,
                close_timeout: Duration::from_secs(5),
            }),
        }
    }

    fn cfg(&mut self) -> &mut Config {
        Arc::get_mut(&mut self.cfg).expect("configured before use")
    }

    /// Subprotocols the app speaks: the first one the client offers is chosen;
    /// none in common → no `Sec-WebSocket-Protocol` (not an error).
    pub fn supported_protocols<S: Into<String>>(
        mut self,
        protocols: impl IntoIterator<Item = S>,
    ) -> Self {
        self.cfg().protocols = protocols.into_iter().map(Into::into).collect();
        self
    }

    /// `origin_checker(host, origin)`: false answers `403 Forbidden`. `host`
    /// and `origin` are `""` when the request has none.
    pub fn origin_checker(
        mut self,
        f: impl Fn(&str, &str) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.cfg().origin_checker = Some(Box::new(f));
        self
    }

    /// Largest payload of one client frame (after decompression for the
    /// whole message, see below); larger closes with 1009.
    pub fn max_frame_length(mut self, n: usize) -> Self {
        self.cfg().limits.max_frame = n;
        self
    }

    /// Largest client message, all its frames together and inflated;
    /// larger closes with 1009 (eventlet has no such limit).
    pub fn max_message_length(mut self, n: usize) -> Self {
        self.cfg().limits.max_message = n;
        self
    }

    /// Negotiate permessage-deflate when the client offers it (default on).
    ///
    /// zlib's state takes much more stack in unoptimised (debug) builds than
    /// the runtime's 64 KiB default: there, configure a bigger stack
    /// (`eventlet::Config::stack_size(512 * 1024)`) or turn deflate off.
    /// Optimised builds run it within the default.
    pub fn permessage_deflate(mut self, on: bool) -> Self {
        self.cfg().deflate = on;
        self
    }

    /// Ping an idle client every `interval` while a green thread waits in
    /// [`WebSocket::wait`]. When nothing (no pong, no message) came from it
    /// for `dead_after`, the peer counts as dead: the server sends the close
    /// frame `1011` "keepalive ping timeout" (if the socket takes it),
    /// closes the TCP connection without waiting for an answer, and `wait()`
    /// returns `None`.
    pub fn keepalive(mut self, interval: Duration, dead_after: Duration) -> Self {
        self.cfg().keepalive = Some((interval, dead_after));
        self
    }

    /// How long a close we started waits for the client's close frame before
    /// the TCP connection is closed anyway (default 5 s).
    pub fn close_timeout(mut self, d: Duration) -> Self {
        self.cfg().close_timeout = d;
        self
    }
}

/// The parts shared by the WebSocket's handles and the server-stop hook.
struct Shared {
    writer: GreenMutex<Writer<Stream>>,
    /// The writer's descriptor: shut down (never closed) to cut the
    /// connection without waiting for a lock. Valid while `writer` lives.
    fd: RawFd,
    state: Mutex<CloseState>,
    done: Event<()>,
    close_timeout: Duration,
    /// We are closing: our close frame went out or waits for the writer.
    /// Read without the writer's lock: a reader must not wait behind a
    /// sender stuck on a full socket.
    closing: AtomicBool,
    /// The writer holds a permessage-deflate compressor: the reader's wait
    /// wakes after [`COMPRESSOR_IDLE`] to drop it if no send used it since.
    compressor_live: AtomicBool,
    /// Fed frames wait in the writer (set and cleared under its lock): a
    /// `wait` that is about to read flushes them, and can tell without the
    /// lock that there is nothing to flush.
    queued: AtomicBool,
    /// The read side ended (close handshake done, fault or EOF). An atomic:
    /// `wait`, `feed` and `send` look at it once per message.
    finished: AtomicBool,
}

/// How long a compressor is kept without messages to compress (it is most
/// of an idle WebSocket's memory when the client negotiated deflate).
const COMPRESSOR_IDLE: Duration = Duration::from_secs(2);

#[derive(Default)]
struct CloseState {
    peer: Option<(u16, String)>,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, CloseState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }

    /// The writer, once it is this green thread's turn. Fails (kind
    /// `TimedOut`) only when the caller's [`Timeout`](eventlet::Timeout)
    /// expires first; nothing was written then.
    fn writer(&self) -> io::Result<GreenGuard<'_, Writer<Stream>>> {
        // `try_lock` first: the same when the lock is free (it never jumps
        // a queue), and cheaper than `lock`'s deadline bookkeeping.
        match self.writer.try_lock() {
            Some(w) => Ok(w),
            None => Ok(self.writer.lock()?),
        }
    }

    /// Write with `f`; a failure that leaves the stream unusable (a frame
    /// torn by a Timeout or an error in the middle, or any failed TLS or
    /// compressed write) closes the connection, so that no peer ever sees
    /// a half-written frame followed by another one.
    fn write(&self, f: impl FnOnce(&mut Writer<Stream>) -> io::Result<()>) -> io::Result<()> {
        let w = self.writer()?;
        if w.close_sent {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket is closing",
            ));
        }
        self.write_locked(w, f)
    }

    /// Write the fed frames, if any (see [`WebSocket::feed`]).
    fn flush(&self) -> io::Result<()> {
        if !self.queued.load(Ordering::Relaxed) {
            return Ok(());
        }
        let w = self.writer()?;
        // Checked under the lock: a close frame may have taken them out
        // since (a close always empties the queue).
        if !w.queued() {
            return Ok(());
        }
        self.write_locked(w, Writer::flush)
    }

    fn write_locked(
        &self,
        mut w: GreenGuard<'_, Writer<Stream>>,
        f: impl FnOnce(&mut Writer<Stream>) -> io::Result<()>,
    ) -> io::Result<()> {
        let r = f(&mut w);
        self.queued.store(w.queued(), Ordering::Relaxed);
        if w.compressor_live() {
            self.compressor_live.store(true, Ordering::Relaxed);
        }
        if let Err(e) = &r {
            let clean_timeout = TimeoutError::from_io(e).is_some() && !w.stream.is_tls();
            if w.torn || !clean_timeout {
                w.close_sent = true;
                self.closing.store(true, Ordering::Release);
                drop(w);
                self.cut();
            }
        }
        r
    }

    fn cut(&self) {
        // SAFETY: `fd` is the writer stream's descriptor, owned by `self`, so
        // it is open (not reused) while `self` exists; shutdown(2) does not
        // touch memory.
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
    }

    /// Send a close frame unless one went out; then make sure the
    /// connection ends within the close timeout even if the client never
    /// answers (the watchdog cuts it).
    fn start_close(self: &Arc<Self>, code: Option<u16>, reason: &str) -> io::Result<()> {
        if self.finished() {
            return Ok(());
        }
        let me = self.clone();
        eventlet::spawn_n(move || {
            // `Ok(None)`: the timeout passed before the connection ended.
            if !matches!(me.done.wait_timeout(me.close_timeout), Ok(Some(()))) {
                me.cut();
            }
        });
        // From now on messages are dropped, even while a sender stuck on a
        // full socket keeps the close frame waiting.
        self.closing.store(true, Ordering::Release);
        let mut w = self.writer()?;
        if w.close_sent {
            return Ok(());
        }
        // The close frame goes out behind the fed frames.
        let r = w.close(code, reason);
        self.queued.store(false, Ordering::Relaxed);
        r
    }

    fn finish(&self) {
        self.finished.store(true, Ordering::Release);
        self.cut();
        let _ = self.done.send(());
    }
}

/// Facts about the handshake request, kept for the handler.
struct Info {
    protocol: Option<Box<str>>,
    environ: vars::Vars,
}

struct Inner {
    shared: Arc<Shared>,
    reader: GreenMutex<Reader<Stream>>,
    /// The buffer of a message `feed` or `send` wrote, for the reader's next
    /// payload (an echo then allocates nothing per message).
    spare: spare::Spare,
    /// `wait` reads from the socket: a buffer left as spare now would be
    /// kept while the WebSocket idles (a send from another green thread to a
    /// waiting client), so none is.
    reading: AtomicBool,
    info: Info,
    keepalive: Option<(Duration, Duration)>,
}

/// eventlet's `WebSocket`: a cheap handle (clone it into other green
/// threads to [`send`](Self::send) from them while one blocks in
/// [`wait`](Self::wait)).
#[derive(Clone)]
pub struct WebSocket {
    inner: Arc<Inner>,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket")
            .field("path", &self.path())
            .field("protocol", &self.protocol())
            .finish()
    }
}

impl WebSocket {
    /// The next message, or `None` once the WebSocket is closed (by the
    /// client, by [`close`](Self::close), by server shutdown, by a protocol
    /// violation, which is answered with its close code, or by the keepalive
    /// as a dead peer). Pings are answered while waiting. Messages queued by
    /// [`feed`](Self::feed) are written before it reads from the socket.
    ///
    /// `None` also comes when a [`Timeout`](eventlet::Timeout) of the caller
    /// expires first (waiting for the socket, or for another green thread's
    /// `wait`): the WebSocket stays open then ([`closed`](Self::closed) is
    /// false) and nothing is lost; the next `wait` goes on. If it expires
    /// while `wait` writes fed messages, it is as for [`send`](Self::send):
    /// none of them went out (they stay queued), or the connection is closed.
    pub fn wait(&self) -> Option<Message> {
        let shared = &self.inner.shared;
        let mut r = match self.inner.reader.try_lock() {
            Some(r) => r,
            None => self.inner.reader.lock().ok()?,
        };
        if shared.finished() {
            return None;
        }
        // Only keepalive needs the time of the last frame (a clock read per
        // message otherwise).
        let keepalive = self.inner.keepalive.is_some();
        let mut last_rx = keepalive.then(Instant::now);
        loop {
            // Our own wake-ups: keepalive pings, else dropping an idle compressor.
            let wake = match self.inner.keepalive {
                Some((interval, _)) => Some(interval),
                None => shared
                    .compressor_live
                    .load(Ordering::Relaxed)
                    .then_some(COMPRESSOR_IDLE),
            };
            let _ = r.stream.set_read_timeout(wake);
            self.take_spare(&mut r);
            // Fed messages go out before the read, which may block (not while
            // complete frames are buffered: those come without a read).
            let ev = r.next_event(&mut || {
                // About to read (and maybe block): no spare from now on,
                // not even one a sender in another green thread leaves.
                self.inner.reading.store(true, Ordering::SeqCst);
                drop(self.inner.spare.take());
                shared.flush()
            });
            self.inner.reading.store(false, Ordering::Relaxed);
            match ev {
                Ok(ev) => {
                    if keepalive {
                        last_rx = Some(Instant::now());
                    }
                    match ev {
                        WsEvent::Message(m) => {
                            if !shared.closing.load(Ordering::Acquire) {
                                return Some(m);
                            }
                            // Closing: data is dropped until the client's close.
                        }
                        WsEvent::Ping(p) => {
                            let _ = shared.write(|w| w.pong(&p));
                        }
                        WsEvent::Pong => {}
                        WsEvent::Close(peer) => {
                            if let Ok(mut w) = shared.writer() {
                                if !w.close_sent {
                                    let _ = w.close(peer.as_ref().map(|p| p.0), "");
                                    shared.queued.store(false, Ordering::Relaxed);
                                    shared.closing.store(true, Ordering::Release);
                                }
                            }
                            shared.state().peer = peer;
                            shared.finish();
                            return None;
                        }
                    }
                }
                Err(Fault::Io(e)) if TimeoutError::from_io(&e).is_some() => {
                    if !TimeoutError::from_io(&e).is_some_and(|t| t.is_operation_limit()) {
                        // The caller's Timeout: the reader resumes next time.
                        return None;
                    }
                    if shared.compressor_live.load(Ordering::Relaxed) {
                        // A sender holding the writer is using it: keep it.
                        if let Some(mut w) = shared.writer.try_lock() {
                            if w.release_idle_compressor(COMPRESSOR_IDLE) {
                                shared.compressor_live.store(false, Ordering::Relaxed);
                                drop(w);
                                deflate::give_back_freed_memory();
                            }
                        }
                    }
                    let Some((_, dead_after)) = self.inner.keepalive else {
                        continue;
                    };
                    if last_rx.is_some_and(|t| t.elapsed() >= dead_after) {
                        log::debug!(target: "eventlet_wsgi::websocket", "no answer to pings: closing");
                        // Say why if the socket takes it, but do not wait for
                        // an answer from a peer that stopped answering.
                        let _ = shared.start_close(Some(1011), "keepalive ping timeout");
                        shared.finish();
                        return None;
                    }
                    let _ = shared.write(|w| w.ping(b""));
                }
                Err(Fault::Io(_)) => {
                    // The client went away (or the watchdog cut us): not an error.
                    shared.finish();
                    return None;
                }
                Err(fault) => {
                    let (code, reason) = fault.close_code().expect("a close code");
                    let _ = shared.start_close(Some(code), reason);
                    if r.saw_close {
                        // A bad close frame is still the client's last one.
                        shared.finish();
                        return None;
                    }
                    drop(r);
                    self.drain_until_close();
                    return None;
                }
            }
        }
    }

    /// Hand the buffer left by `feed`/`send`, if any, to the reader.
    fn take_spare(&self, r: &mut Reader<Stream>) {
        if let Some(buf) = self.inner.spare.take() {
            r.give_spare(buf);
        }
    }

    /// Keep a written message's buffer for the reader's next payload; not
    /// while `wait` reads (a send that races the reader's switch to reading
    /// may still leave one: at most one buffer of at most 4 KiB, used or
    /// freed by the next `wait`).
    fn recycle(&self, msg: Message) {
        let buf = match msg {
            Message::Text(t) => t.into_bytes(),
            Message::Binary(b) => b,
        };
        if buf.capacity() != 0
            && buf.capacity() <= proto::SPARE_MAX
            && !self.inner.reading.load(Ordering::SeqCst)
        {
            self.inner.spare.put(buf);
        }
    }

    /// After our close: read (and drop) until the client's close frame, EOF
    /// or the close timeout, then close the connection.
    fn drain_until_close(&self) {
        let shared = &self.inner.shared;
        // A caller's Timeout (around the app) cuts the wait short.
        let Ok(mut r) = self.inner.reader.lock() else {
            shared.finish();
            return;
        };
        if shared.finished() {
            return;
        }
        let deadline = Instant::now() + shared.close_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || r.stream.set_read_timeout(Some(left)).is_err() {
                break;
            }
            match r.next_event(&mut || shared.flush()) {
                Ok(WsEvent::Close(peer)) => {
                    shared.state().peer = peer;
                    break;
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        shared.finish();
    }

    /// Send a message (`&str`/`String` → text, `Vec<u8>`/`&[u8]` → binary)
    /// from any green thread, now (behind any messages queued by
    /// [`feed`](Self::feed), in the same write). Fails once the WebSocket is
    /// closing or closed.
    ///
    /// Sends from several green threads go out one whole frame at a time.
    /// When a [`Timeout`](eventlet::Timeout) of the caller expires first,
    /// `send` fails with kind `TimedOut`: if nothing of the frame went out
    /// yet (still waiting for another sender, or for room in a plain TCP
    /// socket) the WebSocket stays usable; if part of it did (or the stream
    /// is TLS, or the message was compressed) the connection is closed, so
    /// the client never sees a half-written frame followed by another one.
    pub fn send(&self, msg: impl Into<Message>) -> io::Result<()> {
        let msg = msg.into();
        let shared = &self.inner.shared;
        if shared.finished() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket is closed",
            ));
        }
        let r = shared.write(|w| w.message(&msg));
        self.recycle(msg);
        r
    }

    /// Queue a message without writing it (tokio's `Sink::feed`,
    /// tungstenite's `write`): many messages then go out in one system call.
    /// eventlet has no equivalent (its `send` always writes at once, as
    /// [`send`](Self::send) does here).
    ///
    /// Queued messages are written, in order and before anything sent
    /// after them, by: [`flush`](Self::flush); [`wait`](Self::wait) before
    /// it reads from the socket (never while complete messages are already
    /// buffered: an echo loop answers a burst of pipelined messages with one
    /// write); any [`send`](Self::send) or [`ping`](Self::ping), from any
    /// green thread; the close frame ([`close`](Self::close), the handler's
    /// return, server shutdown). When more than 64 KiB are queued, `feed`
    /// writes them itself (and a message over 16 KiB is written at once,
    /// behind the queue).
    ///
    /// A `wait` that is already blocked does not see messages fed later from
    /// another green thread: call [`flush`](Self::flush) there (or use
    /// `send`). Errors and timeouts as for [`send`](Self::send); a write
    /// that fails after part of the queue went out closes the connection.
    ///
    /// ```no_run
    /// use eventlet_wsgi::websocket::{WebSocket, WebSocketWsgi};
    ///
    /// // Echo: a burst of messages read at once is answered in one write
    /// // (`wait` flushes before it blocks for more).
    /// fn echo(ws: WebSocket) {
    ///     while let Some(msg) = ws.wait() {
    ///         if ws.feed(msg).is_err() {
    ///             break;
    ///         }
    ///     }
    /// }
    ///
    /// fn main() -> std::io::Result<()> {
    ///     eventlet_wsgi::server(eventlet::listen("127.0.0.1:7000")?, WebSocketWsgi::new(echo))
    /// }
    /// ```
    pub fn feed(&self, msg: impl Into<Message>) -> io::Result<()> {
        let msg = msg.into();
        let shared = &self.inner.shared;
        if shared.finished() {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the WebSocket is closed",
            ));
        }
        let r = shared.write(|w| w.feed(&msg));
        self.recycle(msg);
        r
    }

    /// Write the messages queued by [`feed`](Self::feed) now (nothing to do
    /// when none are). Errors and timeouts as for [`send`](Self::send).
    pub fn flush(&self) -> io::Result<()> {
        self.inner.shared.flush()
    }

    /// Send a ping (the client's pong is read by [`wait`](Self::wait)).
    /// Timeouts as for [`send`](Self::send).
    pub fn ping(&self, data: &[u8]) -> io::Result<()> {
        self.inner
            .shared
            .write(|w| w.ping(&data[..data.len().min(125)]))
    }

    /// eventlet's `close(close_data=(code, reason))`: send a close frame;
    /// [`wait`](Self::wait) then returns `None` once the client answers (or
    /// after the close timeout). `code` must be 1000 or 3000–4999 (an
    /// `InvalidInput` error otherwise); the reason is cut to 123 bytes.
    pub fn close(&self, code: u16, reason: &str) -> io::Result<()> {
        if !(code == 1000 || (3000..5000).contains(&code)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "close code must be 1000 or 3000-4999",
            ));
        }
        self.inner.shared.start_close(Some(code), reason)
    }

    /// The request path (`PATH_INFO`).
    pub fn path(&self) -> &str {
        self.environ_get("PATH_INFO").unwrap_or("")
    }

    /// The `Origin` header, if any.
    pub fn origin(&self) -> Option<&str> {
        self.environ_get("HTTP_ORIGIN")
    }

    /// The chosen subprotocol, if any.
    pub fn protocol(&self) -> Option<&str> {
        self.inner.info.protocol.as_deref()
    }

    /// The handshake request's environ variables (a copy), as `(key, value)`.
    ///
    /// ```no_run
    /// # fn handler(ws: eventlet_wsgi::websocket::WebSocket) {
    /// for (key, value) in ws.environ() {
    ///     println!("{key}={value}");
    /// }
    /// # }
    /// ```
    pub fn environ(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.inner.info.environ.iter()
    }

    /// One environ variable of the handshake request.
    pub fn environ_get(&self, key: &str) -> Option<&str> {
        self.inner.info.environ.get(key)
    }

    /// The protocol version: always 13 (RFC 6455).
    pub fn version(&self) -> u8 {
        13
    }

    /// The client's close code, once it sent a close frame with one
    /// (eventlet keeps it private).
    pub fn close_code(&self) -> Option<u16> {
        self.inner.shared.state().peer.as_ref().map(|p| p.0)
    }

    /// The client's close reason, once it sent a close frame with a code.
    pub fn close_reason(&self) -> Option<String> {
        self.inner.shared.state().peer.as_ref().map(|p| p.1.clone())
    }

    /// Whether the WebSocket is closed (the read side ended).
    pub fn closed(&self) -> bool {
        self.inner.shared.finished()
    }

    /// The handler returned (or panicked, `code` 1011): close, wait for the
    /// client's close frame for a while, then close the connection.
    fn end(&self, code: u16) {
        let _ = self.inner.shared.start_close(Some(code), "");
        self.drain_until_close();
    }
}

fn refuse(sr: &mut StartResponse<'_>, status: &str, message: &str, version_header: bool) -> Body {
    let mut headers = vec![("Connection", "close"), ("Content-Type", "text/plain")];
    if version_header {
        headers.push(("Sec-WebSocket-Version", "13"));
    }
    sr.start(status, headers);
    Body::from(format!("{message}\n"))
}

impl<H: Fn(WebSocket) + Send + Sync + 'static> App for WebSocketWsgi<H> {
    fn call(&self, env: &mut Environ<'_>, sr: &mut StartResponse<'_>) -> Body {
        let cfg = &*self.cfg;
        let req = handshake::Request {
            method: env.get("REQUEST_METHOD").unwrap_or(""),
            protocol: env.get("SERVER_PROTOCOL").unwrap_or(""),
            host: env.get("HTTP_HOST"),
            upgrade: env.get("HTTP_UPGRADE"),
            connection: env.get("HTTP_CONNECTION"),
            version: env.get("HTTP_SEC_WEBSOCKET_VERSION"),
            key: env.get("HTTP_SEC_WEBSOCKET_KEY"),
            origin: env.get("HTTP_ORIGIN"),
            protocols: env.get("HTTP_SEC_WEBSOCKET_PROTOCOL"),
            extensions: env.get("HTTP_SEC_WEBSOCKET_EXTENSIONS"),
        };
        let any = |_: &str, _: &str| true;
        let policy = handshake::Policy {
            protocols: &cfg.protocols,
            origin_ok: match &cfg.origin_checker {
                Some(f) => f.as_ref(),
                None => &any,
            },
            has_origin_checker: cfg.origin_checker.is_some(),
            deflate: cfg.deflate,
        };
        let accepted = match handshake::check(&req, &policy) {
            Ok(a) => a,
            Err(r) => return refuse(sr, r.status, r.message, r.version_header),
        };
        let info = Info {
            protocol: accepted.protocol.as_deref().map(Box::from),
            environ: vars::Vars::new(env.vars()),
        };
        let mut headers = vec![
            ("Upgrade", "websocket".to_string()),
            ("Connection", "Upgrade".to_string()),
            ("Sec-WebSocket-Accept", accepted.accept),
        ];
        if let Some(p) = &accepted.protocol {
            headers.push(("Sec-WebSocket-Protocol", p.clone()));
        }
        if let Some(d) = &accepted.deflate {
            headers.push(("Sec-WebSocket-Extensions", d.response_header()));
        }
        let up = match env.upgrade("101 Switching Protocols", headers) {
            Ok(u) => u,
            Err(UpgradeError::ServerStopping) => {
                return refuse(sr, "503 Service Unavailable", "Server shutting down", false)
            }
            Err(UpgradeError::Io(e)) => {
                log::debug!(target: "eventlet_wsgi::websocket", "handshake failed: {e}");
                return Body::empty();
            }
            Err(e) => return refuse(sr, "500 Internal Server Error", &e.to_string(), false),
        };
        let writer = match up.try_clone_stream() {
            Ok(w) => w,
            Err(e) => {
                log::error!(target: "eventlet_wsgi::websocket", "cannot split the connection: {e}");
                return Body::empty();
            }
        };
        let fd = writer.as_raw_fd();
        let shared = Arc::new(Shared {
            writer: GreenMutex::new(Writer::new(
                writer,
                accepted.deflate.map(deflate::Deflater::new),
            )),
            fd,
            state: Mutex::new(CloseState::default()),
            done: Event::new(),
            close_timeout: cfg.close_timeout,
            compressor_live: AtomicBool::new(false),
            closing: AtomicBool::new(false),
            queued: AtomicBool::new(false),
            finished: AtomicBool::new(false),
        });
        let stop = shared.clone();
        up.on_server_stop(move || {
            let _ = stop.start_close(Some(1001), "server shutting down");
        });
        let (stream, leftover) = up.into_parts();
        let ws = WebSocket {
            inner: Arc::new(Inner {
                shared,
                reader: GreenMutex::new(Reader::new(
                    stream,
                    leftover,
                    cfg.limits,
                    accepted.deflate.map(deflate::Inflater::new),
                )),
                info,
                keepalive: cfg.keepalive,
                spare: spare::Spare::new(),
                reading: AtomicBool::new(false),
            }),
        };
        let handler_ws = ws.clone();
        match catch_unwind(AssertUnwindSafe(|| (self.handler)(handler_ws))) {
            Ok(()) => ws.end(1000),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic payload".into());
                use std::io::Write as _;
                let _ = writeln!(
                    env.errors(),
                    "WebSocket handler for {} panicked: {msg}",
                    ws.path()
                );
                ws.end(1011);
            }
        }
        Body::empty()
    }
}
