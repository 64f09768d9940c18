//! Event id → global position, kept small by the ids' near order.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use super::entries::Entries;
use super::hasher::IdHasher;
use crate::event::EventId;

/// Event id → position, for the ids that break the increasing order.
pub(super) type IdMap = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;

/// Event id → position. Ids made by one process increase with position
/// (they are generated under the writer lock) and later processes make
/// later ids, so nearly every id extends an increasing run: those positions
/// are kept as runs of consecutive positions (one run for most stores,
/// whatever their size), searched through the entries' ids, and only ids
/// that break the order (a clock stepping back) go in a hash map.
///
/// A search through the entries reads sealed ones from their files, so a
/// sparse fence in memory (every [`FENCE_EVERY`]th ordered id and its
/// position, ~0.1 byte per event) narrows it to a few pages first.
#[derive(Default)]
pub(crate) struct IdIndex {
    /// `[start, end)` ranges of positions whose ids increase, ascending.
    runs: Vec<(u64, u64)>,
    max: Option<EventId>,
    others: IdMap,
    /// Every `FENCE_EVERY`th position of the runs, with its id.
    fence: Vec<(u64, EventId)>,
    /// Positions in the runs.
    ordered: u64,
}

/// The position (first field) where two lists ordered by it first differ.
fn first_apart<T: PartialEq>(a: &[(u64, T)], b: &[(u64, T)]) -> Option<u64> {
    let shared = a.iter().zip(b).find(|(x, y)| x != y);
    match shared {
        Some((x, y)) => Some(x.0.min(y.0)),
        None => a.get(b.len()).or_else(|| b.get(a.len())).map(|x| x.0),
    }
}

/// What an [`IdIndex`] is made of (see its fields), for a file.
pub(super) struct IdParts<'a> {
    pub(super) runs: &'a [(u64, u64)],
    pub(super) max: Option<EventId>,
    pub(super) others: &'a IdMap,
    pub(super) fence: &'a [(u64, EventId)],
}

/// Ordered ids between two fence posts.
pub(super) const FENCE_EVERY: u64 = 256;

impl IdIndex {
    pub(super) fn insert(&mut self, id: EventId, position: u64) {
        if self.max.is_none_or(|m| id > m) {
            match self.runs.last_mut() {
                Some((_, end)) if *end == position => *end += 1,
                _ => self.runs.push((position, position + 1)),
            }
            if self.ordered.is_multiple_of(FENCE_EVERY) {
                self.fence.push((position, id));
            }
            self.ordered += 1;
            self.max = Some(id);
        } else {
            self.others.insert(id, position);
        }
    }

    /// The positions of the runs an ordered `id` can lie in, from the
    /// fence: `[lo, hi)`.
    fn fenced(&self, id: EventId) -> (u64, u64) {
        let k = self.fence.partition_point(|&(_, f)| f <= id);
        let lo = k
            .checked_sub(1)
            .and_then(|k| self.fence.get(k))
            .map_or(0, |f| f.0);
        let hi = self.fence.get(k).map_or(u64::MAX, |f| f.0);
        (lo, hi)
    }

