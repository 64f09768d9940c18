//! The in-memory index: every event's place, every stream's head, every id
//! and idempotency key, and its compact binary checkpoint.
//!
//! Invariants: `entries[p]` describes global position `p` (gapless from 0);
//! a stream's `positions[s - 1]` is the position of its sequence `s`; its
//! `head` is the hash of its last event. The index is only ever built from
//! frames in position order ([`Index::apply_frame`] checks each frame's
//! position, sequence and chain link) or from a checkpoint whose recorded
//! log extent matches the files exactly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::coordinate::Coordinate;
use crate::event::{EventHeader, EventId, EventKind, Hash, decode_header};
use crate::pipeline::AppendReceipt;
use crate::region::AdmissionClass;
use crate::store::engine::body::split_body;
use crate::store::engine::{Loc, NextLoc};
use crate::store::error::Place;
use crate::store::report::Damage;

/// Marks "no causing event in this store".
pub(crate) const NO_CAUSE: u64 = u64::MAX;
/// Entry flag: the event was committed through a bypass.
const FLAG_BYPASS: u8 = 1;
/// Entry flag: the event was committed from a receipt. An entry with
/// neither flag was appended directly.
const FLAG_GATED: u8 = 2;

/// What the index keeps per event (fixed size, no heap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) id: EventId,
    pub(crate) offset: u64,
    pub(crate) sequence: u64,
    pub(crate) cause: u64,
    pub(crate) segment: u32,
    pub(crate) len: u32,
    pub(crate) kind: EventKind,
    pub(crate) stream: u32,
    pub(crate) flags: u8,
}

impl Entry {
    /// How the event was admitted, from its flags.
    pub(crate) fn admitted(&self) -> AdmissionClass {
        if self.flags & FLAG_BYPASS != 0 {
            AdmissionClass::Bypassed
        } else if self.flags & FLAG_GATED != 0 {
            AdmissionClass::Gated
        } else {
            AdmissionClass::Direct
        }
    }

    pub(crate) fn loc(&self) -> Loc {
        Loc {
            segment: self.segment,
            len: self.len,
            offset: self.offset,
        }
    }
}

/// What the index records of one event besides its place, stream and hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub(crate) id: EventId,
    pub(crate) sequence: u64,
    pub(crate) kind: EventKind,
    pub(crate) causation: Option<EventId>,
    pub(crate) admitted: AdmissionClass,
}

/// One stream's place in the index.
#[derive(Debug, Clone)]
pub(crate) struct StreamState {
    pub(crate) coordinate: Coordinate,
    pub(crate) positions: Vec<u64>,
    pub(crate) head: Hash,
}

/// An idempotency key's record: what content it was used for and the
/// receipts the original append returned.
#[derive(Debug, Clone)]
pub(crate) struct KeyEntry {
    pub(crate) fingerprint: Hash,
    pub(crate) receipts: Vec<AppendReceipt>,
}

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

type IdMap = HashMap<EventId, u64, BuildHasherDefault<IdHasher>>;

/// Event id → position. Ids made by one process increase with position
/// (they are generated under the writer lock) and later processes make
/// later ids, so nearly every id extends an increasing run: those positions
/// go in `ordered` (binary-searched through the entries), and only ids that
/// break the order (a clock stepping back) go in a hash map.
#[derive(Default)]
pub(crate) struct IdIndex {
    ordered: Vec<u64>,
    max: Option<EventId>,
    others: IdMap,
}

impl IdIndex {
    fn insert(&mut self, id: EventId, position: u64) {
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

/// Content fingerprint an idempotency key is bound to: the stream and every
/// event's kind and encoded payload.
pub(crate) struct Fingerprint(blake3::Hasher);

impl Fingerprint {
    pub(crate) fn new(coordinate: &Coordinate) -> Self {
        let mut h = blake3::Hasher::new();
        for part in [coordinate.entity(), coordinate.scope()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        Self(h)
    }

    pub(crate) fn add(&mut self, kind: EventKind, payload: &[u8]) {
        self.0.update(&kind.to_u32().to_le_bytes());
        self.0.update(&(payload.len() as u64).to_le_bytes());
        self.0.update(payload);
    }

    pub(crate) fn finish(&self) -> Hash {
        Hash::from_bytes(*self.0.finalize().as_bytes())
    }
}

/// What a scanned frame broke, at the engine location it was found; the
/// caller names the place ([`FrameDamage::locate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FrameDamage {
    pub(crate) loc: Loc,
    coordinate: Option<Coordinate>,
    sequence: Option<u64>,
    reason: String,
}

impl FrameDamage {
    /// The public report, with the frame's place.
    pub(crate) fn locate(self, at: Place) -> Damage {
        Damage {
            at,
            coordinate: self.coordinate,
            sequence: self.sequence,
            reason: self.reason,
        }
    }
}

/// A keyed batch being rebuilt during a scan.
struct OpenKey {
    key: String,
    fingerprint: Fingerprint,
    receipts: Vec<AppendReceipt>,
}

/// The in-memory index.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) entries: Vec<Entry>,
    pub(crate) streams: Vec<StreamState>,
    pub(crate) by_coordinate: HashMap<Coordinate, u32>,
    pub(crate) by_id: IdIndex,
    pub(crate) keys: HashMap<String, KeyEntry>,
    pub(crate) children: HashMap<u64, Vec<u64>>,
    scanning_key: Option<OpenKey>,
}

impl Index {
    /// Number of events (and the next global position).
    pub(crate) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub(crate) fn stream(&self, coordinate: &Coordinate) -> Option<&StreamState> {
        self.by_coordinate
            .get(coordinate)
            .and_then(|&s| self.streams.get(s as usize))
    }

