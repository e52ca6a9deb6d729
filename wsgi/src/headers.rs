//! What `start_response` accepts as its header list.
//!
//! A plain array of string-literal pairs is the common case, including the
//! empty one: `start("403 Forbidden", [])` compiles because exactly one array
//! type is accepted, `[(&str, &str); N]` (with several, an empty array's
//! element type could not be inferred). Owned or computed values go in a
//! borrowed array (`&[("Content-Length", n.to_string())]`), a `Vec`, a slice,
//! a map, or any iterator wrapped in [`FromIter`].

use std::collections::{BTreeMap, HashMap};

/// A list of response headers (name, value) for
/// [`StartResponse::start`](crate::StartResponse::start).
///
/// ```
/// use eventlet_wsgi::{Body, Environ, FromIter, StartResponse};
/// fn app(env: &mut Environ, sr: &mut StartResponse) -> Body {
///     match &env["PATH_INFO"] {
///         "/forbidden" => sr.start("403 Forbidden", []),
///         "/literal" => sr.start("200 OK", [("Content-Type", "text/plain")]),
///         "/owned" => sr.start("200 OK", &[("Content-Length", 2.to_string())]),
///         "/vec" => sr.start("200 OK", vec![("Content-Length", 2.to_string())]),
///         _ => sr.start("200 OK", FromIter([("X-N", 1)].map(|(k, v)| (k, v.to_string())))),
///     }
///     Body::from(["ok"])
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a header list",
    note = "an array by value must hold (&str, &str) pairs (so that `[]` works); for owned values borrow it, `&[(\"Content-Length\", n.to_string())]`, or use a Vec, a map or FromIter(iterator)"
)]
pub trait Headers {
    /// Call `f` with each (name, value) in order.
    fn each(self, f: &mut dyn FnMut(&str, &str));
}

impl<const N: usize> Headers for [(&str, &str); N] {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k, v)
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Headers for &[(K, V); N] {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for Vec<(K, V)> {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for &Vec<(K, V)> {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for &[(K, V)] {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>, S> Headers for HashMap<K, V, S> {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Headers for BTreeMap<K, V> {
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in &self {
            f(k.as_ref(), v.as_ref())
        }
    }
}

/// Any iterator of (name, value) pairs as a header list.
#[derive(Debug, Clone)]
pub struct FromIter<I>(pub I);

impl<I, K, V> Headers for FromIter<I>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    fn each(self, f: &mut dyn FnMut(&str, &str)) {
        for (k, v) in self.0 {
            f(k.as_ref(), v.as_ref())
        }
    }
}
