//! Event id → global position, kept small by the ids' near order.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::entries::Entries;
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
pub(super) type IdMap = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;

/// Event id → position. Ids made by one process increase with position
/// (they are generated under the writer lock) and later processes make
/// later ids, so nearly every id extends an increasing run: those positions
/// are kept as runs of consecutive positions (one run for most stores,
/// whatever their size), searched through the entries' ids, and only ids
/// that break the order (a clock stepping back) go in a hash map.
#[derive(Default)]
pub(crate) struct IdIndex {
    /// `[start, end)` ranges of positions whose ids increase, ascending.
    runs: Vec<(u64, u64)>,
    max: Option<EventId>,
    others: IdMap,
}

impl IdIndex {
    pub(super) fn insert(&mut self, id: EventId, position: u64) {
        if self.max.is_none_or(|m| id > m) {
            match self.runs.last_mut() {
                Some((_, end)) if *end == position => *end += 1,
                _ => self.runs.push((position, position + 1)),
            }
            self.max = Some(id);
        } else {
            self.others.insert(id, position);
        }
    }

    /// The position of event `id`, if indexed; `Err(position)` when the
    /// search needed the entry at `position` and it could not be read (a
    /// damaged sealed index: the caller reports that position).
    pub(crate) fn get(&self, id: EventId, entries: &Entries) -> Result<Option<u64>, u64> {
        if self.others.is_empty() && self.max.is_none_or(|m| id > m) {
            return Ok(None);
        }
        let id_at = |p: u64| entries.get(p).map(|e| e.id).ok_or(p);
        // The last run whose first id is not above `id`, then within it.
        let mut unreadable = None;
        let run = self.runs.partition_point(|&(start, _)| match id_at(start) {
            Ok(first) => first <= id,
            Err(p) => {
                unreadable.get_or_insert(p);
                false
            }
        });
        if let Some(p) = unreadable {
            return Err(p);
        }
        if let Some(&(mut lo, mut hi)) = run.checked_sub(1).and_then(|r| self.runs.get(r)) {
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                match id_at(mid)?.cmp(&id) {
                    std::cmp::Ordering::Less => lo = mid + 1,
                    std::cmp::Ordering::Greater => hi = mid,
                    std::cmp::Ordering::Equal => return Ok(Some(mid)),
                }
            }
        }
        // An out-of-order id is only trusted when its entry agrees.
        match self.others.get(&id) {
            Some(&p) => Ok((id_at(p)? == id).then_some(p)),
            None => Ok(None),
        }
    }

    /// The runs, the highest id and the out-of-order ids, for a file.
    pub(super) fn parts(&self) -> (&[(u64, u64)], Option<EventId>, &IdMap) {
        (&self.runs, self.max, &self.others)
    }

    /// An id index from [`IdIndex::parts`] read back; `None` unless the
    /// runs are ascending, disjoint, non-empty and below `len`, and every
    /// other position is below `len`.
    pub(super) fn from_parts(
        runs: Vec<(u64, u64)>,
        max: Option<EventId>,
        others: IdMap,
        len: u64,
    ) -> Option<Self> {
        let mut floor = 0;
        for &(start, end) in &runs {
            if start < floor || end <= start || end > len {
                return None;
            }
            floor = end;
        }
        if runs.is_empty() != max.is_none() || others.values().any(|&p| p >= len) {
            return None;
        }
        Some(Self { runs, max, others })
    }

    /// Bytes held in memory.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.runs.capacity() * 16 + self.others.capacity() * 40
    }
}

#[cfg(test)]
mod tests {
    use super::super::entry::{Entry, NO_CAUSE};
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
        let mut entries = Entries::default();
        for &i in &ids {
            entries.push(entry(i));
        }
        let mut index = IdIndex::default();
        for (p, &i) in ids.iter().enumerate() {
            index.insert(EventId::from_u128(i), p as u64);
        }
        for (p, &i) in ids.iter().enumerate() {
            assert_eq!(
                index.get(EventId::from_u128(i), &entries),
                Ok(Some(p as u64))
            );
        }
        assert_eq!(index.get(EventId::from_u128(11), &entries), Ok(None));
        assert_eq!(index.others.len(), 2);
    }
}
