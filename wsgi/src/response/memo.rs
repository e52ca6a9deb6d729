//! What the last `start_response` call on a connection was made from, so that
//! the next identical call reuses its encoded head instead of validating and
//! writing it again.
//!
//! An app usually answers every request of a keep-alive connection with the
//! same status and headers. The connection keeps the encoded head
//! (`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n`) of the last call and,
//! next to it, this record of what it was made from: the status string, then
//! each header's name and value as given, with the head's length and the
//! writer's state after it. A new call is compared with the record byte for
//! byte; the head is reused up to the first difference, cut there, and written
//! on from there as usual. Equal input makes equal output (the encoding
//! depends on nothing else but the two options kept in the record), so a
//! reused head is exactly what writing it again would give.
//!
//! Layout (little-endian): `flags(1) code(2) status_len(2) status`, then per
//! header `name_len(2) value_len(2) head_end(4) state(1) app_length(8) name
//! value`. Anything longer than these fields hold is not recorded.

/// A record longer than this is not kept: long headers cost as much to
/// compare as to write, and the connection keeps the record while it idles.
pub(super) const MAX: usize = 1024;

use super::STATUS_PREFIX_LEN;
use crate::head::load_word;

/// Set in the flags byte of a record that can be used.
const VALID: u8 = 0x80;
const CAPITALIZE: u8 = 0x01;
const HTTP10: u8 = 0x02;

const HAS_LENGTH: u8 = 0x01;
const APP_DATE: u8 = 0x02;
const APP_CLOSE: u8 = 0x04;

/// Bytes of a header's record before its name and value.
const FIXED: usize = 2 + 2 + 4 + 1 + 8;

/// The writer's state after a header: where the head ends, and what
/// `send_headers` needs to know of the headers so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct State {
    pub head_end: usize,
    pub app_length: Option<u64>,
    pub app_date: bool,
    pub app_close: bool,
}

/// The flags byte for the two options the encoding depends on.
pub(super) fn flags(capitalize: bool, http10_only: bool) -> u8 {
    VALID | if capitalize { CAPITALIZE } else { 0 } | if http10_only { HTTP10 } else { 0 }
}

fn word4(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

/// `a == b` for slices of equal length, in a few word compares (two words
/// that may overlap) up to 16 bytes instead of a `memcmp` call.
#[inline(always)]
fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    match n {
        8..=16 => load_word(a, 0) == load_word(b, 0) && load_word(a, n - 8) == load_word(b, n - 8),
        4..=7 => word4(a, 0) == word4(b, 0) && word4(a, n - 4) == word4(b, n - 4),
        _ => a == b,
    }
}

/// Where the header records start when `rec` was made from `status` with
/// `flags`, and the status code it had.
#[inline(always)]
pub(super) fn status_hit(rec: &[u8], flags: u8, status: &str) -> Option<(u16, usize)> {
    let fixed: &[u8; 5] = rec.get(..5)?.try_into().ok()?;
    let len = usize::from(u16::from_le_bytes([fixed[3], fixed[4]]));
    if fixed[0] != flags || !same(rec.get(5..5 + len)?, status.as_bytes()) {
        return None;
    }
    Some((u16::from_le_bytes([fixed[1], fixed[2]]), 5 + len))
}

/// Start a new record (the old one is dropped); false when `status` is too
/// long to record.
pub(super) fn push_status(rec: &mut Vec<u8>, flags: u8, code: u16, status: &str) -> bool {
    rec.clear();
    let Ok(len) = u16::try_from(status.len()) else {
        return false;
    };
    rec.push(flags);
    rec.extend_from_slice(&code.to_le_bytes());
    rec.extend_from_slice(&len.to_le_bytes());
    rec.extend_from_slice(status.as_bytes());
    if rec.len() > MAX {
        rec.clear();
        return false;
    }
    true
}

/// If the header recorded at `at` is `name: value`: where the next one
/// starts (its state is read by [`state_after`] when needed).
#[inline(always)]
pub(super) fn header_hit(rec: &[u8], at: usize, name: &str, value: &str) -> Option<usize> {
    let fixed: &[u8; FIXED] = rec.get(at..at + FIXED)?.try_into().ok()?;
    let n = usize::from(u16::from_le_bytes([fixed[0], fixed[1]]));
    let v = usize::from(u16::from_le_bytes([fixed[2], fixed[3]]));
    let s = at + FIXED;
    if !same(rec.get(s..s + n)?, name.as_bytes())
        || !same(rec.get(s + n..s + n + v)?, value.as_bytes())
    {
        return None;
    }
    Some(s + n + v)
}