    /// Records one event (append path or scan). `hash` is its chain hash.
    pub(crate) fn insert(&mut self, header: &EventHeader, loc: Loc, hash: Hash) {
        self.insert_in(None, header, loc, hash);
    }

    /// [`Index::insert`] when the caller already knows the stream's id.
    pub(crate) fn insert_in(
        &mut self,
        known: Option<u32>,
        header: &EventHeader,
        loc: Loc,
        hash: Hash,
    ) {
        self.insert_parts(
            known,
            &header.coordinate,
            &Inserted {
                id: header.id,
                sequence: header.sequence,
                kind: header.kind,
                causation: header.causation,
                admitted: AdmissionClass::of(&header.admission),
            },
            loc,
            hash,
        );
    }

    /// [`Index::insert_in`] from the parts the index keeps (the append
    /// path has no owned header).
    pub(crate) fn insert_parts(
        &mut self,
        known: Option<u32>,
        coordinate: &Coordinate,
        event: &Inserted,
        loc: Loc,
        hash: Hash,
    ) {
        let position = self.len();
        let found = known.or_else(|| self.by_coordinate.get(coordinate).copied());
        let stream = match found {
            Some(s) => s,
            None => {
                let s = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
                self.streams.push(StreamState {
                    coordinate: coordinate.clone(),
                    positions: Vec::new(),
                    head: Hash::ZERO,
                });
                self.by_coordinate.insert(coordinate.clone(), s);
                s
            }
        };
        if let Some(state) = self.streams.get_mut(stream as usize) {
            state.positions.push(position);
            state.head = hash;
        }
        let cause = event
            .causation
            .and_then(|c| self.by_id.get(c, &self.entries))
            .unwrap_or(NO_CAUSE);
        if cause != NO_CAUSE {
            self.children.entry(cause).or_default().push(position);
        }
        self.by_id.insert(event.id, position);
        self.entries.push(Entry {
            id: event.id,
            offset: loc.offset,
            sequence: event.sequence,
            cause,
            segment: loc.segment,
            len: loc.len,
            kind: event.kind,
            stream,
            flags: match event.admitted {
                AdmissionClass::Direct => 0,
                AdmissionClass::Gated => FLAG_GATED,
                AdmissionClass::Bypassed => FLAG_BYPASS,
            },
        });
    }

    /// Checks and records one frame read from the log, in position order.
    pub(crate) fn apply_frame(&mut self, loc: Loc, body: &[u8]) -> Result<(), FrameDamage> {
        let damage = |reason: String, header: Option<&EventHeader>| FrameDamage {
            loc,
            coordinate: header.map(|h| h.coordinate.clone()),
            sequence: header.map(|h| h.sequence),
            reason,
        };
        let Some(parts) = split_body(body) else {
            return Err(damage("frame body is malformed".to_owned(), None));
        };
        let header = decode_header(parts.header)
            .map_err(|e| damage(format!("header does not decode: {e}"), None))?;
        let h = Some(&header);
        if header.position != self.len() {
            return Err(damage(
                format!(
                    "event claims position {}, expected {}",
                    header.position,
                    self.len()
                ),
                h,
            ));
        }
        let (version, head) = self
            .stream(&header.coordinate)
            .map_or((0, Hash::ZERO), |s| (s.positions.len() as u64, s.head));
        if header.sequence != version + 1 {
            return Err(damage(
                format!(
                    "event claims sequence {}, expected {}",
                    header.sequence,
                    version + 1
                ),
                h,
            ));
        }
        if header.prev_hash != head {
            return Err(damage(
                "hash chain broken: previous hash does not match".to_owned(),
                h,
            ));
        }
        if self.by_id.get(header.id, &self.entries).is_some() {
            return Err(damage(format!("duplicate event id {}", header.id), h));
        }
        let hash = Hash::chain(&header.prev_hash, parts.header, parts.payload);
        let receipt = AppendReceipt {
            event_id: header.id,
            sequence: header.sequence,
            position: header.position,
            hash,
        };
        if let Some(key) = &header.idempotency_key {
            self.finish_scanning_key();
            let mut fingerprint = Fingerprint::new(&header.coordinate);
            fingerprint.add(header.kind, parts.payload);
            self.scanning_key = Some(OpenKey {
                key: key.clone(),
                fingerprint,
                receipts: vec![receipt],
            });
        } else if let Some(open) = self.scanning_key.as_mut() {
            open.fingerprint.add(header.kind, parts.payload);
            open.receipts.push(receipt);
        }
        if parts.batch_rest == 0 {
            self.finish_scanning_key();
        }
        self.insert(&header, loc, hash);
        Ok(())
    }

