//! Streaming replay: visit the events of a region one by one, without
//! building a `Vec` of owned events.
//!
//! Selection happens on the in-memory index before anything is read. Each
//! visited event is an [`EventView`]: what the index already knows (stream,
//! position, sequence, kind, id) plus the decoded payload. The full header
//! and the chain hash are decoded or computed only when asked for.
//!
//! Invariants: the index lock is held only while planning a chunk, never
//! while the visitor runs (a visitor may append to the same store); every
//! frame read is CRC-checked by the engine and its header's id is checked
//! against the index, so a view is never a different event than the one
//! selected.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::ControlFlow;

use serde::de::DeserializeOwned;

use super::engine::Loc;
use super::index::IdHasher;
use super::segment::format::{header_event_id, split_body};
use super::{Store, StoreError, read_lock};
use crate::coordinate::Coordinate;
use crate::event::{
    EventHeader, EventId, EventKind, Hash, StoredEvent, decode_header, decode_payload,
};
use crate::region::Region;

/// Events planned per index lock: bounds the memory of a plan and how long
/// an appender can wait for the index (planning 4,096 entries takes tens of
/// microseconds).
const REPLAY_CHUNK: usize = 4_096;

/// One event visited by [`Store::replay`]: borrowed from the replay, valid
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

    /// The event as [`Store::query`] returns it (decodes the header and
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
    loc: Loc,
    id: EventId,
    position: u64,
    sequence: u64,
    kind: EventKind,
    /// Index into the replay's own list of coordinates.
    stream: usize,
}

impl Store {
    /// Visits every event inside `region`, in global position order, with
    /// its payload decoded into `P`; returns how many events were visited.
    /// The visitor stops the replay early by returning
    /// [`ControlFlow::Break`] (the event it was given counts as visited).
    ///
    /// The streaming counterpart of [`Store::query`], and much faster for
    /// large regions: no owned header per event, frames read in adjacent
    /// runs, and selection on the in-memory index before any read. Events
    /// appended after the call starts are not visited. The visitor may use
    /// the store, including appending to it.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use batpak::{Coordinate, EventKind, Region, Store, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new(dir.path()))?;
    /// let coord = Coordinate::new("order:1", "shop:acme")?;
    /// for total in [10u64, 20, 30] {
    ///     store.append(&coord, EventKind::custom(7, 1)?, &total)?;
    /// }
    /// let mut sum = 0;
    /// let visited = store.replay::<u64, _>(&Region::entity("order:1"), |event| {
    ///     sum += *event.payload();
    ///     if event.sequence() == 2 {
    ///         return ControlFlow::Break(());
    ///     }
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!((visited, sum), (2, 30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`]; [`StoreError::Codec`] when a payload
    /// does not decode as `P`; [`StoreError::Corrupt`] when a frame is
    /// damaged or is not the event the index expects; I/O errors. Events
    /// visited before an error stay visited.
    pub fn replay<P, F>(&self, region: &Region, mut visit: F) -> Result<u64, StoreError>
    where
        P: DeserializeOwned,
        F: FnMut(EventView<'_, P>) -> ControlFlow<()>,
    {
        region.check()?;
        let positions = self.shared.select(region);
        let mut coordinates: Vec<Coordinate> = Vec::new();
        let mut local: HashMap<u32, usize, BuildHasherDefault<IdHasher>> = HashMap::default();
        let mut plan: Vec<Planned> = Vec::with_capacity(positions.len().min(REPLAY_CHUNK));
        let mut locs: Vec<Loc> = Vec::with_capacity(plan.capacity());
        let mut visited = 0u64;
        for chunk in positions.chunks(REPLAY_CHUNK) {
            plan.clear();
            locs.clear();
            {
                let index = read_lock(&self.shared.index);
                for &position in chunk {
                    let entry = usize::try_from(position)
                        .ok()
                        .and_then(|p| index.entries.get(p))
                        .ok_or_else(|| StoreError::corrupt(0, 0, "index position out of range"))?;
                    let stream = match local.get(&entry.stream) {
                        Some(&s) => s,
                        None => {
                            let coordinate = index
                                .streams
                                .get(entry.stream as usize)
                                .map(|s| s.coordinate.clone())
                                .ok_or_else(|| {
                                    StoreError::corrupt(0, 0, "index names a missing stream")
                                })?;
                            coordinates.push(coordinate);
                            local.insert(entry.stream, coordinates.len() - 1);
                            coordinates.len() - 1
                        }
                    };
                    plan.push(Planned {
                        loc: entry.loc(),
                        id: entry.id,
                        position,
                        sequence: entry.sequence,
                        kind: entry.kind,
                        stream,
                    });
                    locs.push(entry.loc());
                }
            }
            // The engine's visitor can only stop by failing: the error is a
            // placeholder, and `stopped` tells an early stop from a real one.
            let mut stopped = false;
            let read = self.shared.engine.read_many(&locs, &mut |i, body| {
                let p = plan.get(i).ok_or_else(|| {
                    StoreError::corrupt(0, 0, "engine returned an unrequested frame")
                })?;
                let parts = split_body(body).ok_or_else(|| {
                    StoreError::corrupt(p.loc.segment, p.loc.offset, "frame body is malformed")
                })?;
                if header_event_id(parts.header) != Some(p.id.as_u128()) {
                    return Err(StoreError::corrupt(
                        p.loc.segment,
                        p.loc.offset,
                        "frame holds another event than the index expects",
                    ));
                }
                let view = EventView {
                    coordinate: coordinates.get(p.stream).ok_or_else(|| {
                        StoreError::corrupt(p.loc.segment, p.loc.offset, "replay lost a stream")
                    })?,
                    id: p.id,
                    position: p.position,
                    sequence: p.sequence,
                    kind: p.kind,
                    payload: decode_payload::<P>(parts.payload)?,
                    header_bytes: parts.header,
                    payload_bytes: parts.payload,
                };
                visited += 1;
                if visit(view).is_break() {
                    stopped = true;
                    return Err(StoreError::Poisoned);
                }
                Ok(())
            });
            match read {
                Ok(()) => {}
                Err(_) if stopped => return Ok(visited),
                Err(e) => return Err(e),
            }
        }
        Ok(visited)
    }
}
