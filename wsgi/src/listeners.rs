//! Listening sockets made elsewhere: systemd socket activation
//! (`LISTEN_FDS`/`LISTEN_PID`/`LISTEN_FDNAMES`, `sd_listen_fds(3)`) and a
//! listener from a raw descriptor (`fd://N`, supervisors, a master process).
//! A [`Server`](crate::Server) serves several of them at once with
//! [`Server::with_listeners`](crate::Server::with_listeners).

use eventlet::net::Listener;
use std::fmt;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// systemd passes its sockets from this descriptor on.
pub const SD_LISTEN_FDS_START: RawFd = 3;

/// A socket-activation environment that cannot be right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListenFdsError {
    /// `LISTEN_PID` or `LISTEN_FDS` is not a number.
    NotANumber(&'static str, String),
    /// `LISTEN_FDNAMES` names a different number of sockets than `LISTEN_FDS`.
    NameCount {
        /// `LISTEN_FDS`
        fds: usize,
        /// names in `LISTEN_FDNAMES`
        names: usize,
    },
}

impl fmt::Display for ListenFdsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenFdsError::NotANumber(var, v) => write!(f, "{var}={v:?} is not a number"),
            ListenFdsError::NameCount { fds, names } => write!(
                f,
                "LISTEN_FDNAMES has {names} names for LISTEN_FDS={fds} sockets"
            ),
        }
    }
}

impl std::error::Error for ListenFdsError {}

/// The descriptors and names a socket-activation environment passes to the
/// process `my_pid` (pure: the values of `LISTEN_PID`, `LISTEN_FDS` and
/// `LISTEN_FDNAMES`). Empty when the variables are absent or meant for
/// another process (a parent that did not clear them, `LISTEN_PID`
/// mismatch: gunicorn#875). Names default to `unknown`, as in systemd.
///
/// ```
/// use eventlet_wsgi::listeners::parse_listen_fds;
/// let fds = parse_listen_fds(Some("42"), Some("2"), Some("http:metrics"), 42).unwrap();
/// assert_eq!(fds, vec![(3, "http".to_string()), (4, "metrics".to_string())]);
/// assert!(parse_listen_fds(Some("41"), Some("2"), None, 42).unwrap().is_empty());
/// ```
pub fn parse_listen_fds(
    listen_pid: Option<&str>,
    listen_fds: Option<&str>,
    listen_fdnames: Option<&str>,
    my_pid: u32,
) -> Result<Vec<(RawFd, String)>, ListenFdsError> {
    let (Some(pid), Some(n)) = (listen_pid, listen_fds) else {
        return Ok(Vec::new());
    };
    let num = |var: &'static str, v: &str| -> Result<usize, ListenFdsError> {
        let t = v.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ListenFdsError::NotANumber(var, v.to_string()));
        }
        t.parse()
            .map_err(|_| ListenFdsError::NotANumber(var, v.to_string()))
    };
    if num("LISTEN_PID", pid)? != my_pid as usize {
        return Ok(Vec::new());
    }
    let n = num("LISTEN_FDS", n)?;
    if n > 4096 {
        return Err(ListenFdsError::NotANumber("LISTEN_FDS", n.to_string()));
    }
    let names: Vec<String> = match listen_fdnames {
        Some(names) if !names.is_empty() => names.split(':').map(str::to_string).collect(),
        _ => vec!["unknown".to_string(); n],
    };
    if names.len() != n {
        return Err(ListenFdsError::NameCount {
            fds: n,
            names: names.len(),
        });
    }
    Ok(names
        .into_iter()
        .enumerate()
        .map(|(i, name)| (SD_LISTEN_FDS_START + i as RawFd, name))
        .collect())
}

/// The listening sockets systemd passed to this process (socket
/// activation), each with its `FileDescriptorName=`; empty when not
/// socket-activated. Each becomes a shared [`Listener`] (see
/// [`Listener::from_fd`]): stopping the server leaves the socket to systemd.
/// Call it once: the descriptors are owned by what it returns.
pub fn systemd_listeners() -> io::Result<Vec<(String, Listener)>> {
    let var = |k: &str| std::env::var(k).ok();
    let fds = parse_listen_fds(
        var("LISTEN_PID").as_deref(),
        var("LISTEN_FDS").as_deref(),
        var("LISTEN_FDNAMES").as_deref(),
        std::process::id(),
    )
    .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    fds.into_iter()
        .map(|(fd, name)| Ok((name, listener_from_fd(fd)?)))
        .collect()
}

/// A listener on the inherited listening socket `fd` (`fd://N`).
///
/// # Safety
/// `fd` must be an open descriptor that nothing else in this process owns
/// or will close: the listener closes it when dropped.
pub unsafe fn listener_from_raw_fd(fd: RawFd) -> io::Result<Listener> {
    // SAFETY: the caller hands over ownership of an open descriptor.
    Listener::from_fd(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn listener_from_fd(fd: RawFd) -> io::Result<Listener> {
    // Refuse descriptors that are not open before taking ownership.
    // SAFETY: fcntl(F_GETFD) reads descriptor flags and touches no memory.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: systemd's protocol gives these descriptors to this process
    // (LISTEN_PID matched), and nothing else in it claims them: only this
    // function, called once, takes them.
    unsafe { listener_from_raw_fd(fd) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_fds_table() {
        let ok = |pid, n, names| parse_listen_fds(pid, n, names, 100).unwrap();
        assert!(ok(None, None, None).is_empty());
        assert!(ok(Some("100"), None, None).is_empty());
        assert!(ok(None, Some("1"), None).is_empty());
        assert!(ok(Some("99"), Some("1"), None).is_empty());
        assert_eq!(
            ok(Some("100"), Some("1"), None),
            vec![(3, "unknown".into())]
        );
        assert_eq!(ok(Some("100"), Some("0"), None), vec![]);
        assert_eq!(
            ok(Some("100"), Some("3"), Some("a:b:c")),
            vec![(3, "a".into()), (4, "b".into()), (5, "c".into())]
        );
        assert_eq!(ok(Some("100"), Some("2"), Some("")).len(), 2);
        let err = |pid, n, names| parse_listen_fds(pid, n, names, 100).unwrap_err();
        assert_eq!(
            err(Some("100"), Some("2"), Some("a")),
            ListenFdsError::NameCount { fds: 2, names: 1 }
        );
        assert!(matches!(
            err(Some("x"), Some("1"), None),
            ListenFdsError::NotANumber("LISTEN_PID", _)
        ));
        assert!(matches!(
            err(Some("100"), Some("-1"), None),
            ListenFdsError::NotANumber("LISTEN_FDS", _)
        ));
        assert!(matches!(
            err(Some("100"), Some("99999"), None),
            ListenFdsError::NotANumber("LISTEN_FDS", _)
        ));
    }
}
