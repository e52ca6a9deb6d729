//! TLS on rustls: eventlet's `wrap_ssl` for listeners ([`wrap_ssl`]) and for
//! client streams ([`wrap_ssl_client`], [`connect`]).
//!
//! A TLS [`Stream`] reads and writes plaintext; the records go through the same
//! green-thread-aware socket as a plain stream, so timeouts and
//! [`Timeout`](crate::Timeout)s work the same way. On the server side the
//! handshake runs lazily, on the stream's first read or write (or an explicit
//! [`Stream::handshake`]) in the connection's own green thread: a client that
//! connects and never finishes its handshake cannot stall the accept loop, and
//! a client that sends garbage only fails its own stream.
//!
//! ```
//! use std::io::{Read, Write};
//! # let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
//! # let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
//! let server_cfg = eventlet::tls::TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
//! let listener = eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), server_cfg).unwrap();
//! let addr = listener.local_addr().unwrap();
//! let server = eventlet::spawn(move || {
//!     let (mut conn, _) = listener.accept().unwrap();
//!     let mut buf = [0; 4];
//!     conn.read_exact(&mut buf).unwrap(); // the handshake happens here
//!     conn.write_all(&buf).unwrap();
//! });
//! let client_cfg = eventlet::tls::TlsClientConfig::with_root_pem(cert_pem.as_bytes()).unwrap();
//! let mut client = eventlet::tls::connect(addr, "localhost", &client_cfg).unwrap();
//! client.write_all(b"echo").unwrap();
//! let mut reply = [0; 4];
//! client.read_exact(&mut reply).unwrap();
//! assert_eq!(&reply, b"echo");
//! server.wait().unwrap();
//! ```
//!
//! Differences from eventlet (Python's `ssl` module): OpenSSL is not used; only
//! TLS 1.2 and 1.3 are spoken. Like Python's default `suppress_ragged_eofs=True`,
//! a peer that closes the TCP connection without `close_notify` reads as a
//! clean EOF (`Ok(0)`) once the handshake is done.

use crate::net::{Listener, Sock, Stream, ToListenAddr};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig};
use rustls::{ServerConnection, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use std::fmt;
use std::io::{self, IoSlice, Read, Write};
use std::path::Path;
use std::sync::Arc;

fn invalid_data(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

fn invalid_input(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, e)
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    // Explicit, so a second crypto backend enabled elsewhere in the build
    // cannot make rustls' process-wide default ambiguous.
    Arc::new(rustls::crypto::ring::default_provider())
}

const VERSIONS: &[&SupportedProtocolVersion] = rustls::DEFAULT_VERSIONS;

fn parse_certs(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(invalid_input)?;
    if certs.is_empty() {
        return Err(invalid_input("no certificate found in the PEM data"));
    }
    Ok(certs)
}

/// The server side's certificate chain and key (eventlet's `certfile=` and
/// `keyfile=`), for [`wrap_ssl`].
#[derive(Clone)]
pub struct TlsServerConfig(Arc<ServerConfig>);

impl fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsServerConfig").finish_non_exhaustive()
    }
}

impl TlsServerConfig {
    /// From PEM data: the certificate chain (leaf first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1).
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsServerConfig> {
        let certs = parse_certs(cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(invalid_input)?;
        let cfg = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(invalid_input)?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(invalid_input)?;
        Ok(TlsServerConfig(Arc::new(cfg)))
    }

    /// From PEM files, read with blocking std IO: call it at startup, not in a
    /// busy green thread.
    pub fn from_pem_files(
        cert_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> io::Result<TlsServerConfig> {
        let cert = std::fs::read(cert_path)?;
        let key = std::fs::read(key_path)?;
        TlsServerConfig::from_pem(&cert, &key)
    }

    /// Use a rustls configuration built by hand (client auth, ALPN, ...).
    pub fn from_rustls(config: Arc<ServerConfig>) -> TlsServerConfig {
        TlsServerConfig(config)
    }
}

/// The certificates a client trusts, for [`connect`] and [`wrap_ssl_client`].
#[derive(Clone)]
pub struct TlsClientConfig(Arc<ClientConfig>);

impl fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TlsClientConfig").finish_non_exhaustive()
    }
}

