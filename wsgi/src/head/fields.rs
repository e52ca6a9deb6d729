//! The fields that carry framing and connection management: Host, Content-Length, Transfer-Encoding,
//! Connection and Expect (RFC 9112 §3.2, §6, §9; RFC 9110 §7.2, §10.1.1).

use super::scan::{eq_lower, scan_token};
use super::target::valid_authority;
use super::{bad, BodyFraming, Head, HeadError, Version};
use std::ops::Range;

/// The field names [`Fields`] looks at; every other name is `Other`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Special {
    Other,
    Host,
    Expect,
    Connection,
    ContentLength,
    TransferEncoding,
}

impl Special {
    /// Which field a validated token names: by length first, then one or two word compares.
    #[inline(always)]
    pub(super) fn of(name: &[u8]) -> Special {
        match name.len() {
            4 if eq_lower(name, b"host") => Special::Host,
            6 if eq_lower(name, b"expect") => Special::Expect,
            10 if eq_lower(name, b"connection") => Special::Connection,
            14 if eq_lower(name, b"content-length") => Special::ContentLength,
            17 if eq_lower(name, b"transfer-encoding") => Special::TransferEncoding,
            _ => Special::Other,
        }
    }
}

/// What the framing fields said so far (the connection-management fields are written straight into
/// the [`Head`]).
#[derive(Default)]
pub(super) struct Fields {
    pub(super) content_length: Option<u64>,
    pub(super) te: TransferCodings,
}

/// The Transfer-Encoding list, accumulated over every TE line.
#[derive(Default)]
pub(super) struct TransferCodings {
    pub(super) seen: bool,
    chunked: bool,
    last_is_chunked: bool,
    other: bool,
}

/// Takes note of a Host field whose trimmed value is `buf[value]`, in `host` (the head's).
/// `valid` says that the caller has already found the value to be a valid authority.
#[inline(always)]
pub(super) fn set_host(
    host: &mut Option<Range<usize>>,
    buf: &[u8],
    value: Range<usize>,
    valid: bool,
) -> Result<(), HeadError> {
    if host.is_some() {
        return Err(bad("more than one Host"));
    }
    // RFC 9110 §7.2: an empty Host is legal when the target has no authority.
    if !valid && !value.is_empty() && !valid_authority(&buf[value.clone()], false) {
        return Err(bad("invalid Host"));
    }
    *host = Some(value);
    Ok(())
}

impl Fields {
    /// Takes note of a field named `kind` (not `Other`) whose trimmed value is `buf[value]`: the
    /// framing fields here, the connection-management ones in `head`.
    #[inline(never)]
    pub(super) fn observe(
        &mut self,
        kind: Special,
        buf: &[u8],
        value: Range<usize>,
        head: &mut Head,
    ) -> Result<(), HeadError> {
        let v = &buf[value.clone()];
        match kind {
            Special::Host => set_host(&mut head.host, buf, value, false)?,
            Special::Expect => {
                for e in list_elements(v) {
                    head.expect_continue |= e.eq_ignore_ascii_case(b"100-continue");
                }
            }
            // A single token is the common case; the value is already trimmed of OWS.
            Special::Connection if eq_lower(v, b"keep-alive") => head.conn_keep_alive = true,
            Special::Connection if eq_lower(v, b"close") => head.conn_close = true,
            Special::Connection => {
                for token in list_elements(v) {
                    head.conn_close |= token.eq_ignore_ascii_case(b"close");
                    head.conn_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
            Special::ContentLength => {
                // Any repetition is rejected, identical or not: the simplest safe reading of RFC 9112 §6.3.
                if self.content_length.is_some() {
                    return Err(bad("duplicate Content-Length"));
                }
                self.content_length = Some(parse_content_length(v)?);
            }
            Special::TransferEncoding => self.te.observe(v)?,
            Special::Other => {}
        }
        Ok(())
    }

    /// RFC 9112 §6.1 and §6.3: the body length, from the fields of a complete head.
    pub(super) fn framing(
        &self,
        version: Version,
        reject_bad_requests: bool,
    ) -> Result<BodyFraming, HeadError> {
        if !self.te.seen {
            return Ok(self
                .content_length
                .map_or(BodyFraming::Empty, BodyFraming::Length));
        }
        if version == Version::Http10 {
            return Err(bad("Transfer-Encoding in an HTTP/1.0 request"));
        }
        if !self.te.last_is_chunked {
            return Err(bad("chunked is not the final transfer coding"));
        }
        if self.te.other {
            return Err(HeadError::NotImplemented("unsupported transfer coding"));
        }
        if self.content_length.is_some() && reject_bad_requests {
            return Err(bad("both Transfer-Encoding and Content-Length"));
        }
        Ok(BodyFraming::Chunked)
    }
}

impl TransferCodings {
    fn observe(&mut self, value: &[u8]) -> Result<(), HeadError> {
        self.seen = true;
        for coding in list_elements(value) {
            let name_len = scan_token(coding, 0);
            if name_len == 0 {
                return Err(bad("invalid transfer coding"));
            }
            let params = trim_ows(&coding[name_len..]);
            if !(params.is_empty() || params[0] == b';') {
                return Err(bad("invalid transfer coding"));
            }
            if coding[..name_len].eq_ignore_ascii_case(b"chunked") {
                if !params.is_empty() {
                    return Err(bad("parameters on chunked"));
                }
                if self.chunked {
                    return Err(bad("chunked applied twice"));
                }
                self.chunked = true;
                self.last_is_chunked = true;
            } else {
                // An unsupported coding: its parameters are never interpreted, so they are not validated.
                self.other = true;
                self.last_is_chunked = false;
            }
        }
        Ok(())
    }
}

/// The non-empty elements of a comma-separated list, trimmed of OWS (RFC 9110 §5.6.1: empty elements are
/// allowed and ignored).
fn list_elements(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|e| !e.is_empty())
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `Content-Length = 1*DIGIT`. Not `str::parse`, which accepts a sign.
fn parse_content_length(v: &[u8]) -> Result<u64, HeadError> {
    if v.is_empty() {
        return Err(bad("empty Content-Length"));
    }
    v.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return Err(bad("invalid Content-Length"));
        }
        n.checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(bad("Content-Length overflows"))
    })
}
