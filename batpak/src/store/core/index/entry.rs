//! What the index keeps per event: a fixed-size [`Entry`] (no heap).

use crate::event::{EventId, EventKind};
use crate::region::AdmissionClass;
use crate::store::engine::Loc;

/// Marks "no causing event in this store".
pub(crate) const NO_CAUSE: u64 = u64::MAX;
/// Entry flag: the event was committed through a bypass.
pub(super) const FLAG_BYPASS: u8 = 1;
/// Entry flag: the event was committed from a receipt. An entry with
/// neither flag was appended directly.
pub(super) const FLAG_GATED: u8 = 2;

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

/// Bytes of one entry record in a sealed index's entry table: fixed, so
/// the entry of any position is one read away.
pub(crate) const RECORD_BYTES: usize = 16 + 8 + 4 + 4 + 4 + 8 + 8 + 1;

impl Entry {
    /// The entry's record (its segment is the table's, not stored).
    pub(crate) fn record(&self) -> [u8; RECORD_BYTES] {
        let mut out = [0u8; RECORD_BYTES];
        let fields: [&[u8]; 8] = [
            &self.id.as_u128().to_le_bytes(),
            &self.offset.to_le_bytes(),
            &self.len.to_le_bytes(),
            &self.kind.to_u32().to_le_bytes(),
            &self.stream.to_le_bytes(),
            &self.sequence.to_le_bytes(),
            &self.cause.to_le_bytes(),
            &[self.flags],
        ];
        let mut at = 0;
        for field in fields {
            out[at..at + field.len()].copy_from_slice(field);
            at += field.len();
        }
        out
    }

    /// The entry a record of `segment`'s table holds; `None` when `bytes`
    /// is not one record long.
    pub(crate) fn from_record(segment: u32, bytes: &[u8]) -> Option<Self> {
        let bytes: &[u8; RECORD_BYTES] = bytes.try_into().ok()?;
        let (id, rest) = bytes.split_first_chunk::<16>()?;
        let (offset, rest) = rest.split_first_chunk::<8>()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let (kind, rest) = rest.split_first_chunk::<4>()?;
        let (stream, rest) = rest.split_first_chunk::<4>()?;
        let (sequence, rest) = rest.split_first_chunk::<8>()?;
        let (cause, rest) = rest.split_first_chunk::<8>()?;
        Some(Self {
            id: EventId::from_u128(u128::from_le_bytes(*id)),
            offset: u64::from_le_bytes(*offset),
            sequence: u64::from_le_bytes(*sequence),
            cause: u64::from_le_bytes(*cause),
            segment,
            len: u32::from_le_bytes(*len),
            kind: EventKind::from_u32(u32::from_le_bytes(*kind)),
            stream: u32::from_le_bytes(*stream),
            flags: *rest.first()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_round_trips_every_field() {
        let entry = Entry {
            id: EventId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677),
            offset: 1 << 40,
            sequence: 7,
            cause: 3,
            segment: 9,
            len: 300,
            kind: EventKind::new(2, 5),
            stream: 11,
            flags: FLAG_GATED,
        };
        assert_eq!(Entry::from_record(9, &entry.record()), Some(entry));
        assert_eq!(Entry::from_record(9, &entry.record()[1..]), None);
    }
}
