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
