//! Connection takeover: an app answers `101 Switching Protocols` (or any
//! upgrade response) and gets the connection's socket plus every byte the
//! server had already received after the request head.
//!
//! The takeover is an explicit call on the environ ([`Environ::upgrade`]),
//! not a magic return value, so it works whatever middleware wraps the app
//! (eventlet#543 broke a sentinel that way). From that call on the server:
//! - writes nothing else on the connection (no response, no 500 on a panic)
//!   and never reads another request from it;
//! - applies no HTTP timeout (the returned stream has none);
//! - treats the connection as idle when it stops: it calls the hook given to
//!   [`Upgraded::on_server_stop`] (the WebSocket layer sends `1001 Going
//!   Away`) or, without one, shuts the socket down so the app's reads end;
//! - writes one access-log line (status 101) when the app returns, which is
//!   when the connection ends: the upgraded stream must be used inside the
//!   app call (handing clones to other green threads for writing is fine).

use crate::environ::Environ;
use crate::reaper::ConnState;
use crate::server::{STATE_CLOSE, STATE_REQUEST, STATE_UPGRADED};
use crate::status::{self, HeaderError, StatusError};
use eventlet::net::Stream;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Why [`Environ::upgrade`] refused; nothing was written to the client, so
/// the app can still answer with an ordinary response.
#[derive(Debug)]
pub enum UpgradeError {
    /// The status line is malformed.
    Status(StatusError),
    /// A header would be unsafe to write.
    Header(HeaderError),
    /// `101` needs an HTTP/1.1 request (RFC 9110 §15.2.2).
    NotHttp11,
    /// The environ does not belong to a live server connection (e.g. a test
    /// environ), or the connection was already taken over.
    NoConnection,
    /// The app already started an HTTP response on this connection.
    ResponseStarted,
    /// The request has a body the app has not read to its end: its bytes
    /// would be mistaken for the new protocol's.
    UnreadBody,
    /// The server is shutting down.
    ServerStopping,
    /// Writing the response or splitting the socket failed.
    Io(io::Error),
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::Status(e) => write!(f, "invalid upgrade status: {e}"),
            UpgradeError::Header(e) => write!(f, "invalid upgrade header: {e}"),
            UpgradeError::NotHttp11 => f.write_str("101 Switching Protocols needs HTTP/1.1"),
            UpgradeError::NoConnection => f.write_str("no connection to take over"),
            UpgradeError::ResponseStarted => f.write_str("a response was already started"),
            UpgradeError::UnreadBody => f.write_str("the request body was not read"),
            UpgradeError::ServerStopping => f.write_str("the server is stopping"),
            UpgradeError::Io(e) => write!(f, "upgrade failed: {e}"),
        }
    }
}

impl std::error::Error for UpgradeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            UpgradeError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A hook run (on a green thread of its own) when the server stops.
type StopHook = Box<dyn FnOnce() + Send>;

/// What the server and the upgraded connection share about shutdown.
#[derive(Default)]
struct StopSlot {
    stopped: bool,
    hook: Option<StopHook>,
}

/// Stop slots of upgraded connections, by the address of the connection's
/// state cell (unique while the connection is registered).
fn slots() -> MutexGuard<'static, HashMap<usize, Arc<Mutex<StopSlot>>>> {
    static SLOTS: OnceLock<Mutex<HashMap<usize, Arc<Mutex<StopSlot>>>>> = OnceLock::new();
    SLOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn key(state: &Arc<ConnState>) -> usize {
    Arc::as_ptr(state) as usize
}

fn lock(slot: &Mutex<StopSlot>) -> MutexGuard<'_, StopSlot> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// Server side: an upgraded connection is being closed by `stop()`. Runs its
/// hook on a new green thread (the caller holds the registry lock), or says
/// `false` when there is none, so the caller shuts the socket down.
pub(crate) fn server_stopping(state: &Arc<ConnState>) -> bool {
    let Some(slot) = slots().get(&key(state)).cloned() else {
        return false;
    };
    let hook = {
        let mut s = lock(&slot);
        s.stopped = true;
        s.hook.take()
    };
    match hook {
        Some(h) => {
            eventlet::spawn_n(h);
            true
        }
        None => false,
    }
}

/// Server side: the app returned; forget the connection's stop slot.
pub(crate) fn finished(state: &Arc<ConnState>) {
    slots().remove(&key(state));
}

/// A connection taken over by the app ([`Environ::upgrade`]): a stream with
/// no timeouts that first yields the bytes the server had already read past
/// the request head (eventlet drops them).
///
/// `Read` and `Write` go to the client; [`try_clone_stream`](Self::try_clone_stream)
/// gives more handles to the same socket (to write from other green threads).
pub struct Upgraded {
    stream: Stream,
    leftover: Vec<u8>,
    pos: usize,
    slot: Arc<Mutex<StopSlot>>,
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("stream", &self.stream)
            .field("leftover", &(self.leftover.len() - self.pos))
            .finish()
    }
}

impl Upgraded {
    /// Run `hook` on its own green thread when the server stops (at once if
    /// it already did). Without a hook, stopping shuts the socket down, so
    /// reads see EOF. Replaces an earlier hook.
    pub fn on_server_stop(&self, hook: impl FnOnce() + Send + 'static) {
        let mut s = lock(&self.slot);
        if s.stopped {
            drop(s);
            eventlet::spawn_n(hook);
        } else {
            s.hook = Some(Box::new(hook));
        }
    }

    /// Whether the server has begun to stop.
    pub fn server_stopping(&self) -> bool {
        lock(&self.slot).stopped
    }

    /// The bytes received after the request head and not read yet.
    pub fn leftover(&self) -> &[u8] {
        &self.leftover[self.pos..]
    }

