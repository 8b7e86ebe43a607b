//! `Secret`: bytes that are wiped from memory when dropped (passwords, codes, conversation replies).

use std::fmt;
use zeroize::Zeroizing;

/// A secret byte string: zeroized on drop, never printed by `Debug`.
///
/// PAM strings are C strings, so a `Secret` never contains a NUL byte when it comes from libpam.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Takes ownership of `bytes` (they will be wiped on drop).
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(Zeroizing::new(bytes))
    }

    /// Copies `bytes` into a new secret.
    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut v = Vec::with_capacity(bytes.len() + 1);
        v.extend_from_slice(bytes);
        Secret::new(v)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy with a trailing NUL, for handing to C. `None` if the secret contains a NUL byte.
    pub(crate) fn to_c_bytes(&self) -> Option<Zeroizing<Vec<u8>>> {
        if self.0.contains(&0) {
            return None;
        }
        let mut v = Zeroizing::new(Vec::with_capacity(self.0.len() + 1));
        v.extend_from_slice(&self.0);
        v.push(0);
        Some(v)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret::from_slice(s.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(7 bytes)");
    }

    #[test]
    fn secrets_with_nul_cannot_be_handed_to_c() {
        assert!(Secret::from_slice(b"a\0b").to_c_bytes().is_none());
        assert_eq!(
            Secret::from("ab").to_c_bytes().as_deref().map(|v| v.as_slice()),
            Some(&b"ab\0"[..])
        );
    }
}
