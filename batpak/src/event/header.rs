//! The header every stored event carries: identity, causality, place, chain.
//!
//! The field order is the stored byte layout (`FORMAT.md`); the borrowed
//! twin [`HeaderRef`] must never encode to different bytes than the owned
//! header, since the hash chain covers exactly those bytes.

use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::ser::{SerializeStruct, SerializeTuple, Serializer};
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// The stored form of an [`Admission`] (FORMAT.md): `0` for a direct append
/// (one byte, the common case), `[1, gates]` for a gated commit, and
/// `[2, by, reason]` for a bypass. A tag, not the variant's name, because
/// every event pays for it.
impl Serialize for Admission {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Direct => serializer.serialize_u8(ADMISSION_DIRECT),
            Self::Gated { gates } => {
                let mut tuple = serializer.serialize_tuple(2)?;
                tuple.serialize_element(&ADMISSION_GATED)?;
                tuple.serialize_element(gates)?;
                tuple.end()
            }
            Self::Bypassed { by, reason } => {
                let mut tuple = serializer.serialize_tuple(3)?;
                tuple.serialize_element(&ADMISSION_BYPASSED)?;
                tuple.serialize_element(by)?;
                tuple.serialize_element(reason)?;
                tuple.end()
            }
        }
    }
}

pub(super) const ADMISSION_DIRECT: u8 = 0;
pub(super) const ADMISSION_GATED: u8 = 1;
pub(super) const ADMISSION_BYPASSED: u8 = 2;

impl<'de> Deserialize<'de> for Admission {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(AdmissionVisitor)
    }
}

/// Reads the stored form [`Admission`]'s `Serialize` writes, and nothing else.
struct AdmissionVisitor;

impl<'de> Visitor<'de> for AdmissionVisitor {
    type Value = Admission;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an admission: 0, [1, gates] or [2, by, reason]")
    }

    fn visit_u64<E: de::Error>(self, tag: u64) -> Result<Admission, E> {
        if tag == u64::from(ADMISSION_DIRECT) {
            Ok(Admission::Direct)
        } else {
            Err(E::custom(format!("admission tag {tag} is not 0 (direct)")))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Admission, A::Error> {
        let missing = || de::Error::custom("admission is missing a field");
        let tag: u8 = seq.next_element()?.ok_or_else(missing)?;
        let admission = match tag {
            ADMISSION_GATED => Admission::Gated {
                gates: seq.next_element()?.ok_or_else(missing)?,
            },
            ADMISSION_BYPASSED => Admission::Bypassed {
                by: seq.next_element()?.ok_or_else(missing)?,
                reason: seq.next_element()?.ok_or_else(missing)?,
            },
            other => {
                return Err(de::Error::custom(format!(
                    "admission tag {other} is not 1 (gated) or 2 (bypassed)"
                )));
            }
        };
        if seq.next_element::<IgnoredAny>()?.is_some() {
            return Err(de::Error::custom("admission has extra fields"));
        }
        Ok(admission)
    }
}

/// Everything the store knows about an event besides its payload.
///
/// Encoded as a msgpack array in field order (see `FORMAT.md`); ids and
/// hashes are msgpack `bin`; a correlation equal to the id (the default) is
/// stored as nil.
#[derive(Debug, Clone, PartialEq, Eq)]
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

impl EventHeader {
    /// The header as borrowed parts, which is what is encoded.
    pub(crate) fn borrowed(&self) -> HeaderRef<'_> {
        HeaderRef {
            id: self.id,
            correlation: self.correlation,
            causation: self.causation,
            timestamp_us: self.timestamp_us,
            sequence: self.sequence,
            position: self.position,
            kind: self.kind,
            coordinate: &self.coordinate,
            prev_hash: self.prev_hash,
            idempotency_key: self.idempotency_key.as_deref(),
            admission: &self.admission,
            payload_version: self.payload_version,
            state_code: self.state_code,
        }
    }
}

impl Serialize for EventHeader {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.borrowed().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for EventHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = StoredHeader::deserialize(deserializer)?;
        let correlation = match stored.correlation {
            None => stored.id,
            // One header, one encoding: the default is only ever nil.
            Some(c) if c == stored.id => {
                return Err(de::Error::custom(
                    "correlation equal to the id must be stored as nil",
                ));
            }
            Some(c) => c,
        };
        // One header, one encoding: trailing defaults are left out.
        let (payload_version, state_code) = match (stored.payload_version, stored.state_code) {
            (None, None) => (1, 0),
            (Some(version), None) if version != 1 => (version, 0),
            (Some(version), Some(code)) if code != 0 => (version, code),
            _ => {
                return Err(de::Error::custom(
                    "a default payload version (1) or state code (0) must be left out",
                ));
            }
        };
        if payload_version == 0 {
            return Err(de::Error::custom("payload versions start at 1"));
        }
        Ok(Self {
            id: stored.id,
            correlation,
            causation: stored.causation,
            timestamp_us: stored.timestamp_us,
            sequence: stored.sequence,
            position: stored.position,
            kind: stored.kind,
            coordinate: stored.coordinate,
            prev_hash: stored.prev_hash,
            idempotency_key: stored.idempotency_key,
            admission: stored.admission,
            payload_version,
            state_code,
        })
    }
}

/// A header exactly as stored: the correlation is nil when it equals the id,
/// and the payload version and state code are present only when not their
/// defaults (the array ends early).
#[derive(Deserialize)]
struct StoredHeader {
    id: EventId,
    correlation: Option<EventId>,
    causation: Option<EventId>,
    timestamp_us: u64,
    sequence: u64,
    position: u64,
    kind: EventKind,
    coordinate: Coordinate,
    prev_hash: Hash,
    idempotency_key: Option<String>,
    admission: Admission,
    #[serde(default)]
    payload_version: Option<u8>,
    #[serde(default)]
    state_code: Option<u16>,
}

/// An [`EventHeader`] made of borrowed parts, for the append path and the
/// owned header's own encoding, so both always write the same bytes, without
/// cloning the coordinate, key or admission per event.
#[derive(Debug)]
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

impl Serialize for HeaderRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // The payload version and state code trail the array only when not
        // their defaults (1, 0): a plain event pays nothing for them.
        let stamped = self.state_code != 0;
        let versioned = stamped || self.payload_version != 1;
        let len = 11 + usize::from(versioned) + usize::from(stamped);
        let mut fields = serializer.serialize_struct("EventHeader", len)?;
        fields.serialize_field("id", &self.id)?;
        let correlation = (self.correlation != self.id).then_some(self.correlation);
        fields.serialize_field("correlation", &correlation)?;
        fields.serialize_field("causation", &self.causation)?;
        fields.serialize_field("timestamp_us", &self.timestamp_us)?;
        fields.serialize_field("sequence", &self.sequence)?;
        fields.serialize_field("position", &self.position)?;
        fields.serialize_field("kind", &self.kind)?;
        fields.serialize_field("coordinate", self.coordinate)?;
        fields.serialize_field("prev_hash", &self.prev_hash)?;
        fields.serialize_field("idempotency_key", &self.idempotency_key)?;
        fields.serialize_field("admission", self.admission)?;
        if versioned {
            fields.serialize_field("payload_version", &self.payload_version)?;
        }
        if stamped {
            fields.serialize_field("state_code", &self.state_code)?;
        }
        fields.end()
    }
}
