//! Byte classes of the request head and the loops that skip over them: per byte through a table for
//! tokens (short, irregular class), eight bytes at a time (SWAR on a `u64`) for targets and field values.

/// RFC 9110 `tchar`: the bytes of a token (method, field name, coding).
pub(crate) const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// RFC 9110 §5.6.2 `tchar`, as a table for the hot loop.
pub(crate) static TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = is_tchar(i as u8);
        i += 1;
    }
    t
};

/// Bytes allowed inside a field value: VCHAR, SP, HTAB and obs-text (RFC 9110 §5.5).
#[cfg(test)]
pub(super) const fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

pub(crate) const LO: u64 = 0x0101_0101_0101_0101;
pub(crate) const HI: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` below `n` (n <= 128) may be set. Borrows only run upwards, so the
/// lowest set bit is exact: it marks the first (lowest-addressed, the word being little-endian) such byte.
/// Bits above it may be spurious, which is why the scans only ever look at the lowest one.
const fn less_mask(w: u64, n: u8) -> u64 {
    w.wrapping_sub(LO * n as u64) & !w & HI
}

/// Like [`less_mask`] for the bytes equal to `b`; the lowest set bit is exact as well.
const fn eq_mask(w: u64, b: u8) -> u64 {
    let x = w ^ (LO * b as u64);
    x.wrapping_sub(LO) & !x & HI
}

/// The eight bytes at `at` (all within `b`) as a little-endian word.
#[inline(always)]
pub(crate) fn load_word(b: &[u8], at: usize) -> u64 {
    let w: [u8; 8] = b[at..at + 8].try_into().expect("eight bytes");
    u64::from_le_bytes(w)
}

/// The eight bytes at `i` (`i < buf.len()`) as a little-endian word. When fewer than eight remain, the
/// missing ones read as NUL, a stop byte of every SWAR class here, so a scan stops there and sees that the
/// stop lies past the end of the buffer.
#[inline(always)]
fn word_at(buf: &[u8], i: usize) -> u64 {
    if let Some(w) = buf.get(i..i + 8) {
        return u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    }
    let rest = buf.len() - i;
    if buf.len() >= 8 {
        // The last eight bytes, shifted so that byte `i` is the lowest; zeros come in at the top.
        let w = &buf[buf.len() - 8..];
        let w = u64::from_le_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        w >> (8 * (8 - rest))
    } else {
        let mut w = [0u8; 8];
        w[..rest].copy_from_slice(&buf[i..]);
        u64::from_le_bytes(w)
    }
}

/// Advances from `i` over a SWAR class: `stop` marks (lowest bit exact) the bytes that may end the scan,
/// `resume` says which of those still belong to the class (HTAB in a value). Returns the index of the first
/// byte not in the class, or `buf.len()`.
#[inline(always)]
fn scan_swar(
    buf: &[u8],
    mut i: usize,
    stop: impl Fn(u64) -> u64,
    resume: impl Fn(u8) -> bool,
) -> usize {
    while i < buf.len() {
        let m = stop(word_at(buf, i));
        if m == 0 {
            i += 8;
            continue;
        }
        let j = i + (m.trailing_zeros() / 8) as usize;
        if j >= buf.len() {
            break;
        }
        if !resume(buf[j]) {
            return j;
        }
        i = j + 1;
    }
    buf.len()
}

/// The end of a field value starting at `i`: the first byte that is not VCHAR, SP, HTAB or obs-text.
#[inline]
pub(super) fn scan_value(buf: &[u8], i: usize) -> usize {
    let i = match simd::skip_value(buf, i) {
        Ok(stop) => return stop,
        Err(i) => i,
    };
    scan_swar(
        buf,
        i,
        |w| less_mask(w, 0x20) | eq_mask(w, 0x7f),
        |b| b == b'\t',
    )
}

/// The end of a request target starting at `i`: the first byte that is not VCHAR or obs-text, or is `#`
/// (no target form of RFC 9112 §3.2 has a fragment, and passing one on would put it in PATH_INFO).
#[inline]
pub(super) fn scan_target(buf: &[u8], i: usize) -> usize {
    let i = match simd::skip_target(buf, i) {
        Ok(stop) => return stop,
        Err(i) => i,
    };
    scan_swar(
        buf,
        i,
        |w| less_mask(w, 0x21) | eq_mask(w, 0x7f) | eq_mask(w, b'#'),
        |_| false,
    )
}

