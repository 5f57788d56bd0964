//! The `name=value` pairs of one record, packed in one buffer: each name and value as its
//! length (LEB128) and bytes. Up to [`INLINE`] bytes live inside the value itself, so a record
//! of a few small fields costs no allocation between the tracers' outputs and the timeline
//! (`record` handles two records per firing: a `String` per name and value was most of its
//! time over the hand-made pipeline).

use smallvec::SmallVec;

/// Bytes kept inline (names, values and their lengths).
pub const INLINE: usize = 96;

/// `name=value` pairs in order (see the module's documentation).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Fields(SmallVec<[u8; INLINE]>);

impl Fields {
    /// No pairs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Removes every pair (keeping the buffer).
    pub fn clear(&mut self) {
        self.0.clear();
    }

    fn put_len(&mut self, mut n: usize) {
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }

    /// Appends `name=value`.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.put_len(name.len());
        self.0.extend_from_slice(name);
        self.put_len(value.len());
        self.0.extend_from_slice(value);
    }

    /// Appends `name=` an unsigned integer in decimal.
    pub fn push_u64(&mut self, name: &[u8], value: u64) {
        self.push(name, itoa::Buffer::new().format(value).as_bytes());
    }

    /// Appends `name=` a signed integer in decimal.
    pub fn push_i64(&mut self, name: &[u8], value: i64) {
        self.push(name, itoa::Buffer::new().format(value).as_bytes());
    }

    /// The pairs in order. A damaged buffer ends early.
    pub fn iter(&self) -> Iter<'_> {
        Iter(&self.0)
    }

    /// The value of the first pair named `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| *k == name.as_bytes())
            .map(|(_, v)| v)
    }

    /// The packed bytes.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Pairs from bytes [`Fields::as_bytes`] returned.
    #[cfg(test)]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self(SmallVec::from_slice(bytes))
    }

    /// The pairs as text (invalid UTF-8 replaced), for tests and messages.
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                )
            })
            .collect()
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.pairs()).finish()
    }
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(K, V)> for Fields {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut f = Self::new();
        for (k, v) in iter {
            f.push(k.as_ref(), v.as_ref());
        }
        f
    }
}

/// The pairs of a [`Fields`].
pub struct Iter<'a>(&'a [u8]);

impl<'a> Iter<'a> {
    fn take(&mut self) -> Option<&'a [u8]> {
        let mut n = 0usize;
        let mut shift = 0;
        loop {
            let (&b, rest) = self.0.split_first()?;
            self.0 = rest;
            n |= usize::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        let (s, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(s)
    }
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        let pair = self.take().zip(self.take());
        if pair.is_none() {
            self.0 = &[];
        }
        pair
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_come_back_in_order() {
        let long = "x".repeat(300);
        let mut f = Fields::new();
        f.push(b"a", b"1");
        f.push_i64(b"neg", -128);
        f.push_u64(b"big", u64::MAX);
        f.push(b"empty", b"");
        f.push(b"long", long.as_bytes());
        f.push(b"odd", "é = \"x\", y".as_bytes());
        assert_eq!(
            f.pairs(),
            [
                ("a", "1"),
                ("neg", "-128"),
                ("big", "18446744073709551615"),
                ("empty", ""),
                ("long", long.as_str()),
                ("odd", "é = \"x\", y"),
            ]
            .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(f.get("big"), Some(&b"18446744073709551615"[..]));
        assert_eq!(f.get("nope"), None);
        assert_eq!(Fields::from_bytes(f.as_bytes()), f);
        // Cut short: the pairs before the cut, nothing invented.
        let cut = Fields::from_bytes(&f.as_bytes()[..f.as_bytes().len() - 1]);
        assert_eq!(cut.iter().count(), 5);
        assert!(Fields::new().iter().next().is_none());
    }
}