impl TlsClientConfig {
    /// Trust the CA (or self-signed) certificates in `pem`, and nothing else.
    pub fn with_root_pem(pem: &[u8]) -> io::Result<TlsClientConfig> {
        let mut roots = RootCertStore::empty();
        for cert in parse_certs(pem)? {
            roots.add(cert).map_err(invalid_input)?;
        }
        let cfg = ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(VERSIONS)
            .map_err(invalid_input)?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(TlsClientConfig(Arc::new(cfg)))
    }

    /// Use a rustls configuration built by hand (system roots, client certs, ...).
    pub fn from_rustls(config: Arc<ClientConfig>) -> TlsClientConfig {
        TlsClientConfig(config)
    }
}

/// eventlet's `wrap_ssl(sock, certfile=, keyfile=, server_side=True)`: every
/// stream `listener` accepts from now on speaks TLS. The handshake runs on the
/// stream's first read or write, in the connection's green thread.
pub fn wrap_ssl(mut listener: Listener, config: TlsServerConfig) -> io::Result<Listener> {
    listener.tls = Some(config.0);
    Ok(listener)
}

/// eventlet's `wrap_ssl(connect(addr))` on the client side: start TLS on a
/// plain `stream`, verifying the server's certificate for `server_name` (a DNS
/// name or an IP address), and complete the handshake.
pub fn wrap_ssl_client(
    stream: Stream,
    server_name: &str,
    config: &TlsClientConfig,
) -> io::Result<Stream> {
    let name = ServerName::try_from(server_name.to_string()).map_err(invalid_input)?;
    let sock = stream
        .into_plain()
        .map_err(|_| invalid_input("the stream already speaks TLS"))?;
    let conn = ClientConnection::new(config.0.clone(), name).map_err(invalid_data)?;
    let mut stream = Stream::tls(TlsStream::new(sock, conn.into()));
    stream.handshake()?;
    Ok(stream)
}

/// [`connect`](crate::connect) to `addr`, then [`wrap_ssl_client`]: a TLS client
/// stream with the handshake done. Honours the caller's [`Timeout`](crate::Timeout).
pub fn connect(
    addr: impl ToListenAddr,
    server_name: &str,
    config: &TlsClientConfig,
) -> io::Result<Stream> {
    wrap_ssl_client(crate::net::connect(addr)?, server_name, config)
}

/// The rustls session shared by every handle of one TLS stream
/// ([`Stream::try_clone`]): a reader green thread and writer green threads
/// can use it at the same time.
///
/// The session is behind a `std` mutex held only for in-memory work
/// (decrypting bytes already read, encrypting a write), never across socket
/// IO. Socket writes of records happen under `write_lock`, a green lock, in
/// the order the records were made; reads need no lock (each handle reads
/// from the socket itself, then feeds rustls).
struct Session {
    conn: std::sync::Mutex<Connection>,
    write_lock: may::sync::Mutex<()>,
    /// One handle runs the handshake; the others wait here instead of
    /// blocking in a read of their own that nothing might ever answer (a
    /// writer must not wait for the peer's data once the handshake is done).
    handshake_lock: may::sync::Mutex<()>,
    sent_close_notify: std::sync::atomic::AtomicBool,
}

/// A rustls connection over a green socket (one handle of it).
pub(crate) struct TlsStream {
    session: Arc<Session>,
    sock: Sock,
    /// Encrypted bytes on their way to the socket (kept for reuse).
    out: Vec<u8>,
}

impl TlsStream {
    fn new(sock: Sock, conn: Connection) -> TlsStream {
        TlsStream {
            session: Arc::new(Session {
                conn: std::sync::Mutex::new(conn),
                write_lock: may::sync::Mutex::new(()),
                handshake_lock: may::sync::Mutex::new(()),
                sent_close_notify: std::sync::atomic::AtomicBool::new(false),
            }),
            sock,
            out: Vec::new(),
        }
    }

    /// The server side of a freshly accepted connection; no IO yet.
    pub(crate) fn server(sock: Sock, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(invalid_data)?;
        Ok(TlsStream::new(sock, conn.into()))
    }

    /// Another handle to the same session over `sock`, a `dup` of the socket.
    pub(crate) fn clone_with(&self, sock: Sock) -> TlsStream {
        TlsStream {
            session: self.session.clone(),
            sock,
            out: Vec::new(),
        }
    }

    pub(crate) fn sock(&self) -> &Sock {
        &self.sock
    }

