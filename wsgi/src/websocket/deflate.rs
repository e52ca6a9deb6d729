//! permessage-deflate (RFC 7692): offer negotiation (pure) and the per-message
//! compressor / decompressor glue over flate2 (zlib-rs backend, which takes
//! window sizes). This is the one part tungstenite does not provide.

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::fmt;
use std::time::{Duration, Instant};

/// Negotiated parameters (RFC 7692 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's compression window, 8..=15.
    pub server_max_window_bits: u8,
    /// Whether the response names `server_max_window_bits` (the client asked).
    pub server_bits_requested: bool,
}

impl DeflateParams {
    /// The `Sec-WebSocket-Extensions` value of the 101.
    pub(crate) fn response_header(&self) -> String {
        let mut s = String::from("permessage-deflate");
        if self.server_no_context_takeover {
            s.push_str("; server_no_context_takeover");
        }
        if self.client_no_context_takeover {
            s.push_str("; client_no_context_takeover");
        }
        if self.server_bits_requested {
            s.push_str(&format!(
                "; server_max_window_bits={}",
                self.server_max_window_bits
            ));
        }
        s
    }
}

/// A window-bits value: `8..=15`, optionally quoted (RFC 7692 §7.1.2).
fn window_bits(v: Option<&str>) -> Option<u8> {
    let v = v?.trim().trim_matches('"');
    if v.is_empty() || v.len() > 2 || !v.bytes().all(|b| b.is_ascii_digit()) || v.starts_with('0') {
        return None;
    }
    v.parse().ok().filter(|b| (8..=15).contains(b))
}

/// One offer's parameters; `None` when the offer is invalid (unknown or
/// repeated parameter, bad value): it is declined, the next one is tried.
fn offer(params: &str) -> Option<DeflateParams> {
    let mut p = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        server_bits_requested: false,
    };
    let mut seen = [false; 4];
    for param in params.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v)),
            None => (param, None),
        };
        let i = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => {
                p.server_no_context_takeover = true;
                0
            }
            "client_no_context_takeover" if value.is_none() => {
                p.client_no_context_takeover = true;
                1
            }
            "server_max_window_bits" => {
                p.server_max_window_bits = window_bits(value)?;
                p.server_bits_requested = true;
                2
            }
            // We inflate with the largest window, so the client may use any;
            // only the value's validity matters.
            "client_max_window_bits" => {
                if value.is_some() {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        if std::mem::replace(&mut seen[i], true) {
            return None;
        }
    }
    Some(p)
}

/// The first acceptable permessage-deflate offer of a
/// `Sec-WebSocket-Extensions` request value, in the client's order.
pub(crate) fn negotiate(extensions: &str) -> Option<DeflateParams> {
    super::handshake::tokens(extensions).find_map(|ext| {
        let (name, params) = ext.split_once(';').unwrap_or((ext, ""));
        if name.trim().eq_ignore_ascii_case("permessage-deflate") {
            offer(params)
        } else {
            None
        }
    })
}

/// Why a compressed message could not be inflated.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// It inflates past the message limit (a decompression bomb): 1009.
    TooBig,
    /// Not valid deflate data: 1007.
    Corrupt,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            InflateError::TooBig => "inflated message too big",
            InflateError::Corrupt => "invalid compressed data",
        })
    }
}

const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The server's compressor. Created on first use, and dropped after each
/// message without context takeover, or after a while without messages
/// (zlib's state is ~300 KiB resident: most of an idle WebSocket otherwise).
pub(crate) struct Deflater {
    params: DeflateParams,
    c: Option<Compress>,
    /// When `c` last compressed a message.
    used: Option<Instant>,
}

impl Deflater {
    pub(crate) fn new(params: DeflateParams) -> Deflater {
        Deflater {
            params,
            c: None,
            used: None,
        }
    }

    /// Whether a compressor is allocated.
    pub(crate) fn is_live(&self) -> bool {
        self.c.is_some()
    }

