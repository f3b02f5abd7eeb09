//! Cache keys: a sha256 over typed, length-prefixed fields, so two different sequences of
//! fields can never hash alike. New kinds of inputs (bind-mount sources, secrets' ids)
//! are more fields: callers add them with [`KeyBuilder::field`].

use kiln_oci::Digest;
use sha2::{Digest as _, Sha256};

/// Bumped when the meaning of keys changes, so old records stop matching.
const KEY_VERSION: &str = "kiln-step-cache-v1";

/// Builds one cache key.
#[derive(Clone)]
pub struct KeyBuilder {
    hasher: Sha256,
}

impl std::fmt::Debug for KeyBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyBuilder")
    }
}

impl KeyBuilder {
    /// A key of kind `kind` (e.g. `"step"`, `"base"`), on top of `parent` if any.
    pub fn new(kind: &str, parent: Option<&Digest>) -> KeyBuilder {
        let mut k = KeyBuilder {
            hasher: Sha256::new(),
        };
        k.field("version", KEY_VERSION.as_bytes());
        k.field("kind", kind.as_bytes());
        if let Some(p) = parent {
            k.field("parent", p.to_string().as_bytes());
        }
        k
    }

    /// Add a named field.
    pub fn field(&mut self, name: &str, value: &[u8]) -> &mut KeyBuilder {
        for part in [name.as_bytes(), value] {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
        self
    }

    /// Add a field holding a list of key/value pairs (order kept).
    pub fn pairs(&mut self, name: &str, pairs: &[(String, String)]) -> &mut KeyBuilder {
        self.field(name, &(pairs.len() as u64).to_le_bytes());
        for (k, v) in pairs {
            self.field("k", k.as_bytes());
            self.field("v", v.as_bytes());
        }
        self
    }

    pub fn finish(&self) -> Digest {
        let bytes: [u8; 32] = self.hasher.clone().finalize().into();
        Digest::from_hex(&hex::encode(bytes)).unwrap_or_else(|| Digest::of_bytes(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_framed() {
        let a = KeyBuilder::new("step", None)
            .field("x", b"ab")
            .field("y", b"c")
            .finish();
        let b = KeyBuilder::new("step", None)
            .field("x", b"a")
            .field("y", b"bc")
            .finish();
        assert_ne!(a, b);
        let parent = Digest::of_bytes(b"p");
        assert_ne!(
            KeyBuilder::new("step", Some(&parent)).finish(),
            KeyBuilder::new("step", None).finish()
        );
        assert_eq!(
            KeyBuilder::new("step", Some(&parent))
                .field("x", b"1")
                .finish(),
            KeyBuilder::new("step", Some(&parent))
                .field("x", b"1")
                .finish()
        );
    }
}
