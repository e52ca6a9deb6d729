//! HAProxy's PROXY protocol, versions 1 (text) and 2 (binary): the header a
//! proxy (HAProxy `send-proxy`/`send-proxy-v2`, AWS NLB, ...) puts before the
//! first byte of a connection to say who the client is. [`parse`] is a pure,
//! strict parser over the bytes received so far; `read_header` reads one
//! header off a new connection, before any TLS, without reading past it.

use eventlet::net::Stream;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

/// The 12 bytes a version 2 header starts with.
pub const V2_SIGNATURE: [u8; 12] = *b"\r\n\r\n\0\r\nQUIT\n";
const V1_PREFIX: &[u8] = b"PROXY ";
/// The longest version 1 header, CRLF included (the spec's 107).
pub const V1_MAX: usize = 107;

/// Where the proxied connection came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyAddrs {
    /// v2 `LOCAL` (a health check from the proxy itself), v1 `UNKNOWN`, v2
    /// `UNSPEC`: the socket's own addresses stand.
    Local,
    /// A TCP client: its address and the address it connected to.
    Inet {
        /// The client.
        source: SocketAddr,
        /// The address the client connected to (on the proxy).
        destination: SocketAddr,
    },
    /// A client on a Unix socket of the proxy (v2 `AF_UNIX`).
    Unix,
}

/// One parsed header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyHeader {
    /// 1 or 2.
    pub version: u8,
    /// The addresses it carries.
    pub addrs: ProxyAddrs,
}

/// The outcome of [`parse`] on the bytes received so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete header of this many bytes; what follows is the client's.
    Done(ProxyHeader, usize),
    /// Valid so far; at least this many more bytes are needed.
    Incomplete(usize),
}

