//! The request line's version and target: `HTTP/x.y`, the four target forms of RFC 9112 §3.2 and the
//! authority syntax shared with the Host field.

use super::scan::{scan_table, skip_alnum};
use super::{bad, HeadError, TargetForm, Version};
use std::ops::Range;

/// The length of `HTTP/x.y`.
pub(super) const VERSION_LEN: usize = 8;

/// `HTTP/` DIGIT `.` DIGIT, case-sensitive (RFC 9112 §2.3).
pub(super) fn parse_version(v: &[u8]) -> Result<Version, HeadError> {
    match *v {
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            match (major, minor) {
                (b'1', b'0') => Ok(Version::Http10),
                // RFC 9110 §2.5: a higher minor version is processed as the highest one we implement.
                (b'1', _) => Ok(Version::Http11),
                _ => Err(HeadError::VersionNotSupported),
            }
        }
        _ => Err(bad("invalid HTTP version")),
    }
}

/// The parts of a request target; ranges are relative to the target.
pub(super) struct TargetParts {
    pub(super) form: TargetForm,
    pub(super) path: Range<usize>,
    pub(super) authority: Option<Range<usize>>,
}

/// Checks the target's form against the method (RFC 9112 §3.2) and splits an absolute-form target.
pub(super) fn classify_target(method: &[u8], target: &[u8]) -> Result<TargetParts, HeadError> {
    let whole = 0..target.len();
    let parts = |form, authority| {
        Ok(TargetParts {
            form,
            path: whole.clone(),
            authority,
        })
    };
    if method == b"CONNECT" {
        // RFC 9112 §3.2.3: authority-form = uri-host ":" port, and only CONNECT uses it.
        return if valid_authority(target, true) {
            parts(TargetForm::Authority, Some(whole.clone()))
        } else {
            Err(bad("CONNECT target must be host:port"))
        };
    }
    match target {
        [b'/', ..] => parts(TargetForm::Origin, None),
        b"*" if method == b"OPTIONS" => parts(TargetForm::Asterisk, None),
        b"*" => Err(bad("asterisk-form target is only allowed with OPTIONS")),
        _ => {
            let scheme_len = if starts_with_ignore_case(target, b"http://") {
                7
            } else if starts_with_ignore_case(target, b"https://") {
                8
            } else {
                return Err(bad("invalid request target form"));
            };
            let rest = &target[scheme_len..];
            let auth_len = rest
                .iter()
                .position(|&b| matches!(b, b'/' | b'?' | b'#'))
                .unwrap_or(rest.len());
            // RFC 9110 §4.2.1: an http(s) URI with an empty host MUST be rejected; userinfo (`@`) is not
            // a valid authority character here, so it is rejected too (RFC 9110 §4.2.4 SHOULD).
            if auth_len == 0 || !valid_authority(&rest[..auth_len], false) {
                return Err(bad("invalid authority in absolute-form target"));
            }
            let auth = scheme_len..scheme_len + auth_len;
            Ok(TargetParts {
                form: TargetForm::Absolute,
                path: auth.end..target.len(),
                authority: Some(auth),
            })
        }
    }
}

fn starts_with_ignore_case(s: &[u8], prefix: &[u8]) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix)
}

/// `uri-host [ ":" port ]` (RFC 3986 §3.2.2): a reg-name, an IPv4 address (a reg-name syntactically) or a
/// bracketed IPv6 literal; the host must not be empty. With `require_port` the port must have digits.
pub(super) fn valid_authority(a: &[u8], require_port: bool) -> bool {
    // Fast path, one pass: a plain reg-name (no `%`), then nothing or a port.
    match scan_table(&REG_NAME, a, 0) {
        i if i == a.len() => return !a.is_empty() && !require_port,
        i if i > 0 && a[i] == b':' => {
            let port = &a[i + 1..];
            return port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty());
        }
        _ => {}
    }
    let (host_ok, rest) = if let Some(inner) = a.strip_prefix(b"[") {
        match inner.iter().position(|&b| b == b']') {
            Some(close) => (valid_ipv6_literal(&inner[..close]), &inner[close + 1..]),
            None => return false,
        }
    } else {
        let host_len = a.iter().position(|&b| b == b':').unwrap_or(a.len());
        (
            host_len > 0 && valid_reg_name(&a[..host_len]),
            &a[host_len..],
        )
    };
    let port_ok = match rest {
        [] => !require_port,
        [b':', port @ ..] => {
            port.iter().all(u8::is_ascii_digit) && !(require_port && port.is_empty())
        }
        _ => false,
    };
    host_ok && port_ok
}

fn valid_ipv6_literal(s: &[u8]) -> bool {
    s.contains(&b':')
        && s.iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

/// The bytes a reg-name may hold as they are: unreserved and sub-delims (RFC 3986 §3.2.2).
static REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'_'
                    | b'~'
                    | b'!'
                    | b'$'
                    | b'&'
                    | b'\''
                    | b'('
                    | b')'
                    | b'*'
                    | b'+'
                    | b','
                    | b';'
                    | b'='
            );
        i += 1;
    }
    t
};

/// The end of the run of [`REG_NAME`] bytes from `i`.
#[inline(always)]
pub(super) fn scan_reg_name(buf: &[u8], i: usize) -> usize {
    let stop = skip_alnum(buf, i);
    // The byte that ends the run nearly always ends the reg-name too (a CR or the port's colon).
    match buf.get(stop) {
        Some(&b) if REG_NAME[usize::from(b)] => scan_table(&REG_NAME, buf, stop),
        _ => stop,
    }
}

/// unreserved / pct-encoded / sub-delims.
fn valid_reg_name(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if REG_NAME[usize::from(b)] {
            i += 1;
            continue;
        }
        if b != b'%'
            || !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
        {
            return false;
        }
        i += 3;
    }
    true
}
