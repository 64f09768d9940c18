//! The index: every event's place, every stream's positions and head,
//! every id and idempotency key. Its files are the checkpoint
//! (`checkpoint.rs`, what memory holds, at a close or a rotation), the
//! positions file beside it (`positions_file.rs`, the streams' positions
//! in sealed segments, read one stream at a time) and the sealed segment
//! indexes (`sealed.rs`, one per full segment: the segment's entries, read
//! from there once written, and what an open after a crash loads past the
//! checkpoint before it scans the tail). `entries.rs` holds entries by position,
//! `positions.rs` a stream's positions compactly, `ids.rs` maps ids to
//! positions, `causes.rs` links causes to what they caused; `codec.rs` is
//! the field codec the files share and `hasher.rs` the hasher the
//! in-memory maps share.
//!
//! Invariants: `entries.get(p)` describes global position `p` (gapless from 0);
//! a stream's filed positions then its recent ones, in order, are the
//! positions of its sequences 1, 2, …; its `head` is the hash of its last
//! event. The index is only ever built from frames in position order
//! ([`Index::apply_frame`] checks each frame's position, sequence and chain
//! link), from a checkpoint whose recorded log extent the files hold, or
//! from sealed indexes each bound to its segment's exact length and
//! continuing the index before it.

mod causes;
mod checkpoint;
mod codec;
mod entries;
mod entry;
mod hasher;
mod ids;
mod keys;
mod positions;
mod positions_file;
pub(crate) mod sealed;
mod stream_numbers;
mod table_file;

use std::path::Path;
use std::sync::Arc;

use self::causes::Causes;
pub(crate) use self::entries::{Cursor, Entries, Table, TableFiles};
pub(crate) use self::entry::{Entry, NO_CAUSE};
use self::entry::{FLAG_BYPASS, FLAG_GATED};
pub(crate) use self::hasher::IdHasher;
pub(crate) use self::ids::IdIndex;
pub(crate) use self::keys::{KeyEntry, Keys};
pub(crate) use self::positions::Positions;
pub(crate) use self::positions_file::Filing;
use self::positions_file::{Filed, PositionsFile};
use self::stream_numbers::StreamNumbers;

use crate::coordinate::Coordinate;
use crate::event::{EventHeader, EventId, EventKind, Hash, decode_header};
use crate::pipeline::AppendReceipt;
use crate::region::AdmissionClass;
use crate::store::engine::Loc;
use crate::store::engine::body::{peek_header, split_body};
use crate::store::error::{Place, StoreError};
use crate::store::fs::FileSystem;
use crate::store::report::Damage;

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
    /// Its positions in the positions file (those in segments sealed when
    /// the latest checkpoint this index was decoded from or wrote was).
    pub(crate) filed: Filed,
    /// Its positions after the filed ones, in memory.
    pub(crate) recent: Positions,
    pub(crate) head: Hash,
}

impl StreamState {
    /// How many events the stream has.
    pub(crate) fn version(&self) -> u64 {
        self.filed.count + self.recent.len()
    }

    /// The position of its first event.
    pub(crate) fn first_position(&self) -> Option<u64> {
        (self.filed.count > 0)
            .then_some(self.filed.first)
            .or_else(|| self.recent.first())
    }

    /// The position of its last event.
    pub(crate) fn last_position(&self) -> Option<u64> {
        self.recent
            .last()
            .or((self.filed.count > 0).then_some(self.filed.last))
    }
}

/// A stream's positions from some position on, ascending: the filed ones
/// read from the positions file (when any lie there), then those in memory.
pub(crate) struct StreamPositions<'a> {
    filed: Positions,
    recent: &'a Positions,
    lo: u64,
}

impl StreamPositions<'_> {
    /// The positions `>= lo`, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.filed
            .iter_from(self.lo)
            .chain(self.recent.iter_from(self.lo))
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

/// The index: what memory holds, and the tables of sealed entries.
#[derive(Default)]
pub(crate) struct Index {
    pub(crate) entries: Entries,
    pub(crate) streams: Vec<StreamState>,
    by_coordinate: StreamNumbers,
    pub(crate) by_id: IdIndex,
    pub(crate) keys: Keys,
    pub(crate) children: Causes,
    scanning_key: Option<OpenKey>,
    /// Where the streams' filed positions are read from (see
    /// `positions_file.rs`); `None` when none are filed.
    positions_file: Option<Arc<PositionsFile>>,
    /// The length of the positions file the streams' `filed` describe (0:
    /// none).
    positions_file_len: u64,
}

impl Index {
    /// Number of events (and the next global position).
    pub(crate) fn len(&self) -> u64 {
        self.entries.len()
    }