    /// Another handle to the same socket (see [`Stream::try_clone`]); it has
    /// no timeouts and does not see the leftover bytes.
    pub fn try_clone_stream(&self) -> io::Result<Stream> {
        self.stream.try_clone()
    }

    /// The stream and the unread leftover bytes.
    pub fn into_parts(mut self) -> (Stream, Vec<u8>) {
        let mut rest = std::mem::take(&mut self.leftover);
        rest.drain(..self.pos);
        (self.stream, rest)
    }

    /// The socket itself (timeouts can be set on it).
    pub fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }
}

impl Read for Upgraded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.leftover.len() {
            let n = buf.len().min(self.leftover.len() - self.pos);
            buf[..n].copy_from_slice(&self.leftover[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.leftover.len() {
                self.leftover = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Upgraded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        self.stream.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

/// The response head of an upgrade: the status line and headers, validated.
fn response_head<K: AsRef<str>, V: AsRef<str>>(
    status: &str,
    headers: impl IntoIterator<Item = (K, V)>,
) -> Result<(u16, Vec<u8>), UpgradeError> {
    let code = status::parse_status(status).map_err(UpgradeError::Status)?;
    if status.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(UpgradeError::Status(StatusError::BadCode));
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"HTTP/1.1 ");
    status::write_latin1(status, &mut out);
    out.extend_from_slice(b"\r\n");
    for (k, v) in headers {
        let (k, v) = (k.as_ref(), v.as_ref());
        status::validate_header(k, v).map_err(UpgradeError::Header)?;
        status::write_latin1(k, &mut out);
        out.extend_from_slice(b": ");
        status::write_latin1(v, &mut out);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok((code, out))
}

impl Environ<'_> {
    /// Take over the connection: write `status` (e.g. `"101 Switching
    /// Protocols"`) and `headers` exactly as given, then hand the socket and
    /// the bytes already received after the head to the app. See the
    /// [module docs](crate::upgrade) for what the server does from then on.
    ///
    /// ```no_run
    /// use eventlet_wsgi::{Body, Environ, StartResponse};
    /// use std::io::{Read, Write};
    /// fn app(env: &mut Environ, _sr: &mut StartResponse) -> Body {
    ///     let mut conn = env
    ///         .upgrade("101 Switching Protocols", [("Upgrade", "echo"), ("Connection", "Upgrade")])
    ///         .expect("upgrade");
    ///     let mut buf = [0u8; 1024];
    ///     while let Ok(n @ 1..) = conn.read(&mut buf) {
    ///         if conn.write_all(&buf[..n]).is_err() {
    ///             break;
    ///         }
    ///     }
    ///     Body::empty() // ignored: the connection is closed when the app returns
    /// }
    /// ```
    pub fn upgrade<K: AsRef<str>, V: AsRef<str>>(
        &mut self,
        status: &str,
        headers: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Upgraded, UpgradeError> {
        let (code, head) = response_head(status, headers)?;
        let state = self.conn_state.clone().ok_or(UpgradeError::NoConnection)?;
        if code == 101 && self.get("SERVER_PROTOCOL") != Some("HTTP/1.1") {
            return Err(UpgradeError::NotHttp11);
        }
        if !self.input.finished() {
            return Err(UpgradeError::UnreadBody);
        }
        let io_cell = self.input.conn_io();
        let mut io = io_cell.borrow_mut();
        if io.upgraded.is_some() {
            return Err(UpgradeError::NoConnection);
        }
        if io.headers_sent {
            return Err(UpgradeError::ResponseStarted);
        }
        // Register the stop slot before the state says "upgraded", so a
        // concurrent stop() always finds it.
        let slot = Arc::new(Mutex::new(StopSlot::default()));
        slots().insert(key(&state), slot.clone());
        if let Err(s) = state.compare_exchange(
            STATE_REQUEST,
            STATE_UPGRADED,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            slots().remove(&key(&state));
            debug_assert_eq!(s, STATE_CLOSE);
            return Err(UpgradeError::ServerStopping);
        }
        // From here on the connection is the app's, whatever happens.
        io.upgraded = Some(code);
        io.headers_sent = true;
        let r = io
            .queue(&head)
            .and_then(|_| io.flush_out())
            .and_then(|_| io.stream.try_clone());
        // The app gets the socket's own handle (it waits in reads); the
        // server keeps a clone, which costs no descriptor while idle.
        let mut stream = io.swap_stream(r.map_err(UpgradeError::Io)?);
        stream.set_read_timeout(None).map_err(UpgradeError::Io)?;
        stream.set_write_timeout(None).map_err(UpgradeError::Io)?;
        let leftover = io.buffered().to_vec();
        io.consume(usize::MAX);
        io.release_buffers();
        Ok(Upgraded {
            stream,
            leftover,
            pos: 0,
            slot,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_head_is_written_as_given() {
        let (code, head) = response_head(
            "101 Switching Protocols",
            [("Upgrade", "websocket"), ("Connection", "Upgrade")],
        )
        .unwrap();
        assert_eq!(code, 101);
        assert_eq!(
            head,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        );
    }

    #[test]
    fn response_head_rejects_splitting() {
        assert!(matches!(
            response_head("101 Switching\r\nX: y", [("a", "b")]),
            Err(UpgradeError::Status(_))
        ));
        assert!(matches!(
            response_head(
                "101 Switching Protocols",
                [("Upgrade", "x\r\nSet-Cookie: a")]
            ),
            Err(UpgradeError::Header(_))
        ));
        assert!(matches!(
            response_head("101 Switching Protocols", [("Bad Name", "x")]),
            Err(UpgradeError::Header(_))
        ));
        assert!(matches!(
            response_head("abc", Vec::<(&str, &str)>::new()),
            Err(UpgradeError::Status(_))
        ));
    }
}
