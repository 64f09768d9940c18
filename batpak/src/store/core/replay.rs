//! Streaming replay: visit the events of a region one by one, without
//! building a `Vec` of owned events.
//!
//! Selection happens on the index before anything is read. Each
//! visited event is an [`EventView`]: what the index already knows (stream,
//! position, sequence, kind, id) plus the decoded payload. The full header
//! and the chain hash are decoded or computed only when asked for.
//!
//! Invariants: the index lock is held only while planning a chunk, never
//! while the visitor runs (a visitor may append to the same store); every
//! frame read is CRC-checked by the engine and its header's id is checked
//! against the index, so a view is never a different event than the one
//! selected.

use std::ops::ControlFlow;

use serde::de::DeserializeOwned;

use super::Core;
use super::index::{Entry, Index};
use super::read::Depth;
use super::read::{entry_matches, spans_the_log};
use crate::coordinate::Coordinate;
use crate::event::{
    EventHeader, EventId, EventKind, Hash, StoredEvent, decode_header, decode_stored, header_stamp,
};
use crate::region::Region;
use crate::store::engine::Loc;
use crate::store::error::{Place, StoreError};
use crate::store::lock::read_lock;

/// Events planned per index lock: bounds the memory of a plan and how long
/// an appender can wait for the index (planning 4,096 entries takes tens of
/// microseconds).
const REPLAY_CHUNK: usize = 4_096;

/// One event visited by [`Store::replay`](crate::Store::replay): borrowed from the replay, valid
/// only inside the visitor call.
///
/// Position, sequence, kind, id and stream come from the index (no header
/// decoding); the payload is decoded into `P`. [`EventView::header`] and
/// [`EventView::hash`] decode the stored header on demand.
#[derive(Debug)]
pub struct EventView<'a, P> {
    coordinate: &'a Coordinate,
    id: EventId,
    position: u64,
    sequence: u64,
    kind: EventKind,
    payload: P,
    header_bytes: &'a [u8],
    payload_bytes: &'a [u8],
}

impl<'a, P> EventView<'a, P> {
    /// The event's stream.
    #[must_use]
    pub fn coordinate(&self) -> &'a Coordinate {
        self.coordinate
    }

    /// The event's id.
    #[must_use]
    pub fn id(&self) -> EventId {
        self.id
    }

    /// The event's global position (0-based, gapless).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// The event's sequence within its stream (1-based).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// What happened.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The decoded payload.
    #[must_use]
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// The decoded payload, by value.
    #[must_use]
    pub fn into_payload(self) -> P {
        self.payload
    }

    /// The stored payload bytes (msgpack).
    #[must_use]
    pub fn payload_bytes(&self) -> &'a [u8] {
        self.payload_bytes
    }

    /// Decodes the full stored header (allocates: coordinate, key, admission).
    ///
    /// # Errors
    /// [`StoreError::Codec`] when the stored header does not decode.
    pub fn header(&self) -> Result<EventHeader, StoreError> {
        Ok(decode_header(self.header_bytes)?)
    }

    /// The event's link in its stream's hash chain, computed from the stored
    /// bytes (decodes the header for its `prev_hash`, then one blake3).
    ///
    /// # Errors
    /// As [`EventView::header`].
    pub fn hash(&self) -> Result<Hash, StoreError> {
        let header = self.header()?;
        Ok(Hash::chain(
            &header.prev_hash,
            self.header_bytes,
            self.payload_bytes,
        ))
    }

    /// The event as [`Store::query`](crate::Store::query) returns it (decodes the header and
    /// computes the hash).
    ///
    /// # Errors
    /// As [`EventView::header`].
    pub fn into_stored(self) -> Result<StoredEvent<P>, StoreError> {
        let header = self.header()?;
        let hash = Hash::chain(&header.prev_hash, self.header_bytes, self.payload_bytes);
        Ok(StoredEvent {
            header,
            payload: self.payload,
            hash,
        })
    }
}

/// What the index says about one planned event.
#[derive(Debug, Clone, Copy)]
struct Planned {
    entry: Entry,
    position: u64,
    /// Index into the replay's own list of coordinates.
    stream: usize,
}

/// Where a replay's positions come from.
enum Source {
    /// A region naming streams: the positions [`Core::select`] listed,
    /// planned from `at` on.
    Listed { positions: Vec<u64>, at: usize },
    /// A region over the whole log: the log's positions `next..=last` as
    /// the replay began, each kept or not as its entry is planned (no list
    /// of every position, no entry read twice).
    Log { next: u64, last: u64 },
}

impl Source {
    fn of(core: &Core, region: &Region) -> Result<Self, StoreError> {
        if !spans_the_log(region) {
            let positions = core.select(region)?;
            return Ok(Self::Listed { positions, at: 0 });
        }
        let len = read_lock(&core.index).len();
        let (lo, hi) = region.position_range().unwrap_or((0, u64::MAX));
        Ok(match len.checked_sub(1) {
            Some(end) => Self::Log {
                next: lo,
                last: hi.min(end),
            },
            None => Self::Log { next: 1, last: 0 },
        })
    }

