//! The read path: select on the index, read only the chosen frames, and
//! check every frame against the index entry it was found through.
//!
//! [`Core::check_frame`] is the one rule for "this frame is the event the
//! index says": every read (get, stream, query, headers, subscriptions,
//! replay, projections) goes through it, so a frame that disagrees with its
//! entry is `Corrupt`, named by place, and never returned as another event.
//! The index lock is held while selecting, never while reading.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::ops::{ControlFlow, Range};

use serde::de::DeserializeOwned;

use super::Core;
use super::index::{Cursor, Entry, IdHasher, Index, StreamState};
use crate::coordinate::Coordinate;
use crate::event::{
    EventHeader, EventId, EventKind, Hash, StoredEvent, decode_header, decode_stored,
};
use crate::region::{EntityFilter, Region};
use crate::store::engine::body::{BodyParts, peek_header, split_body};
use crate::store::engine::{Loc, place_of};
use crate::store::error::{Place, StoreError};
use crate::store::lock::read_lock;

/// How much of a frame to decode once it is checked. The check is the same
/// either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Depth {
    /// Only the fields the check reads in place (replay's fast path).
    Peek,
    /// The whole header, for callers that return it.
    Header,
}

/// A frame that passed [`Core::check_frame`].
pub(crate) struct Checked<'b> {
    /// The frame's parts.
    pub(crate) parts: BodyParts<'b>,
    /// The decoded header (with [`Depth::Header`]).
    pub(crate) header: Option<EventHeader>,
}

/// What reads check frames against, captured under one index lock: the
/// entry of each position and the coordinate of each stream involved.
pub(crate) struct Expected {
    pub(crate) entries: Vec<Entry>,
    coordinates: HashMap<u32, Coordinate, BuildHasherDefault<IdHasher>>,
}

/// A selected position and its entry (`None` when the entry could not be
/// read: selection keeps such a position, and the read reports it).
type Selected = (u64, Option<Entry>);

/// What a selection keeps of each position it selects: a read keeps the
/// entry it checked ([`Selected`]), a list of positions only the position
/// (`u64`, 8 bytes where an entry would add 56).
trait Picked {
    fn pick(position: u64, entry: Option<Entry>) -> Self;
    fn position(&self) -> u64;
}

impl Picked for u64 {
    fn pick(position: u64, _: Option<Entry>) -> Self {
        position
    }
    fn position(&self) -> u64 {
        *self
    }
}

impl Picked for Selected {
    fn pick(position: u64, entry: Option<Entry>) -> Self {
        (position, entry)
    }
    fn position(&self) -> u64 {
        self.0
    }
}

impl Expected {
    /// The coordinate of an entry's stream.
    pub(crate) fn coordinate(&self, entry: &Entry) -> Option<&Coordinate> {
        self.coordinates.get(&entry.stream)
    }

    /// Adds the entry of `position` (and its stream's coordinate, from
    /// `index`, the first time that stream is met).
    fn expect(&mut self, index: &Index, position: u64, entry: Entry) -> Result<(), StoreError> {
        if let std::collections::hash_map::Entry::Vacant(slot) =
            self.coordinates.entry(entry.stream)
        {
            slot.insert(Core::coordinate_of(index, entry.stream, position)?);
        }
        self.entries.push(entry);
        Ok(())
    }
}

/// What a read of decoded events needs besides the frames, captured under
/// the same index lock as its entries: where each chain hash comes from,
/// and the heads that some of them are.
struct Planned {
    expected: Expected,
    plan: Vec<HashFrom>,
    heads: HashMap<u32, Hash, BuildHasherDefault<IdHasher>>,
}

