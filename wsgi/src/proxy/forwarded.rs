//! Who the client is, from the forwarding headers of a trusted proxy: RFC 7239
//! `Forwarded`, or `X-Forwarded-For` / `X-Forwarded-Proto` / `X-Forwarded-Host`.
//! Pure functions over the header values; the connection decides whether the
//! peer is trusted at all and applies the result.
//!
//! The client is the rightmost hop that is not a trusted proxy: every hop to
//! its right was added by a proxy we trust, everything to its left was sent
//! by the client and proves nothing. A malformed hop ends the walk (the hop to
//! its right, a trusted proxy, is the last one known). Malformed values never
//! fail a request: they are ignored.

use super::trusted::{unmap, TrustedProxies};
use std::net::{IpAddr, Ipv6Addr};

/// The scheme the client used to reach the first proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `http`
    Http,
    /// `https`
    Https,
}

impl Scheme {
    /// `http` / `https`, any case; anything else is `None`.
    pub fn parse(s: &str) -> Option<Scheme> {
        if s.eq_ignore_ascii_case("https") {
            Some(Scheme::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Scheme::Http)
        } else {
            None
        }
    }

    /// `"http"` or `"https"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// What trusted forwarding headers say about the client; `None` fields leave
/// the connection's own value.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address.
    pub addr: Option<IpAddr>,
    /// The client's port, when a `Forwarded` `for=` or an `X-Forwarded-For` hop carries one.
    pub port: Option<u16>,
    /// The scheme the client used.
    pub scheme: Option<Scheme>,
    /// The `Host` the client asked for.
    pub host: Option<String>,
}

/// The request's forwarding header values (comma-joined when repeated).
#[derive(Clone, Copy, Debug, Default)]
pub struct ForwardingHeaders<'a> {
    /// `Forwarded` (RFC 7239); when present it wins over the `X-Forwarded-*` set.
    pub forwarded: Option<&'a str>,
    /// `X-Forwarded-For`
    pub x_forwarded_for: Option<&'a str>,
    /// `X-Forwarded-Proto`
    pub x_forwarded_proto: Option<&'a str>,
    /// `X-Forwarded-Host`
    pub x_forwarded_host: Option<&'a str>,
}

/// Resolve the client from headers sent by a peer already known to be
/// trusted.
///
/// ```
/// use eventlet_wsgi::proxy::{forwarded::{resolve, ForwardingHeaders}, Scheme, TrustedProxies};
/// let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
/// let h = ForwardingHeaders {
///     x_forwarded_for: Some("198.51.100.1, 203.0.113.5, 10.0.0.2"),
///     x_forwarded_proto: Some("https"),
///     ..Default::default()
/// };
/// let c = resolve(&h, &trusted);
/// assert_eq!(c.addr, Some("203.0.113.5".parse().unwrap())); // not 198.51.100.1: the client wrote that
/// assert_eq!(c.scheme, Some(Scheme::Https));
/// ```
pub fn resolve(h: &ForwardingHeaders<'_>, trusted: &TrustedProxies) -> ClientInfo {
    match h.forwarded {
        Some(f) => resolve_forwarded(f, trusted),
        None => resolve_x_forwarded(h, trusted),
    }
}

fn resolve_x_forwarded(h: &ForwardingHeaders<'_>, trusted: &TrustedProxies) -> ClientInfo {
    let mut info = ClientInfo::default();
    if let Some(xff) = h.x_forwarded_for {
        let hops: Vec<&str> = xff.split(',').map(trim_ows).collect();
        if let Some(i) = pick_hop(hops.len(), trusted, |i| {
            parse_xff_hop(hops[i]).map(|(ip, _)| Some(ip))
        }) {
            if let Some((ip, port)) = parse_xff_hop(hops[i]) {
                info.addr = Some(ip);
                info.port = port;
            }
        }
    }
    info.scheme = h
        .x_forwarded_proto
        .and_then(rightmost)
        .and_then(Scheme::parse);
    info.host = h
        .x_forwarded_host
        .and_then(rightmost)
        .filter(|v| valid_host(v))
        .map(str::to_string);
    info
}

fn resolve_forwarded(value: &str, trusted: &TrustedProxies) -> ClientInfo {
    let elements: Vec<Option<Element>> = split_outside_quotes(value, b',')
        .into_iter()
        .map(parse_element)
        .collect();
    let mut info = ClientInfo::default();
    let chosen = pick_hop(elements.len(), trusted, |i| {
        elements[i]
            .as_ref()
            .map(|e| e.for_node.flatten().map(|(ip, _)| ip))
    });
    let Some(i) = chosen else { return info };
    let e = elements[i].as_ref().expect("chosen elements parsed");
    if let Some(Some((ip, port))) = e.for_node {
        info.addr = Some(ip);
        info.port = port;
    }
    info.scheme = e.proto.as_deref().and_then(Scheme::parse);
    info.host = e.host.clone().filter(|h| valid_host(h));
    info
}

