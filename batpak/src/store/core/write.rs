//! The append path, one named step per rule:
//! check input → admit (idempotency, version, ids) → encode → hand to the
//! engine → record in the index.
//!
//! Runs on the caller's thread. Admission, encoding, the engine write and
//! the index update happen under the writer mutex, so positions are handed
//! out in order and a stream's version cannot move between the check and the
//! write (compare-and-append). Durability is waited for afterwards, outside
//! the mutex (`commit.rs`). Nothing is written when a check fails; a failed
//! engine write poisons the core and nothing of the call is acknowledged.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::index::{Fingerprint, Index, Inserted, KeyEntry};
use super::read::Depth;
use super::{Core, InFlight, WriteScratch};
use crate::coordinate::{Coordinate, find_unprintable};
use crate::event::{Admission, EventId, EventKind, Hash, HeaderRef, encode_header_ref_into};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::region::AdmissionClass;
use crate::store::config::{MAX_IDEMPOTENCY_KEY_LEN, SyncPolicy};
use crate::store::engine::body::{
    BODY_PREFIX_LEN, MAX_BATCH_EVENTS, MAX_HEADER_BYTES, write_body_prefix,
};
use crate::store::error::{Place, StoreError};
use crate::store::lock::{lock, read_lock, write_lock};

/// Whether the caller waits for durability right after the write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendMode {
    /// The call waits (under the sync policy) before it returns.
    Wait,
    /// The call returns a ticket; the caller waits later, once for many.
    Pipelined,
}

/// Whose kinds a call may append: the store's users' (every category but
/// the system's), or the system's own records (only the system category).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kinds {
    User,
    System,
}

/// Where an admitted call goes: the stream's place and what its events get.
struct Admitted {
    /// The stream's id in the index, when it exists.
    stream_id: Option<u32>,
    /// The stream's version before the call.
    version: u64,
    /// The stream's head hash before the call.
    head: Hash,
    /// Global position of the call's first event.
    first_position: u64,
    correlation: Option<EventId>,
    timestamp_us: u64,
}

/// What admission decided.
enum Decision {
    /// The idempotency key was used before for this exact content: the
    /// earlier receipts stand, nothing is written.
    Replayed { end: u64 },
    /// Write the call here.
    Write(Admitted),
}

