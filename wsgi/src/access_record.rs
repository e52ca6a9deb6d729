//! A typed access-log record for apps that write their own log lines (JSON,
//! say): every `log_format` key plus the request's duration, method, target
//! and version, handed to a hook after each response. `log_format` itself
//! stays eventlet's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// One answered request, as the access log sees it.
#[derive(Clone, Copy, Debug)]
pub struct AccessRecord<'a> {
    /// `%(client_ip)s`: the client as the access log shows it (a trusted
    /// proxy's client, or the peer, prefixed by `X-Forwarded-For` when
    /// `log_x_forwarded_for` is on and no trusted proxy named the client).
    pub client_ip: &'a str,
    /// `%(client_port)s`; `None` for Unix peers or when a proxy gave no port.
    pub client_port: Option<u16>,
    /// `REMOTE_ADDR`, as the app saw it.
    pub remote_addr: &'a str,
    /// `%(date_time)s`: when the response ended.
    pub date_time: SystemTime,
    /// `%(request_line)s`
    pub request_line: &'a str,
    /// The request method.
    pub method: &'a str,
    /// The request target as sent (`REQUEST_URI`).
    pub target: &'a str,
    /// `SERVER_PROTOCOL`: `HTTP/1.1` or `HTTP/1.0`.
    pub protocol: &'a str,
    /// `%(status_code)s`
    pub status_code: u16,
    /// `%(body_length)s`: response body bytes sent.
    pub body_length: u64,
    /// `%(wall_seconds)s`
    pub wall_seconds: f64,
    /// The same as a `Duration`.
    pub duration: Duration,
    /// `wsgi.url_scheme`
    pub url_scheme: &'a str,
}

/// The hook's type: called on the connection's green thread after each
/// response (keep it short; it must not block for long).
pub type AccessHook = Arc<dyn Fn(&AccessRecord<'_>) + Send + Sync>;

/// The hook as the options hold it (printable, cloneable).
#[derive(Clone)]
pub(crate) struct HookSlot(pub AccessHook);

impl std::fmt::Debug for HookSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessHook")
    }
}