/// Why a connection's PROXY header was refused (the connection is closed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProxyError {
    /// The connection does not start with a PROXY header.
    Missing,
    /// A version 1 header breaks the grammar (what is wrong).
    BadV1(&'static str),
    /// A version 2 header breaks the format (what is wrong).
    BadV2(&'static str),
    /// The peer is not a trusted proxy: its header is not believed.
    Untrusted,
    /// The connection ended or failed before the header was complete.
    Io(io::ErrorKind),
    /// The head deadline passed before the header was complete.
    TimedOut,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Missing => f.write_str("no PROXY protocol header"),
            ProxyError::BadV1(why) => write!(f, "bad PROXY v1 header: {why}"),
            ProxyError::BadV2(why) => write!(f, "bad PROXY v2 header: {why}"),
            ProxyError::Untrusted => f.write_str("PROXY protocol header from an untrusted peer"),
            ProxyError::Io(kind) => write!(f, "connection failed before the PROXY header: {kind}"),
            ProxyError::TimedOut => f.write_str("PROXY protocol header not complete in time"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// Parse a PROXY header (v1 or v2) at the start of `buf`.
///
/// ```
/// use eventlet_wsgi::proxy::protocol::{parse, Parsed, ProxyAddrs};
/// let buf = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET / HTTP/1.1\r\n";
/// let Ok(Parsed::Done(h, len)) = parse(buf) else { panic!() };
/// assert_eq!(len, 45);
/// assert!(matches!(h.addrs, ProxyAddrs::Inet { source, .. } if source.to_string() == "192.0.2.1:56324"));
/// assert!(parse(b"GET / HTTP/1.1\r\n").is_err());
/// ```
pub fn parse(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] == V1_PREFIX[..n] {
        if n < V1_PREFIX.len() {
            return Ok(Parsed::Incomplete(V1_PREFIX.len() - n));
        }
        return parse_v1(buf);
    }
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return parse_v2(buf);
    }
    Err(ProxyError::Missing)
}

fn parse_v1(buf: &[u8]) -> Result<Parsed, ProxyError> {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.iter().position(|&b| b == b'\n') else {
        if let Some(&b) = window
            .iter()
            .find(|&&b| !(0x20..0x7f).contains(&b) && b != b'\r')
        {
            let _ = b;
            return Err(ProxyError::BadV1("a control byte"));
        }
        if window.len() >= V1_MAX {
            return Err(ProxyError::BadV1("longer than 107 bytes"));
        }
        return Ok(Parsed::Incomplete(1));
    };
    if end == 0 || window[end - 1] != b'\r' {
        return Err(ProxyError::BadV1("a bare LF"));
    }
    let line = &window[..end - 1];
    if line.iter().any(|&b| !(0x20..0x7f).contains(&b)) {
        return Err(ProxyError::BadV1("a control byte"));
    }
    let line = std::str::from_utf8(line).map_err(|_| ProxyError::BadV1("not ASCII"))?;
    let mut parts = line.split(' ');
    parts.next(); // "PROXY"
    let proto = parts.next().unwrap_or("");
    let header = |addrs| Ok(Parsed::Done(ProxyHeader { version: 1, addrs }, end + 1));
    if proto == "UNKNOWN" {
        // The rest of the line is to be ignored.
        return header(ProxyAddrs::Local);
    }
    let fields: Vec<&str> = parts.collect();
    let [src, dst, sport, dport] = fields[..] else {
        return Err(ProxyError::BadV1("not 6 fields separated by single spaces"));
    };
    let (src, dst): (IpAddr, IpAddr) = match proto {
        "TCP4" => (
            src.parse::<Ipv4Addr>()
                .map_err(|_| ProxyError::BadV1("bad IPv4 source"))?
                .into(),
            dst.parse::<Ipv4Addr>()
                .map_err(|_| ProxyError::BadV1("bad IPv4 destination"))?
                .into(),
        ),
        "TCP6" => (
            src.parse::<Ipv6Addr>()
                .map_err(|_| ProxyError::BadV1("bad IPv6 source"))?
                .into(),
            dst.parse::<Ipv6Addr>()
                .map_err(|_| ProxyError::BadV1("bad IPv6 destination"))?
                .into(),
        ),
        _ => return Err(ProxyError::BadV1("protocol is not TCP4, TCP6 or UNKNOWN")),
    };
    let port = |p: &str| -> Result<u16, ProxyError> {
        let digits = !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit());
        let canonical = p == "0" || !p.starts_with('0');
        match p.parse::<u16>() {
            Ok(n) if digits && canonical => Ok(n),
            _ => Err(ProxyError::BadV1("bad port")),
        }
    };
    header(ProxyAddrs::Inet {
        source: SocketAddr::new(src, port(sport)?),
        destination: SocketAddr::new(dst, port(dport)?),
    })
}

fn parse_v2(buf: &[u8]) -> Result<Parsed, ProxyError> {
    if buf.len() < 16 {
        return Ok(Parsed::Incomplete(16 - buf.len()));
    }
    let ver_cmd = buf[12];
    if ver_cmd >> 4 != 2 {
        return Err(ProxyError::BadV2("version is not 2"));
    }
    let local = match ver_cmd & 0x0f {
        0 => true,
        1 => false,
        _ => return Err(ProxyError::BadV2("command is neither LOCAL nor PROXY")),
    };
    let fam = buf[13];
    let len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    let total = 16 + len;
    if buf.len() < total {
        return Ok(Parsed::Incomplete(total - buf.len()));
    }
    let body = &buf[16..total];
    let done = |addrs| Ok(Parsed::Done(ProxyHeader { version: 2, addrs }, total));
    // The family must be one the spec defines, even for LOCAL.
    let need = match fam {
        0x00 => 0,
        0x11 => 12,
        0x21 => 36,
        0x31 => 216,
        0x12 | 0x22 | 0x32 => return Err(ProxyError::BadV2("a datagram family on a stream")),
        _ => return Err(ProxyError::BadV2("unknown address family")),
    };
    if local || fam == 0x00 {
        // LOCAL: the proxy's own connection (health checks); UNSPEC: no
        // addresses. Either way the socket's addresses stand.
        return done(ProxyAddrs::Local);
    }
    if len < need {
        return Err(ProxyError::BadV2("address block shorter than its family"));
    }
    let port = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
    match fam {
        0x11 => {
            let ip = |i: usize| IpAddr::from([body[i], body[i + 1], body[i + 2], body[i + 3]]);
            done(ProxyAddrs::Inet {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            })
        }
        0x21 => {
            let ip = |i: usize| {
                let mut a = [0u8; 16];
                a.copy_from_slice(&body[i..i + 16]);
                IpAddr::from(a)
            };
            done(ProxyAddrs::Inet {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            })
        }
        _ => done(ProxyAddrs::Unix),
    }
}

