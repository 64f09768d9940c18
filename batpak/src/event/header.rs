//! The header every stored event carries: identity, causality, place, chain.
//!
//! The field order is the stored byte layout (`FORMAT.md`); the borrowed
//! twin [`HeaderRef`] must never encode to different bytes than the owned
//! header, since the hash chain covers exactly those bytes.

use serde::{Deserialize, Serialize};

use super::hash::Hash;
use super::id::EventId;
use super::kind::EventKind;
use crate::coordinate::Coordinate;

/// How an event got past the policy layer. Recorded in the header (and so
/// covered by the hash chain): an audit can always tell a gated commit from a
/// bypass from a direct append, and a bypass is never silent.
///
/// Only the pipeline writes the gated and bypassed forms: both variants are
/// `#[non_exhaustive]`, so code outside batpak can match them (with `..`)
/// but never build one, and the one way to hand a store an admission is a
/// [`RawAppend`](crate::RawAppend), which only a receipt's commit and an
/// audited bypass make. `Deserialize` exists because stored headers are read
/// back (by this store, another store behind the same seam, or a tool): a
/// decoded admission describes a record and cannot be committed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Admission {
    /// Appended through the store's plain API (`Store::append` and kin): no
    /// gate and no bypass admitted it. A machine refuses such an event in
    /// its stream unless it declares `accept_direct_appends`.
    Direct,
    /// Committed from a receipt: these gates evaluated and passed, in order.
    #[non_exhaustive]
    Gated {
        /// Names of the gates that admitted the event.
        gates: Vec<String>,
    },
    /// Committed without gates by an explicit, recorded bypass.
    #[non_exhaustive]
    Bypassed {
        /// Who bypassed (a user, service or operator name).
        by: String,
        /// Why the gates were bypassed.
        reason: String,
    },
}

impl Admission {
    /// True when the event was appended directly: neither gates nor a
    /// bypass admitted it.
    #[must_use]
    pub fn is_direct(&self) -> bool {
        matches!(self, Self::Direct)
    }

    /// True when the event was committed from a receipt.
    #[must_use]
    pub fn is_gated(&self) -> bool {
        matches!(self, Self::Gated { .. })
    }

    /// True when the event was committed through a bypass.
    #[must_use]
    pub fn is_bypass(&self) -> bool {
        matches!(self, Self::Bypassed { .. })
    }

    /// The gates that admitted the event (empty unless [`Admission::Gated`]).
    #[must_use]
    pub fn gates(&self) -> &[String] {
        match self {
            Self::Gated { gates } => gates,
            Self::Direct | Self::Bypassed { .. } => &[],
        }
    }
}

/// Everything the store knows about an event besides its payload.
///
/// Encoded as a msgpack array in field order (see `FORMAT.md`); ids and
/// hashes are msgpack `bin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventHeader {
    /// Unique, time-ordered id.
    pub id: EventId,
    /// Groups the events of one workflow; defaults to the event's own id.
    pub correlation: EventId,
    /// The event that caused this one, if any; causation ids form a DAG.
    pub causation: Option<EventId>,
    /// Wall-clock time of the append, in microseconds since the Unix epoch.
    pub timestamp_us: u64,
    /// Position within the stream, starting at 1: the n-th event has sequence n.
    pub sequence: u64,
    /// Position within the whole store, starting at 0, gapless.
    pub position: u64,
    /// What happened.
    pub kind: EventKind,
    /// Which stream.
    pub coordinate: Coordinate,
    /// Hash of the stream's previous event ([`Hash::ZERO`] for the first).
    pub prev_hash: Hash,
    /// Caller-chosen key that makes a retried append return the original.
    pub idempotency_key: Option<String>,
    /// How the event passed the policy layer.
    pub admission: Admission,
    /// The version of the payload's schema the writer used: 1 unless the
    /// writing machine has upcasters for the event's variant. Readers
    /// upcast older versions and refuse newer ones.
    pub payload_version: u8,
    /// The stable code of the machine state this event led to
    /// ([`crate::state_code`] of its name), recorded by machine steps so a
    /// stream's history never depends on today's transition table; 0 when
    /// no machine wrote it.
    pub state_code: u16,
}

impl EventHeader {
    /// A header for the first event of a stream at global position 0:
    /// correlated with itself, no causation, timestamp 0, sequence 1, chained
    /// from [`Hash::ZERO`], no idempotency key, [`Admission::Direct`],
    /// payload version 1, no state code. The
    /// store fills in the real values; the fields are public so tests and
    /// tools can set them.
    #[must_use]
    pub fn new(id: EventId, coordinate: Coordinate, kind: EventKind) -> Self {
        Self {
            id,
            correlation: id,
            causation: None,
            timestamp_us: 0,
            sequence: 1,
            position: 0,
            kind,
            coordinate,
            prev_hash: Hash::ZERO,
            idempotency_key: None,
            admission: Admission::Direct,
            payload_version: 1,
            state_code: 0,
        }
    }
}

/// An [`EventHeader`] made of borrowed parts, for the append path: it
/// encodes to exactly the same bytes (same fields, same order; serde encodes
/// `&T` as `T`) without cloning the coordinate, key or admission per event.
#[derive(Debug, Serialize)]
pub(crate) struct HeaderRef<'a> {
    pub(crate) id: EventId,
    pub(crate) correlation: EventId,
    pub(crate) causation: Option<EventId>,
    pub(crate) timestamp_us: u64,
    pub(crate) sequence: u64,
    pub(crate) position: u64,
    pub(crate) kind: EventKind,
    pub(crate) coordinate: &'a Coordinate,
    pub(crate) prev_hash: Hash,
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) admission: &'a Admission,
    pub(crate) payload_version: u8,
    pub(crate) state_code: u16,
}