/// Sixteen bytes at a time with SSE2, which every x86-64 CPU has: long values (user agents, cookies)
/// and targets cost well under one instruction per byte. Each function returns `Ok(stop)` for the first
/// byte outside its class (`buf.len()` if none), reading the last 16 bytes of the buffer again for its
/// tail; `Err(i)` only when the buffer is shorter than 16 bytes or `i` is at its end: the SWAR loop
/// finishes those.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod simd {
    use std::arch::x86_64::{
        _mm_andnot_si128, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8,
        _mm_or_si128, _mm_set1_epi8, _mm_sub_epi8,
    };

    /// A bit per byte of the 16 at `block`: set where the byte may end a field value (a control byte or
    /// DEL; HTAB, a control byte that does not end it, is sorted out by the caller).
    #[inline(always)]
    fn value_stops(block: &[u8]) -> u32 {
        debug_assert_eq!(block.len(), 16);
        // SAFETY: `block` is 16 readable bytes and `_mm_loadu_si128` has no alignment requirement; the
        // other intrinsics only need SSE2, which this module is compiled for (cfg above).
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            // Unsigned `v <= 0x1f` is `min(v, 0x1f) == v`.
            let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v);
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
            _mm_movemask_epi8(_mm_or_si128(ctl, del)) as u32
        }
    }

    /// Like [`value_stops`] for a request target: a byte up to SP, DEL or `#`.
    #[inline(always)]
    fn target_stops(block: &[u8]) -> u32 {
        debug_assert_eq!(block.len(), 16);
        // SAFETY: as in `value_stops`.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            let ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x20)), v);
            let del = _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f));
            let hash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'#' as i8));
            _mm_movemask_epi8(_mm_or_si128(_mm_or_si128(ctl, del), hash)) as u32
        }
    }

    /// The stop bits of `stops` for the 16 bytes at `i`, or when fewer remain (but the buffer holds 16),
    /// for the last 16 bytes shifted so that bit 0 is byte `i`, with `true`: no bit past the buffer's
    /// end. `None` when `i` is at the end or the buffer is shorter than 16 bytes.
    #[inline(always)]
    fn block_stops(buf: &[u8], i: usize, stops: impl Fn(&[u8]) -> u32) -> Option<(u32, bool)> {
        if let Some(block) = buf.get(i..i + 16) {
            return Some((stops(block), false));
        }
        let rest = buf.len().checked_sub(i).filter(|&r| r > 0)?;
        let tail = buf.get(buf.len().checked_sub(16)?..)?;
        Some((stops(tail) >> (16 - rest), true))
    }

    /// Like [`value_stops`] for the bytes that field names and host names nearly always consist of:
    /// set where the byte is not a letter, a digit, `-` or `.` (all of them token and reg-name bytes).
    #[inline(always)]
    fn alnum_stops(block: &[u8]) -> u32 {
        debug_assert_eq!(block.len(), 16);
        // SAFETY: as in `value_stops`.
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().cast());
            // Unsigned `lo <= x <= lo + span` is `min(x - lo, span) == x - lo` (wrapping sub).
            let within = |x, lo: u8, span: u8| {
                let d = _mm_sub_epi8(x, _mm_set1_epi8(lo as i8));
                _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span as i8)), d)
            };
            // Setting bit 0x20 maps exactly the letters onto `a`-`z`.
            let letters = within(_mm_or_si128(v, _mm_set1_epi8(0x20)), b'a', b'z' - b'a');
            // `-` to `9` is `-./0123456789`: all but `/`.
            let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'/' as i8));
            let others = _mm_andnot_si128(slash, within(v, b'-', b'9' - b'-'));
            !_mm_movemask_epi8(_mm_or_si128(letters, others)) as u32 & 0xffff
        }
    }

    /// Sixteen bytes at a time to the first byte `stops` marks.
    #[inline(always)]
    fn skip_to_stop(
        buf: &[u8],
        mut i: usize,
        class: impl Fn(&[u8]) -> u32 + Copy,
    ) -> Result<usize, usize> {
        while let Some((stops, last)) = block_stops(buf, i, class) {
            if stops != 0 {
                return Ok(i + stops.trailing_zeros() as usize);
            }
            if last {
                return Ok(buf.len());
            }
            i += 16;
        }
        Err(i)
    }

    #[inline(always)]
    pub(super) fn skip_alnum(buf: &[u8], i: usize) -> Result<usize, usize> {
        skip_to_stop(buf, i, alnum_stops)
    }

    #[inline(always)]
    pub(super) fn skip_value(buf: &[u8], mut i: usize) -> Result<usize, usize> {
        while let Some((stops, last)) = block_stops(buf, i, value_stops) {
            if stops == 0 {
                if last {
                    return Ok(buf.len());
                }
                i += 16;
                continue;
            }
            let j = i + stops.trailing_zeros() as usize;
            if buf[j] != b'\t' {
                return Ok(j);
            }
            i = j + 1;
        }
        Err(i)
    }

    #[inline(always)]
    pub(super) fn skip_target(buf: &[u8], i: usize) -> Result<usize, usize> {
        skip_to_stop(buf, i, target_stops)
    }

    /// Whether every byte is below 0x80: sixteen at a time, the high bits
    /// gathered once at the end (a head is nearly always ASCII, so there is
    /// nothing to stop early for).
    #[inline]
    pub(in crate::head) fn is_ascii(buf: &[u8]) -> bool {
        if buf.len() < 16 {
            return buf.is_ascii();
        }
        // SAFETY: every load reads 16 bytes inside `buf` (`i + 16 <= len`,
        // then the last 16, `len >= 16`); `_mm_loadu_si128` needs no
        // alignment, and the rest only needs SSE2 (cfg above).
        unsafe {
            let p = buf.as_ptr();
            let mut acc = _mm_loadu_si128(p.add(buf.len() - 16).cast());
            let mut i = 0;
            while i + 16 <= buf.len() {
                acc = _mm_or_si128(acc, _mm_loadu_si128(p.add(i).cast()));
                i += 16;
            }
            _mm_movemask_epi8(acc) == 0
        }
    }

    /// [`super::has_control`], sixteen bytes at a time (the blocks of
    /// `value_stops`; the last one overlaps its neighbour when the length is
    /// not a multiple of 16).
    #[inline]
    pub(in crate::head) fn has_control(buf: &[u8]) -> bool {
        if buf.len() < 16 {
            return buf.iter().any(|&b| b < 0x20 || b == 0x7f);
        }
        let mut stops = value_stops(&buf[buf.len() - 16..]);
        for block in buf.chunks_exact(16) {
            stops |= value_stops(block);
        }
        stops != 0
    }
}

