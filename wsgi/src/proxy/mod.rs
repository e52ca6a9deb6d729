//! Running behind proxies: which peers are trusted ([`TrustedProxies`]),
//! what their forwarding headers say ([`forwarded`]) and the PROXY protocol
//! header they may put before the first byte of a connection ([`protocol`]).

pub mod forwarded;
pub mod protocol;
mod trusted;

pub use forwarded::{ClientInfo, Scheme};
pub use protocol::{ProxyAddrs, ProxyError, ProxyHeader};
pub use trusted::{Cidr, TrustedProxies, TrustedProxiesError};

use crate::environ::Environ;
use crate::options::ServerOptions;
use eventlet::net::{Addr, Stream};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Whether the peer (by IP, or a Unix-socket peer when `None`) is trusted.
fn trusts(trusted: &TrustedProxies, peer_ip: Option<IpAddr>) -> bool {
    match peer_ip {
        Some(ip) => trusted.trusts_ip(ip),
        None => trusted.trusts_unix(),
    }
}

/// Apply a trusted peer's forwarding headers to a freshly built environ:
/// `REMOTE_ADDR`/`REMOTE_PORT`, `wsgi.url_scheme`/`HTTPS` and `HTTP_HOST`.
/// Returns whether the client address changed (the access log then shows it).
pub(crate) fn apply_forwarded(
    env: &mut Environ<'_>,
    peer_ip: Option<IpAddr>,
    trusted: &TrustedProxies,
) -> bool {
    if trusted.is_empty() || !trusts(trusted, peer_ip) {
        return false;
    }
    let info = {
        let h = forwarded::ForwardingHeaders {
            forwarded: env.get("HTTP_FORWARDED"),
            x_forwarded_for: env.get("HTTP_X_FORWARDED_FOR"),
            x_forwarded_proto: env.get("HTTP_X_FORWARDED_PROTO"),
            x_forwarded_host: env.get("HTTP_X_FORWARDED_HOST"),
        };
        if h.forwarded.is_none()
            && h.x_forwarded_for.is_none()
            && h.x_forwarded_proto.is_none()
            && h.x_forwarded_host.is_none()
        {
            return false;
        }
        forwarded::resolve(&h, trusted)
    };
    if let Some(scheme) = info.scheme {
        env.set("wsgi.url_scheme", scheme.as_str());
        match scheme {
            Scheme::Https => env.set("HTTPS", "on"),
            Scheme::Http => {
                env.remove("HTTPS");
            }
        }
    }
    if let Some(host) = &info.host {
        env.set("HTTP_HOST", host);
    }
    match info.addr {
        Some(ip) => {
            env.set("REMOTE_ADDR", &ip.to_string());
            let port = info.port.map(|p| p.to_string()).unwrap_or_default();
            env.set("REMOTE_PORT", &port);
            true
        }
        None => false,
    }
}

/// With PROXY protocol on: read the header a new connection must start with.
/// `Ok(Some(addr))` is the client it names, `Ok(None)` keeps the socket's
/// peer (`LOCAL`, `UNKNOWN`); an error closes the connection.
pub(crate) fn accept_proxy_header(
    stream: &mut Stream,
    peer: &Addr,
    opts: &ServerOptions,
) -> Result<Option<Addr>, ProxyError> {
    let peer_ip = peer.inet().map(|sa| sa.ip());
    if !trusts(&opts.forwarded_allow_ips, peer_ip) {
        return Err(ProxyError::Untrusted);
    }
    let deadline = Instant::now() + opts.head_timeout.max(Duration::from_millis(1));
    let header = protocol::read_header(stream, deadline);
    // The connection's own IO sets its timeouts from a clean slate.
    let _ = stream.set_read_timeout(None);
    let header = header?;
    Ok(match header.addrs {
        ProxyAddrs::Local => None,
        ProxyAddrs::Inet { source, .. } => Some(Addr::Inet(source)),
        ProxyAddrs::Unix => Some(Addr::Unix(Default::default())),
    })
}
