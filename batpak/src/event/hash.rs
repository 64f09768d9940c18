//! The per-stream hash chain.
//!
//! `hash(event) = blake3(prev_hash ‖ encoded header ‖ encoded payload)`; the
//! first event of a stream chains from [`Hash::ZERO`]. The header carries
//! `prev_hash`, the global position and the sequence, so the hash commits to
//! the whole event and its place: two events with identical payloads still
//! hash differently. The encoded bytes hashed are exactly the bytes stored:
//! never hash a re-encoding of what was read.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A 32-byte blake3 digest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash([u8; 32]);

impl Hash {
    /// The genesis value: what a stream's first event chains from.
    pub const ZERO: Self = Self([0; 32]);

    /// Wraps raw digest bytes.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The digest bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// blake3 of arbitrary bytes (used for payload fingerprints).
    #[must_use]
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// The next link: `blake3(prev ‖ header ‖ payload)`.
    #[must_use]
    pub fn chain(prev: &Self, header: &[u8], payload: &[u8]) -> Self {
        let mut hasher = blake3::Hasher::new();
        hasher.update(&prev.0);
        hasher.update(header);
        hasher.update(payload);
        Self(*hasher.finalize().as_bytes())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({self})")
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fixed_bytes(deserializer).map(Self)
    }
}

/// Decodes exactly `N` bytes stored as msgpack `bin` (ids and hashes).
///
/// In binary formats an array of integers is refused: one value has one
/// encoding, so the bytes hashed into the chain are the bytes a re-encode
/// gives. Human-readable formats (which have no bytes type, e.g. JSON) may
/// give an array of integers.
pub(crate) fn fixed_bytes<'de, D: Deserializer<'de>, const N: usize>(
    deserializer: D,
) -> Result<[u8; N], D::Error> {
    struct Fixed<const N: usize> {
        accept_seq: bool,
    }
    impl<'de, const N: usize> Visitor<'de> for Fixed<N> {
        type Value = [u8; N];
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }
        fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Self::Value, E> {
            v.try_into().map_err(|_| E::invalid_length(v.len(), &self))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            if !self.accept_seq {
                return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
            }
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| de::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<de::IgnoredAny>()?.is_some() {
                return Err(de::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }
    let accept_seq = deserializer.is_human_readable();
    deserializer.deserialize_bytes(Fixed::<N> { accept_seq })
}