/// Elsewhere the SWAR loop does all the work.
#[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
mod simd {
    #[inline(always)]
    pub(super) fn skip_value(_: &[u8], i: usize) -> Result<usize, usize> {
        Err(i)
    }

    #[inline(always)]
    pub(super) fn skip_target(_: &[u8], i: usize) -> Result<usize, usize> {
        Err(i)
    }

    #[inline(always)]
    pub(super) fn skip_alnum(_: &[u8], i: usize) -> Result<usize, usize> {
        Err(i)
    }

    #[inline]
    pub(in crate::head) fn is_ascii(buf: &[u8]) -> bool {
        buf.is_ascii()
    }

    #[inline]
    pub(in crate::head) fn has_control(buf: &[u8]) -> bool {
        buf.iter().any(|&b| b < 0x20 || b == 0x7f)
    }
}

/// Whether every byte of `buf` is below 0x80 (an environ's head is then its
/// own latin-1 text).
#[inline]
pub(crate) fn is_ascii(buf: &[u8]) -> bool {
    simd::is_ascii(buf)
}

/// Whether `buf` holds a control byte (below 0x20, HTAB and CR/LF included)
/// or DEL: what a log line must not carry as it is.
#[inline]
pub(crate) fn has_control(buf: &[u8]) -> bool {
    simd::has_control(buf)
}

