//! A resumable, IO-free decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! The decoder is a byte-level state machine over caller-owned input: it never buffers or copies body
//! bytes, it hands back ranges of the input. It is strict where eventlet's decoder was lax (inventory §5.1
//! item 4, CVE-2025-58068) and where `httparse::parse_chunk_size` is lax (empty size line, LF in an
//! extension): sizes are `1*HEXDIG` without sign, prefix or padding, overflow is an error, extensions follow
//! the `chunk-ext` grammar, chunk data must be followed by exactly CRLF, and the trailer section is parsed
//! with the header-field rules and size limits, then discarded.

use crate::head::is_tchar;
use std::fmt;
use std::ops::Range;

/// Bounds on the parts of a chunked body that are not data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkedLimits {
    /// Longest chunk-size line, extensions and CRLF included. Default 4096.
    pub max_size_line: usize,
    /// Total extension bytes allowed over the whole body (hyper's `CHUNKED_EXTENSIONS_LIMIT`). Default 16 KiB.
    pub max_extensions_total: usize,
    /// A trailer line of this many bytes or more (CRLF included) is rejected, like a header line. Default 8192.
    pub max_trailer_line: usize,
    /// Total size of the trailer section, final CRLF included. Default 65536, like the head.
    pub max_trailers_total: usize,
    /// Most trailer lines. Default 100, like headers.
    pub max_trailers: usize,
}

impl Default for ChunkedLimits {
    fn default() -> Self {
        ChunkedLimits {
            max_size_line: 4096,
            max_extensions_total: 16 * 1024,
            max_trailer_line: 8192,
            max_trailers_total: 65536,
            max_trailers: 100,
        }
    }
}

/// What one [`ChunkedDecoder::decode`] call produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes: `input[range]`.
    Data(Range<usize>),
    /// All input was consumed without producing data; call again with more.
    NeedMore,
    /// The last chunk, the trailers and the final CRLF have been consumed; the body is complete.
    Done,
}

/// Why a chunked body is malformed. Each one is a framing error: answer 400 if no response has started,
/// and close the connection in any case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    /// The chunk size is not `1*HEXDIG` (empty, sign, `0x`, `_`, whitespace without an extension, ...).
    BadSize,
    /// A chunk extension does not follow `*( BWS ";" BWS name [ BWS "=" BWS ( token / quoted-string ) ] )`.
    BadExtension,
    /// A CRLF was expected (after the size line, after chunk data, or at the end of the body).
    MissingCrlf,
    /// The chunk-size line is longer than [`ChunkedLimits::max_size_line`].
    SizeLineTooLong,
    /// The body's extensions are longer than [`ChunkedLimits::max_extensions_total`].
    ExtensionsTooLong,
    /// A trailer line is not a valid header field line.
    BadTrailer,
    /// A trailer line, the trailer count or the trailer section is over its limit.
    TrailersTooLarge,
    /// The chunk size does not fit in 64 bits.
    Overflow,
}

impl fmt::Display for ChunkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChunkError::BadSize => "invalid chunk size",
            ChunkError::BadExtension => "invalid chunk extension",
            ChunkError::MissingCrlf => "missing CRLF in chunked body",
            ChunkError::SizeLineTooLong => "chunk size line too long",
            ChunkError::ExtensionsTooLong => "chunk extensions too long",
            ChunkError::BadTrailer => "invalid trailer field",
            ChunkError::TrailersTooLarge => "trailer section too large",
            ChunkError::Overflow => "chunk size overflows",
        })
    }
}

impl std::error::Error for ChunkError {}

/// Where the decoder is in the grammar. `Ext*` states follow `chunk-ext`; `Trailer*` follow `field-line`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Reading hex digits; `size_digits` says whether one was seen.
    Size,
    /// BWS after the digits: only `;` may follow.
    SizeWs,
    /// After `;`: BWS, then an extension name.
    ExtPreName,
    ExtName,
    /// BWS after a name: `=` or `;` must follow.
    ExtPostName,
    /// After `=`: BWS, then a token or a quoted string.
    ExtPreValue,
    ExtToken,
    ExtQuoted,
    ExtQuotedEscape,
    /// The closing quote was just read.
    ExtQuotedEnd,
    /// BWS after a value: only `;` may follow.
    ExtPostValue,
    /// The CR of the size line was read.
    SizeLf,
    /// `size` bytes of chunk data remain.
    Data,
    DataCr,
    DataLf,
    /// At the start of a trailer line or of the final CRLF.
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    /// The CR of the final CRLF was read.
    EndLf,
    Done,
    Failed(ChunkError),
}