impl Core {
    /// Appends one call (one event or one atomic batch) to `coord`'s
    /// stream. Puts the receipts into `out` and returns the position after
    /// the last event (what a durability wait waits for).
    pub(crate) fn append<R: Extend<AppendReceipt>>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        admission: &Admission,
        mode: AppendMode,
        out: &mut R,
    ) -> Result<u64, StoreError> {
        self.append_kinds(coord, events, options, admission, mode, Kinds::User, out)
    }

    /// Appends one record the system writes itself (a kind of the system
    /// category, such as the machine catalog): the same path and rules as
    /// [`Core::append`], except that it takes system kinds (and only those).
    pub(crate) fn append_system<R: Extend<AppendReceipt>>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        out: &mut R,
    ) -> Result<u64, StoreError> {
        self.append_kinds(
            coord,
            events,
            options,
            &Admission::Direct,
            AppendMode::Wait,
            Kinds::System,
            out,
        )
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "append's arguments and whose kinds"
    )]
    fn append_kinds<R: Extend<AppendReceipt>>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        admission: &Admission,
        mode: AppendMode,
        kinds: Kinds,
        out: &mut R,
    ) -> Result<u64, StoreError> {
        let _appending = InFlight::enter(&self.appending);
        let fingerprint = self.check_input(coord, events, options, admission, kinds)?;
        let mut scratch = lock(&self.writer);
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let scratch = &mut *scratch;
        let admitted = {
            let index = read_lock(&self.index);
            match self.admit(&index, coord, events, options, fingerprint, scratch, out)? {
                Decision::Replayed { end } => return Ok(end),
                Decision::Write(admitted) => admitted,
            }
        };
        encode(scratch, coord, events, options, admission, &admitted)?;
        self.hand_to_engine(scratch, admitted.first_position, mode)?;
        // The index is consulted only when the engine's segment changed
        // (a rotation) or is not known yet (the first append after open).
        if let Some(first) = scratch.locs.first()
            && scratch.segment != Some(first.segment)
        {
            self.seal_segments_before(first.segment);
            scratch.segment = Some(first.segment);
        }
        self.record(scratch, coord, options, fingerprint, &admitted);
        out.extend(scratch.receipts.iter().copied());
        let end = admitted.first_position + events.len() as u64;
        self.appended.store(end, Ordering::SeqCst);
        Ok(end)
    }

    /// Step 1, before any lock: the call is writable, within every limit,
    /// and its admission text printable. Returns the idempotency
    /// fingerprint of the call's content when it carries a key.
    fn check_input(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        admission: &Admission,
        kinds: Kinds,
    ) -> Result<Option<Hash>, StoreError> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        check_call(
            coord,
            events,
            options,
            admission,
            self.config.max_payload_bytes,
            kinds,
        )
    }

    /// Step 2, under the writer mutex: the idempotency key first (a retry
    /// of the same content gets the original receipts; other content under
    /// the same key is a conflict), then the expected version; then the
    /// call's positions, ids, correlation and timestamp.
    #[allow(clippy::too_many_arguments)]
    fn admit<R: Extend<AppendReceipt>>(
        &self,
        index: &Index,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        fingerprint: Option<Hash>,
        scratch: &mut WriteScratch,
        out: &mut R,
    ) -> Result<Decision, StoreError> {
        if let (Some(key), Some(fp)) = (&options.idempotency_key, fingerprint)
            && let Some(KeyEntry {
                fingerprint,
                receipts,
            }) = Self::key_record(index, key)?
        {
            if fingerprint == fp {
                let end = receipts.last().map_or(0, |r| r.position + 1);
                out.extend(receipts.iter().copied());
                return Ok(Decision::Replayed { end });
            }
            return Err(StoreError::IdempotencyConflict {
                key: key.clone(),
                position: receipts.first().map_or(0, |r| r.position),
            });
        }
        let stream_id = index.stream_number(coord);
        let (version, head) = stream_id
            .and_then(|s| index.streams.get(s as usize))
            .map_or((0, Hash::ZERO), |s| (s.version(), s.head));
        if !options.expected_version.allows(version) {
            return Err(StoreError::VersionMismatch {
                coordinate: coord.clone(),
                expected: options.expected_version,
                actual: version,
            });
        }
        let correlation = match (options.correlation, options.causation) {
            (Some(c), _) => Some(c),
            (None, Some(cause)) => self.correlation_of(index, cause),
            (None, None) => None,
        };
        // Ids from this process never repeat (a counter); an id from an
        // earlier run could, if the clock stepped back and the random
        // process tag matched, so check (cheap: an id above every indexed
        // id is new). A duplicate id would make the log unopenable.
        // One clock read serves the ids and the timestamp.
        let now = since_epoch();
        scratch.ids.clear();
        for _ in 0..events.len() {
            let mut id = EventId::generate_at(now);
            // An id the index cannot rule out counts as taken.
            while !matches!(index.by_id.get(id, &index.entries), Ok(None)) {
                id = EventId::generate();
            }
            scratch.ids.push(id);
        }
        Ok(Decision::Write(Admitted {
            stream_id,
            version,
            head,
            first_position: index.len(),
            correlation,
            timestamp_us: u64::try_from(now.as_micros()).unwrap_or(u64::MAX),
        }))
    }

    /// The record of idempotency key `key`: held whole while its segment
    /// is unsealed, else read from the sealed index that holds it. A
    /// sealed index that cannot be read fails the call (the key may be
    /// there: appending would break its promise).
    fn key_record(index: &Index, key: &str) -> Result<Option<KeyEntry>, StoreError> {
        if let Some(entry) = index.keys.recent().get(key) {
            return Ok(Some(entry.clone()));
        }
        index.sealed_key(key).map_err(|segment| {
            let position = index
                .entries
                .tables()
                .iter()
                .find(|t| t.segment == segment)
                .map_or(0, |t| t.first);
            StoreError::corrupt(
                Place::Index { position },
                format!(
                    "the idempotency key record in segment {segment}'s sealed index cannot be \
                     read (run verify to rewrite it from the log)"
                ),
            )
        })
    }

    /// The correlation of the causing event, read from its header.
    fn correlation_of(&self, index: &Index, cause: EventId) -> Option<EventId> {
        let position = index.by_id.get(cause, &index.entries).ok().flatten()?;
        let entry = Self::entry_at(&mut index.entries.cursor(), position).ok()?;
        let coordinate = Self::coordinate_of(index, entry.stream, position).ok()?;
        let mut buf = Vec::new();
        self.engine.read(entry.loc(), &mut buf).ok()?;
        let frame = self
            .check_frame(position, &entry, &coordinate, &buf, Depth::Header)
            .ok()?;
        frame.header.map(|h| h.correlation)
    }

    /// Step 4: the encoded bodies go to the engine. Under the `Always`
    /// policy a waiting call's bytes reach the OS now (its sync follows);
    /// otherwise they may stay buffered. A failure poisons the core.
    fn hand_to_engine(
        &self,
        scratch: &mut WriteScratch,
        first_position: u64,
        mode: AppendMode,
    ) -> Result<(), StoreError> {
        let flush =
            matches!(self.config.sync_policy, SyncPolicy::Always) && mode == AppendMode::Wait;
        scratch.locs.clear();
        let written = self
            .engine
            .append(first_position, &scratch.batch, flush, &mut scratch.locs);
        if written.is_err() {
            self.poisoned.store(true, Ordering::SeqCst);
        }
        written
    }

    /// Step 5: the index learns the events (readers see them from now on)
    /// and the idempotency key its receipts.
    fn record(
        &self,
        scratch: &mut WriteScratch,
        coord: &Coordinate,
        options: &AppendOptions,
        fingerprint: Option<Hash>,
        admitted: &Admitted,
    ) {
        let receipts = &mut scratch.receipts;
        receipts.clear();
        let mut index = write_lock(&self.index);
        let mut known = admitted.stream_id;
        for (i, ((event, hash), loc)) in scratch
            .events
            .iter()
            .zip(&scratch.hashes)
            .zip(&scratch.locs)
            .enumerate()
        {
            index.insert_parts(known, coord, event, *loc, *hash);
            // A batch's first event may have created the stream.
            known = index.entries.tail().last().map(|e| e.stream);
            receipts.push(AppendReceipt {
                event_id: event.id,
                sequence: event.sequence,
                position: admitted.first_position + i as u64,
                hash: *hash,
            });
        }
        if let (Some(key), Some(fingerprint)) = (&options.idempotency_key, fingerprint) {
            index.keys.insert_recent(
                key.clone(),
                KeyEntry {
                    fingerprint,
                    receipts: receipts.clone(),
                },
            );
        }
    }
}