/// The index of the client hop among `n` hops: the rightmost one that is
/// not a trusted proxy's address. `hop(i)` is `None` for a malformed hop (the
/// walk stops at the trusted hop to its right), `Some(None)` for one that is
/// not an address (`unknown`: it is the client).
fn pick_hop(
    n: usize,
    trusted: &TrustedProxies,
    hop: impl Fn(usize) -> Option<Option<IpAddr>>,
) -> Option<usize> {
    let mut chosen = None;
    for i in (0..n).rev() {
        let Some(addr) = hop(i) else { break };
        chosen = Some(i);
        match addr {
            Some(ip) if trusted.trusts_ip(ip) => {}
            _ => break,
        }
    }
    chosen
}

fn trim_ows(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

fn rightmost(list: &str) -> Option<&str> {
    list.rsplit(',').map(trim_ows).find(|s| !s.is_empty())
}

/// An `X-Forwarded-For` hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`.
fn parse_xff_hop(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((unmap(ip), None));
    }
    parse_node_addr(s)
}

/// `1.2.3.4:80`, `[v6]`, `[v6]:80` (the forms with a port or brackets).
fn parse_node_addr(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        let ip: Ipv6Addr = v6.parse().ok()?;
        let port = match after {
            "" => None,
            p => Some(parse_port(p.strip_prefix(':')?)?),
        };
        return Some((unmap(IpAddr::V6(ip)), port));
    }
    let (a, p) = s.rsplit_once(':')?;
    let ip: std::net::Ipv4Addr = a.parse().ok()?;
    Some((IpAddr::V4(ip), Some(parse_port(p)?)))
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// One `Forwarded` element. `for_node`: `None` = no `for=`; `Some(None)` =
/// `unknown` or an obfuscated identifier (a hop that is not an address).
#[derive(Clone, Debug, Default)]
struct Element {
    for_node: Option<Option<(IpAddr, Option<u16>)>>,
    proto: Option<String>,
    host: Option<String>,
}

/// `for=...;proto=...;host=...;by=...`, or `None` when malformed (bad
/// syntax, a repeated parameter, a `for` that is neither an address,
/// `unknown` nor an obfuscated `_identifier`).
fn parse_element(s: &str) -> Option<Element> {
    let mut e = Element::default();
    let mut seen = [false; 4];
    for pair in split_outside_quotes(s, b';') {
        let pair = trim_ows(pair);
        if pair.is_empty() {
            continue;
        }
        let (k, v) = pair.split_once('=')?;
        if k.is_empty() || !k.bytes().all(is_tchar) {
            return None;
        }
        let v = unquote(v)?;
        let slot = match k.to_ascii_lowercase().as_str() {
            "for" => 0,
            "proto" => 1,
            "host" => 2,
            "by" => 3,
            _ => continue, // extensions are allowed and ignored
        };
        if std::mem::replace(&mut seen[slot], true) {
            return None;
        }
        match slot {
            0 => e.for_node = Some(parse_for_node(&v)?),
            1 => e.proto = Some(v),
            2 => e.host = Some(v),
            _ => {}
        }
    }
    Some(e)
}

/// A `for=` node: an address (`Some(Some(..))`), or `unknown` / `_obfuscated`
/// (`Some(None)`); `None` when malformed.
fn parse_for_node(v: &str) -> Option<Option<(IpAddr, Option<u16>)>> {
    if v.eq_ignore_ascii_case("unknown") {
        return Some(None);
    }
    if let Some(id) = v.strip_prefix('_') {
        let ok = |b: u8| b.is_ascii_alphanumeric() || b"._-".contains(&b);
        return (!id.is_empty() && id.bytes().all(ok)).then_some(None);
    }
    // RFC 7239 §6: IPv6 must be bracketed; an IPv4 address may stand alone.
    if let Ok(v4) = v.parse::<std::net::Ipv4Addr>() {
        return Some(Some((IpAddr::V4(v4), None)));
    }
    // A port may also be obfuscated (`_abc`): the address still counts.
    if let Some((a, p)) = v.rsplit_once(':') {
        if p.starts_with('_') && p.len() > 1 {
            return parse_node_addr(a)
                .map(|(ip, _)| Some((ip, None)))
                .or_else(|| {
                    a.parse::<std::net::Ipv4Addr>()
                        .ok()
                        .map(|ip| Some((IpAddr::V4(ip), None)))
                });
        }
    }
    parse_node_addr(v).map(Some)
}