    /// Drop the compressor if it compressed nothing for `idle`; the next
    /// message starts a fresh one. The client may keep its window (context
    /// takeover): a compressor is always free not to refer back to earlier
    /// messages, so the stream stays valid. True when none is left.
    pub(crate) fn release_if_idle(&mut self, idle: Duration) -> bool {
        if self.used.is_some_and(|t| t.elapsed() >= idle) {
            self.c = None;
            self.used = None;
        }
        self.c.is_none()
    }

    /// Compress one message: a sync-flushed raw deflate stream without its
    /// final `00 00 ff ff` (RFC 7692 §7.2.1).
    pub(crate) fn compress(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let bits = self.params.server_max_window_bits;
        let c = self.c.get_or_insert_with(|| {
            // zlib cannot write raw deflate with a 256-byte window: for 8,
            // stored blocks (no back-references) fit any window.
            if bits < 9 {
                Compress::new_with_window_bits(Compression::none(), false, 9)
            } else {
                Compress::new_with_window_bits(Compression::fast(), false, bits)
            }
        });
        let start_in = c.total_in();
        let start_len = out.len();
        out.reserve(input.len() / 2 + 64);
        loop {
            let consumed = (c.total_in() - start_in) as usize;
            // Only fails on a stream error, impossible with a valid state.
            let _ = c.compress_vec(&input[consumed..], out, FlushCompress::Sync);
            let consumed = (c.total_in() - start_in) as usize;
            if consumed == input.len() && out.len() < out.capacity() {
                break;
            }
            out.reserve(out.capacity().max(256));
        }
        if out.len() == start_len {
            // zlib writes nothing for a sync flush with no new input: an
            // empty message is a lone 0x00 (RFC 7692 §7.2.3.6), which with
            // the receiver's `00 00 ff ff` makes an empty stored block.
            out.push(0);
        } else if out.len() - start_len >= 4 && out.ends_with(&TAIL) {
            out.truncate(out.len() - 4);
        }
        if self.params.server_no_context_takeover {
            self.c = None;
        } else {
            self.used = Some(Instant::now());
        }
    }
}

