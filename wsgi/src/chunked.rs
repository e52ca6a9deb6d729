//! A resumable, IO-free decoder for the chunked transfer coding (RFC 9112 §7.1).
//!
//! The decoder is a byte-level state machine over caller-owned input: it never buffers or copies body
//! bytes, it hands back ranges of the input. It is strict where eventlet's decoder was lax (inventory §5.1
//! item 4, CVE-2025-58068) and where `httparse::parse_chunk_size` is lax (empty size line, LF in an
//! extension): sizes are `1*HEXDIG` without sign, prefix or padding, overflow is an error, extensions follow
//! the `chunk-ext` grammar, chunk data must be followed by exactly CRLF, and the trailer section is parsed
//! with the header-field rules and size limits, then discarded.

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

const fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
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
            ExtPreName | ExtName | ExtPostName | ExtPreValue | ExtToken | ExtQuoted | ExtQuotedEscape
            | ExtQuotedEnd | ExtPostValue => {
                self.count_size_line()?;
                self.extensions_total += 1;
                if self.extensions_total > self.limits.max_extensions_total {
                    return Err(ChunkError::ExtensionsTooLong);
                }
            }
            TrailerStart | TrailerName | TrailerValue | TrailerLf | EndLf => self.count_trailer_byte()?,
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
            Data | Done | Failed(_) => unreachable_state(),
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
        if self.line_len >= self.limits.max_trailer_line || self.trailers_total > self.limits.max_trailers_total {
            return Err(ChunkError::TrailersTooLarge);
        }
        Ok(())
    }
}

/// `step` is only called for metadata states; `decode` handles the others.
fn unreachable_state() -> ! {
    unreachable!("ChunkedDecoder::step called outside a metadata state")
}