    fn is_done(&self) -> bool {
        match self {
            Self::Listed { positions, at } => *at >= positions.len(),
            Self::Log { next, last } => next > last,
        }
    }
}

/// One chunk's plan: the events and where they lie, and the coordinates of
/// their streams (kept across chunks, each cloned once per replay).
#[derive(Default)]
struct Plan {
    planned: Vec<Planned>,
    locs: Vec<Loc>,
    coordinates: Vec<Coordinate>,
    /// Stream number → index into `coordinates` ([`NOT_SEEN`] until the
    /// stream's first event): a dense table, because a replay over many
    /// streams looks one up per event and a hash map's probes then miss
    /// the cache.
    local: Vec<u32>,
}

/// A stream the plan has not seen yet.
const NOT_SEEN: u32 = u32::MAX;

impl Plan {
    fn push(&mut self, index: &Index, position: u64, entry: Entry) -> Result<(), StoreError> {
        let slot = entry.stream as usize;
        if slot >= self.local.len() && slot < index.streams.len() {
            self.local.resize(index.streams.len(), NOT_SEEN);
        }
        let stream = match self.local.get(slot) {
            Some(&s) if s != NOT_SEEN => s as usize,
            _ => {
                // Fails for a stream the index lacks, before `slot` is used.
                let coordinate = Core::coordinate_of(index, entry.stream, position)?;
                let s = self.coordinates.len();
                self.coordinates.push(coordinate);
                if let Some(local) = self.local.get_mut(slot) {
                    *local = u32::try_from(s).unwrap_or(NOT_SEEN);
                }
                s
            }
        };
        self.planned.push(Planned {
            entry,
            position,
            stream,
        });
        self.locs.push(entry.loc());
        Ok(())
    }
}

impl Core {
    /// Visits every event inside `region` in global position order; see
    /// `Store::replay`.
    pub(crate) fn replay<P, F>(&self, region: &Region, mut visit: F) -> Result<u64, StoreError>
    where
        P: DeserializeOwned,
        F: FnMut(EventView<'_, P>) -> ControlFlow<()>,
    {
        region.check()?;
        let mut source = Source::of(self, region)?;
        let mut plan = Plan::default();
        let mut visited = 0u64;
        while !source.is_done() {
            plan.planned.clear();
            plan.locs.clear();
            {
                let index = read_lock(&self.index);
                let mut entries = index.entries.cursor();
                match &mut source {
                    Source::Listed { positions, at } => {
                        let chunk = positions.get(*at..).unwrap_or_default();
                        let chunk = chunk.get(..REPLAY_CHUNK).unwrap_or(chunk);
                        for &position in chunk {
                            let entry = Self::entry_at(&mut entries, position)?;
                            plan.push(&index, position, entry)?;
                        }
                        *at += chunk.len();
                    }
                    Source::Log { next, last } => {
                        // `last` is below the log's length, so `end + 1` fits.
                        let end = (*last).min(next.saturating_add(REPLAY_CHUNK as u64 - 1));
                        for position in *next..=end {
                            let entry = Self::entry_at(&mut entries, position)?;
                            // An entry naming a stream the index lacks is
                            // planned: planning it reports the damage.
                            let selected = index
                                .streams
                                .get(entry.stream as usize)
                                .is_none_or(|s| entry_matches(region, s, &entry, position));
                            if selected {
                                plan.push(&index, position, entry)?;
                            }
                        }
                        *next = end + 1;
                    }
                }
            }
            let (planned, locs, coordinates) = (&plan.planned, &plan.locs, &plan.coordinates);
            let read = self.engine.read_many(locs, &mut |i, body| {
                let Some(p) = planned.get(i) else {
                    return Err(StoreError::corrupt(
                        Place::Index {
                            position: u64::try_from(i).unwrap_or(u64::MAX),
                        },
                        "the engine returned a frame for a request index out of range",
                    ));
                };
                let coordinate = coordinates.get(p.stream).ok_or_else(|| {
                    StoreError::corrupt(
                        Place::Index {
                            position: p.position,
                        },
                        "replay lost track of a stream",
                    )
                })?;
                let frame =
                    self.check_frame(p.position, &p.entry, coordinate, body, Depth::Peek)?;
                let view = EventView {
                    coordinate,
                    id: p.entry.id,
                    position: p.position,
                    sequence: p.entry.sequence,
                    kind: p.entry.kind,
                    payload: decode_stored::<P>(
                        p.entry.kind,
                        payload_version(frame.parts.header)?,
                        frame.parts.payload,
                    )?,
                    header_bytes: frame.parts.header,
                    payload_bytes: frame.parts.payload,
                };
                visited += 1;
                Ok(visit(view))
            })?;
            if read.is_break() {
                return Ok(visited);
            }
        }
        Ok(visited)
    }
}

/// The payload version of an encoded header, read in place (the fast path
/// decodes no header); a header it cannot read is decoded in full, for the
/// decoder's error.
fn payload_version(header: &[u8]) -> Result<u8, StoreError> {
    match header_stamp(header) {
        Some((version, _)) => Ok(version),
        None => Ok(decode_header(header)?.payload_version),
    }
}
