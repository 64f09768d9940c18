//! What the store reports about itself: stream heads, counters, and the
//! damage `verify` finds.

use super::error::{Place, StoreError};
use crate::coordinate::Coordinate;
use crate::event::Hash;

/// A stream's current version and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    /// Number of events in the stream (0 when it does not exist).
    pub version: u64,
    /// Hash of the stream's last event, or [`Hash::ZERO`].
    pub hash: Hash,
}

impl StreamHead {
    /// The head of a stream with no events.
    pub(crate) const EMPTY: Self = Self {
        version: 0,
        hash: Hash::ZERO,
    };
}

/// Counters describing a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Events stored (also the next global position).
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the log (segment files plus buffered bytes).
    pub log_bytes: u64,
    /// Events known to be durable (fsync'd) since open, as a position bound.
    pub durable_events: u64,
    /// fdatasync calls made by appends and `sync()` since open.
    pub syncs: u64,
    /// Bytes of torn tail cut at open (ignored, when read-only); the zeros
    /// that end the file (space reserved ahead of appends, never written)
    /// are cut too but not counted.
    pub truncated_bytes: u64,
    /// True when open loaded the index checkpoint instead of scanning.
    pub opened_from_checkpoint: bool,
    /// True when open found the checkpoint disagreeing with the log
    /// (`verify_on_open`) and rebuilt the index from the log instead.
    pub checkpoint_discarded: bool,
    /// Events the extent record of the last clean close promised but the log
    /// no longer holds; nonzero only when repair mode accepted such a log.
    pub lost_events: u64,
    /// Full segments whose index open loaded from their sealed index file
    /// instead of scanning them (an open without a usable checkpoint).
    pub sealed_indexes_loaded: u64,
    /// Sealed index files open wrote for full segments it scanned (one was
    /// missing, unreadable, damaged, or did not continue the index before
    /// it; or an earlier one had not loaded).
    pub sealed_indexes_written: u64,
    /// Events open read from the log to build the index: zero after a
    /// clean close, what lies past the latest checkpoint's extent that no
    /// sealed index held after a crash (the unsealed tail), everything when
    /// neither could be used.
    pub events_rescanned: u64,
    /// Checkpoints this store wrote at rotation since it opened
    /// ([`StoreConfig::checkpoint_every_bytes`](crate::StoreConfig::checkpoint_every_bytes)).
    pub checkpoints_at_rotation: u64,
    /// Bytes the in-memory index holds (its allocations, estimated): per
    /// stream its name, head and compact positions, the entries of the
    /// active segment, ids out of order, causation links and idempotency
    /// keys. Entries of sealed segments are read from their index files
    /// and not counted. See TUNING.md, "What the index holds, and where".
    pub index_memory_bytes: u64,
    /// Entries the index holds in memory (those after the last sealed
    /// segment); the others are read from sealed index files.
    pub entries_in_memory: u64,
}

/// What [`Store::verify`](crate::Store::verify) found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Events read and checked before the first damage (or all of them).
    pub events: u64,
    /// Streams whose chains were checked.
    pub streams: u64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
    /// Sealed segment index files (segment engine) that were missing or
    /// did not match the index rebuilt from their segment, among the full
    /// segments checked; each was written anew from the log when the store
    /// is writable. A cache, not the log: they do not make `is_ok` false,
    /// but a nonzero count after a crash-free run means a file was changed.
    pub sealed_indexes_rewritten: u64,
}

impl VerifyReport {
    /// True when nothing is damaged.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.damage.is_none()
    }
}

/// Where and what a check of the log found broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Where the damage is.
    pub at: Place,
    /// The stream the damaged event claims, when its header was readable.
    pub coordinate: Option<Coordinate>,
    /// The sequence the damaged event claims, when its header was readable.
    pub sequence: Option<u64>,
    /// What is wrong.
    pub reason: String,
}

impl From<Damage> for StoreError {
    fn from(d: Damage) -> Self {
        let reason = match (&d.coordinate, d.sequence) {
            (Some(c), Some(s)) => format!("{} (stream {c}, sequence {s})", d.reason),
            _ => d.reason,
        };
        StoreError::Corrupt { at: d.at, reason }
    }
}