/// After compressors were dropped: hand freed heap memory back to the OS,
/// at most once a second for the whole process. glibc's malloc keeps freed
/// memory inside its heaps (a dropped compressor's ~300 KiB stays resident,
/// and small long-lived allocations placed in the hole keep the heap from
/// shrinking); `malloc_trim` returns the free pages in the middle too. It
/// walks the allocator's heaps for a few milliseconds: hence the rate limit.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::sync::OnceLock;
        static START: OnceLock<Instant> = OnceLock::new();
        static LAST: AtomicU64 = AtomicU64::new(u64::MAX);
        let second = START.get_or_init(Instant::now).elapsed().as_secs();
        if LAST.swap(second, Ordering::Relaxed) != second {
            // SAFETY: malloc_trim only works on glibc's own heaps, under
            // their locks; it touches no memory of ours.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

/// The client's messages' decompressor (largest window, so any client
/// window size inflates).
pub(crate) struct Inflater {
    reset_each: bool,
    d: Option<Decompress>,
}

impl Inflater {
    pub(crate) fn new(params: DeflateParams) -> Inflater {
        Inflater {
            reset_each: params.client_no_context_takeover,
            d: None,
        }
    }

    /// Inflate one message's payload; never holds more than `limit + 1`
    /// inflated bytes (a bomb is stopped as soon as it passes the limit).
    pub(crate) fn inflate(&mut self, input: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
        let d = self.d.get_or_insert_with(|| Decompress::new(false));
        let mut out: Vec<u8> =
            Vec::with_capacity((input.len() * 4).clamp(64, limit.saturating_add(1)));
        let r = inflate_part(d, input, &mut out, limit).and_then(|ended| {
            if ended {
                Ok(true)
            } else {
                inflate_part(d, &TAIL, &mut out, limit)
            }
        });
        match r {
            Ok(ended) => {
                if ended || self.reset_each {
                    self.d = None;
                }
                Ok(out)
            }
            Err(e) => {
                self.d = None;
                Err(e)
            }
        }
    }
}

/// Feed `input` to `d`; true when the deflate stream ended (a final block).
fn inflate_part(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
) -> Result<bool, InflateError> {
    let start_in = d.total_in();
    loop {
        let consumed = (d.total_in() - start_in) as usize;
        if out.len() == out.capacity() {
            if out.len() > limit {
                return Err(InflateError::TooBig);
            }
            let room = out.capacity().max(1024).min(limit + 1 - out.len());
            out.reserve_exact(room);
        }
        let before_out = out.len();
        let status = d
            .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
            .map_err(|_| InflateError::Corrupt)?;
        if out.len() > limit {
            return Err(InflateError::TooBig);
        }
        let consumed_now = (d.total_in() - start_in) as usize;
        match status {
            Status::StreamEnd => return Ok(true),
            _ if consumed_now == input.len() && out.len() < out.capacity() => return Ok(false),
            // No progress with room left and input pending: truncated data.
            Status::BufError
                if consumed_now == consumed
                    && out.len() == before_out
                    && out.len() < out.capacity() =>
            {
                return Ok(false)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params() -> DeflateParams {
        negotiate("permessage-deflate").unwrap()
    }

    #[test]
    fn negotiation_table() {
        let rows: &[(&str, Option<&str>)] = &[
            ("permessage-deflate", Some("permessage-deflate")),
            ("x-webkit-deflate-frame", None),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; server_max_window_bits=\"9\"",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
            ("permessage-deflate; server_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits", None),
            ("permessage-deflate; server_max_window_bits=08", None),
            ("permessage-deflate; unknown=1", None),
            ("permessage-deflate; server_no_context_takeover=1", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            // first acceptable offer, in the client's order
            (
                "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12",
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
        ];
        for (offer, want) in rows {
            let got = negotiate(offer).map(|p| p.response_header());
            assert_eq!(got.as_deref(), *want, "{offer}");
        }
    }

    #[test]
    fn round_trip_with_and_without_context_takeover() {
        for offer in [
            "permessage-deflate",
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; server_max_window_bits=9",
        ] {
            let p = negotiate(offer).unwrap();
            let mut d = Deflater::new(p);
            // The client's side of our messages: an inflater keeping context
            // unless the server resets.
            let mut i = Inflater::new(DeflateParams {
                client_no_context_takeover: p.server_no_context_takeover,
                ..p
            });
            for msg in [
                &b"hello hello hello hello"[..],
                b"",
                b"hello again",
                &[7u8; 100_000],
            ] {
                let mut out = Vec::new();
                d.compress(msg, &mut out);
                let got = i.inflate(&out, 1 << 20);
                assert_eq!(
                    got.as_deref(),
                    Ok(msg),
                    "{offer} {} {:?}",
                    msg.len(),
                    &out[..out.len().min(16)]
                );
            }
        }
    }

    #[test]
    fn bomb_is_stopped_at_the_limit() {
        let mut d = Deflater::new(params());
        let mut bomb = Vec::new();
        d.compress(&vec![0u8; 10 << 20], &mut bomb);
        assert!(bomb.len() * 50 < 10 << 20, "{}", bomb.len());
        let mut i = Inflater::new(params());
        assert_eq!(i.inflate(&bomb, 1 << 20), Err(InflateError::TooBig));
        // exactly at the limit is fine
        let mut i = Inflater::new(params());
        assert_eq!(i.inflate(&bomb, 10 << 20).unwrap().len(), 10 << 20);
    }

    #[test]
    fn garbage_is_corrupt() {
        let mut i = Inflater::new(params());
        assert_eq!(i.inflate(&[0xff; 32], 1024), Err(InflateError::Corrupt));
    }
}
