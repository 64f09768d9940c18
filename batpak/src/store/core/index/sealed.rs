//! Sealed segment indexes: what the index learnt from one full segment,
//! written once the segment is sealed (at rotation, or when an open scan
//! passes a segment that had none) so that an open after a crash loads them
//! and scans only the unsealed tail.
//!
//! A sealed index is a cache of its segment, never a source of truth: it is
//! loaded only when its checksum holds, it names the segment, its length and
//! first position exactly as found, its streams continue the index it is
//! applied to, and its frames fill the segment to the byte. Anything else
//! and the segment is scanned (and its sealed index written anew). Loading
//! decodes into a [`Sealed`] first and changes the index only once every
//! check passed. Layout: FORMAT.md, "Sealed segment index".

use super::codec::{Reader, Writer};
use super::{Entry, Index, KeyEntry, NO_CAUSE, StreamState};
use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind, Hash};
use crate::store::engine::{Loc, NextLoc};

const MAGIC: [u8; 8] = *b"BPSEALIX";
/// Layout version of a sealed index; another version is ignored (the
/// segment is scanned and its index rewritten).
const VERSION: u16 = 1;
/// Bytes of one entry without its optional cause.
const ENTRY_BYTES: usize = 16 + 4 + 4 + 4 + 1;

/// One event of a sealed index.
struct SealedEntry {
    id: EventId,
    len: u32,
    kind: EventKind,
    stream: u32,
    flags: u8,
    cause: u64,
}

/// A sealed index decoded and checked against the index it will extend.
struct Sealed {
    new_streams: Vec<Coordinate>,
    entries: Vec<SealedEntry>,
    heads: Vec<(u32, Hash)>,
    keys: Vec<(String, KeyEntry)>,
}

/// Where the sealed index sits in the log, as the open found it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedPlace {
    pub(crate) segment: u32,
    /// The segment's length in bytes.
    pub(crate) len: u64,
    /// Where the segment's frames start, and where each next frame lies.
    pub(crate) next_loc: NextLoc,
}

impl Index {
    /// Encodes what the index holds of the events from `first_position` to
    /// its end, all in segment `segment` of `len` bytes. Call it when that
    /// segment is complete and the index holds nothing past it: the heads
    /// recorded are the streams' heads now.
    pub(crate) fn encode_sealed(&self, segment: u32, len: u64, first_position: u64) -> Vec<u8> {
        let first = usize::try_from(first_position).unwrap_or(usize::MAX);
        let entries = self.entries.get(first..).unwrap_or(&[]);
        // Streams are numbered in order of first appearance.
        let streams_before = self
            .streams
            .partition_point(|s| s.positions.first().is_some_and(|&p| p < first_position));
        let mut w = Writer(Vec::with_capacity(64 + entries.len() * (ENTRY_BYTES + 8)));
        w.0.extend_from_slice(&MAGIC);
        w.u16(VERSION);
        w.u32(segment);
        w.u64(len);
        w.u64(first_position);
        w.u64(entries.len() as u64);
        w.u64(streams_before as u64);
        let new_streams = self.streams.get(streams_before..).unwrap_or(&[]);
        w.u64(new_streams.len() as u64);
        for s in new_streams {
            w.bytes(s.coordinate.entity().as_bytes());
            w.bytes(s.coordinate.scope().as_bytes());
        }
        for e in entries {
            w.u128(e.id.as_u128());
            w.u32(e.len);
            w.u32(e.kind.to_u32());
            w.u32(e.stream);
            w.flags_and_cause(e.flags, e.cause);
        }
        let mut touched: Vec<u32> = entries.iter().map(|e| e.stream).collect();
        touched.sort_unstable();
        touched.dedup();
        w.u64(touched.len() as u64);
        for s in touched {
            w.u32(s);
            let head = self.streams.get(s as usize).map_or(Hash::ZERO, |s| s.head);
            w.hash(&head);
        }
        let mut keys: Vec<(&String, &KeyEntry)> = self
            .keys
            .iter()
            .filter(|(_, k)| {
                k.receipts
                    .first()
                    .is_some_and(|r| r.position >= first_position)
            })
            .collect();
        keys.sort_by_key(|(_, k)| k.receipts.first().map(|r| r.position));
        w.key_entries(keys.len(), keys);
        let sum = crc32fast::hash(&w.0);
        w.u32(sum);
        w.0
    }

    /// Extends the index with a sealed index of the segment at `place`, if
    /// it is intact and continues this index exactly; returns the events it
    /// added, or `None` (the index is then unchanged and the caller scans the
    /// segment).
    pub(crate) fn load_sealed(&mut self, bytes: &[u8], place: SealedPlace) -> Option<u64> {
        let sealed = self.decode_sealed(bytes, place)?;
        let events = sealed.entries.len() as u64;
        self.apply_sealed(sealed, place);
        Some(events)
    }