/// A token or a quoted-string value, unquoted; `None` when malformed.
fn unquote(v: &str) -> Option<String> {
    let b = v.as_bytes();
    if b.first() == Some(&b'"') {
        if b.len() < 2 || b[b.len() - 1] != b'"' {
            return None;
        }
        let mut out = String::new();
        let mut esc = false;
        for &c in &b[1..b.len() - 1] {
            if esc {
                if c < 0x20 && c != b'\t' || c == 0x7f {
                    return None;
                }
                out.push(c as char);
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' || (c < 0x20 && c != b'\t') || c == 0x7f {
                return None;
            } else {
                out.push(c as char);
            }
        }
        if esc {
            return None;
        }
        Some(out)
    } else if !b.is_empty() && b.iter().all(|&c| is_tchar(c)) {
        Some(v.to_string())
    } else {
        None
    }
}

/// Split at `sep` bytes outside double-quoted strings (an unterminated quote
/// runs to the end, and makes its piece malformed for [`unquote`]).
fn split_outside_quotes(s: &str, sep: u8) -> Vec<&str> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let (mut start, mut quoted, mut esc) = (0, false, false);
    for (i, &c) in b.iter().enumerate() {
        if quoted {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                quoted = false;
            }
        } else if c == b'"' {
            quoted = true;
        } else if c == sep {
            out.push(trim_ows(&s[start..i]));
            start = i + 1;
        }
    }
    out.push(trim_ows(&s[start..]));
    out
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// `host[:port]` as RFC 3986 allows in a Host header: a reg-name or IPv4
/// (unreserved, sub-delims, `%`), or a bracketed IPv6 literal; a port of
/// digits. Anything else (spaces, `/`, `@`, controls) is refused.
pub fn valid_host(h: &str) -> bool {
    if h.is_empty() || h.len() > 255 {
        return false;
    }
    let (host, port) = if let Some(rest) = h.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return false;
        };
        if v6.parse::<Ipv6Addr>().is_err() {
            return false;
        }
        match after {
            "" => return true,
            a => ("", a.strip_prefix(':')),
        }
    } else {
        match h.rsplit_once(':') {
            Some((a, p)) => (a, Some(p)),
            None => (h, None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if port.is_none() && host.is_empty() {
        return false;
    }
    host.bytes()
        .all(|c| c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&c))
        && (!host.is_empty() || h.starts_with('['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t() -> TrustedProxies {
        TrustedProxies::parse("10.0.0.0/8, 2001:db8::/32").unwrap()
    }

    fn xff(v: &str) -> Option<String> {
        let h = ForwardingHeaders {
            x_forwarded_for: Some(v),
            ..Default::default()
        };
        let c = resolve(&h, &t());
        c.addr.map(|a| match c.port {
            Some(p) => format!("{a}:{p}"),
            None => a.to_string(),
        })
    }

    #[test]
    fn x_forwarded_for_table() {
        let rows: &[(&str, Option<&str>)] = &[
            ("203.0.113.7", Some("203.0.113.7")),
            ("203.0.113.7, 10.0.0.1", Some("203.0.113.7")),
            (
                "198.51.100.1, 203.0.113.7, 10.0.0.1, 10.0.0.2",
                Some("203.0.113.7"),
            ),
            // Everything trusted: the leftmost hop is the client.
            ("10.0.0.9, 10.0.0.1", Some("10.0.0.9")),
            // Spoofed junk left of the real client is never looked at.
            ("not-an-ip, 203.0.113.7", Some("203.0.113.7")),
            // A malformed hop stops the walk at the trusted proxy to its right.
            ("203.0.113.7, garbage, 10.0.0.1", Some("10.0.0.1")),
            ("garbage", None),
            ("", None),
            (" , ", None),
            ("203.0.113.7:4711", Some("203.0.113.7:4711")),
            ("[2001:db9::1]:80", Some("2001:db9::1:80")),
            ("2001:db9::1, 2001:db8::5", Some("2001:db9::1")),
            ("::ffff:203.0.113.7", Some("203.0.113.7")),
            ("203.0.113.7:99999", None),
            ("203.0.113.7\t,\t10.0.0.1", Some("203.0.113.7")),
            ("1.2.3.4 5.6.7.8", None),
        ];
        for (v, want) in rows {
            assert_eq!(xff(v).as_deref(), *want, "X-Forwarded-For: {v:?}");
        }
    }

    #[test]
    fn proto_and_host() {
        let h = |p: &str, host: &str| {
            let h = ForwardingHeaders {
                x_forwarded_proto: Some(p),
                x_forwarded_host: Some(host),
                ..Default::default()
            };
            let c = resolve(&h, &t());
            (c.scheme, c.host)
        };
        assert_eq!(
            h("https", "example.com"),
            (Some(Scheme::Https), Some("example.com".into()))
        );
        assert_eq!(
            h("HTTP", "example.com:8443"),
            (Some(Scheme::Http), Some("example.com:8443".into()))
        );
        assert_eq!(
            h("http, https", "a.example, b.example"),
            (Some(Scheme::Https), Some("b.example".into()))
        );
        assert_eq!(h("ftp", "bad host"), (None, None));
        assert_eq!(
            h("", "[2001:db8::1]:443"),
            (None, Some("[2001:db8::1]:443".into()))
        );
        assert_eq!(h("https\r", "x/y"), (None, None));
        assert_eq!(h("https", "a@b"), (Some(Scheme::Https), None));
        assert_eq!(h("https", ":80"), (Some(Scheme::Https), None));
        assert_eq!(h("https", "[nope]"), (Some(Scheme::Https), None));
    }

    fn fwd(v: &str) -> ClientInfo {
        resolve(
            &ForwardingHeaders {
                forwarded: Some(v),
                // Ignored when Forwarded is present.
                x_forwarded_for: Some("192.0.2.99"),
                ..Default::default()
            },
            &t(),
        )
    }

    #[test]
    fn forwarded_table() {
        let c = fwd("for=192.0.2.60;proto=https;host=example.com, for=10.0.0.1");
        assert_eq!(c.addr, Some("192.0.2.60".parse().unwrap()));
        assert_eq!(c.scheme, Some(Scheme::Https));
        assert_eq!(c.host.as_deref(), Some("example.com"));
        let c = fwd(r#"For="[2001:db9:cafe::17]:4711";Proto=http"#);
        assert_eq!(c.addr, Some("2001:db9:cafe::17".parse().unwrap()));
        assert_eq!(c.port, Some(4711));
        assert_eq!(c.scheme, Some(Scheme::Http));
        // Client-written elements left of the client are ignored.
        let c = fwd("for=198.51.100.1;proto=http, for=192.0.2.43;proto=https, for=10.1.1.1");
        assert_eq!(c.addr, Some("192.0.2.43".parse().unwrap()));
        assert_eq!(c.scheme, Some(Scheme::Https));
        // unknown / obfuscated: the scheme still counts, the address stays the peer's.
        let c = fwd("for=unknown;proto=https");
        assert_eq!((c.addr, c.scheme), (None, Some(Scheme::Https)));
        let c = fwd("for=_hidden;proto=https, for=10.0.0.3");
        assert_eq!((c.addr, c.scheme), (None, Some(Scheme::Https)));
        let c = fwd(r#"for="192.0.2.5:_p""#);
        assert_eq!(c.addr, Some("192.0.2.5".parse().unwrap()));
        // Extensions and `by` are fine; quoted strings may hold ; and ,.
        let c = fwd(r#"for=192.0.2.8;by=10.0.0.1;ext="a;b,c";proto=https"#);
        assert_eq!(c.addr, Some("192.0.2.8".parse().unwrap()));
        assert_eq!(c.scheme, Some(Scheme::Https));
    }

    #[test]
    fn forwarded_malformed_is_ignored() {
        for v in [
            "for=",
            "for",
            "for=192.0.2.1;for=192.0.2.2",
            "for=2001:db8::1", // IPv6 must be bracketed and quoted
            r#"for="192.0.2.1"#,
            "for=192.0.2.1 extra",
            "=x",
            "for=\"\u{1}\"",
            "for=[::1]",
            "for=300.1.1.1",
        ] {
            let c = fwd(v);
            assert_eq!(c, ClientInfo::default(), "Forwarded: {v:?}");
        }
        // A malformed element stops the walk at the trusted hop to its right.
        let c = fwd("for=192.0.2.1, for=@@, for=10.0.0.7;proto=https");
        assert_eq!(c.addr, Some("10.0.0.7".parse().unwrap()));
        assert_eq!(c.scheme, Some(Scheme::Https));
        // An invalid proto or host is dropped, the address kept.
        let c = fwd(r#"for=192.0.2.1;proto=gopher;host="a b""#);
        assert_eq!(c.addr, Some("192.0.2.1".parse().unwrap()));
        assert_eq!((c.scheme, c.host), (None, None));
    }
}
