//! WHAT happened: kinds, ids, headers, the hash chain, and stored events.
//!
//! An event is a header plus a typed payload. The store keeps both as msgpack
//! bytes and chains each stream's events with blake3 (see [`Hash::chain`]).
//! This layer knows coordinates and nothing above them: it must never
//! depend on regions, gates, machines or the store.

mod codec;
mod hash;
mod header;
mod id;
mod kind;
mod wire;

pub use codec::{
    CodecError, MAX_DECODE_DEPTH, StoredPayload, decode_header, decode_payload, decode_stored,
    encode_header, encode_payload, read_any_payload_version, refuse_newer_payload,
    take_stored_payload,
};
pub(crate) use codec::{encode_header_ref_into, header_stamp};
pub use hash::Hash;
pub(crate) use header::HeaderRef;
pub use header::{Admission, EventHeader};
pub use id::EventId;
pub use kind::{EventKind, KindError};
pub(crate) use wire::Wire;

/// An event read back from the store, with its own chain hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent<P> {
    /// Identity, causality, place and chain link.
    pub header: EventHeader,
    /// What the user stored, decoded into the requested type.
    pub payload: P,
    /// This event's link in its stream's hash chain.
    pub hash: Hash,
}

impl<P> StoredEvent<P> {
    /// The event's global position.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.header.position
    }

    /// The event's sequence within its stream (1-based).
    #[must_use]
    pub fn sequence(&self) -> u64 {
        self.header.sequence
    }

    /// Applies `f` to the payload, keeping header and hash.
    pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> StoredEvent<Q> {
        StoredEvent {
            header: self.header,
            payload: f(self.payload),
            hash: self.hash,
        }
    }
}