    fn decode_sealed(&self, bytes: &[u8], place: SealedPlace) -> Option<Sealed> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, sum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes()[..] != sum[..] {
            return None;
        }
        let mut r = Reader(body);
        if r.array::<8>()? != MAGIC || r.u16()? != VERSION {
            return None;
        }
        let first_position = self.len();
        if r.u32()? != place.segment || r.u64()? != place.len || r.u64()? != first_position {
            return None;
        }
        let n = usize::try_from(r.u64()?).ok()?;
        if r.u64()? != self.streams.len() as u64 {
            return None;
        }
        let m = r.count(8)?;
        let mut new_streams = Vec::with_capacity(m);
        for _ in 0..m {
            let entity = r.string()?;
            let scope = r.string()?;
            new_streams.push(Coordinate::new(entity, scope).ok()?);
        }
        let streams = self.streams.len() + new_streams.len();
        // New streams are numbered in the order their first events come.
        let mut next_new = self.streams.len();
        if n.checked_mul(ENTRY_BYTES)? > r.0.len() {
            return None;
        }
        let mut entries = Vec::with_capacity(n);
        let mut prev: Option<Loc> = None;
        for i in 0..n as u64 {
            let id = EventId::from_u128(r.u128()?);
            let len = r.u32()?;
            let kind = EventKind::from_u32(r.u32()?);
            let stream = r.u32()?;
            let (flags, cause) = r.flags_and_cause()?;
            if stream as usize > next_new
                || stream as usize >= streams
                || (cause != NO_CAUSE && cause >= first_position + i)
            {
                return None;
            }
            if stream as usize == next_new {
                next_new += 1;
            }
            prev = Some((place.next_loc)(
                prev,
                place.segment,
                first_position + i,
                len,
            ));
            entries.push(SealedEntry {
                id,
                len,
                kind,
                stream,
                flags,
                cause,
            });
        }
        // The frames fill the segment to its last byte (an empty segment is
        // its header alone); every new stream has its first event here.
        let end = (place.next_loc)(prev, place.segment, first_position + n as u64, 0);
        if end.offset != place.len || next_new != streams {
            return None;
        }
        let heads = Self::decode_heads(&mut r, &entries)?;
        // The idempotency keys first used in the segment, with receipts in it.
        let keys = r.key_entries(first_position..first_position + n as u64)?;
        r.0.is_empty().then_some(Sealed {
            new_streams,
            entries,
            heads,
            keys,
        })
    }

    /// The heads: exactly one for every stream the segment's events touch.
    fn decode_heads(r: &mut Reader<'_>, entries: &[SealedEntry]) -> Option<Vec<(u32, Hash)>> {
        let mut touched: Vec<u32> = entries.iter().map(|e| e.stream).collect();
        touched.sort_unstable();
        touched.dedup();
        let n = r.count(4 + 32)?;
        if n != touched.len() {
            return None;
        }
        let mut heads = Vec::with_capacity(n);
        for want in touched {
            let stream = r.u32()?;
            if stream != want {
                return None;
            }
            heads.push((stream, r.hash()?));
        }
        Some(heads)
    }

    fn apply_sealed(&mut self, sealed: Sealed, place: SealedPlace) {
        for coordinate in sealed.new_streams {
            let s = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
            self.by_coordinate.insert(coordinate.clone(), s);
            self.streams.push(StreamState {
                coordinate,
                positions: Vec::new(),
                head: Hash::ZERO,
            });
        }
        let mut prev: Option<Loc> = None;
        for e in sealed.entries {
            let position = self.len();
            let loc = (place.next_loc)(prev, place.segment, position, e.len);
            prev = Some(loc);
            let sequence = match self.streams.get_mut(e.stream as usize) {
                Some(state) => {
                    state.positions.push(position);
                    state.positions.len() as u64
                }
                None => 0,
            };
            if e.cause != NO_CAUSE {
                self.children.entry(e.cause).or_default().push(position);
            }
            self.by_id.insert(e.id, position);
            self.entries.push(Entry {
                id: e.id,
                offset: loc.offset,
                sequence,
                cause: e.cause,
                segment: place.segment,
                len: e.len,
                kind: e.kind,
                stream: e.stream,
                flags: e.flags,
            });
        }
        for (stream, head) in sealed.heads {
            if let Some(state) = self.streams.get_mut(stream as usize) {
                state.head = head;
            }
        }
        for (key, entry) in sealed.keys {
            self.keys.entry(key).or_insert(entry);
        }
    }
}