/// Read one PROXY header from a new connection before anything else (TLS
/// included) reads it, by `deadline`. Reads never go past the header (a TLS
/// ClientHello behind it stays in the socket): a v2 header costs three reads,
/// a v1 header one read per byte after the first 16. Returns the header.
pub(crate) fn read_header(
    stream: &mut Stream,
    deadline: Instant,
) -> Result<ProxyHeader, ProxyError> {
    // 15 bytes is the shortest v1 header ("PROXY UNKNOWN\r\n"): never over-read.
    let mut buf = Vec::with_capacity(64);
    let mut want = 15;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyError::TimedOut);
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| ProxyError::Io(e.kind()))?;
        let start = buf.len();
        buf.resize(start + want, 0);
        let n = match stream.read_raw(&mut buf[start..]) {
            Ok(0) => return Err(ProxyError::Io(io::ErrorKind::UnexpectedEof)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(ProxyError::TimedOut),
            Err(e) => return Err(ProxyError::Io(e.kind())),
        };
        buf.truncate(start + n);
        match parse(&buf)? {
            Parsed::Done(h, len) => {
                debug_assert_eq!(len, buf.len());
                return Ok(h);
            }
            Parsed::Incomplete(more) => {
                // v2 says its length after 16 bytes; a v1 header's is only
                // known at its CRLF, so past the shortest one it is read byte by byte.
                want = more;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.push(cmd);
        v.push(fam);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn inet(src: &str, dst: &str) -> ProxyAddrs {
        ProxyAddrs::Inet {
            source: src.parse().unwrap(),
            destination: dst.parse().unwrap(),
        }
    }

    #[test]
    fn v1_valid_table() {
        let rows: &[(&[u8], ProxyAddrs, usize)] = &[
            (
                b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\nGET",
                inet("192.0.2.1:56324", "198.51.100.2:443"),
                45,
            ),
            (
                b"PROXY TCP6 2001:db8::1 ::1 1 65535\r\n",
                inet("[2001:db8::1]:1", "[::1]:65535"),
                36,
            ),
            (b"PROXY UNKNOWN\r\n", ProxyAddrs::Local, 15),
            (
                b"PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nX",
                ProxyAddrs::Local,
                35,
            ),
            (
                b"PROXY TCP4 0.0.0.0 0.0.0.0 0 0\r\n",
                inet("0.0.0.0:0", "0.0.0.0:0"),
                32,
            ),
        ];
        for (input, addrs, len) in rows {
            match parse(input) {
                Ok(Parsed::Done(h, n)) => {
                    assert_eq!(
                        (h.version, &h.addrs, n),
                        (1, addrs, *len),
                        "{:?}",
                        String::from_utf8_lossy(input)
                    );
                }
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
            }
        }
    }

    #[test]
    fn v1_invalid_table() {
        let rows: &[&[u8]] = &[
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\n",
            b"PROXY TCP4 192.0.2.1  198.51.100.2 56324 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443 9\r\n",
            b"PROXY TCP4 2001:db8::1 198.51.100.2 1 2\r\n",
            b"PROXY TCP6 192.0.2.1 ::1 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 0443 443\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 +44 443\r\n",
            b"PROXY TCP4 192.0.2.256 198.51.100.2 1 2\r\n",
            b"PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n",
            b"PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n",
            b"PROXY TCP4 192.0.2.1 198.51.100.2 1 2\r\r\n",
            b"PROXY TCP4 192.0.2.1\x00 198.51.100.2 1 2\r\n",
            b"PROXY \r\n",
            b"GET / HTTP/1.1\r\n\r\n",
            b"proxy TCP4",
            b"\x16\x03\x01\x02\x00",
        ];
        for input in rows {
            assert!(
                parse(input).is_err(),
                "{:?} accepted",
                String::from_utf8_lossy(input)
            );
        }
        // Too long without CRLF.
        let mut long = b"PROXY UNKNOWN ".to_vec();
        long.resize(V1_MAX, b'a');
        assert_eq!(
            parse(&long),
            Err(ProxyError::BadV1("longer than 107 bytes"))
        );
        long.truncate(V1_MAX - 1);
        assert_eq!(parse(&long), Ok(Parsed::Incomplete(1)));
    }

    #[test]
    fn v2_table() {
        let mut tcp4 = vec![192, 0, 2, 1, 198, 51, 100, 2];
        tcp4.extend_from_slice(&56324u16.to_be_bytes());
        tcp4.extend_from_slice(&443u16.to_be_bytes());
        let h = v2(0x21, 0x11, &tcp4);
        assert_eq!(
            parse(&h),
            Ok(Parsed::Done(
                ProxyHeader {
                    version: 2,
                    addrs: inet("192.0.2.1:56324", "198.51.100.2:443")
                },
                28
            ))
        );
        // TLVs after the addresses are skipped.
        let mut with_tlv = tcp4.clone();
        with_tlv.extend_from_slice(&[0x04, 0x00, 0x03, b'a', b'b', b'c']);
        let h = v2(0x21, 0x11, &with_tlv);
        assert!(matches!(parse(&h), Ok(Parsed::Done(_, 34))));
        // TCP6.
        let mut tcp6 = Vec::new();
        tcp6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        tcp6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        tcp6.extend_from_slice(&[0, 80, 1, 187]);
        assert_eq!(
            parse(&v2(0x21, 0x21, &tcp6)),
            Ok(Parsed::Done(
                ProxyHeader {
                    version: 2,
                    addrs: inet("[2001:db8::1]:80", "[::1]:443")
                },
                52
            ))
        );
        // LOCAL keeps the socket's addresses, whatever the block says.
        assert_eq!(
            parse(&v2(0x20, 0x00, &[])),
            Ok(Parsed::Done(
                ProxyHeader {
                    version: 2,
                    addrs: ProxyAddrs::Local
                },
                16
            ))
        );
        assert_eq!(
            parse(&v2(0x20, 0x11, &tcp4)),
            Ok(Parsed::Done(
                ProxyHeader {
                    version: 2,
                    addrs: ProxyAddrs::Local
                },
                28
            ))
        );
        assert_eq!(
            parse(&v2(0x21, 0x31, &[0; 216])),
            Ok(Parsed::Done(
                ProxyHeader {
                    version: 2,
                    addrs: ProxyAddrs::Unix
                },
                232
            ))
        );
        // Incomplete: before the length, and inside the block.
        let full = v2(0x21, 0x11, &tcp4);
        for cut in 1..full.len() {
            assert!(
                matches!(parse(&full[..cut]), Ok(Parsed::Incomplete(n)) if n >= 1 && cut + n <= full.len()),
                "cut {cut}"
            );
        }
        // Errors.
        let bad: Vec<(Vec<u8>, &str)> = vec![
            (v2(0x11, 0x11, &tcp4), "version is not 2"),
            (v2(0x22, 0x11, &tcp4), "command is neither LOCAL nor PROXY"),
            (v2(0x21, 0x12, &tcp4), "a datagram family on a stream"),
            (v2(0x21, 0x41, &tcp4), "unknown address family"),
            (
                v2(0x21, 0x11, &tcp4[..8]),
                "address block shorter than its family",
            ),
            (
                v2(0x21, 0x21, &tcp4),
                "address block shorter than its family",
            ),
        ];
        for (input, why) in bad {
            assert_eq!(parse(&input), Err(ProxyError::BadV2(why)));
        }
        let mut wrong_sig = full.clone();
        wrong_sig[11] = b'X';
        assert_eq!(parse(&wrong_sig), Err(ProxyError::Missing));
    }
}