/// The state after the header recorded at `at` (found by [`header_hit`]),
/// or, for `at` 0, after the status line of a usable record.
#[inline(always)]
pub(super) fn state_after(rec: &[u8], at: usize) -> State {
    if at == 0 {
        let len = usize::from(u16::from_le_bytes([rec[3], rec[4]]));
        return State {
            head_end: STATUS_PREFIX_LEN + len + 2,
            ..State::default()
        };
    }
    let fixed: &[u8; FIXED] = rec[at..at + FIXED].try_into().expect("FIXED bytes");
    let head_end = u32::from_le_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]) as usize;
    let state = fixed[8];
    let mut length = [0u8; 8];
    length.copy_from_slice(&fixed[9..17]);
    State {
        head_end,
        app_length: (state & HAS_LENGTH != 0).then_some(u64::from_le_bytes(length)),
        app_date: state & APP_DATE != 0,
        app_close: state & APP_CLOSE != 0,
    }
}

/// Append a header and the state after it to the record; false (and the
/// record is left unusable: the caller clears it) when it does not fit.
pub(super) fn push_header(rec: &mut Vec<u8>, name: &str, value: &str, after: &State) -> bool {
    let (Ok(n), Ok(v), Ok(end)) = (
        u16::try_from(name.len()),
        u16::try_from(value.len()),
        u32::try_from(after.head_end),
    ) else {
        return false;
    };
    if rec.len() + FIXED + name.len() + value.len() > MAX {
        return false;
    }
    let mut state = 0;
    if after.app_length.is_some() {
        state |= HAS_LENGTH;
    }
    if after.app_date {
        state |= APP_DATE;
    }
    if after.app_close {
        state |= APP_CLOSE;
    }
    rec.extend_from_slice(&n.to_le_bytes());
    rec.extend_from_slice(&v.to_le_bytes());
    rec.extend_from_slice(&end.to_le_bytes());
    rec.push(state);
    rec.extend_from_slice(&after.app_length.unwrap_or(0).to_le_bytes());
    rec.extend_from_slice(name.as_bytes());
    rec.extend_from_slice(value.as_bytes());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_agrees_with_slice_equality() {
        let base: Vec<u8> = (0..40u8).map(|i| b'a' + i % 26).collect();
        for n in 0..=40 {
            let a = &base[..n];
            assert!(same(a, a), "{n}");
            for at in 0..n {
                let mut b = a.to_vec();
                b[at] ^= 0x20;
                assert!(!same(a, &b), "{n} {at}");
            }
            if n > 0 {
                assert!(!same(a, &base[..n - 1]), "lengths differ");
            }
        }
    }

    #[test]
    fn a_record_answers_only_the_call_it_was_made_from() {
        let f = flags(true, false);
        let mut rec = Vec::new();
        assert!(push_status(&mut rec, f, 200, "200 OK"));
        let first = State {
            head_end: 40,
            app_length: None,
            app_date: false,
            app_close: false,
        };
        let second = State {
            head_end: 40,
            app_length: Some(5),
            app_date: true,
            app_close: true,
        };
        assert!(push_header(&mut rec, "Content-Type", "text/plain", &first));
        assert!(push_header(&mut rec, "Content-Length", "5", &second));

        let (code, at) = status_hit(&rec, f, "200 OK").expect("same status");
        assert_eq!(code, 200);
        for other in ["200 Ok", "200 OK ", "200 O", "201 OK", ""] {
            assert_eq!(status_hit(&rec, f, other), None, "{other:?}");
        }
        assert_eq!(status_hit(&rec, flags(false, false), "200 OK"), None);
        assert_eq!(status_hit(&rec, flags(true, true), "200 OK"), None);

        let status_state = State {
            head_end: STATUS_PREFIX_LEN + "200 OK".len() + 2,
            ..State::default()
        };
        assert_eq!(state_after(&rec, 0), status_state);
        let next = header_hit(&rec, at, "Content-Type", "text/plain").expect("first");
        assert_eq!(state_after(&rec, at), first);
        assert_eq!(header_hit(&rec, at, "Content-Type", "text/html"), None);
        assert_eq!(header_hit(&rec, at, "content-type", "text/plain"), None);
        assert_eq!(header_hit(&rec, at, "Content-Typ", "etext/plain"), None);
        let end = header_hit(&rec, next, "Content-Length", "5").expect("second");
        assert_eq!(state_after(&rec, next), second);
        assert_eq!(end, rec.len());
        assert_eq!(header_hit(&rec, end, "X", "y"), None, "past the end");
        assert_eq!(status_hit(&[], f, "200 OK"), None, "empty record");
    }

    #[test]
    fn records_stop_at_the_size_limit() {
        let f = flags(false, false);
        let mut rec = Vec::new();
        assert!(push_status(&mut rec, f, 200, "200 OK"));
        let state = State::default();
        let long = "v".repeat(MAX);
        assert!(!push_header(&mut rec, "X-Long", &long, &state));
        assert!(!push_status(&mut rec, f, 200, &"x".repeat(MAX)));
        assert!(!push_status(&mut rec, f, 200, &"x".repeat(70_000)));
    }
}
