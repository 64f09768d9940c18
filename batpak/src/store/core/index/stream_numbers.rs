//! Coordinate → stream number, without a second copy of each coordinate:
//! the streams' list holds the coordinates, and this table maps their
//! hashes to stream numbers (16 bytes a stream instead of a coordinate and
//! its two strings). A lookup confirms the coordinate in the list; the rare
//! coordinate whose hash another already has goes in a small map of its own.

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, BuildHasherDefault};

use super::hasher::IdHasher;
use crate::coordinate::Coordinate;

/// Coordinate → stream number.
#[derive(Default)]
pub(crate) struct StreamNumbers {
    /// Keyed per process, so hashes cannot be aimed to collide.
    keys: RandomState,
    by_hash: HashMap<u64, u32, BuildHasherDefault<IdHasher>>,
    /// Coordinates whose hash an earlier coordinate already had.
    collided: HashMap<Coordinate, u32>,
}

impl StreamNumbers {
    /// The number of `coordinate`'s stream; `coordinate_of` gives the
    /// coordinate of a stream number (the streams' list).
    pub(crate) fn get<'c>(
        &self,
        coordinate: &Coordinate,
        coordinate_of: impl Fn(u32) -> Option<&'c Coordinate>,
    ) -> Option<u32> {
        if let Some(&s) = self.collided.get(coordinate) {
            return Some(s);
        }
        let s = *self.by_hash.get(&self.keys.hash_one(coordinate))?;
        (coordinate_of(s) == Some(coordinate)).then_some(s)
    }

    /// Records `coordinate` as stream `s`; false, and nothing changed,
    /// when it is recorded already (one hash and one probe either way).
    pub(crate) fn insert<'c>(
        &mut self,
        coordinate: &Coordinate,
        s: u32,
        coordinate_of: impl Fn(u32) -> Option<&'c Coordinate>,
    ) -> bool {
        match self.by_hash.entry(self.keys.hash_one(coordinate)) {
            Entry::Vacant(slot) => {
                slot.insert(s);
                true
            }
            Entry::Occupied(slot) if coordinate_of(*slot.get()) == Some(coordinate) => false,
            Entry::Occupied(_) => match self.collided.entry(coordinate.clone()) {
                Entry::Vacant(slot) => {
                    slot.insert(s);
                    true
                }
                Entry::Occupied(_) => false,
            },
        }
    }

    /// Makes room for `n` more streams.
    pub(crate) fn reserve(&mut self, n: usize) {
        self.by_hash.reserve(n);
    }

    /// Bytes held (hash table slots at capacity).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.by_hash.capacity() * (8 + 4 + 4 + 1)
            + self.collided.capacity() * (std::mem::size_of::<(Coordinate, u32)>() + 1)
    }
}
