//! The handshake request's environ, kept for the WebSocket's whole life in
//! two allocations instead of two `String`s per variable (an idle WebSocket
//! should cost little: ~25 variables were ~2.5 KiB as `String` pairs).

/// Environ variables: every key and value back to back in one string.
pub(crate) struct Vars {
    text: Box<str>,
    /// Per variable: where its key ends and where its value ends in `text`
    /// (the next key starts there).
    ends: Box<[(u32, u32)]>,
}

impl Vars {
    /// A copy of `vars`. Variables past 4 GiB of text in all are dropped
    /// (a request head is limited far below that).
    pub(crate) fn new<'a>(vars: impl Iterator<Item = (&'a str, &'a str)>) -> Vars {
        let mut text = String::new();
        let mut ends = Vec::new();
        for (k, v) in vars {
            if text.len() + k.len() + v.len() > u32::MAX as usize {
                break;
            }
            text.push_str(k);
            let k_end = text.len() as u32;
            text.push_str(v);
            ends.push((k_end, text.len() as u32));
        }
        Vars {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// Every `(key, value)`, in the environ's order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut start = 0usize;
        self.ends.iter().map(move |&(k, v)| {
            let (k, v) = (k as usize, v as usize);
            let pair = (&self.text[start..k], &self.text[k..v]);
            start = v;
            pair
        })
    }

    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_every_pair_in_order() {
        let pairs = [("PATH_INFO", "/echo"), ("EMPTY", ""), ("", "v"), ("K", "κ")];
        let v = Vars::new(pairs.iter().copied());
        assert_eq!(v.iter().collect::<Vec<_>>(), pairs);
        assert_eq!(v.get("PATH_INFO"), Some("/echo"));
        assert_eq!(v.get("EMPTY"), Some(""));
        assert_eq!(v.get("K"), Some("κ"));
        assert_eq!(v.get("missing"), None);
        assert_eq!(Vars::new(std::iter::empty()).iter().count(), 0);
    }
}