/// The end of a token starting at `i`. The class is irregular: a table, after a run of letters, digits,
/// `-` and `.` (a whole field name, nearly always) skipped sixteen bytes at a time.
#[inline]
pub(super) fn scan_token(buf: &[u8], i: usize) -> usize {
    scan_table(&TCHAR, buf, skip_alnum(buf, i))
}

/// The end of a field name starting at `i`: [`scan_token`], with the colon that nearly always ends a
/// run of letters, digits and `-` taken at once.
#[inline(always)]
pub(super) fn scan_field_name(buf: &[u8], i: usize) -> usize {
    let stop = skip_alnum(buf, i);
    if buf.get(stop) == Some(&b':') {
        return stop;
    }
    scan_table(&TCHAR, buf, stop)
}

/// The end of the run of letters, digits, `-` and `.` from `i` (SSE2; elsewhere, and in a buffer of
/// fewer than 16 bytes, nothing is skipped): token and reg-name bytes all, for the table scans to
/// finish from.
#[inline(always)]
pub(super) fn skip_alnum(buf: &[u8], i: usize) -> usize {
    match simd::skip_alnum(buf, i) {
        Ok(stop) | Err(stop) => stop,
    }
}

/// Advances from `i` over the bytes that `class` allows, four per length check.
#[inline(always)]
pub(super) fn scan_table(class: &[bool; 256], buf: &[u8], i: usize) -> usize {
    let Some(mut rest) = buf.get(i..) else {
        return i;
    };
    let stop = loop {
        match *rest {
            [a, b, c, d, ..] => {
                if !class[usize::from(a)] {
                    break rest;
                }
                if !class[usize::from(b)] {
                    break &rest[1..];
                }
                if !class[usize::from(c)] {
                    break &rest[2..];
                }
                if !class[usize::from(d)] {
                    break &rest[3..];
                }
                rest = &rest[4..];
            }
            _ => {
                while let [a, more @ ..] = rest {
                    if !class[usize::from(*a)] {
                        break;
                    }
                    rest = more;
                }
                break rest;
            }
        }
    };
    buf.len() - stop.len()
}

const CASE: u64 = LO * 0x20;

/// The eight bytes at `at` with bit 0x20 set in each.
#[inline(always)]
fn folded64(b: &[u8], at: usize) -> u64 {
    load_word(b, at) | CASE
}

/// The four bytes at `at` with bit 0x20 set in each.
#[inline(always)]
fn folded32(b: &[u8], at: usize) -> u32 {
    let w: [u8; 4] = b[at..at + 4].try_into().expect("four bytes");
    u32::from_le_bytes(w) | CASE as u32
}

