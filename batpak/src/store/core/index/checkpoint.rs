//! The index checkpoint: the whole index in one file, written by `close()`
//! (and a drop) and loaded by the next open when it describes exactly the
//! log present. Layout: FORMAT.md, "Index checkpoint".

use super::codec::{Reader, Writer};
use super::{Entry, Index, NO_CAUSE, StreamState};
use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind};
use crate::store::engine::{Loc, NextLoc};

const CHECKPOINT_MAGIC: [u8; 8] = *b"BATPAKCK";
/// Version 2 added the gated flag; a version-1 checkpoint cannot tell a
/// gated event from a direct one, so it is ignored and the log rescanned.
const CHECKPOINT_VERSION: u16 = 2;
/// Bytes of one entry in a checkpoint (without its optional cause).
const ENTRY_BYTES: usize = 16 + 4 + 4 + 4 + 4 + 1;

impl Index {
    /// Encodes the index, bound to the log `extent` it describes.
    pub(crate) fn encode_checkpoint(&self, extent: &[u64]) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64 + self.entries.len() * ENTRY_BYTES));
        w.0.extend_from_slice(&CHECKPOINT_MAGIC);
        w.u16(CHECKPOINT_VERSION);
        w.u64(extent.len() as u64);
        for &len in extent {
            w.u64(len);
        }
        w.u64(self.streams.len() as u64);
        for s in &self.streams {
            w.bytes(s.coordinate.entity().as_bytes());
            w.bytes(s.coordinate.scope().as_bytes());
            w.hash(&s.head);
        }
        w.u64(self.entries.len() as u64);
        for e in &self.entries {
            // Offsets are implied: frames of a segment are back to back.
            w.u128(e.id.as_u128());
            w.u32(e.segment);
            w.u32(e.len);
            w.u32(e.kind.to_u32());
            w.u32(e.stream);
            w.flags_and_cause(e.flags, e.cause);
        }
        w.key_entries(self.keys.len(), &self.keys);
        // A checksum against accidental damage; the checkpoint is only
        // trusted when it also matches the segment lengths exactly.
        let sum = crc32fast::hash(&w.0);
        w.u32(sum);
        w.0
    }

    /// Decodes a checkpoint, only if it is intact and describes exactly the
    /// log `extent` present now; otherwise `None` (the caller rescans).
    /// `next_loc` is the engine's rule for where each frame lies: the
    /// checkpoint keeps lengths, not offsets.
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
        let mut index = Self::default();
        let n = r.count(8 + 32)?;
        index.streams.reserve(n);
        for s in 0..n {
            let entity = r.string()?;
            let scope = r.string()?;
            let coordinate = Coordinate::new(entity, scope).ok()?;
            let head = r.hash()?;
            index
                .by_coordinate
                .insert(coordinate.clone(), u32::try_from(s).ok()?);
            index.streams.push(StreamState {
                coordinate,
                positions: Vec::new(),
                head,
            });
        }
        let n = r.count(ENTRY_BYTES)?;
        index.entries.reserve(n);
        index.by_id.ordered.reserve(n);
        let mut prev: Option<Loc> = None;
        for position in 0..n as u64 {
            let id = EventId::from_u128(r.u128()?);
            let segment = r.u32()?;
            let len = r.u32()?;
            let kind = EventKind::from_u32(r.u32()?);
            let stream = r.u32()?;
            let (flags, cause) = r.flags_and_cause()?;
            let loc = next_loc(prev, segment, position, len);
            prev = Some(loc);
            let state = index.streams.get_mut(stream as usize)?;
            state.positions.push(position);
            let sequence = state.positions.len() as u64;
            if cause != NO_CAUSE {
                if cause >= position {
                    return None;
                }
                index.children.entry(cause).or_default().push(position);
            }
            index.by_id.insert(id, position);
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
        index.keys.extend(r.key_entries(0..n as u64)?);
        r.0.is_empty().then_some(index)
    }

    /// The log extent a checkpoint records, and the bytes that hold it (its
    /// count and lengths), without checking anything else: lets a fuzz
    /// target decode a checkpoint against the extent it expects, or rewrite
    /// that extent to match the segments beside it.
    #[cfg(feature = "fuzzing")]
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