    pub(crate) fn sock_mut(&mut self) -> &mut Sock {
        &mut self.sock
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.session.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_handshaking(&self) -> bool {
        self.conn().is_handshaking()
    }

    /// Run the handshake to its end (a no-op once done).
    pub(crate) fn handshake(&mut self) -> io::Result<()> {
        if !self.is_handshaking() {
            return Ok(());
        }
        let session = self.session.clone();
        let _one = session
            .handshake_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if !self.is_handshaking() {
            return Ok(());
        }
        let mut buf = vec![0u8; 4096];
        while self.is_handshaking() {
            self.write_pending()?;
            if !self.is_handshaking() {
                break;
            }
            if !self.read_records(&mut buf)? && self.is_handshaking() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
        // The last flight, or TLS 1.3 session tickets.
        self.write_pending()
    }

    /// Encrypt with `f` (under the session lock), then send every record
    /// rustls has queued, in order, under the write lock.
    fn write_with<R>(&mut self, f: impl FnOnce(&mut Connection) -> io::Result<R>) -> io::Result<R> {
        let session = self.session.clone();
        let _order = session.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        let r = {
            let mut conn = session.conn.lock().unwrap_or_else(|p| p.into_inner());
            let r = f(&mut conn);
            while conn.wants_write() {
                if conn.write_tls(&mut self.out)? == 0 {
                    break;
                }
            }
            r
        };
        let sent = self.sock.write_all(&self.out);
        self.out.clear();
        if self.out.capacity() > 64 * 1024 {
            self.out = Vec::new();
        }
        sent?;
        r
    }

    /// Send every record rustls has queued.
    fn write_pending(&mut self) -> io::Result<()> {
        self.write_with(|_| Ok(()))
    }

    /// Read once from the socket into `scratch` and decrypt; `Ok(false)` at
    /// EOF. No lock is held while the socket read waits.
    fn read_records(&mut self, scratch: &mut [u8]) -> io::Result<bool> {
        let n = loop {
            match self.sock.read(scratch) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        let mut conn = self.conn();
        if n == 0 {
            // rustls notes the EOF (its reader then reports it).
            let _ = conn.read_tls(&mut io::empty());
        }
        let mut rest = &scratch[..n];
        while !rest.is_empty() {
            let took = conn.read_tls(&mut rest);
            let processed = conn.process_new_packets();
            if let Err(e) = processed {
                drop(conn);
                // Tell the peer why (the alert rustls queued); the error is ours.
                let _ = self.write_pending();
                return Err(invalid_data(e));
            }
            if took? == 0 {
                break;
            }
        }
        Ok(n > 0)
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.handshake()?;
        loop {
            let (r, wants_write) = {
                let mut conn = self.conn();
                (conn.reader().read(buf), conn.wants_write())
            };
            match r {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A TCP EOF without close_notify: Python's suppress_ragged_eofs.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            if wants_write {
                // Key updates and the like.
                self.write_pending()?;
            }
            // `buf` is the scratch space for the encrypted bytes: plaintext
            // is only copied into it once they were handed to rustls. At most
            // 8 KiB at a time: rustls refuses input while 16 KiB of plaintext
            // wait, and bytes it refused would be lost.
            let n = buf.len().min(8 * 1024);
            self.read_records(&mut buf[..n])?;
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handshake()?;
        self.write_with(|c| c.writer().write(buf))
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.handshake()?;
        self.write_with(|c| c.writer().write_vectored(bufs))
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.write_with(|c| c.writer().flush())
    }

    /// Send `close_notify` (once per session): the peer reads a clean EOF.
    pub(crate) fn close_notify(&mut self) -> io::Result<()> {
        use std::sync::atomic::Ordering;
        if !self.session.sent_close_notify.swap(true, Ordering::AcqRel) {
            self.conn().send_close_notify();
        }
        self.write_pending()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        use std::sync::atomic::Ordering;
        // Only the last handle ends the session.
        if Arc::strong_count(&self.session) > 1
            || self.session.sent_close_notify.load(Ordering::Acquire)
        {
            return;
        }
        let mut conn = self.conn();
        if conn.is_handshaking() {
            return;
        }
        // Best effort and without waiting: a drop must not block.
        conn.send_close_notify();
        let mut sock = self.sock.socket();
        while conn.wants_write() {
            match conn.write_tls(&mut sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
}
