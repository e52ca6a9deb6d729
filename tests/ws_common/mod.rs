//! A raw-socket WebSocket client for the tests: it writes any frame, masked
//! or not, and reads the server's frames byte for byte.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

pub fn handshake_request(path: &str, extra: &[&str]) -> Vec<u8> {
    let mut s = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n"
    );
    for h in extra {
        s.push_str(h);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.into_bytes()
}

/// A masked client frame with the given first byte (FIN, RSV, opcode).
pub fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    frame_with(first, payload, true)
}

pub fn frame_with(first: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mask = [0x37u8, 0xfa, 0x21, 0x3d];
    let mbit = if masked { 0x80 } else { 0 };
    let mut v = vec![first];
    let len = payload.len();
    if len < 126 {
        v.push(mbit | len as u8);
    } else if len < 65536 {
        v.push(mbit | 126);
        v.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        v.push(mbit | 127);
        v.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if masked {
        v.extend_from_slice(&mask);
        v.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    } else {
        v.extend_from_slice(payload);
    }
    v
}

pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

pub struct Client<S = TcpStream> {
    pub s: S,
    buf: Vec<u8>,
    pub status: u16,
    pub head: String,
}

/// A server frame: first byte and payload.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub first: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    pub fn opcode(&self) -> u8 {
        self.first & 0x0f
    }
    pub fn close_code(&self) -> Option<u16> {
        (self.opcode() == 8 && self.payload.len() >= 2)
            .then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }
}

impl Client {
    /// Connect and send `request` (plus `after` in the same write).
    pub fn open(addr: SocketAddr, request: &[u8], after: &[u8]) -> Client {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_nodelay(true).unwrap();
        Client::over(s, request, after)
    }

    pub fn connect(addr: SocketAddr, path: &str) -> Client {
        let c = Client::open(addr, &handshake_request(path, &[]), b"");
        assert_eq!(c.status, 101, "{}", c.head);
        c
    }
}

impl<S: Read + Write> Client<S> {
    /// Send `request` (plus `after` in the same write) over `s`.
    pub fn over(s: S, request: &[u8], after: &[u8]) -> Client<S> {
        let mut c = Client {
            s,
            buf: Vec::new(),
            status: 0,
            head: String::new(),
        };
        let mut all = request.to_vec();
        all.extend_from_slice(after);
        c.s.write_all(&all).unwrap();
        c.read_head();
        c
    }

    fn fill(&mut self) -> io::Result<usize> {
        let mut tmp = [0u8; 8192];
        let n = self.s.read(&mut tmp)?;
        self.buf.extend_from_slice(&tmp[..n]);
        Ok(n)
    }

    fn read_head(&mut self) {
        loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                self.head = String::from_utf8_lossy(&self.buf[..i + 4]).into_owned();
                self.buf.drain(..i + 4);
                self.status = self.head[9..12].parse().unwrap();
                return;
            }
            if self.fill().expect("read head") == 0 {
                panic!(
                    "EOF before the response head: {:?}",
                    String::from_utf8_lossy(&self.buf)
                );
            }
        }
    }

    /// A response header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }

    /// The response body after a refused handshake (until EOF).
    pub fn rest(&mut self) -> Vec<u8> {
        while let Ok(n) = self.fill() {
            if n == 0 {
                break;
            }
        }
        std::mem::take(&mut self.buf)
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// The next frame, or `None` at EOF.
    pub fn read_frame(&mut self) -> Option<Frame> {
        self.try_read_frame()
            .unwrap_or_else(|e| panic!("read: {e}"))
    }

    /// The next frame, `None` at EOF, or the read error (a read timeout:
    /// what was read so far stays buffered for the next call).
    pub fn try_read_frame(&mut self) -> io::Result<Option<Frame>> {
        loop {
            if self.buf.len() >= 2 {
                let first = self.buf[0];
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                let (len, hl) = match self.buf[1] & 0x7f {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= hl + len {
                    let payload = self.buf[hl..hl + len].to_vec();
                    self.buf.drain(..hl + len);
                    return Ok(Some(Frame { first, payload }));
                }
            }
            match self.fill() {
                Ok(0) => return Ok(None),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    /// Read frames until a close; its code (`Some(None)` for an empty close).
    pub fn expect_close(&mut self) -> Option<u16> {
        loop {
            let f = self.read_frame().expect("a close frame before EOF");
            if f.opcode() == 8 {
                return f.close_code();
            }
        }
    }

    /// True when the server closed the TCP connection (EOF or reset).
    pub fn at_eof(&mut self) -> bool {
        self.read_frame().is_none()
    }
}

/// zlib's state needs more than the default green-thread stack in debug builds.
pub fn big_stacks() {
    let _ = eventlet::configure(eventlet::Config::default().stack_size(512 * 1024));
}

/// Inflate one permessage-deflate message (RFC 7692: the 4-byte tail the
/// sender stripped is put back first).
pub fn inflate(d: &mut flate2::Decompress, data: &[u8]) -> Vec<u8> {
    let mut input = data.to_vec();
    input.extend_from_slice(&[0, 0, 0xff, 0xff]);
    let mut out = Vec::with_capacity(1 << 20);
    d.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
        .unwrap();
    out
}

/// A WebSocket that negotiated permessage-deflate with context takeover both
/// ways (what browsers ask for).
pub fn connect_deflate(addr: SocketAddr) -> Client {
    let req = handshake_request(
        "/",
        &["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"],
    );
    let c = Client::open(addr, &req, b"");
    assert_eq!(
        c.header("Sec-WebSocket-Extensions").as_deref(),
        Some("permessage-deflate")
    );
    c
}

/// A TLS listener on port 0 with a fresh self-signed certificate for
/// "localhost", and a client configuration that trusts it.
pub fn tls_listener() -> (eventlet::net::Listener, eventlet::tls::TlsClientConfig) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.key_pair.serialize_pem());
    let server_cfg =
        eventlet::tls::TlsServerConfig::from_pem(cert_pem.as_bytes(), key_pem.as_bytes()).unwrap();
    let listener =
        eventlet::wrap_ssl(eventlet::listen("127.0.0.1:0").unwrap(), server_cfg).unwrap();
    let client_cfg = eventlet::tls::TlsClientConfig::with_root_pem(cert_pem.as_bytes()).unwrap();
    (listener, client_cfg)
}