/// What the headers of one append call share; [`CallHeaders::header`]
/// is the one rule for its `i`-th event's header (the core and the
/// PostgreSQL store alike).
pub(crate) struct CallHeaders<'a> {
    pub(crate) coordinate: &'a Coordinate,
    pub(crate) options: &'a AppendOptions,
    pub(crate) admission: &'a Admission,
    /// The call's correlation; each event is its own when `None`.
    pub(crate) correlation: Option<EventId>,
    pub(crate) timestamp_us: u64,
    /// The stream's version before the call.
    pub(crate) version: u64,
    pub(crate) first_position: u64,
}

impl<'a> CallHeaders<'a> {
    /// The header of the call's `i`-th event, `id`, of `kind`, linked to
    /// `prev` (the chain hash before it).
    pub(crate) fn header(
        &self,
        i: usize,
        id: EventId,
        kind: EventKind,
        prev: Hash,
    ) -> HeaderRef<'a> {
        HeaderRef {
            id,
            correlation: self.correlation.unwrap_or(id),
            causation: self.options.causation,
            timestamp_us: self.timestamp_us,
            sequence: self.version + 1 + i as u64,
            position: self.first_position + i as u64,
            kind,
            coordinate: self.coordinate,
            prev_hash: prev,
            // A batch carries its key once, on its first event.
            idempotency_key: if i == 0 {
                self.options.idempotency_key.as_deref()
            } else {
                None
            },
            admission: self.admission,
            payload_version: self.options.payload_version,
            state_code: self.options.state_code,
        }
    }
}

/// An encoded header of `len` bytes fits the limit, or the call fails.
pub(crate) fn check_header_len(len: usize) -> Result<(), StoreError> {
    if len > MAX_HEADER_BYTES {
        return Err(StoreError::HeaderTooLarge {
            len,
            max: MAX_HEADER_BYTES,
        });
    }
    Ok(())
}