/// ASCII case-insensitive equality of `s` and the lowercase `lit`, a word at a time.
///
/// Setting bit 0x20 of every byte instead of lowercasing letters only is exact for the literals used
/// here (letters, digits, `-`) as long as `s` holds no control byte: the only other byte that maps onto
/// a letter is its other case, onto a digit 0x10-0x19, onto `-` CR (0x0d). Callers pass validated tokens
/// or field values, which hold none of those.
#[inline(always)]
pub(super) fn eq_lower(s: &[u8], lit: &[u8]) -> bool {
    let n = lit.len();
    if s.len() != n {
        return false;
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if folded64(s, at) != folded64(lit, at) {
                return false;
            }
            at += 8;
        }
        folded64(s, n - 8) == folded64(lit, n - 8)
    } else if n >= 4 {
        folded32(s, 0) == folded32(lit, 0) && folded32(s, n - 4) == folded32(lit, n - 4)
    } else {
        s.iter().zip(lit).all(|(a, b)| a | 0x20 == b | 0x20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One high byte at every position of every length up to 80, and none:
    /// the same answer as the standard library's.
    #[test]
    fn is_ascii_agrees_with_std() {
        for len in 0..80 {
            let mut buf: Vec<u8> = (0..len).map(|i| b'!' + (i % 90) as u8).collect();
            assert!(is_ascii(&buf));
            for at in 0..len {
                for high in [0x80, 0xc3, 0xff] {
                    buf[at] = high;
                    assert_eq!(is_ascii(&buf), buf.is_ascii(), "len {len} at {at}");
                    assert!(!is_ascii(&buf));
                    buf[at] = b'a';
                }
            }
        }
    }

    /// Every byte value at every position of a word, and every buffer tail length: the SWAR scans
    /// agree with the byte-by-byte definition of their class.
    #[test]
    fn swar_scans_agree_with_the_byte_classes() {
        let is_target = |b: u8| b > 0x20 && b != 0x7f && b != b'#';
        let naive = |buf: &[u8], i: usize, ok: &dyn Fn(u8) -> bool| {
            (i..buf.len()).find(|&j| !ok(buf[j])).unwrap_or(buf.len())
        };
        let reg_name = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b);
        // A background of allowed bytes, with a high byte to exercise spurious borrow bits; and one of
        // letters, digits, `-` and `.` for the runs that tokens and reg-names skip sixteen at a time.
        let backgrounds: [fn(usize) -> u8; 2] = [
            |k| if k % 3 == 0 { 0xc3 } else { b'a' },
            |k| b"aZ9-.x0Q"[k % 8],
        ];
        for (len, background) in (0..40).flat_map(|len| backgrounds.map(|bg| (len, bg))) {
            for pos in 0..len {
                for b in 0..=255u8 {
                    let mut buf: Vec<u8> = (0..len).map(background).collect();
                    buf[pos] = b;
                    for start in [0, 1, 3, 8, 9, 16, 17, 23]
                        .into_iter()
                        .filter(|&s| s <= len)
                    {
                        assert_eq!(
                            scan_value(&buf, start),
                            naive(&buf, start, &is_value_byte),
                            "value {buf:?} from {start}"
                        );
                        assert_eq!(
                            scan_target(&buf, start),
                            naive(&buf, start, &is_target),
                            "target {buf:?} from {start}"
                        );
                        assert_eq!(
                            scan_token(&buf, start),
                            naive(&buf, start, &is_tchar),
                            "token {buf:?} from {start}"
                        );
                        assert_eq!(
                            scan_field_name(&buf, start),
                            naive(&buf, start, &is_tchar),
                            "field name {buf:?} from {start}"
                        );
                        assert_eq!(
                            super::super::target::scan_reg_name(&buf, start),
                            naive(&buf, start, &reg_name),
                            "reg-name {buf:?} from {start}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn eq_lower_is_eq_ignore_ascii_case_on_tokens_and_values() {
        let lits: [&[u8]; 8] = [
            b"host",
            b"expect",
            b"connection",
            b"content-length",
            b"transfer-encoding",
            b"close",
            b"keep-alive",
            b"100-continue",
        ];
        for lit in lits {
            // Each position replaced by every byte a token or field value may hold.
            for pos in 0..lit.len() {
                for b in (0x20..=0xffu8).filter(|&b| b != 0x7f).chain([b'\t']) {
                    for upper in [false, true] {
                        let mut s = if upper {
                            lit.to_ascii_uppercase()
                        } else {
                            lit.to_vec()
                        };
                        s[pos] = b;
                        assert_eq!(
                            eq_lower(&s, lit),
                            s.eq_ignore_ascii_case(lit),
                            "{s:?} vs {lit:?}"
                        );
                    }
                }
            }
            assert!(!eq_lower(&lit[1..], lit));
        }
    }
}