    /// The position of event `id`, if indexed; `Err(position)` when the
    /// search needed the entry at `position` and it could not be read (a
    /// damaged sealed index: the caller reports that position).
    pub(crate) fn get(&self, id: EventId, entries: &Entries) -> Result<Option<u64>, u64> {
        if self.others.is_empty() && self.max.is_none_or(|m| id > m) {
            return Ok(None);
        }
        // The search's probes near its end share pages: one cursor keeps the last.
        let mut cursor = entries.cursor();
        let mut id_at = |p: u64| cursor.get(p).map(|e| e.id).ok_or(p);
        // The runs clipped to the fence's bounds; the last whose first id
        // is not above `id`, then within it.
        let (from, to) = self.fenced(id);
        let runs: Vec<(u64, u64)> = self
            .runs
            .iter()
            .map(|&(start, end)| (start.max(from), end.min(to)))
            .filter(|(start, end)| start < end)
            .collect();
        let mut unreadable = None;
        let run = runs.partition_point(|&(start, _)| match id_at(start) {
            Ok(first) => first <= id,
            Err(p) => {
                unreadable.get_or_insert(p);
                false
            }
        });
        if let Some(p) = unreadable {
            return Err(p);
        }
        if let Some(&(mut lo, mut hi)) = run.checked_sub(1).and_then(|r| runs.get(r)) {
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

    /// The first position below `bound` that `self` and `other` look up
    /// differently (its run, out-of-order id or fence post), if any: an
    /// index rebuilt from the log is compared with the live one this way.
    pub(crate) fn first_difference(&self, other: &Self, bound: u64) -> Option<u64> {
        let runs = |ix: &Self| -> Vec<(u64, u64)> {
            ix.runs
                .iter()
                .filter(|(start, _)| *start < bound)
                .map(|&(start, end)| (start, end.min(bound)))
                .collect()
        };
        let posts = |ix: &Self| -> Vec<(u64, EventId)> {
            ix.fence
                .iter()
                .copied()
                .filter(|(p, _)| *p < bound)
                .collect()
        };
        let others = |ix: &Self| -> Vec<(u64, EventId)> {
            let mut v: Vec<(u64, EventId)> = ix
                .others
                .iter()
                .filter(|&(_, &p)| p < bound)
                .map(|(&id, &p)| (p, id))
                .collect();
            v.sort_unstable();
            v
        };
        [
            first_apart(&runs(self), &runs(other)),
            first_apart(&posts(self), &posts(other)),
            first_apart(&others(self), &others(other)),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// What the index is made of, for a file.
    pub(super) fn parts(&self) -> IdParts<'_> {
        IdParts {
            runs: &self.runs,
            max: self.max,
            others: &self.others,
            fence: &self.fence,
        }
    }

    /// An id index from [`IdIndex::parts`] read back; `None` unless the
    /// runs are ascending, disjoint, non-empty and below `len`, and every
    /// other position is below `len`.
    ///
    /// The fence must be every [`FENCE_EVERY`]th position of the runs, its
    /// ids ascending: its ids are not read here (the entries of sealed
    /// segments are in their files), and a wrong one only narrows a search
    /// wrongly, to "not found", which the writer treats as taken and `verify`
    /// does not rely on.
    pub(super) fn from_parts(
        runs: Vec<(u64, u64)>,
        max: Option<EventId>,
        others: IdMap,
        fence: Vec<(u64, EventId)>,
        len: u64,
    ) -> Option<Self> {
        let mut floor = 0;
        let mut ordered: u64 = 0;
        let mut posts = fence.iter().peekable();
        for &(start, end) in &runs {
            if start < floor || end <= start || end > len {
                return None;
            }
            // The posts inside this run, at every FENCE_EVERY-th ordered id.
            while let Some(&&(p, _)) = posts.peek().filter(|&&&(p, _)| p < end) {
                let at = ordered + p.checked_sub(start)?;
                if !at.is_multiple_of(FENCE_EVERY) {
                    return None;
                }
                posts.next();
            }
            ordered += end - start;
            floor = end;
        }
        let ids_ascend = fence.windows(2).all(|w| w[0].1 < w[1].1);
        if posts.next().is_some()
            || !ids_ascend
            || fence.len() as u64 != ordered.div_ceil(FENCE_EVERY)
            || runs.is_empty() != max.is_none()
            || others.values().any(|&p| p >= len)
        {
            return None;
        }
        Some(Self {
            runs,
            max,
            others,
            fence,
            ordered,
        })
    }

    /// Bytes held in memory.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.runs.capacity() * 16 + self.others.capacity() * 40 + self.fence.capacity() * 32
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

    #[test]
    fn the_fence_narrows_a_search_and_survives_its_parts() {
        // 2,000 ids, every 97th stepping back below the run's last.
        let mut entries = Entries::default();
        let mut index = IdIndex::default();
        let mut next = 1_000u128;
        for p in 0..2_000u64 {
            let id = if p % 97 == 50 { next - 500 } else { next };
            next += 3;
            entries.push(entry(id));
            index.insert(EventId::from_u128(id), p);
        }
        assert!(index.fence.len() > 5);
        let check = |index: &IdIndex| {
            for p in 0..2_000u64 {
                let id = entries.get(p).map(|e| e.id);
                let found = id.map(|id| index.get(id, &entries));
                assert_eq!(found, Some(Ok(Some(p))), "{id:?}");
            }
            assert_eq!(index.get(EventId::from_u128(1_001), &entries), Ok(None));
        };
        check(&index);
        let parts = index.parts();
        let rebuilt = |fence: Vec<(u64, EventId)>| {
            IdIndex::from_parts(
                parts.runs.to_vec(),
                parts.max,
                parts.others.clone(),
                fence,
                2_000,
            )
        };
        let back = rebuilt(parts.fence.to_vec());
        assert!(back.is_some());
        if let Some(back) = back {
            check(&back);
        }
        // A fence post off its place is refused.
        let mut moved = parts.fence.to_vec();
        moved[1].0 += 1;
        assert!(rebuilt(moved).is_none());
    }
}