impl Planned {
    /// Plans the reads of `expected`'s entries. An event's hash is its
    /// stream successor's `prev_hash` (when that successor is read too) or
    /// the stream's head (when it is the last event); only the others are
    /// hashed. Every link was checked when the index was built.
    fn under(index: &Index, expected: Expected) -> Self {
        let entries = &expected.entries;
        let mut plan = vec![HashFrom::Compute; entries.len()];
        let mut heads: HashMap<u32, Hash, BuildHasherDefault<IdHasher>> = HashMap::default();
        let mut next_seq: HashMap<u32, u64, BuildHasherDefault<IdHasher>> = HashMap::default();
        // Captured now: a later append would move the head.
        for (i, entry) in entries.iter().enumerate().rev() {
            if let Some(stream) = index.streams.get(entry.stream as usize) {
                plan[i] = if next_seq.get(&entry.stream) == Some(&(entry.sequence + 1)) {
                    HashFrom::Successor
                } else if entry.sequence == stream.version() {
                    heads.insert(entry.stream, stream.head);
                    HashFrom::Head
                } else {
                    HashFrom::Compute
                };
            }
            next_seq.insert(entry.stream, entry.sequence);
        }
        Self {
            expected,
            plan,
            heads,
        }
    }
}

/// Where a read event's chain hash comes from (see `read_events`).
#[derive(Debug, Clone, Copy)]
enum HashFrom {
    /// The `prev_hash` of the same stream's next event, read in the same call.
    Successor,
    /// The stream's head (captured with the plan): the event is its last.
    Head,
    /// Neither is known: hash the stored bytes.
    Compute,
}

/// The one stream a region names whole (an exact entity in one scope),
/// if it does: a machine's every step selects that way, so it must cost a
/// lookup, not a pass over every stream of the store.
fn named_stream(region: &Region) -> Option<Coordinate> {
    match (region.entity_filter(), region.scope_filter()) {
        (EntityFilter::Exact(entity), Some(scope)) => Coordinate::new(entity, scope).ok(),
        _ => None,
    }
}

/// True when `region` filters no entity or scope: its events are found by
/// walking the log's entries in order, not the streams'.
pub(crate) fn spans_the_log(region: &Region) -> bool {
    matches!(region.entity_filter(), EntityFilter::Any) && region.scope_filter().is_none()
}

/// [`Region::matches`] said of an index entry and its stream.
pub(crate) fn entry_matches(region: &Region, stream: &StreamState, e: &Entry, p: u64) -> bool {
    region.matches_fields(&stream.coordinate, e.kind, e.sequence, p, e.admitted())
}

impl Core {
    /// Where `loc` is, for an error.
    pub(crate) fn place(&self, loc: Loc) -> Place {
        place_of(self.config.backend, loc)
    }