    /// Checks that the event just applied (at `loc`) hashes to `want`, the
    /// head hash another index holds for the stream it ends.
    pub(crate) fn check_head(&self, loc: Loc, want: Hash) -> Result<(), FrameDamage> {
        let Some((entry, stream)) = self
            .entries
            .last()
            .and_then(|e| self.streams.get(e.stream as usize).map(|s| (e, s)))
        else {
            return Ok(());
        };
        if stream.head == want {
            return Ok(());
        }
        Err(FrameDamage {
            loc,
            coordinate: Some(stream.coordinate.clone()),
            sequence: Some(entry.sequence),
            reason: "stream head hash does not match the index: the stream's last event \
                     was changed after it was indexed"
                .to_owned(),
        })
    }

    fn finish_scanning_key(&mut self) {
        if let Some(open) = self.scanning_key.take() {
            self.keys.entry(open.key).or_insert(KeyEntry {
                fingerprint: open.fingerprint.finish(),
                receipts: open.receipts,
            });
        }
    }
}

// ---- checkpoint -------------------------------------------------------

const CHECKPOINT_MAGIC: [u8; 8] = *b"BATPAKCK";
/// Version 2 added the gated flag; a version-1 checkpoint cannot tell a
/// gated event from a direct one, so it is ignored and the log rescanned.
const CHECKPOINT_VERSION: u16 = 2;
/// Bytes of one entry in a checkpoint (without its optional cause).
const ENTRY_BYTES: usize = 16 + 4 + 4 + 4 + 4 + 1;
/// Checkpoint entry flag: a cause position follows.
const FLAG_HAS_CAUSE: u8 = 0x80;

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
    }
    fn hash(&mut self, h: &Hash) {
        self.0.extend_from_slice(h.as_bytes());
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.array()?))
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }
    fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    fn hash(&mut self) -> Option<Hash> {
        Some(Hash::from_bytes(self.array()?))
    }
    fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        // A crafted count must not make us allocate beyond the bytes present.
        (n.checked_mul(min_item_bytes.max(1))? <= self.0.len()).then_some(n)
    }
}

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
            if e.cause == NO_CAUSE {
                w.u8(e.flags);
            } else {
                w.u8(e.flags | FLAG_HAS_CAUSE);
                w.u64(e.cause);
            }
        }
        w.u64(self.keys.len() as u64);
        for (key, k) in &self.keys {
            w.bytes(key.as_bytes());
            w.hash(&k.fingerprint);
            w.u64(k.receipts.len() as u64);
            for r in &k.receipts {
                w.u128(r.event_id.as_u128());
                w.u64(r.sequence);
                w.u64(r.position);
                w.hash(&r.hash);
            }
        }
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
            let stored_flags = r.u8()?;
            let cause = if stored_flags & FLAG_HAS_CAUSE != 0 {
                r.u64()?
            } else {
                NO_CAUSE
            };
            let flags = stored_flags & !FLAG_HAS_CAUSE;
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
        let n = r.count(4 + 32 + 8)?;
        for _ in 0..n {
            let key = r.string()?;
            let fingerprint = r.hash()?;
            let m = r.count(16 + 8 + 8 + 32)?;
            let mut receipts = Vec::with_capacity(m);
            for _ in 0..m {
                receipts.push(AppendReceipt {
                    event_id: EventId::from_u128(r.u128()?),
                    sequence: r.u64()?,
                    position: r.u64()?,
                    hash: r.hash()?,
                });
            }
            index.keys.insert(
                key,
                KeyEntry {
                    fingerprint,
                    receipts,
                },
            );
        }
        r.0.is_empty().then_some(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: u128) -> Entry {
        Entry {
            id: EventId::from_u128(id),
            offset: 0,
            sequence: 1,
            cause: NO_CAUSE,
            segment: 1,
            len: 1,
            kind: EventKind::new(1, 1),
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
