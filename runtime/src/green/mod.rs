//! eventlet's `green.*` modules: third-party IO that yields.
//!
//! eventlet makes blocking libraries cooperative by monkey-patching them. Rust
//! has no monkey-patching, so the equivalents are here, each built so that
//! only the calling green thread waits and a [`Timeout`](crate::Timeout) cuts
//! the wait:
//!
//! | eventlet | here |
//! |---|---|
//! | `green.socket.getaddrinfo` / `gethostbyname` | [`dns::resolve`], [`dns::getaddrinfo`] |
//! | `green.urllib.request.urlopen`, `green.http.client` | [`http`] (a green transport for `ureq`) |
//! | `green.subprocess.Popen`, `greenio.GreenPipe` | [`subprocess`] |
//! | `green.socket.socket(AF_INET, SOCK_DGRAM)` | [`udp::UdpSocket`] |

pub mod dns;
#[cfg(feature = "http-client")]
pub mod http;
pub mod subprocess;
pub mod udp;