/// Decodes one chunked body, resumably, from input slices the caller owns.
///
/// Typical use: keep a read buffer, call [`decode`](ChunkedDecoder::decode) on its unconsumed part, hand
/// `Data` ranges to the reader, drop the consumed prefix, and read more from the socket on `NeedMore`.
#[derive(Clone, Debug)]
pub struct ChunkedDecoder {
    limits: ChunkedLimits,
    state: State,
    /// The chunk size being read, then the data bytes left in the chunk.
    size: u64,
    size_digits: bool,
    /// Bytes of the current size line or trailer line so far.
    line_len: usize,
    extensions_total: usize,
    trailers_total: usize,
    trailers: usize,
}

/// Field-value bytes: VCHAR, SP, HTAB, obs-text.
const fn is_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// `qdtext` (RFC 9110 §5.6.4): HTAB, SP, VCHAR except `"` and `\`, obs-text.
const fn is_qdtext(b: u8) -> bool {
    is_value_byte(b) && b != b'"' && b != b'\\'
}

const fn is_bws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

impl ChunkedDecoder {
    /// A decoder at the start of a chunked body.
    pub fn new(limits: ChunkedLimits) -> Self {
        ChunkedDecoder {
            limits,
            state: State::Size,
            size: 0,
            size_digits: false,
            line_len: 0,
            extensions_total: 0,
            trailers_total: 0,
            trailers: 0,
        }
    }

    /// Whether the whole body, trailers included, has been consumed.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Starts over on a fresh chunked body with the same limits (eventlet's repeated `100 Continue`
    /// feature reads several bodies on one request). Also clears a previous error.
    pub fn reset(&mut self) {
        *self = ChunkedDecoder::new(self.limits.clone());
    }

