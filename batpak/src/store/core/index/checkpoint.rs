//! The index checkpoint: the whole index in one file, written by `close()`
//! (and a drop) and loaded by the next open when it describes exactly the
//! log present; the streams' positions in sealed segments are in the
//! positions file written just before it (`positions_file.rs`), which the
//! open index keeps reading. Layout: FORMAT.md, "Index checkpoint".

use super::codec::{Reader, Writer};
use super::ids::IdMap;
use super::positions_file::{Filed, FiledWriter, Filing};
use super::{Entry, IdIndex, Index, NO_CAUSE, Positions, StreamState, Table};
use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind};
use crate::store::engine::{Loc, NextLoc};
use crate::store::error::StoreError;

const CHECKPOINT_MAGIC: [u8; 8] = *b"BATPAKCK";
/// Version 4 holds what memory holds: the sealed segments' tables (their
/// entries stay in their files), each stream's head, where its positions
/// in sealed segments lie in the positions file and its positions after
/// them, the entries after the tables, the id runs and the causation links.
/// Another version is ignored and the log rescanned (through its sealed
/// indexes).
const CHECKPOINT_VERSION: u16 = 4;
/// Bytes of one in-memory entry in a checkpoint (without its optional cause).
const ENTRY_BYTES: usize = 16 + 4 + 4 + 4 + 1;
/// Bytes of one table.
const TABLE_BYTES: usize = 4 + 8 + 8 + 8 + 4;

impl Index {
    /// Files every stream's positions below the first entry held in
    /// memory (those filed already, read back from the positions file this
    /// index reads, and those sealed since): the positions file a
    /// checkpoint written now names, and each stream's place in it.
    /// `in_place` says the file at the positions file's name is still the
    /// one this index reads (no write since replaced it): then, when
    /// nothing new is to be filed, that file is named again, unwritten.
    pub(crate) fn file_positions(&self, in_place: bool) -> Result<Filing, StoreError> {
        let boundary = self.entries.tail_first();
        let nothing_new = self
            .streams
            .iter()
            .all(|s| s.recent.first().is_none_or(|p| p >= boundary));
        let filed_any = self.streams.iter().any(|s| s.filed.count > 0);
        if nothing_new && ((in_place && self.positions_file.is_some()) || !filed_any) {
            // The file this index reads is the one to name again (no
            // segment sealed since it was written: it would be rewritten
            // byte for byte).
            return Ok(self.current_filing());
        }
        let old = match &self.positions_file {
            Some(file) => Some(file.read_all()?),
            None => None,
        };
        let mut writer = FiledWriter::new();
        let mut streams = Vec::with_capacity(self.streams.len());
        for s in &self.streams {
            let mut positions = match &old {
                Some(old) => old.read(&s.filed, &s.coordinate)?,
                None => self.read_filed(s)?,
            };
            for p in s.recent.iter().take_while(|&p| p < boundary) {
                positions.push(p);
            }
            streams.push(writer.add(&positions));
        }
        let file = writer.finish();
        Ok(Filing {
            file_len: file.as_ref().map_or(0, |f| f.len() as u64),
            file,
            streams,
        })
    }

    /// The filing this index reads (no file to write).
    pub(crate) fn current_filing(&self) -> Filing {
        Filing {
            file: None,
            file_len: self.positions_file_len,
            streams: self.streams.iter().map(|s| s.filed).collect(),
        }
    }

