//! Event id → global position, kept small by the ids' near order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::entry::Entry;
use crate::event::EventId;

/// A hasher for event ids: they are already unique and well mixed in their
/// low (counter) bits, so a multiply-fold is enough and much faster than SipHash.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.0 =
                (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(u64::from(v));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn write_u128(&mut self, v: u128) {
        let folded = (v as u64) ^ ((v >> 64) as u64).rotate_left(32);
        self.0 = (self.0 ^ folded).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Event id → position, for the ids that break the increasing order.
type IdMap = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;

/// Event id → position. Ids made by one process increase with position
/// (they are generated under the writer lock) and later processes make
/// later ids, so nearly every id extends an increasing run: those positions
/// go in `ordered` (binary-searched through the entries), and only ids that
/// break the order (a clock stepping back) go in a hash map.
#[derive(Default)]
pub(crate) struct IdIndex {
    pub(super) ordered: Vec<u64>,
    max: Option<EventId>,
    others: IdMap,
}

impl IdIndex {
    pub(super) fn insert(&mut self, id: EventId, position: u64) {
        if self.max.is_none_or(|m| id > m) {
            self.ordered.push(position);
            self.max = Some(id);
        } else {
            self.others.insert(id, position);
        }
    }

    /// The position of event `id`, if indexed.
    pub(crate) fn get(&self, id: EventId, entries: &[Entry]) -> Option<u64> {
        if self.others.is_empty() && self.max.is_none_or(|m| id > m) {
            return None;
        }
        let found = self
            .ordered
            .binary_search_by(|&p| {
                entries
                    .get(p as usize)
                    .map_or(std::cmp::Ordering::Greater, |e| e.id.cmp(&id))
            })
            .ok()
            .and_then(|i| self.ordered.get(i).copied());
        found.or_else(|| self.others.get(&id).copied())
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::NO_CAUSE;
    use super::*;

    fn entry(id: u128) -> Entry {
        Entry {
            id: EventId::from_u128(id),
            offset: 0,
            sequence: 1,
            cause: NO_CAUSE,
            segment: 1,
            len: 1,
            kind: crate::event::EventKind::new(1, 1),
            stream: 0,
            flags: 0,
        }
    }

    #[test]
    fn id_index_finds_ids_in_and_out_of_order() {
        // Ids 10, 20, 15 (clock stepped back), 30, 5.
        let ids = [10u128, 20, 15, 30, 5];
        let entries: Vec<Entry> = ids.iter().map(|&i| entry(i)).collect();
        let mut index = IdIndex::default();
        for (p, &i) in ids.iter().enumerate() {
            index.insert(EventId::from_u128(i), p as u64);
        }
        for (p, &i) in ids.iter().enumerate() {
            assert_eq!(index.get(EventId::from_u128(i), &entries), Some(p as u64));
        }
        assert_eq!(index.get(EventId::from_u128(11), &entries), None);
        assert_eq!(index.others.len(), 2);
    }
}