    /// Checks that `body`, found through `entry` at `position` in the stream
    /// of `coordinate`, holds that event: its header must carry the same id,
    /// position, sequence, kind and coordinate. Then decodes as much as
    /// `depth` asks. The one rule every read path applies.
    pub(crate) fn check_frame<'b>(
        &self,
        position: u64,
        entry: &Entry,
        coordinate: &Coordinate,
        body: &'b [u8],
        depth: Depth,
    ) -> Result<Checked<'b>, StoreError> {
        let at = || self.place(entry.loc());
        let parts =
            split_body(body).ok_or_else(|| StoreError::corrupt(at(), "frame body is malformed"))?;
        let peek = peek_header(parts.header)
            .ok_or_else(|| StoreError::corrupt(at(), "frame header is malformed"))?;
        let disagrees = [
            (peek.id != entry.id.as_u128(), "id"),
            (peek.position != position, "position"),
            (peek.sequence != entry.sequence, "sequence"),
            (peek.kind != entry.kind.to_u32(), "kind"),
            (
                peek.entity != coordinate.entity().as_bytes()
                    || peek.scope != coordinate.scope().as_bytes(),
                "stream",
            ),
        ];
        if let Some((_, field)) = disagrees.iter().find(|(bad, _)| *bad) {
            self.distrust_index();
            return Err(StoreError::corrupt(
                at(),
                format!(
                    "the frame's {field} disagrees with the index entry for position \
                     {position} (the index is wrong or the frame was replaced)"
                ),
            ));
        }
        let header = match depth {
            Depth::Peek => None,
            Depth::Header => Some(decode_header(parts.header)?),
        };
        Ok(Checked { parts, header })
    }

    /// The index entry at `position`, or `Corrupt` naming it.
    pub(super) fn entry_at(entries: &mut Cursor<'_>, position: u64) -> Result<Entry, StoreError> {
        entries
            .get(position)
            .ok_or_else(|| unreadable_entry(position))
    }

    /// The coordinate of stream `stream`, or `Corrupt` naming the position
    /// whose entry names it.
    pub(super) fn coordinate_of(
        index: &Index,
        stream: u32,
        position: u64,
    ) -> Result<Coordinate, StoreError> {
        index
            .streams
            .get(stream as usize)
            .map(|s| s.coordinate.clone())
            .ok_or_else(|| {
                StoreError::corrupt(
                    Place::Index { position },
                    "the entry names a stream the index lacks",
                )
            })
    }

    /// What the frames at `positions` must agree with, under one lock.
    fn expected_under(index: &Index, positions: &[u64]) -> Result<Expected, StoreError> {
        let mut expected = Expected {
            entries: Vec::with_capacity(positions.len()),
            coordinates: HashMap::default(),
        };
        let mut entries = index.entries.cursor();
        for &p in positions {
            expected.expect(index, p, Self::entry_at(&mut entries, p)?)?;
        }
        Ok(expected)
    }

    /// Checks the frame read at request index `i` of `positions`.
    fn check_nth<'b>(
        &self,
        positions: &[u64],
        expected: &Expected,
        i: usize,
        body: &'b [u8],
        depth: Depth,
    ) -> Result<Checked<'b>, StoreError> {
        let (Some(&position), Some(entry)) = (positions.get(i), expected.entries.get(i)) else {
            return Err(unrequested(i));
        };
        let coordinate = expected.coordinate(entry).ok_or_else(|| unrequested(i))?;
        self.check_frame(position, entry, coordinate, body, depth)
    }

    /// The event with this id, decoded into `P`.
    pub(crate) fn get<P: DeserializeOwned>(
        &self,
        id: EventId,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        let found = {
            let index = read_lock(&self.index);
            match index.by_id.get(id, &index.entries) {
                Ok(Some(p)) => Some((p, Self::expected_under(&index, &[p])?)),
                Ok(None) => None,
                Err(unreadable) => return Err(unreadable_entry(unreadable)),
            }
        };
        let Some((position, expected)) = found else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        let loc = expected
            .entries
            .first()
            .map(Entry::loc)
            .ok_or_else(|| unrequested(0))?;
        self.engine.read(loc, &mut buf)?;
        let frame = self.check_nth(&[position], &expected, 0, &buf, Depth::Header)?;
        decode_owned(frame, true).map(Some)
    }

    /// The events of `coord`'s stream, in sequence order.
    pub(crate) fn read_stream<P: DeserializeOwned>(
        &self,
        coord: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.read_chosen(|index| Self::stream_selected(index, coord))
    }

    /// The events `region` selects, decoded into `P`.
    pub(crate) fn read_selected<P: DeserializeOwned>(
        &self,
        region: &Region,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.read_chosen(|index| Self::select_in(index, region, &|_| true))
    }

    /// Reads and decodes the events `choose` selects: selected, and their
    /// reads planned, under one index lock, each frame checked against the
    /// entry its selection read (each entry read once).
    fn read_chosen<P: DeserializeOwned>(
        &self,
        choose: impl FnOnce(&Index) -> Result<Vec<Selected>, StoreError>,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let (positions, planned) = {
            let index = read_lock(&self.index);
            let (positions, expected) = Self::expected_of(&index, choose(&index)?)?;
            (positions, Planned::under(&index, expected))
        };
        self.read_planned(&positions, planned)
    }

    /// The headers of the events `region` selects, as [`Core::read_selected`].
    pub(crate) fn read_selected_headers(
        &self,
        region: &Region,
    ) -> Result<Vec<EventHeader>, StoreError> {
        let (positions, expected) = {
            let index = read_lock(&self.index);
            let selected = Self::select_in(&index, region, &|_| true)?;
            Self::expected_of(&index, selected)?
        };
        self.headers_of(&positions, &expected)
    }

    /// `coord`'s stream's positions with their entries, each entry checked
    /// to name the stream.
    fn stream_selected(index: &Index, coord: &Coordinate) -> Result<Vec<Selected>, StoreError> {
        let Some(s) = index.stream_number(coord) else {
            return Ok(Vec::new());
        };
        let Some(stream) = index.streams.get(s as usize) else {
            return Ok(Vec::new());
        };
        let mut entries = index.entries.cursor();
        index
            .positions_from(stream, 0)?
            .iter()
            .map(|p| Ok((p, listed_rightly(&mut entries, s, coord, p)?)))
            .collect()
    }

    /// What the frames of `selected` must agree with: every entry (one that
    /// could not be read is `Corrupt`, named by its position) and the
    /// coordinate of each stream involved.
    fn expected_of(
        index: &Index,
        selected: Vec<Selected>,
    ) -> Result<(Vec<u64>, Expected), StoreError> {
        let mut positions = Vec::with_capacity(selected.len());
        let mut expected = Expected {
            entries: Vec::with_capacity(selected.len()),
            coordinates: HashMap::default(),
        };
        for (p, entry) in selected {
            let entry = entry.ok_or_else(|| unreadable_entry(p))?;
            expected.expect(index, p, entry)?;
            positions.push(p);
        }
        Ok((positions, expected))
    }

    /// Positions selected by `region`, ascending, using only the index.
    pub(crate) fn select(&self, region: &Region) -> Result<Vec<u64>, StoreError> {
        self.select_where(region, &|_| true)
    }

    /// [`Core::select`], keeping only entries `also` accepts (an entry that
    /// cannot be read is kept either way), in the same pass over entries.
    fn select_where(
        &self,
        region: &Region,
        also: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<u64>, StoreError> {
        Self::select_in(&read_lock(&self.index), region, also)
    }

    /// [`Core::select_where`] in `index`, keeping of each position what `T`
    /// keeps: the position, or the position and its entry for a read.
    fn select_in<T: Picked>(
        index: &Index,
        region: &Region,
        also: &dyn Fn(&Entry) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        let (lo, hi) = region.position_range().unwrap_or((0, u64::MAX));
        let hi = hi.min(index.len().saturating_sub(1));
        if index.len() == 0 || lo > hi {
            return Ok(Vec::new());
        }
        if spans_the_log(region) {
            // An entry that cannot be read is selected: the read reports it
            // (a damaged index never makes an event silently absent).
            let mut entries = index.entries.cursor();
            let keep = |p: u64, entry: &Option<Entry>| {
                entry.is_none_or(|e| {
                    index
                        .streams
                        .get(e.stream as usize)
                        .is_none_or(|s| entry_matches(region, s, &e, p))
                        && also(&e)
                })
            };
            return Ok((lo..=hi)
                .map(|p| (p, entries.get(p)))
                .filter(|(p, e)| keep(*p, e))
                .map(|(p, e)| T::pick(p, e))
                .collect());
        }
        // One stream named whole: looked up, not searched for among all.
        let numbers = match named_stream(region) {
            Some(coordinate) => {
                let s = index.stream_number(&coordinate);
                s.map_or(0..0, |s| s..s.saturating_add(1))
            }
            None => 0..u32::try_from(index.streams.len()).unwrap_or(u32::MAX),
        };
        let mut out = Vec::new();
        let mut entries = index.entries.cursor();
        for s in numbers {
            let Some(stream) = index.streams.get(s as usize) else {
                continue;
            };
            if !region.matches_coordinate(&stream.coordinate) {
                continue;
            }
            let listed = index.positions_from(stream, lo)?;
            for p in listed.iter().take_while(|&p| p <= hi) {
                match listed_rightly(&mut entries, s, &stream.coordinate, p)? {
                    Some(e) if !(entry_matches(region, stream, &e, p) && also(&e)) => {}
                    entry => out.push(T::pick(p, entry)),
                }
            }
        }
        out.sort_unstable_by_key(T::position);
        Ok(out)
    }

    /// Positions in `[from, to)` that `region` selects and whose kind is
    /// one of `kinds` (all kinds when `None`).
    pub(crate) fn select_between(
        &self,
        region: &Region,
        kinds: Option<&[EventKind]>,
        from: u64,
        to: u64,
    ) -> Result<Vec<u64>, StoreError> {
        let (lo, hi) = region.position_range().unwrap_or((0, u64::MAX));
        let (a, b) = (lo.max(from), hi.min(to.saturating_sub(1)));
        if to == 0 || a > b {
            return Ok(Vec::new());
        }
        let kind_listed = |e: &Entry| kinds.is_none_or(|kinds| kinds.contains(&e.kind));
        self.select_where(&region.clone().positions(a..=b), &kind_listed)
    }

    /// The positions in `range` whose events lie inside any of `regions`,
    /// judged from the index alone, under one index lock.
    pub(crate) fn matching_any(&self, range: Range<u64>, regions: &[&Region]) -> Vec<u64> {
        let index = read_lock(&self.index);
        let mut entries = index.entries.cursor();
        range
            .filter(|&p| {
                entries.get(p).is_none_or(|e| {
                    index
                        .streams
                        .get(e.stream as usize)
                        .is_none_or(|s| regions.iter().any(|r| entry_matches(r, s, &e, p)))
                })
            })
            .collect()
    }

    /// The id of the event at `position`.
    pub(crate) fn id_at(&self, position: u64) -> Option<EventId> {
        read_lock(&self.index).entries.get(position).map(|e| e.id)
    }

    /// Reads and decodes the events at `positions` (ascending).
    pub(crate) fn read_events<P: DeserializeOwned>(
        &self,
        positions: &[u64],
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let planned = {
            let index = read_lock(&self.index);
            Planned::under(&index, Self::expected_under(&index, positions)?)
        };
        self.read_planned(positions, planned)
    }

    /// Reads and decodes the events at `positions` as `planned`: each chain
    /// hash is computed only when the plan found no successor or head that
    /// already holds it.
    fn read_planned<P: DeserializeOwned>(
        &self,
        positions: &[u64],
        planned: Planned,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let Planned {
            expected,
            plan,
            heads,
        } = planned;
        let entries = &expected.entries;
        let locs: Vec<Loc> = entries.iter().map(Entry::loc).collect();
        let mut out: Vec<StoredEvent<P>> = Vec::with_capacity(positions.len());
        // The visitor never breaks: every event is read.
        let _: ControlFlow<()> = self.engine.read_many(&locs, &mut |i, body| {
            let compute = matches!(plan.get(i), Some(HashFrom::Compute));
            let frame = self.check_nth(positions, &expected, i, body, Depth::Header)?;
            out.push(decode_owned(frame, compute)?);
            Ok(ControlFlow::Continue(()))
        })?;
        let mut successor_prev: HashMap<u32, Hash, BuildHasherDefault<IdHasher>> =
            HashMap::default();
        for i in (0..out.len()).rev() {
            let stream = entries[i].stream;
            match plan[i] {
                HashFrom::Compute => {}
                HashFrom::Head => {
                    if let Some(hash) = heads.get(&stream) {
                        out[i].hash = *hash;
                    }
                }
                HashFrom::Successor => {
                    if let Some(hash) = successor_prev.get(&stream) {
                        out[i].hash = *hash;
                    }
                }
            }
            successor_prev.insert(stream, out[i].header.prev_hash);
        }
        Ok(out)
    }

    /// The headers of the events at `positions`.
    pub(crate) fn read_headers(&self, positions: &[u64]) -> Result<Vec<EventHeader>, StoreError> {
        let expected = Self::expected_under(&read_lock(&self.index), positions)?;
        self.headers_of(positions, &expected)
    }

    /// The headers of the frames at `positions`, checked against `expected`.
    fn headers_of(
        &self,
        positions: &[u64],
        expected: &Expected,
    ) -> Result<Vec<EventHeader>, StoreError> {
        let mut out = Vec::with_capacity(positions.len());
        // The visitor never breaks: every header is read.
        let _: ControlFlow<()> = self.read_expected(positions, expected, &mut |_, frame| {
            if let Some(header) = frame.header {
                out.push(header);
            }
            ControlFlow::Continue(())
        })?;
        Ok(out)
    }

    /// Reads the frames at `positions`, checks each against its entry
    /// (whole header), and hands it to `visit` with its position.
    pub(crate) fn read_checked(
        &self,
        positions: &[u64],
        visit: &mut dyn FnMut(u64, Checked<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let expected = Self::expected_under(&read_lock(&self.index), positions)?;
        self.read_expected(positions, &expected, visit)
    }

    /// [`Core::read_checked`] against entries already captured.
    fn read_expected(
        &self,
        positions: &[u64],
        expected: &Expected,
        visit: &mut dyn FnMut(u64, Checked<'_>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let locs: Vec<Loc> = expected.entries.iter().map(Entry::loc).collect();
        self.engine.read_many(&locs, &mut |i, body| {
            let frame = self.check_nth(positions, expected, i, body, Depth::Header)?;
            Ok(visit(positions.get(i).copied().unwrap_or(u64::MAX), frame))
        })
    }

    /// The event `id` and every event it caused, directly or through
    /// others, in global position order (empty when `id` is unknown).
    pub(crate) fn causation_positions(&self, id: EventId) -> Vec<u64> {
        let index = read_lock(&self.index);
        let Ok(Some(root)) = index.by_id.get(id, &index.entries) else {
            return Vec::new();
        };
        let mut found = vec![root];
        let mut i = 0;
        while let Some(&p) = found.get(i) {
            found.extend_from_slice(index.children.of(p));
            i += 1;
        }
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// The entry of `position`, listed in stream `s` (of `coordinate`): `None`
/// when it cannot be read (the read that follows reports it), `Corrupt`
/// when it names another stream. Selection reads a stream's positions, so a
/// list that lies must fail the read, not hide the event or lend another
/// stream's.
fn listed_rightly(
    entries: &mut Cursor<'_>,
    s: u32,
    coordinate: &Coordinate,
    position: u64,
) -> Result<Option<Entry>, StoreError> {
    match entries.get(position) {
        Some(e) if e.stream != s => Err(StoreError::corrupt(
            Place::Index { position },
            format!(
                "the index lists this event under {coordinate:?} but its entry names \
                     another stream (a damaged or altered checkpoint or sealed index)"
            ),
        )),
        found => Ok(found),
    }
}

/// The entry at `position` could not be read.
fn unreadable_entry(position: u64) -> StoreError {
    StoreError::corrupt(Place::Index { position }, "no index entry at this position")
}

/// An engine handed back a body for request index `i`, which it was not
/// asked for (an engine bug, reported rather than skipped).
fn unrequested(i: usize) -> StoreError {
    StoreError::corrupt(
        Place::Index {
            position: u64::try_from(i).unwrap_or(u64::MAX),
        },
        "the engine returned a frame for a request index out of range",
    )
}

/// An owned event from a checked frame; the chain hash is computed only when
/// `compute` (otherwise the caller fills it in).
fn decode_owned<P: DeserializeOwned>(
    frame: Checked<'_>,
    compute: bool,
) -> Result<StoredEvent<P>, StoreError> {
    let header = match frame.header {
        Some(header) => header,
        None => decode_header(frame.parts.header)?,
    };
    let payload = decode_stored(header.kind, header.payload_version, frame.parts.payload)?;
    let hash = if compute {
        Hash::chain(&header.prev_hash, frame.parts.header, frame.parts.payload)
    } else {
        Hash::ZERO
    };
    Ok(StoredEvent {
        header,
        payload,
        hash,
    })
}
