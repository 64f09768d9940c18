//! Idempotency keys: each key's content fingerprint and the receipts its
//! first call returned. A key first used in the unsealed tail is held
//! whole; once its segment is sealed it is held as its hash and segment
//! only (~17 bytes, not the key, fingerprint and receipts: ~150), and read
//! back from that segment's sealed index, through its key directory, when
//! a call retries it (`sealed.rs`). No key expires.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::Range;

use super::hasher::IdHasher;
use crate::event::Hash;
use crate::pipeline::AppendReceipt;

/// An idempotency key's record: what content it was used for and the
/// receipts the original append returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyEntry {
    pub(crate) fingerprint: Hash,
    pub(crate) receipts: Vec<AppendReceipt>,
}

/// A key's hash: how sealed indexes order their key directories and how
/// memory names a sealed key. Not keyed (it is on disk): two keys sharing
/// one only cost a second directory read, never a wrong answer (the key
/// itself is compared).
pub(crate) fn key_hash(key: &str) -> u64 {
    let digest = blake3::hash(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest.as_bytes()[..8]);
    u64::from_le_bytes(first)
}

/// Every key: recent ones whole, sealed ones by hash and segment.
#[derive(Default)]
pub(crate) struct Keys {
    recent: HashMap<String, KeyEntry>,
    sealed: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    /// Sealed keys whose hash an earlier sealed key already had.
    more: Vec<(u64, u32)>,
}

impl Keys {
    /// The keys held whole (first used in the unsealed tail).
    pub(crate) fn recent(&self) -> &HashMap<String, KeyEntry> {
        &self.recent
    }

    /// Records a key held whole; a key already recorded keeps its record
    /// (a key is bound by its first call).
    pub(crate) fn insert_recent(&mut self, key: String, entry: KeyEntry) {
        self.recent.entry(key).or_insert(entry);
    }

    /// Records a sealed key by its hash and segment.
    pub(crate) fn insert_sealed(&mut self, hash: u64, segment: u32) {
        if let Some(&other) = self.sealed.get(&hash) {
            if other != segment && !self.more.contains(&(hash, segment)) {
                self.more.push((hash, segment));
            }
        } else {
            self.sealed.insert(hash, segment);
        }
    }

    /// The segments whose sealed indexes may hold a key of this hash.
    pub(crate) fn sealed_segments(&self, hash: u64) -> impl Iterator<Item = u32> + '_ {
        let first = self.sealed.get(&hash).copied();
        let more = self
            .more
            .iter()
            .filter(move |(h, _)| *h == hash)
            .map(|&(_, s)| s);
        first.into_iter().chain(more)
    }

    /// Every sealed key, as (hash, segment), for a file.
    pub(crate) fn sealed_pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        let first = self.sealed.iter().map(|(&h, &s)| (h, s));
        first.chain(self.more.iter().copied())
    }

    /// The segment `segment` holding `positions` was sealed: its keys are
    /// held by hash from now on.
    pub(crate) fn seal(&mut self, positions: &Range<u64>, segment: u32) {
        let in_segment = |k: &KeyEntry| {
            k.receipts
                .first()
                .is_some_and(|r| positions.contains(&r.position))
        };
        let sealed: Vec<String> = self
            .recent
            .iter()
            .filter(|(_, k)| in_segment(k))
            .map(|(key, _)| key.clone())
            .collect();
        for key in sealed {
            self.recent.remove(&key);
            self.insert_sealed(key_hash(&key), segment);
        }
    }

    /// Keys recorded, recent and sealed.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn len(&self) -> usize {
        self.recent.len() + self.sealed.len() + self.more.len()
    }

    /// Bytes held (hash table slots at capacity, recent keys whole).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let recent: usize = self
            .recent
            .iter()
            .map(|(k, e)| k.capacity() + e.receipts.capacity() * size_of::<AppendReceipt>())
            .sum();
        recent
            + self.recent.capacity() * (size_of::<(String, KeyEntry)>() + 1)
            + self.sealed.capacity() * (8 + 4 + 4 + 1)
            + self.more.capacity() * 16
    }
}