    /// Consumes from `input` and returns how many bytes were consumed and what they produced.
    ///
    /// `Data(r)` points into `input` (`r.end` equals the consumed count); metadata before it is consumed in
    /// the same call. `NeedMore` means every byte of `input` was consumed, so it comes with `input.len()`
    /// (0 only for empty input). `Done` leaves whatever follows the body unconsumed, and every later call
    /// returns `(0, Done)`. After an error every later call returns the same error.
    pub fn decode(&mut self, input: &[u8]) -> Result<(usize, Step), ChunkError> {
        let mut i = 0;
        loop {
            match self.state {
                State::Done => return Ok((i, Step::Done)),
                State::Failed(e) => return Err(e),
                State::Data => {
                    let avail = input.len() - i;
                    if avail == 0 {
                        return Ok((i, Step::NeedMore));
                    }
                    // Fits in usize: it is at most `avail`.
                    let n = self.size.min(avail as u64) as usize;
                    self.size -= n as u64;
                    if self.size == 0 {
                        self.state = State::DataCr;
                    }
                    return Ok((i + n, Step::Data(i..i + n)));
                }
                _ => {
                    let Some(&b) = input.get(i) else {
                        return Ok((i, Step::NeedMore));
                    };
                    i += 1;
                    if let Err(e) = self.step(b) {
                        self.state = State::Failed(e);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Feeds one metadata byte (everything but chunk data).
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use State::*;
        match self.state {
            Size | SizeWs | SizeLf => self.count_size_line()?,
            ExtPreName | ExtName | ExtPostName | ExtPreValue | ExtToken | ExtQuoted
            | ExtQuotedEscape | ExtQuotedEnd | ExtPostValue => {
                self.count_size_line()?;
                self.extensions_total += 1;
                if self.extensions_total > self.limits.max_extensions_total {
                    return Err(ChunkError::ExtensionsTooLong);
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf => {
                self.count_trailer_byte()?
            }
            Data | DataCr | DataLf | Done | Failed(_) => {}
        }
        self.state = match self.state {
            Size => return self.size_digit(b),
            SizeWs => match b {
                b';' => ExtPreName,
                _ if is_bws(b) => SizeWs,
                // `5 \r\n`: BWS is only allowed before an extension.
                _ => return Err(ChunkError::BadSize),
            },
            ExtPreName => match b {
                _ if is_bws(b) => ExtPreName,
                _ if is_tchar(b) => ExtName,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtName => match b {
                _ if is_tchar(b) => ExtName,
                _ if is_bws(b) => ExtPostName,
                b'=' => ExtPreValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPostName => match b {
                _ if is_bws(b) => ExtPostName,
                b'=' => ExtPreValue,
                b';' => ExtPreName,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPreValue => match b {
                _ if is_bws(b) => ExtPreValue,
                b'"' => ExtQuoted,
                _ if is_tchar(b) => ExtToken,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtToken => match b {
                _ if is_tchar(b) => ExtToken,
                _ if is_bws(b) => ExtPostValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtQuoted => match b {
                b'"' => ExtQuotedEnd,
                b'\\' => ExtQuotedEscape,
                _ if is_qdtext(b) => ExtQuoted,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtQuotedEscape => match b {
                _ if is_value_byte(b) => ExtQuoted,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtQuotedEnd => match b {
                _ if is_bws(b) => ExtPostValue,
                b';' => ExtPreName,
                b'\r' => SizeLf,
                _ => return Err(ChunkError::BadExtension),
            },
            ExtPostValue => match b {
                _ if is_bws(b) => ExtPostValue,
                b';' => ExtPreName,
                _ => return Err(ChunkError::BadExtension),
            },
            SizeLf => match b {
                b'\n' if self.size == 0 => {
                    self.line_len = 0;
                    TrailerStart
                }
                b'\n' => Data,
                _ => return Err(ChunkError::MissingCrlf),
            },
            DataCr => match b {
                b'\r' => DataLf,
                _ => return Err(ChunkError::MissingCrlf),
            },
            DataLf => match b {
                b'\n' => {
                    self.size_digits = false;
                    self.line_len = 0;
                    Size
                }
                _ => return Err(ChunkError::MissingCrlf),
            },
            TrailerStart => match b {
                b'\r' => EndLf,
                _ if is_tchar(b) => {
                    self.trailers += 1;
                    if self.trailers > self.limits.max_trailers {
                        return Err(ChunkError::TrailersTooLarge);
                    }
                    TrailerName
                }
                // Includes obs-fold (SP/HTAB), an empty name and a bare LF.
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerName => match b {
                _ if is_tchar(b) => TrailerName,
                b':' => TrailerValue,
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerValue => match b {
                _ if is_value_byte(b) => TrailerValue,
                b'\r' => TrailerLf,
                _ => return Err(ChunkError::BadTrailer),
            },
            TrailerLf => match b {
                b'\n' => {
                    self.line_len = 0;
                    TrailerStart
                }
                _ => return Err(ChunkError::BadTrailer),
            },
            EndLf => match b {
                b'\n' => Done,
                _ => return Err(ChunkError::MissingCrlf),
            },
            // `decode` never feeds these states a metadata byte.
            Data | Done | Failed(_) => self.state,
        };
        Ok(())
    }

    /// A byte in `State::Size`.
    fn size_digit(&mut self, b: u8) -> Result<(), ChunkError> {
        if let Some(d) = (b as char).to_digit(16) {
            // Leading zeros are fine (`000` is a last chunk); only the value is bounded.
            if self.size > u64::MAX >> 4 {
                return Err(ChunkError::Overflow);
            }
            self.size = self.size << 4 | u64::from(d);
            self.size_digits = true;
            return Ok(());
        }
        if !self.size_digits {
            // Empty size (httparse returns 0 here: HTTP Garden #17), leading BWS, sign.
            return Err(ChunkError::BadSize);
        }
        self.state = match b {
            b';' => State::ExtPreName,
            b'\r' => State::SizeLf,
            _ if is_bws(b) => State::SizeWs,
            b'\n' => return Err(ChunkError::MissingCrlf),
            _ => return Err(ChunkError::BadSize),
        };
        Ok(())
    }

    fn count_size_line(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        if self.line_len > self.limits.max_size_line {
            return Err(ChunkError::SizeLineTooLong);
        }
        Ok(())
    }

    fn count_trailer_byte(&mut self) -> Result<(), ChunkError> {
        self.line_len += 1;
        self.trailers_total += 1;
        if self.line_len >= self.limits.max_trailer_line
            || self.trailers_total > self.limits.max_trailers_total
        {
            return Err(ChunkError::TrailersTooLarge);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` in one go: the body bytes and how much input the body took.
    fn decode_all(input: &[u8]) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        decode_with(ChunkedLimits::default(), input)
    }

    fn decode_with(
        limits: ChunkedLimits,
        input: &[u8],
    ) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut dec = ChunkedDecoder::new(limits);
        let mut data = Vec::new();
        let mut pos = 0;
        loop {
            let (n, step) = dec.decode(&input[pos..])?;
            match step {
                Step::Data(r) => data.extend_from_slice(&input[pos..][r]),
                Step::NeedMore => return Ok((data, pos + n, false)),
                Step::Done => return Ok((data, pos + n, true)),
            }
            pos += n;
        }
    }

    #[derive(Debug, PartialEq)]
    enum Want {
        /// The body and the number of bytes it took.
        Body(&'static [u8], usize),
        /// Valid so far, needs more input.
        More,
        Fail(ChunkError),
    }
    use ChunkError::*;
    use Want::*;

    /// The decoder's result for `input`, in `Want`'s terms. The body bytes
    /// are checked against `want`'s here, so `Want` can keep borrowing the
    /// table's static bytes (no leaked copy).
    fn outcome(input: &[u8], want: &Want) -> Want {
        match decode_all(input) {
            Ok((_, n, false)) => {
                assert_eq!(n, input.len(), "NeedMore consumes everything");
                More
            }
            Ok((data, n, true)) => match want {
                Body(w, _) if *w == &data[..] => Body(w, n),
                _ => Body(b"<a different body>", n),
            },
            Err(e) => Fail(e),
        }
    }

    /// Sources: conformance §1 (gunicorn chunked_*), §3 (Garden #17, CVE-2025-43859, CVE-2025-55315,
    /// CVE-2021-32714, CVE-2025-58068), §5 table (httparse vs us), hyper's `test_read_chunk_size`.
    #[rustfmt::skip]
    const TABLE: &[(&str, &[u8], Want)] = &[
        ("one chunk", b"5\r\nhello\r\n0\r\n\r\n", Body(b"hello", 15)),
        ("two chunks", b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", Body(b"abcde", 20)),
        ("empty body", b"0\r\n\r\n", Body(b"", 5)),
        ("uppercase hex", b"A\r\n0123456789\r\n0\r\n\r\n", Body(b"0123456789", 20)),
        ("lowercase hex", b"a\r\n0123456789\r\n0\r\n\r\n", Body(b"0123456789", 20)),
        ("leading zeros", b"0005\r\nhello\r\n0\r\n\r\n", Body(b"hello", 18)),
        ("several zeros as last chunk", b"000\r\n\r\n", Body(b"", 7)),
        ("data may hold CRLF", b"4\r\n\r\n\r\n\r\n0\r\n\r\n", Body(b"\r\n\r\n", 14)),
        ("pipelined bytes stay", b"0\r\n\r\nGET / HTTP/1.1\r\n", Body(b"", 5)),
        ("extension name", b"1;a\r\nx\r\n0\r\n\r\n", Body(b"x", 13)),
        ("extension token value", b"1;a=b\r\nx\r\n0\r\n\r\n", Body(b"x", 15)),
        ("several extensions", b"1;a;b=c;d\r\nx\r\n0\r\n\r\n", Body(b"x", 19)),
        ("BWS around ; and =", b"1 ; a = b ;c\r\nx\r\n0\r\n\r\n", Body(b"x", 22)),
        ("quoted value", b"1;a=\"q \\\"x\\\" ;=\"\r\nx\r\n0\r\n\r\n", Body(b"x", 26)),
        ("extension on last chunk", b"0;a=b\r\n\r\n", Body(b"", 9)),
        ("trailers discarded", b"0\r\nX: y\r\nZ:\r\n\r\n", Body(b"", 15)),
        ("trailer obs-text", b"0\r\nX: \x80\xff\r\n\r\n", Body(b"", 12)),
        ("incomplete size", b"5", More),
        ("incomplete data", b"5\r\nhel", More),
        ("incomplete data CRLF", b"5\r\nhello\r", More),
        ("incomplete end", b"0\r\n\r", More),
        ("incomplete trailer", b"0\r\nX: y", More),
        // chunk size (gunicorn chunked_01/09/10/13, size_{minus,plus}_sign_01; Garden #17; waitress CVE-2022-24761)
        ("empty size", b"\r\n", Fail(BadSize)),
        ("Garden 17 empty lines", b"\r\n\r\n", Fail(BadSize)),
        ("0x prefix", b"0x5\r\nhello\r\n0\r\n\r\n", Fail(BadSize)),
        ("plus sign", b"+5\r\nhello\r\n0\r\n\r\n", Fail(BadSize)),
        ("minus sign", b"-1\r\nx\r\n0\r\n\r\n", Fail(BadSize)),
        ("underscore", b"6_0\r\n", Fail(BadSize)),
        ("Python int() underscore", b"0_2e\r\n", Fail(BadSize)),
        ("leading space", b" 5\r\nhello\r\n0\r\n\r\n", Fail(BadSize)),
        ("trailing space", b"5 \r\nhello\r\n0\r\n\r\n", Fail(BadSize)),
        ("trailing tab", b"0\t\r\n\r\n", Fail(BadSize)),
        ("non-hex digit", b"5g\r\n", Fail(BadSize)),
        ("NUL after size", b"10\0\r\n", Fail(BadSize)),
        ("semicolon only", b";a\r\n", Fail(BadSize)),
        ("bare LF after size", b"5\nhello\r\n0\r\n\r\n", Fail(MissingCrlf)),
        ("CR CR LF after size", b"5\r\r\nhello\r\n0\r\n\r\n", Fail(MissingCrlf)),
        ("17 significant digits", b"f0000000000000003\r\n", Fail(Overflow)),
        ("u64 overflow by one digit", b"10000000000000000\r\n", Fail(Overflow)),
        ("u64::MAX size", b"ffffffffffffffff\r\nabc", More),
        ("leading zeros do not overflow", b"000000000000000000001\r\nx\r\n0\r\n\r\n", Body(b"x", 31)),
        // extensions (gunicorn chunked_11/12/14, CVE-2025-55315 Kestrel, hyper `1;reject\nnewlines`)
        ("LF in extension", b"5;a\nb\r\nhello\r\n0\r\n\r\n", Fail(BadExtension)),
        ("hyper reject newlines", b"1;reject\nnewlines\r\nx\r\n0\r\n\r\n", Fail(BadExtension)),
        ("bare CR in extension", b"5;a\rb\r\n", Fail(MissingCrlf)),
        ("LF in extension value", b"5;a=b\nc\r\n", Fail(BadExtension)),
        ("NUL in extension", b"5;a\0\r\n", Fail(BadExtension)),
        ("empty extension name", b"5;\r\nhello\r\n0\r\n\r\n", Fail(BadExtension)),
        ("empty extension value", b"5;a=\r\nhello\r\n0\r\n\r\n", Fail(BadExtension)),
        ("BWS before CRLF", b"5;a \r\nhello\r\n0\r\n\r\n", Fail(BadExtension)),
        ("BWS after value before CRLF", b"5;a=b \r\n", Fail(BadExtension)),
        ("LF then semicolon", b"5\n;\r\n", Fail(MissingCrlf)),
        ("leading space extension", b" ;foo=bar\r\n", Fail(BadSize)),
        ("CR in quoted value", b"5;a=\"x\ry\"\r\n", Fail(BadExtension)),
        ("LF in quoted value", b"5;a=\"x\ny\"\r\n", Fail(BadExtension)),
        ("bytes after quoted value", b"5;a=\"x\"y\r\n", Fail(BadExtension)),
        ("two equals", b"5;a==b\r\n", Fail(BadExtension)),
        // chunk data terminator (CVE-2025-43859, gunicorn missing_final_crlf_01)
        ("data not followed by CRLF", b"3\r\nxxx__1a\r\n", Fail(MissingCrlf)),
        ("data followed by LF", b"3\r\nxxx\n0\r\n\r\n", Fail(MissingCrlf)),
        ("data followed by CR X", b"3\r\nxxx\rX", Fail(MissingCrlf)),
        ("data too long", b"2\r\nabc\r\n0\r\n\r\n", Fail(MissingCrlf)),
        ("missing final CRLF", b"0\r\n\rX", Fail(MissingCrlf)),
        // trailers (CVE-2025-58068: the request smuggled in the trailer section)
        ("smuggled request in trailers", b"0\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", Fail(BadTrailer)),
        ("trailer obs-fold", b"0\r\nX: y\r\n z\r\n\r\n", Fail(BadTrailer)),
        ("trailer space before colon", b"0\r\nX : y\r\n\r\n", Fail(BadTrailer)),
        ("trailer empty name", b"0\r\n: y\r\n\r\n", Fail(BadTrailer)),
        ("trailer bare LF", b"0\r\nX: y\n\r\n", Fail(BadTrailer)),
        ("trailer NUL", b"0\r\nX: a\0b\r\n\r\n", Fail(BadTrailer)),
        ("trailer CR in value", b"0\r\nX: a\rb\r\n\r\n", Fail(BadTrailer)),
        ("trailer without colon", b"0\r\nXY\r\n\r\n", Fail(BadTrailer)),
        ("final bare LF", b"0\r\n\n", Fail(BadTrailer)),
    ];

    #[test]
    fn table_of_valid_invalid_and_incomplete_bodies() {
        let mut failures = Vec::new();
        for (name, input, want) in TABLE {
            let got = outcome(input, want);
            if got != *want {
                failures.push(format!("{name}: want {want:?}, got {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn data_ranges_point_into_the_input_and_metadata_is_consumed_with_them() {
        let input = b"5;x=y\r\nhello\r\n3\r\nabc\r\n0\r\n\r\nNEXT";
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(dec.decode(input), Ok((12, Step::Data(7..12))));
        assert_eq!(&input[7..12], b"hello");
        assert_eq!(dec.decode(&input[12..]), Ok((8, Step::Data(5..8))));
        assert_eq!(dec.decode(&input[20..]), Ok((7, Step::Done)));
        assert_eq!(&input[27..], b"NEXT");
        assert!(dec.is_done());
    }

    #[test]
    fn a_chunk_larger_than_the_input_is_delivered_in_pieces() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(dec.decode(b"a\r\n0123"), Ok((7, Step::Data(3..7))));
        assert_eq!(dec.decode(b"45678"), Ok((5, Step::Data(0..5))));
        assert_eq!(dec.decode(b"9\r"), Ok((1, Step::Data(0..1))));
        assert_eq!(dec.decode(b"\r"), Ok((1, Step::NeedMore)));
        assert_eq!(dec.decode(b"\n0\r\n\r\n"), Ok((6, Step::Done)));
    }

    #[test]
    fn empty_input_needs_more_and_consumes_nothing() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(dec.decode(b""), Ok((0, Step::NeedMore)));
        assert_eq!(dec.decode(b"5\r\n"), Ok((3, Step::NeedMore)));
        assert_eq!(dec.decode(b""), Ok((0, Step::NeedMore)));
    }

    #[test]
    fn after_done_nothing_more_is_consumed() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(dec.decode(b"0\r\n\r\n"), Ok((5, Step::Done)));
        assert_eq!(dec.decode(b"5\r\nhello\r\n"), Ok((0, Step::Done)));
        assert_eq!(dec.decode(b""), Ok((0, Step::Done)));
    }

    #[test]
    fn errors_are_sticky() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(dec.decode(b"x"), Err(BadSize));
        assert_eq!(dec.decode(b"0\r\n\r\n"), Err(BadSize));
        assert!(!dec.is_done());
    }

    // eventlet's multiple-100-continue feature reads a second chunked body through the same Input.
    #[test]
    fn reset_starts_a_fresh_body() {
        let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
        assert_eq!(decode_bytes(&mut dec, b"3\r\nabc\r\n0\r\n\r\n"), b"abc");
        assert!(dec.is_done());
        dec.reset();
        assert!(!dec.is_done());
        assert_eq!(decode_bytes(&mut dec, b"2\r\nde\r\n0\r\n\r\n"), b"de");
        // reset also clears an error.
        assert_eq!(dec.decode(b"zz"), Ok((0, Step::Done)));
        dec.reset();
        assert_eq!(dec.decode(b"zz"), Err(BadSize));
        dec.reset();
        assert_eq!(decode_bytes(&mut dec, b"1\r\nf\r\n0\r\n\r\n"), b"f");
    }

    fn decode_bytes(dec: &mut ChunkedDecoder, mut input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let (n, step) = dec.decode(input).unwrap();
            match step {
                Step::Data(r) => out.extend_from_slice(&input[r]),
                Step::NeedMore | Step::Done => return out,
            }
            input = &input[n..];
        }
    }

    #[test]
    fn size_line_limit_applies_before_the_line_ends() {
        let limits = ChunkedLimits {
            max_size_line: 16,
            ..ChunkedLimits::default()
        };
        // 13 bytes + CRLF = 15 and 16 pass; 17 fails.
        assert!(decode_with(limits.clone(), b"1;abcdefghijk\r\nx\r\n0\r\n\r\n").is_ok());
        assert!(decode_with(limits.clone(), b"1;abcdefghijkl\r\nx\r\n0\r\n\r\n").is_ok());
        assert_eq!(
            decode_with(limits.clone(), b"1;abcdefghijklm\r\nx\r\n0\r\n\r\n"),
            Err(SizeLineTooLong)
        );
        // Without a line end, the limit still stops the read.
        assert_eq!(
            decode_with(limits.clone(), &[b'0'; 17]),
            Err(SizeLineTooLong)
        );
        let default = [b'0'; 5000];
        assert_eq!(decode_all(&default), Err(SizeLineTooLong));
    }

    #[test]
    fn extension_bytes_are_limited_over_the_whole_body() {
        let limits = ChunkedLimits {
            max_extensions_total: 20,
            ..ChunkedLimits::default()
        };
        // 9 extension bytes per chunk: the name and the CR that ends it (the ';' belongs to the size).
        let chunk = b"1;abcdefgh\r\nx\r\n";
        let two = [&chunk[..], chunk, b"0\r\n\r\n"].concat();
        assert!(decode_with(limits.clone(), &two).is_ok());
        let three = [&chunk[..], chunk, chunk, b"0\r\n\r\n"].concat();
        assert_eq!(decode_with(limits, &three), Err(ExtensionsTooLong));
    }

    #[test]
    fn trailer_limits_bound_line_length_count_and_total() {
        let lines = |n: usize, len: usize| {
            let mut s = b"0\r\n".to_vec();
            for _ in 0..n {
                s.extend_from_slice(b"X:");
                s.extend_from_slice(&vec![b'v'; len - 4]);
                s.extend_from_slice(b"\r\n");
            }
            s.extend_from_slice(b"\r\n");
            s
        };
        let limits = ChunkedLimits::default();
        assert!(decode_with(limits.clone(), &lines(100, 10)).is_ok());
        assert_eq!(
            decode_with(limits.clone(), &lines(101, 10)),
            Err(TrailersTooLarge)
        );
        assert!(decode_with(limits.clone(), &lines(1, 8191)).is_ok());
        assert_eq!(
            decode_with(limits.clone(), &lines(1, 8192)),
            Err(TrailersTooLarge)
        );
        let small = ChunkedLimits {
            max_trailers_total: 100,
            ..ChunkedLimits::default()
        };
        // 4 lines of 20 bytes plus the final CRLF: 82 bytes; 5 lines: 102.
        assert!(decode_with(small.clone(), &lines(4, 20)).is_ok());
        assert_eq!(decode_with(small, &lines(5, 20)), Err(TrailersTooLarge));
    }

    #[test]
    fn errors_display_as_sentences() {
        assert_eq!(BadSize.to_string(), "invalid chunk size");
        assert_eq!(MissingCrlf.to_string(), "missing CRLF in chunked body");
        let boxed: Box<dyn std::error::Error> = Box::new(Overflow);
        assert_eq!(boxed.to_string(), "chunk size overflows");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Small by default so `cargo test` stays fast; `PROPTEST_CASES` overrides it.
        fn config(default_cases: u32) -> ProptestConfig {
            let mut config = ProptestConfig {
                failure_persistence: None,
                ..ProptestConfig::default()
            };
            if std::env::var_os("PROPTEST_CASES").is_none() {
                config.cases = default_cases;
            }
            config
        }

        fn extension() -> impl Strategy<Value = Vec<u8>> {
            let bws = "[ \t]{0,2}";
            let token = "[a-zA-Z0-9!#$%&'*+.^_`|~-]{1,8}";
            let quoted = "\"([ !#-\\[\\]-~]|\\\\[ -~]){0,8}\"";
            let value = prop_oneof![
                Just(String::new()),
                (bws, bws, token).prop_map(|(a, b, t)| format!("{a}={b}{t}")),
                (bws, bws, quoted).prop_map(|(a, b, q)| format!("{a}={b}{q}")),
            ];
            (bws, bws, token, value)
                .prop_map(|(a, b, name, value)| format!("{a};{b}{name}{value}").into_bytes())
        }

        fn size_line(size: usize, zeros: usize, upper: bool, exts: &[Vec<u8>]) -> Vec<u8> {
            let hex = if upper {
                format!("{size:X}")
            } else {
                format!("{size:x}")
            };
            let mut line = "0".repeat(zeros).into_bytes();
            line.extend_from_slice(hex.as_bytes());
            for e in exts {
                line.extend_from_slice(e);
            }
            line.extend_from_slice(b"\r\n");
            line
        }

        prop_compose! {
            /// A valid chunked body followed by unrelated bytes, and the data it carries.
            fn body()(
                chunks in proptest::collection::vec(
                    (proptest::collection::vec(any::<u8>(), 1..40), 0..3usize, any::<bool>(),
                     proptest::collection::vec(extension(), 0..2)),
                    0..6),
                last in (1..3usize, proptest::collection::vec(extension(), 0..2)),
                trailers in proptest::collection::vec(("[A-Za-z0-9-]{1,10}", "[ -~]{0,20}"), 0..3),
                suffix in proptest::collection::vec(any::<u8>(), 0..10),
            ) -> (Vec<u8>, Vec<u8>, usize) {
                let mut wire = Vec::new();
                let mut data = Vec::new();
                for (chunk, zeros, upper, exts) in &chunks {
                    wire.extend(size_line(chunk.len(), *zeros, *upper, exts));
                    wire.extend_from_slice(chunk);
                    wire.extend_from_slice(b"\r\n");
                    data.extend_from_slice(chunk);
                }
                wire.extend("0".repeat(last.0 - 1).into_bytes());
                wire.extend(size_line(0, 0, false, &last.1));
                for (name, value) in &trailers {
                    wire.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
                }
                wire.extend_from_slice(b"\r\n");
                let body_len = wire.len();
                wire.extend_from_slice(&suffix);
                (wire, data, body_len)
            }
        }

        /// Feeds `wire` in pieces cut at `cuts`, the way a connection does: append what was read to a
        /// buffer, decode from its unconsumed part, drop what was consumed. Checks the progress contract
        /// of every call. Returns the data, the consumed count and the final outcome.
        fn stream(wire: &[u8], cuts: &[usize]) -> (Vec<u8>, usize, Result<bool, ChunkError>) {
            let mut dec = ChunkedDecoder::new(ChunkedLimits::default());
            let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(wire.len())).collect();
            bounds.push(wire.len());
            bounds.sort_unstable();
            let (mut data, mut consumed) = (Vec::new(), 0);
            for end in bounds {
                loop {
                    let input = &wire[consumed..end];
                    match dec.decode(input) {
                        Ok((n, Step::Data(r))) => {
                            assert!(
                                r.start < r.end && r.end == n && n <= input.len(),
                                "{r:?} {n}"
                            );
                            data.extend_from_slice(&input[r]);
                            consumed += n;
                        }
                        Ok((n, Step::NeedMore)) => {
                            assert_eq!(n, input.len(), "NeedMore consumes all");
                            consumed += n;
                            break;
                        }
                        Ok((n, Step::Done)) => {
                            assert!(n <= input.len());
                            consumed += n;
                            assert!(dec.is_done());
                            assert_eq!(dec.decode(&wire[consumed..]), Ok((0, Step::Done)));
                            return (data, consumed, Ok(true));
                        }
                        Err(e) => {
                            assert_eq!(dec.decode(&wire[consumed..]), Err(e), "errors are sticky");
                            return (data, consumed, Err(e));
                        }
                    }
                }
            }
            (data, consumed, Ok(false))
        }

        proptest! {
            #![proptest_config(config(256))]

            /// (2) Any split of a valid body yields its data and stops exactly at its end.
            #[test]
            fn any_split_of_a_valid_body_yields_its_data(
                (wire, data, body_len) in body(),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            ) {
                let cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
                let (got, consumed, outcome) = stream(&wire, &cuts);
                prop_assert_eq!(outcome, Ok(true));
                prop_assert_eq!(consumed, body_len);
                prop_assert_eq!(got, data);
            }

            /// (3) Arbitrary bytes: no panic, progress on every call, data never exceeds the input.
            #[test]
            fn random_bytes_never_panic_and_always_progress(
                wire in proptest::collection::vec(any::<u8>(), 0..200),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            ) {
                let cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
                let (data, consumed, _) = stream(&wire, &cuts);
                prop_assert!(data.len() <= consumed && consumed <= wire.len());
            }

            /// (3) Valid bodies with random edits: the outcome does not depend on how the input is split.
            #[test]
            fn mutated_bodies_decode_the_same_whatever_the_split(
                (wire, _data, _len) in body(),
                edits in proptest::collection::vec((any::<proptest::sample::Index>(), 0u8..3, any::<u8>()), 1..4),
                cuts in proptest::collection::vec(any::<proptest::sample::Index>(), 0..8),
            ) {
                let mut wire = wire;
                for (at, kind, byte) in edits {
                    let i = at.index(wire.len() + 1);
                    match kind {
                        0 if i < wire.len() => wire[i] = byte,
                        1 if i < wire.len() => { wire.remove(i); }
                        _ => wire.insert(i, byte),
                    }
                }
                let cuts: Vec<usize> = cuts.iter().map(|c| c.index(wire.len() + 1)).collect();
                let (data, consumed, outcome) = stream(&wire, &[]);
                let (split_data, split_consumed, split_outcome) = stream(&wire, &cuts);
                prop_assert_eq!(data, split_data);
                prop_assert_eq!(outcome, split_outcome);
                // Where an error stopped the read is not part of the contract.
                if outcome.is_ok() {
                    prop_assert_eq!(consumed, split_consumed);
                }
            }
        }
    }
}
