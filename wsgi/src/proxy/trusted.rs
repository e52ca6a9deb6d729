//! The allow-list of proxies whose forwarding headers and PROXY protocol
//! headers are believed (gunicorn's `forwarded_allow_ips`, with CIDRs).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address block: `10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` lies in the block. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.1`, what a dual-stack socket reports) matches IPv4 blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// `::ffff:a.b.c.d` → `a.b.c.d`; anything else unchanged.
pub(crate) fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

impl FromStr for Cidr {
    type Err = TrustedProxiesError;

    fn from_str(s: &str) -> Result<Cidr, TrustedProxiesError> {
        let bad = || TrustedProxiesError(s.to_string());
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// An entry of a trusted-proxy list that is not an address, a CIDR block,
/// `unix` or `*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedProxiesError(pub String);

impl fmt::Display for TrustedProxiesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not an IP address, CIDR block, `unix` or `*` in the trusted proxy list: {:?}",
            self.0
        )
    }
}

impl std::error::Error for TrustedProxiesError {}

/// Which peers may tell the server who the client is. The default trusts
/// nobody: forwarding headers and PROXY headers from anyone are ignored
/// (headers) or refused (PROXY).
///
/// ```
/// use eventlet_wsgi::proxy::TrustedProxies;
/// let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8, unix").unwrap();
/// assert!(t.trusts_ip("10.1.2.3".parse().unwrap()));
/// assert!(!t.trusts_ip("192.0.2.1".parse().unwrap()));
/// assert!(t.trusts_unix());
/// assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    cidrs: Vec<Cidr>,
    unix: bool,
    any: bool,
}

impl TrustedProxies {
    /// Trust nobody (the default).
    pub fn none() -> Self {
        Self::default()
    }

    /// Parse a comma-separated list (gunicorn's `--forwarded-allow-ips`):
    /// addresses, CIDR blocks, `unix` (peers on Unix sockets) and `*`
    /// (every TCP peer: only where nothing but the proxy can reach the port).
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        let mut t = Self::default();
        for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match item {
                "*" => t.any = true,
                "unix" => t.unix = true,
                _ => t.cidrs.push(item.parse()?),
            }
        }
        Ok(t)
    }

    /// Also trust this block.
    pub fn cidr(mut self, c: Cidr) -> Self {
        self.cidrs.push(c);
        self
    }

    /// Trust peers on Unix sockets (a proxy on the same host). Off by
    /// default: any local process can connect to the socket.
    pub fn unix(mut self, on: bool) -> Self {
        self.unix = on;
        self
    }

    /// Whether a TCP peer at `ip` is trusted.
    pub fn trusts_ip(&self, ip: IpAddr) -> bool {
        self.any || self.cidrs.iter().any(|c| c.contains(ip))
    }

    /// Whether Unix-socket peers are trusted.
    pub fn trusts_unix(&self) -> bool {
        self.unix
    }

    /// Whether anyone at all is trusted.
    pub fn is_empty(&self) -> bool {
        !self.any && !self.unix && self.cidrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_table() {
        let rows: &[(&str, &str, bool)] = &[
            ("10.0.0.0/8", "10.255.1.2", true),
            ("10.0.0.0/8", "11.0.0.1", false),
            ("10.0.0.0/8", "::ffff:10.1.1.1", true),
            ("0.0.0.0/0", "203.0.113.9", true),
            ("0.0.0.0/0", "::1", false),
            ("192.0.2.7", "192.0.2.7", true),
            ("192.0.2.7", "192.0.2.8", false),
            ("192.0.2.0/31", "192.0.2.1", true),
            ("192.0.2.0/31", "192.0.2.2", false),
            ("2001:db8::/32", "2001:db8:1::5", true),
            ("2001:db8::/32", "2001:db9::5", false),
            ("::/0", "2001:db8::1", true),
            ("::1", "::1", true),
            ("::1", "127.0.0.1", false),
        ];
        for (c, ip, want) in rows {
            let cidr: Cidr = c.parse().unwrap();
            assert_eq!(cidr.contains(ip.parse().unwrap()), *want, "{c} ∋ {ip}");
        }
    }

    #[test]
    fn bad_entries() {
        for bad in [
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0/8",
            "host.example",
            "10.0.0.1/8/8",
            "01.2.3.4",
        ] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
        let t = TrustedProxies::parse(" 127.0.0.1 ,, ::1 ").unwrap();
        assert!(t.trusts_ip("127.0.0.1".parse().unwrap()));
        assert!(t.trusts_ip("::1".parse().unwrap()));
        assert!(!t.trusts_unix());
        assert!(TrustedProxies::none().is_empty());
        assert!(TrustedProxies::parse("*")
            .unwrap()
            .trusts_ip("8.8.8.8".parse().unwrap()));
    }
}