    /// Encodes the index, bound to the log `extent` it describes, with its
    /// streams' positions below the first in-memory entry as `filing`
    /// placed them.
    pub(crate) fn encode_checkpoint(&self, extent: &[u64], filing: &Filing) -> Vec<u8> {
        let tail = self.entries.tail();
        let boundary = self.entries.tail_first();
        let mut w = Writer(Vec::with_capacity(
            64 + self.streams.len() * 96 + tail.len() * ENTRY_BYTES,
        ));
        w.0.extend_from_slice(&CHECKPOINT_MAGIC);
        w.u16(CHECKPOINT_VERSION);
        w.u64(extent.len() as u64);
        for &len in extent {
            w.u64(len);
        }
        w.u64(filing.file_len);
        let tables = self.entries.tables();
        w.u64(tables.len() as u64);
        for t in tables {
            w.u32(t.segment);
            w.u64(t.first);
            w.u64(t.count);
            w.u64(t.file_len);
            w.u32(t.file_crc);
        }
        w.u64(self.streams.len() as u64);
        let none = Filed::default();
        for (i, s) in self.streams.iter().enumerate() {
            w.bytes(s.coordinate.entity().as_bytes());
            w.bytes(s.coordinate.scope().as_bytes());
            w.hash(&s.head);
            let filed = filing.streams.get(i).unwrap_or(&none);
            w.u64(filed.count);
            if filed.count > 0 {
                w.u64(filed.first);
                w.u64(filed.last);
                w.u64(filed.offset);
                w.u32(filed.len);
                w.u32(filed.crc);
            }
            if s.recent.first().is_none_or(|p| p >= boundary) {
                w.u64(s.recent.len());
                w.bytes(s.recent.encoded());
            } else {
                let mut rest = Positions::default();
                for p in s.recent.iter_from(boundary) {
                    rest.push(p);
                }
                w.u64(rest.len());
                w.bytes(rest.encoded());
            }
        }
        w.u64(self.len());
        // Stream and sequence are implied by the positions, offsets by the
        // frames of a segment lying back to back.
        for e in tail {
            w.u128(e.id.as_u128());
            w.u32(e.segment);
            w.u32(e.len);
            w.u32(e.kind.to_u32());
            w.flags_and_cause(e.flags, e.cause);
        }
        let ids = self.by_id.parts();
        let (runs, max, others, fence) = (ids.runs, ids.max, ids.others, ids.fence);
        w.u64(runs.len() as u64);
        for &(start, end) in runs {
            w.u64(start);
            w.u64(end);
        }
        w.u128(max.map_or(0, EventId::as_u128));
        let mut others: Vec<(&EventId, &u64)> = others.iter().collect();
        others.sort_unstable();
        w.u64(others.len() as u64);
        for (id, &position) in others {
            w.u128(id.as_u128());
            w.u64(position);
        }
        w.u64(fence.len() as u64);
        for &(position, id) in fence {
            w.u64(position);
            w.u128(id.as_u128());
        }
        let mut children: Vec<(u64, &[u64])> = self.children.iter().collect();
        children.sort_unstable();
        w.u64(children.len() as u64);
        for (cause, caused) in children {
            w.u64(cause);
            w.u64(caused.len() as u64);
            for &p in caused {
                w.u64(p);
            }
        }
        let recent = self.keys.recent();
        w.key_entries(recent.len(), recent);
        let mut sealed: Vec<(u64, u32)> = self.keys.sealed_pairs().collect();
        sealed.sort_unstable();
        w.u64(sealed.len() as u64);
        for (hash, segment) in sealed {
            w.u64(hash);
            w.u32(segment);
        }
        // A checksum against accidental damage; the checkpoint is only
        // trusted when it also matches the segment lengths exactly, and its
        // tables only when their files match what it recorded.
        let sum = crc32fast::hash(&w.0);
        w.u32(sum);
        w.0
    }

