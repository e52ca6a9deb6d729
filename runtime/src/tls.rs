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

/// A rustls connection over a green socket.
pub(crate) struct TlsStream {
    conn: Connection,
    sock: Sock,
    sent_close_notify: bool,
}

impl TlsStream {
    fn new(sock: Sock, conn: Connection) -> TlsStream {
        TlsStream {
            conn,
            sock,
            sent_close_notify: false,
        }
    }

    /// The server side of a freshly accepted connection; no IO yet.
    pub(crate) fn server(sock: Sock, config: Arc<ServerConfig>) -> io::Result<TlsStream> {
        let conn = ServerConnection::new(config).map_err(invalid_data)?;
        Ok(TlsStream::new(sock, conn.into()))
    }

    pub(crate) fn sock(&self) -> &Sock {
        &self.sock
    }

    pub(crate) fn sock_mut(&mut self) -> &mut Sock {
        &mut self.sock
    }

    /// Run the handshake to its end (a no-op once done).
    pub(crate) fn handshake(&mut self) -> io::Result<()> {
        while self.conn.is_handshaking() {
            self.write_pending()?;
            if !self.conn.is_handshaking() {
                break;
            }
            if !self.read_records()? && self.conn.is_handshaking() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the peer closed the connection during the TLS handshake",
                ));
            }
        }
        // The last flight, or TLS 1.3 session tickets.
        self.write_pending()
    }

    /// Send every record rustls has queued.
    fn write_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            if self.conn.write_tls(&mut self.sock)? == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Read once from the socket and decrypt; `Ok(false)` at EOF.
    fn read_records(&mut self) -> io::Result<bool> {
        let n = loop {
            match self.conn.read_tls(&mut self.sock) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => break r?,
            }
        };
        if let Err(e) = self.conn.process_new_packets() {
            // Tell the peer why (the alert rustls queued); the error is ours.
            let _ = self.write_pending();
            return Err(invalid_data(e));
        }
        Ok(n > 0)
    }

    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.handshake()?;
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // A TCP EOF without close_notify: Python's suppress_ragged_eofs.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            self.read_records()?;
            // Key updates and the like.
            self.write_pending()?;
        }
    }

    pub(crate) fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handshake()?;
        let n = self.conn.writer().write(buf)?;
        self.write_pending()?;
        Ok(n)
    }

    pub(crate) fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.handshake()?;
        let n = self.conn.writer().write_vectored(bufs)?;
        self.write_pending()?;
        Ok(n)
    }

    pub(crate) fn flush(&mut self) -> io::Result<()> {
        self.conn.writer().flush()?;
        self.write_pending()
    }

    /// Send `close_notify` (once): the peer reads a clean EOF.
    pub(crate) fn close_notify(&mut self) -> io::Result<()> {
        if !self.sent_close_notify {
            self.sent_close_notify = true;
            self.conn.send_close_notify();
        }
        self.write_pending()
    }
}

impl Drop for TlsStream {
    fn drop(&mut self) {
        if self.sent_close_notify || self.conn.is_handshaking() {
            return;
        }
        // Best effort and without waiting: a drop must not block.
        self.conn.send_close_notify();
        let mut sock = self.sock.socket();
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut sock) {
                Ok(n) if n > 0 => {}
                _ => break,
            }
        }
    }
}
