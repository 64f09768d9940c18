//! The proof of passing: a [`Receipt`] binds the gates' names to the exact
//! payload bytes they admitted.
//!
//! Only [`GateSet::evaluate`](super::GateSet::evaluate) issues one. It must
//! never be cloneable, defaultable or editable from outside the crate:
//! whoever holds a receipt holds exactly what the gates saw. Committing it
//! (`Receipt::commit`) is the pipeline's act and lives there.

use serde::Serialize;

use super::proposal::Proposal;
use crate::event::{CodecError, Hash, encode_payload};

/// Proof that every gate of a [`GateSet`](crate::GateSet) admitted one
/// proposal.
///
/// Only this crate can make one, it cannot be cloned, and it exposes no way
/// to change what it holds: the payload bytes committed are exactly those the
/// gates admitted, at the expected version they were admitted for.
#[derive(Debug)]
#[must_use = "a receipt does nothing until it is committed"]
pub struct Receipt<P> {
    proposal: Proposal<P>,
    encoded: Vec<u8>,
    payload_hash: Hash,
    gates: Vec<String>,
}

impl<P: Serialize> Receipt<P> {
    /// Binds a receipt to the proposal's encoded payload.
    pub(super) fn issue(proposal: Proposal<P>, gates: Vec<String>) -> Result<Self, CodecError> {
        let encoded = encode_payload(proposal.payload())?;
        let payload_hash = Hash::of(&encoded);
        Ok(Self {
            proposal,
            encoded,
            payload_hash,
            gates,
        })
    }
}

impl<P> Receipt<P> {
    /// The admitted proposal.
    pub fn proposal(&self) -> &Proposal<P> {
        &self.proposal
    }

    /// The admitted payload.
    pub fn payload(&self) -> &P {
        self.proposal.payload()
    }

    /// blake3 of the encoded payload the gates admitted.
    pub fn payload_hash(&self) -> Hash {
        self.payload_hash
    }

    /// Names of the gates that passed, in evaluation order.
    pub fn gates(&self) -> &[String] {
        &self.gates
    }

    /// Takes the receipt apart for the pipeline's commit: the proposal, the
    /// admitted payload bytes, and the gates' names.
    pub(crate) fn into_parts(self) -> (Proposal<P>, Vec<u8>, Vec<String>) {
        (self.proposal, self.encoded, self.gates)
    }
}