    /// Decodes a checkpoint, only if it is intact, self-consistent and
    /// describes exactly the log `extent` present now; otherwise `None`
    /// (the caller rescans). `next_loc` is the engine's rule for where each
    /// frame lies: the checkpoint keeps lengths, not offsets. Its tables
    /// are not read here: the caller binds them to their files.
    pub(crate) fn decode_checkpoint(
        bytes: &[u8],
        extent: &[u64],
        next_loc: NextLoc,
    ) -> Option<Self> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, sum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes()[..] != sum[..] {
            return None;
        }
        let mut r = Reader(body);
        if r.array::<8>()? != CHECKPOINT_MAGIC || r.u16()? != CHECKPOINT_VERSION {
            return None;
        }
        let n = r.count(8)?;
        if n != extent.len() {
            return None;
        }
        for &len in extent {
            if r.u64()? != len {
                return None;
            }
        }
        let mut index = Self {
            positions_file_len: r.u64()?,
            ..Self::default()
        };
        let tables = r.count(TABLE_BYTES)?;
        let mut segment_floor = 0;
        for _ in 0..tables {
            let table = Table {
                segment: r.u32()?,
                first: r.u64()?,
                count: r.u64()?,
                file_len: r.u64()?,
                file_crc: r.u32()?,
            };
            if table.segment < segment_floor || !index.entries.attach(table) {
                return None;
            }
            segment_floor = table.segment.checked_add(1)?;
        }
        // Positions below the first entry in memory are filed, the others
        // are not.
        let boundary = index.entries.len();
        let streams = r.count(4 + 4 + 32 + 8 + 8 + 4)?;
        index.streams.reserve_exact(streams);
        index.by_coordinate.reserve(streams);
        let mut claimed: u64 = 0;
        for _ in 0..streams {
            let entity = r.str()?;
            let scope = r.str()?;
            let coordinate = Coordinate::from_parts(entity, scope).ok()?;
            let head = r.hash()?;
            let filed = Self::decode_filed(&mut r, index.positions_file_len, boundary)?;
            let count = r.u64()?;
            let recent = Positions::decode(count, r.bytes()?)?;
            if recent.first().is_some_and(|p| p < boundary) {
                return None;
            }
            claimed = claimed.checked_add(count)?.checked_add(filed.count)?;
            let state = StreamState {
                coordinate,
                filed,
                recent,
                head,
            };
            // A coordinate named twice is refused.
            if !index.push_stream(state) {
                return None;
            }
        }
        let events = r.u64()?;
        if claimed != events || events < index.entries.len() {
            return None;
        }
        let owners = Self::tail_owners(&index.streams, index.entries.len(), events)?;
        index.entries.reserve_exact(owners.len());
        let mut prev: Option<Loc> = None;
        for (position, (stream, sequence)) in (index.entries.len()..).zip(owners) {
            let id = EventId::from_u128(r.u128()?);
            let segment = r.u32()?;
            let len = r.u32()?;
            let kind = EventKind::from_u32(r.u32()?);
            let (flags, cause) = r.flags_and_cause()?;
            if segment < segment_floor || (cause != NO_CAUSE && cause >= position) {
                return None;
            }
            let loc = next_loc(prev, segment, position, len);
            prev = Some(loc);
            index.entries.push(Entry {
                id,
                offset: loc.offset,
                sequence,
                cause,
                segment,
                len,
                kind,
                stream,
                flags,
            });
        }
        index.by_id = Self::decode_ids(&mut r, events)?;
        let parents = r.count(16)?;
        for _ in 0..parents {
            let cause = r.u64()?;
            let caused = r.count(8)?;
            let mut children = Vec::with_capacity(caused);
            for _ in 0..caused {
                let p = r.u64()?;
                if p <= cause || p >= events {
                    return None;
                }
                children.push(p);
            }
            if !index.children.set(cause, children) {
                return None;
            }
        }
        for (key, entry) in r.key_entries(0..events)? {
            index.keys.insert_recent(key, entry);
        }
        // Sealed keys name a sealed segment of the index.
        let n = r.count(12)?;
        for _ in 0..n {
            let (hash, segment) = (r.u64()?, r.u32()?);
            if !index.entries.tables().iter().any(|t| t.segment == segment) {
                return None;
            }
            index.keys.insert_sealed(hash, segment);
        }
        r.0.is_empty().then_some(index)
    }

    /// The stream and sequence of each position in `from..events` (the
    /// entries a checkpoint holds in memory), from the streams' positions;
    /// `None` unless every stream's positions lie below `events` and each
    /// of those positions belongs to exactly one stream.
    fn tail_owners(streams: &[StreamState], from: u64, events: u64) -> Option<Vec<(u32, u64)>> {
        let n = usize::try_from(events - from).ok()?;
        let mut owners = vec![(u32::MAX, 0); n];
        for (s, state) in (0u32..).zip(streams) {
            if state.recent.last().is_some_and(|p| p >= events) {
                return None;
            }
            let (from_here, below) = state.recent.ranked_from(from);
            let before = state.filed.count + below;
            for (k, p) in (0..).zip(from_here) {
                let slot = owners.get_mut(usize::try_from(p - from).ok()?)?;
                if slot.0 != u32::MAX {
                    return None;
                }
                *slot = (s, before + k + 1);
            }
        }
        owners.iter().all(|o| o.0 != u32::MAX).then_some(owners)
    }

    /// A stream's filed positions: where they lie in a positions file of
    /// `file_len` bytes, all below `boundary`.
    fn decode_filed(r: &mut Reader<'_>, file_len: u64, boundary: u64) -> Option<Filed> {
        let count = r.u64()?;
        if count == 0 {
            return Some(Filed::default());
        }
        let filed = Filed {
            count,
            first: r.u64()?,
            last: r.u64()?,
            offset: r.u64()?,
            len: r.u32()?,
            crc: r.u32()?,
        };
        (filed.is_plausible(file_len) && filed.last < boundary).then_some(filed)
    }

    fn decode_ids(r: &mut Reader<'_>, events: u64) -> Option<IdIndex> {
        let n = r.count(16)?;
        let runs = (0..n)
            .map(|_| Some((r.u64()?, r.u64()?)))
            .collect::<Option<Vec<_>>>()?;
        let max = Some(EventId::from_u128(r.u128()?)).filter(|_| !runs.is_empty());
        let n = r.count(24)?;
        let mut others = IdMap::default();
        for _ in 0..n {
            let id = EventId::from_u128(r.u128()?);
            if others.insert(id, r.u64()?).is_some() {
                return None;
            }
        }
        let n = r.count(24)?;
        let fence = (0..n)
            .map(|_| Some((r.u64()?, EventId::from_u128(r.u128()?))))
            .collect::<Option<Vec<_>>>()?;
        IdIndex::from_parts(runs, max, others, fence, events)
    }

    /// The log extent a checkpoint records, without checking anything else
    /// (the engine's [`CheckpointExtent`](crate::store::engine::CheckpointExtent)):
    /// an open offers the checkpoint only when the log holds that extent.
    pub(crate) fn recorded_extent(bytes: &[u8]) -> Option<Vec<u64>> {
        Self::checkpoint_extent(bytes).map(|(_, extent)| extent)
    }

    /// The log extent a checkpoint records, and the bytes that hold it (its
    /// count and lengths), without checking anything else: also lets a fuzz
    /// target decode a checkpoint against the extent it expects, or rewrite
    /// that extent to match the segments beside it.
    pub(crate) fn checkpoint_extent(bytes: &[u8]) -> Option<(std::ops::Range<usize>, Vec<u64>)> {
        let mut r = Reader(bytes);
        if r.array::<8>()? != CHECKPOINT_MAGIC || r.u16()? != CHECKPOINT_VERSION {
            return None;
        }
        let start = bytes.len() - r.0.len();
        let n = r.count(8)?;
        let extent = (0..n).map(|_| r.u64()).collect::<Option<Vec<u64>>>()?;
        Some((start..bytes.len() - r.0.len(), extent))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::store::engine::segment::next_loc;

    fn empty_stream(entity: &str) -> StreamState {
        StreamState {
            coordinate: Coordinate::new(entity, "s").unwrap(),
            filed: Filed::default(),
            recent: Positions::default(),
            head: crate::event::Hash::ZERO,
        }
    }

    fn with_streams(entities: &[&str]) -> Index {
        let mut index = Index::default();
        for entity in entities {
            index.push_stream(empty_stream(entity));
        }
        index
    }

    #[test]
    fn a_stream_is_added_once_per_coordinate() {
        let mut index = with_streams(&["a", "b"]);
        assert!(!index.push_stream(empty_stream("a")));
        let a = Coordinate::new("a", "s").unwrap();
        assert_eq!(index.stream_number(&a), Some(0));
    }

    #[test]
    fn a_checkpoint_naming_a_coordinate_twice_is_refused() {
        let encode = |index: &Index| index.encode_checkpoint(&[64], &index.current_filing());
        let distinct = encode(&with_streams(&["a", "b"]));
        let decoded = Index::decode_checkpoint(&distinct, &[64], next_loc);
        assert_eq!(decoded.map(|i| i.streams.len()), Some(2));
        let twice = encode(&with_streams(&["a", "b", "a"]));
        assert!(Index::decode_checkpoint(&twice, &[64], next_loc).is_none());
    }
}