/// The rules every append is held to before it reaches any log (this
/// store's core and the PostgreSQL store alike): a printable
/// admission, a payload version from 1, a batch of 1 ..= 2^20 events,
/// `kinds`' kinds only, payloads within `max_payload`, a key within its
/// limit. Returns the content fingerprint a key is bound to, when the call
/// carries one.
pub(crate) fn check_call(
    coord: &Coordinate,
    events: &[(EventKind, Vec<u8>)],
    options: &AppendOptions,
    admission: &Admission,
    max_payload: usize,
    kinds: Kinds,
) -> Result<Option<Hash>, StoreError> {
    check_admission(admission)?;
    if options.payload_version == 0 {
        return Err(StoreError::PayloadVersionZero);
    }
    if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
        return Err(StoreError::BatchSize {
            len: events.len(),
            max: MAX_BATCH_EVENTS,
        });
    }
    for (kind, payload) in events {
        if kind.is_system() != (kinds == Kinds::System) {
            return Err(StoreError::ReservedKind { kind: *kind });
        }
        if payload.len() > max_payload {
            return Err(StoreError::PayloadTooLarge {
                len: payload.len(),
                max: max_payload,
            });
        }
    }
    match &options.idempotency_key {
        Some(key) if key.len() > MAX_IDEMPOTENCY_KEY_LEN => {
            Err(StoreError::IdempotencyKeyTooLong {
                len: key.len(),
                max: MAX_IDEMPOTENCY_KEY_LEN,
            })
        }
        Some(_) => {
            let mut f = Fingerprint::new(coord);
            for (kind, payload) in events {
                f.add(*kind, payload);
            }
            Ok(Some(f.finish()))
        }
        None => Ok(None),
    }
}

/// Gate names and a bypass's `by` and `reason` are printed wherever the
/// event is shown, so they follow the rule coordinates follow
/// ([`find_unprintable`]). A gate set takes any gate name, so gated text is
/// checked here; a [`Bypass`](crate::Bypass) checked its text when it was
/// made, and is checked again so that the log never holds text that prints
/// as something else, whatever path an admission took.
pub(crate) fn check_admission(admission: &Admission) -> Result<(), StoreError> {
    let check = |field: &'static str, text: &str| match find_unprintable(text) {
        None => Ok(()),
        Some((index, c)) => Err(StoreError::UnprintableAdmission {
            field,
            text: text.to_owned(),
            index,
            code: u32::from(c),
        }),
    };
    match admission {
        Admission::Direct => Ok(()),
        Admission::Gated { gates } => gates.iter().try_for_each(|g| check("gate name", g)),
        Admission::Bypassed { by, reason } => {
            check("bypass by", by)?;
            check("bypass reason", reason)
        }
    }
}

/// Step 3: each event's header (sequence, position, chain link) and body
/// are encoded into the scratch batch, and its chain hash computed over
/// exactly the stored bytes.
fn encode(
    scratch: &mut WriteScratch,
    coord: &Coordinate,
    events: &[(EventKind, Vec<u8>)],
    options: &AppendOptions,
    admission: &Admission,
    admitted: &Admitted,
) -> Result<(), StoreError> {
    scratch.batch.clear();
    scratch.events.clear();
    scratch.hashes.clear();
    let mut prev = admitted.head;
    let last = events.len() - 1;
    let class = AdmissionClass::of(admission);
    let call = CallHeaders {
        coordinate: coord,
        options,
        admission,
        correlation: admitted.correlation,
        timestamp_us: admitted.timestamp_us,
        version: admitted.version,
        first_position: admitted.first_position,
    };
    for (i, ((kind, payload), &id)) in events.iter().zip(&scratch.ids).enumerate() {
        let header = call.header(i, id, *kind, prev);
        let sequence = header.sequence;
        let buf = &mut scratch.batch.buf;
        let start = buf.len();
        buf.extend_from_slice(&[0u8; BODY_PREFIX_LEN]);
        encode_header_ref_into(&header, buf);
        let header_len = buf.len() - start - BODY_PREFIX_LEN;
        check_header_len(header_len)?;
        buf.extend_from_slice(payload);
        let rest = u32::try_from(last - i).unwrap_or(u32::MAX);
        write_body_prefix(
            &mut buf[start..],
            u32::try_from(header_len).unwrap_or(u32::MAX),
            rest,
        );
        let header_bytes = &buf[start + BODY_PREFIX_LEN..start + BODY_PREFIX_LEN + header_len];
        prev = Hash::chain(&prev, header_bytes, payload);
        scratch.batch.ends.push(buf.len());
        scratch.hashes.push(prev);
        scratch.events.push(Inserted {
            id,
            sequence,
            kind: *kind,
            causation: options.causation,
            admitted: class,
        });
    }
    Ok(())
}

/// Time since the Unix epoch (zero if the clock is before it).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