    /// Bytes the index holds in memory, estimated from its allocations
    /// (hash tables at their capacity times their slot size).
    pub(crate) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        let coordinate_bytes =
            |c: &Coordinate| size_of::<Coordinate>() + c.entity().len() + c.scope().len();
        let streams: usize = self
            .streams
            .iter()
            .map(|s| coordinate_bytes(&s.coordinate) + s.recent.heap_bytes())
            .sum::<usize>()
            + self.streams.capacity() * size_of::<StreamState>();
        let by_coordinate = self.by_coordinate.heap_bytes();
        let children = self.children.heap_bytes();
        let keys = self.keys.heap_bytes();
        self.entries.heap_bytes()
            + self.by_id.heap_bytes()
            + streams
            + by_coordinate
            + children
            + keys
    }

    /// `stream`'s positions `>= lo`; reads its filed positions unless all
    /// lie below `lo`.
    pub(crate) fn positions_from<'a>(
        &self,
        stream: &'a StreamState,
        lo: u64,
    ) -> Result<StreamPositions<'a>, StoreError> {
        let filed = if stream.filed.all_below(lo) {
            Positions::default()
        } else {
            self.read_filed(stream)?
        };
        Ok(StreamPositions {
            filed,
            recent: &stream.recent,
            lo,
        })
    }

    /// `stream`'s filed positions, read from the positions file.
    fn read_filed(&self, stream: &StreamState) -> Result<Positions, StoreError> {
        match &self.positions_file {
            _ if stream.filed.count == 0 => Ok(Positions::default()),
            Some(file) => file.read(&stream.filed, &stream.coordinate),
            None => Err(StoreError::corrupt(
                Place::Index {
                    position: stream.filed.first,
                },
                "the index has filed positions but no positions file to read them from",
            )),
        }
    }

    /// Takes `filing` (just written with a checkpoint of this index, which
    /// has not changed since) as where the streams' positions before the
    /// first in-memory entry now lie, dropping those from memory; its
    /// positions file, when it wrote one, is opened in `dir`. False (and
    /// nothing changed) when that file cannot be opened as written.
    pub(crate) fn adopt_filing(&mut self, filing: Filing, fs: &dyn FileSystem, dir: &Path) -> bool {
        let (file_len, wrote, streams) = filing.into_parts();
        if wrote {
            match PositionsFile::open(fs, dir, file_len) {
                Some(file) => self.positions_file = Some(Arc::new(file)),
                None => return false,
            }
        }
        self.positions_file_len = file_len;
        let boundary = self.entries.tail_first();
        for (state, filed) in self.streams.iter_mut().zip(streams) {
            state.filed = filed;
            if state.recent.first().is_some_and(|p| p < boundary) {
                let mut rest = Positions::default();
                for p in state.recent.iter_from(boundary) {
                    rest.push(p);
                }
                state.recent = rest;
            }
        }
        true
    }

    /// Binds the positions file the checkpoint this index was decoded from
    /// recorded, in `dir`; false when it is needed and not there as
    /// recorded.
    pub(crate) fn bind_positions_file(&mut self, fs: &dyn FileSystem, dir: &Path) -> bool {
        if self.positions_file_len == 0 {
            return true;
        }
        match PositionsFile::open(fs, dir, self.positions_file_len) {
            Some(file) => {
                self.positions_file = Some(Arc::new(file));
                true
            }
            None => false,
        }
    }

    pub(crate) fn stream(&self, coordinate: &Coordinate) -> Option<&StreamState> {
        self.stream_number(coordinate)
            .and_then(|s| self.streams.get(s as usize))
    }

    /// The number of `coordinate`'s stream, if it has events.
    pub(crate) fn stream_number(&self, coordinate: &Coordinate) -> Option<u32> {
        self.by_coordinate.get(coordinate, |s| {
            self.streams.get(s as usize).map(|state| &state.coordinate)
        })
    }

    /// Adds a stream with no events yet; returns its number.
    pub(crate) fn add_stream(&mut self, coordinate: Coordinate) -> u32 {
        let s = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
        self.push_stream(StreamState {
            coordinate,
            filed: Filed::default(),
            recent: Positions::default(),
            head: Hash::ZERO,
        });
        s
    }

    /// Adds `state` as the next stream; false when another stream has its
    /// coordinate already (lookups keep finding that one).
    pub(crate) fn push_stream(&mut self, state: StreamState) -> bool {
        let s = u32::try_from(self.streams.len()).unwrap_or(u32::MAX);
        let streams = &self.streams;
        let new = self.by_coordinate.insert(&state.coordinate, s, |n| {
            streams.get(n as usize).map(|state| &state.coordinate)
        });
        self.streams.push(state);
        new
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
        let found = known.or_else(|| self.stream_number(coordinate));
        let stream = match found {
            Some(s) => s,
            None => self.add_stream(coordinate.clone()),
        };
        if let Some(state) = self.streams.get_mut(stream as usize) {
            state.recent.push(position);
            state.head = hash;
        }
        let cause = event
            .causation
            // A cause whose entry cannot be read is not linked (verify
            // reports the damaged index).
            .and_then(|c| self.by_id.get(c, &self.entries).ok().flatten())
            .unwrap_or(NO_CAUSE);
        if cause != NO_CAUSE {
            self.children.add(cause, position);
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
        // Every read checks its frame by a peek that reads the leading
        // fields only in the form the store writes them: a header that
        // decodes in another form would open and then fail every read.
        if peek_header(parts.header).is_none() {
            return Err(damage(
                "header is not in the form the store writes (its leading fields cannot be \
                 read in place)"
                    .to_owned(),
                h,
            ));
        }
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
            .map_or((0, Hash::ZERO), |s| (s.version(), s.head));
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
        if matches!(self.by_id.get(header.id, &self.entries), Ok(Some(_))) {
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
            self.keys.insert_recent(
                open.key,
                KeyEntry {
                    fingerprint: open.fingerprint.finish(),
                    receipts: open.receipts,
                },
            );
        }
    }
}
