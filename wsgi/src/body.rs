//! `Body`: what an application returns (WSGI's response iterable).

use crate::input::Input;
use std::borrow::Cow;
use std::fmt;
use std::io;

/// One piece of a response body.
pub type Chunk = Cow<'static, [u8]>;

/// Anything that can be a body chunk: `&'static str`, `String`,
/// `&'static [u8]`, `Vec<u8>`, or a [`Chunk`].
pub trait IntoChunk {
    /// The bytes of the chunk.
    fn into_chunk(self) -> Chunk;
}

impl IntoChunk for &'static str {
    fn into_chunk(self) -> Chunk {
        Cow::Borrowed(self.as_bytes())
    }
}

impl IntoChunk for String {
    fn into_chunk(self) -> Chunk {
        Cow::Owned(self.into_bytes())
    }
}

impl IntoChunk for &'static [u8] {
    fn into_chunk(self) -> Chunk {
        Cow::Borrowed(self)
    }
}

impl<const N: usize> IntoChunk for &'static [u8; N] {
    fn into_chunk(self) -> Chunk {
        Cow::Borrowed(self)
    }
}

impl IntoChunk for Vec<u8> {
    fn into_chunk(self) -> Chunk {
        Cow::Owned(self)
    }
}

impl IntoChunk for Chunk {
    fn into_chunk(self) -> Chunk {
        self
    }
}

type Generator = Box<dyn for<'a> FnMut(&mut Input<'a>) -> Option<io::Result<Chunk>>>;

/// The response body an application returns: WSGI's iterable.
///
/// A body whose length is known up front (bytes, strings, a vec of chunks)
/// is sent with `Content-Length`. A lazy body (an iterator, or a generator
/// that may read `wsgi.input` while it streams) is sent chunked to HTTP/1.1
/// clients and close-delimited to HTTP/1.0 ones. Dropping the body is WSGI's
/// `close()`: put clean-up in a `Drop` impl of what the iterator owns.
///
/// ```
/// use eventlet_wsgi::Body;
/// let sized = Body::from("Hello, World!\r\n");
/// assert_eq!(sized.len(), Some(15));
/// let lazy = Body::from_iter((0..3).map(|i| format!("part {i}\n")));
/// assert_eq!(lazy.len(), None);
/// ```
pub struct Body {
    pub(crate) kind: Kind,
}

pub(crate) enum Kind {
    Empty,
    Bytes(Chunk),
    Chunks(Vec<Chunk>),
    Iter(Box<dyn Iterator<Item = io::Result<Chunk>>>),
    Generator(Generator),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { kind: Kind::Empty }
    }

    /// A lazy body from any iterator of chunks (a Python generator's twin).
    #[allow(clippy::should_implement_trait)] // lazy, unlike `FromIterator`
    pub fn from_iter<I, C>(iter: I) -> Body
    where
        I: IntoIterator<Item = C>,
        I::IntoIter: 'static,
        C: IntoChunk,
    {
        Body {
            kind: Kind::Iter(Box::new(iter.into_iter().map(|c| Ok(c.into_chunk())))),
        }
    }

    /// A lazy body from an iterator that can fail: an `Err` ends the
    /// response like an exception in a WSGI generator (500 if nothing was
    /// sent yet, otherwise the connection is closed mid-body).
    pub fn try_from_iter<I, C>(iter: I) -> Body
    where
        I: IntoIterator<Item = io::Result<C>>,
        I::IntoIter: 'static,
        C: IntoChunk,
    {
        Body {
            kind: Kind::Iter(Box::new(
                iter.into_iter().map(|r| r.map(IntoChunk::into_chunk)),
            )),
        }
    }

    /// A lazy body produced by calling `next` until it returns `None`; each
    /// call gets `wsgi.input`, so a body can stream its answer while it reads
    /// the upload (e.g. echo a large upload chunk by chunk).
    ///
    /// ```
    /// use eventlet_wsgi::Body;
    /// use std::io::Read;
    /// let echo = Body::generator(|input| {
    ///     let mut buf = vec![0; 8192];
    ///     match input.read(&mut buf) {
    ///         Ok(0) => None,
    ///         Ok(n) => { buf.truncate(n); Some(Ok(buf.into())) }
    ///         Err(e) => Some(Err(e)),
    ///     }
    /// });
    /// assert_eq!(echo.len(), None);
    /// ```
    pub fn generator<F>(next: F) -> Body
    where
        F: for<'a> FnMut(&mut Input<'a>) -> Option<io::Result<Chunk>> + 'static,
    {
        Body {
            kind: Kind::Generator(Box::new(next)),
        }
    }

    /// The total length when known up front.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Bytes(b) => Some(b.len() as u64),
            Kind::Chunks(v) => Some(v.iter().map(|c| c.len() as u64).sum()),
            Kind::Iter(_) | Kind::Generator(_) => None,
        }
    }

    /// True for a body known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.len() {
            Some(n) => write!(f, "Body({n} bytes)"),
            None => f.write_str("Body(lazy)"),
        }
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body {
            kind: Kind::Bytes(Cow::Borrowed(s.as_bytes())),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body {
            kind: Kind::Bytes(Cow::Owned(s.into_bytes())),
        }
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body {
            kind: Kind::Bytes(Cow::Borrowed(s)),
        }
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body {
            kind: Kind::Bytes(Cow::Owned(v)),
        }
    }
}

macro_rules! from_chunk_vec {
    ($($t:ty),*) => {$(
        impl From<Vec<$t>> for Body {
            /// A sized body of several chunks (eventlet's list of strings).
            fn from(v: Vec<$t>) -> Body {
                Body {
                    kind: Kind::Chunks(v.into_iter().map(IntoChunk::into_chunk).collect()),
                }
            }
        }
    )*};
}

from_chunk_vec!(&'static str, String, &'static [u8], Vec<u8>, Chunk);

impl<C: IntoChunk, const N: usize> From<[C; N]> for Body {
    /// eventlet's `return ['Hello, World!\r\n']`.
    fn from(v: [C; N]) -> Body {
        let mut chunks = v.into_iter();
        if N == 1 {
            // The common `[hello]`: one chunk, no vector to allocate.
            if let Some(c) = chunks.next() {
                return Body {
                    kind: Kind::Bytes(c.into_chunk()),
                };
            }
        }
        Body {
            kind: Kind::Chunks(chunks.map(IntoChunk::into_chunk).collect()),
        }
    }
}

impl From<()> for Body {
    fn from(_: ()) -> Body {
        Body::empty()
    }
}

/// Yields the chunks of a body one by one, whatever its kind.
pub(crate) struct Chunks {
    kind: Kind,
    index: usize,
}

impl Chunks {
    pub fn new(body: Body) -> Chunks {
        Chunks {
            kind: body.kind,
            index: 0,
        }
    }

    pub fn next(&mut self, input: &mut Input<'_>) -> Option<io::Result<Chunk>> {
        match &mut self.kind {
            Kind::Empty => None,
            Kind::Bytes(_) => match std::mem::replace(&mut self.kind, Kind::Empty) {
                Kind::Bytes(b) => Some(Ok(b)),
                _ => None,
            },
            Kind::Chunks(v) => {
                let c = v.get_mut(self.index).map(std::mem::take);
                self.index += 1;
                c.map(Ok)
            }
            Kind::Iter(it) => it.next(),
            Kind::Generator(g) => g(input),
        }
    }
}
