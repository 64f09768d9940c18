//! COMMIT: [`Receipt<T>`] → [`Committed<T>`].
//!
//! The guard layer turns a proposal into a receipt; committing the receipt
//! (`Receipt::commit`, implemented here) appends exactly the bytes the gates
//! saw, with the gates' names in the stored header, and only if the stream
//! is still at the expected version (compare-and-append, so a decision taken
//! on stale state cannot land). [`bypass`] commits without gates and records
//! who and why.
//!
//! Committing goes through [`CommitTarget`], the one method a store must
//! offer the pipeline. The pipeline never decides (that is the guard's job)
//! and never writes except through that trait.

use serde::Serialize;

use crate::coordinate::Coordinate;
use crate::event::{Admission, CodecError, EventId, EventKind, Hash, encode_payload};
use crate::guard::{AppendOptions, Proposal, Receipt};

/// What the store tells the caller about an event it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendReceipt {
    /// The new event's id.
    pub event_id: EventId,
    /// Its sequence within the stream (also the stream's new version).
    pub sequence: u64,
    /// Its global position.
    pub position: u64,
    /// Its chain hash.
    pub hash: Hash,
}

/// An append in encoded form: what the pipeline hands a [`CommitTarget`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawAppend {
    /// Which stream.
    pub coordinate: Coordinate,
    /// What happened.
    pub kind: EventKind,
    /// The msgpack-encoded payload, stored verbatim.
    pub payload: Vec<u8>,
    /// Version, idempotency and causality controls.
    pub options: AppendOptions,
    /// How the event passed the policy layer.
    pub admission: Admission,
}

impl RawAppend {
    /// Bundles an encoded append.
    #[must_use]
    pub fn new(
        coordinate: Coordinate,
        kind: EventKind,
        payload: Vec<u8>,
        options: AppendOptions,
        admission: Admission,
    ) -> Self {
        Self {
            coordinate,
            kind,
            payload,
            options,
            admission,
        }
    }
}

/// The one thing a store must do for the pipeline: append an encoded event
/// atomically, honouring its expected version and idempotency key.
pub trait CommitTarget {
    /// The store's error type; it can carry an encoding failure.
    type Error: From<CodecError>;

    /// Appends one encoded event, or writes nothing and says why.
    ///
    /// # Errors
    /// Whatever the store refuses: a version mismatch, a reserved kind, an
    /// I/O failure.
    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, Self::Error>;
}

impl<P> Receipt<P> {
    /// Appends the admitted event, recording the gates in its header, if the
    /// stream is still at the expected version.
    ///
    /// # Errors
    /// The target's error; on a version mismatch nothing is written.
    pub fn commit<T: CommitTarget + ?Sized>(self, target: &T) -> Result<Committed<P>, T::Error> {
        let (proposal, encoded, gates) = self.into_parts();
        let (coordinate, kind, payload, options) = proposal.into_parts();
        let admission = Admission::Gated { gates };
        let append = RawAppend::new(coordinate, kind, encoded, options, admission.clone());
        let receipt = target.commit_raw(append)?;
        Ok(Committed {
            payload,
            receipt,
            admission,
        })
    }
}

/// Why a bypass was refused: it would not say who or why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BypassError {
    /// `by` or `reason` is empty or only whitespace.
    #[error("bypass {field} is empty; a bypass must say who bypassed and why")]
    Empty {
        /// `"by"` or `"reason"`.
        field: &'static str,
    },
}

/// Who skipped the gates and why; stored in the event's header.
///
/// ```
/// use batpak::{Bypass, BypassError};
/// assert!(Bypass::new("ops:alice", "ledger outage").is_ok());
/// assert_eq!(Bypass::new("ops:alice", " "), Err(BypassError::Empty { field: "reason" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    by: String,
    reason: String,
}

impl Bypass {
    /// Records `by` (a person, service or operator) and `reason`. Both must
    /// say something: a bypass is never anonymous or unexplained.
    ///
    /// # Errors
    /// [`BypassError::Empty`] naming the part that is empty or whitespace.
    pub fn new(by: impl Into<String>, reason: impl Into<String>) -> Result<Self, BypassError> {
        let by = by.into();
        let reason = reason.into();
        if by.trim().is_empty() {
            return Err(BypassError::Empty { field: "by" });
        }
        if reason.trim().is_empty() {
            return Err(BypassError::Empty { field: "reason" });
        }
        Ok(Self { by, reason })
    }

    /// Who bypassed.
    #[must_use]
    pub fn by(&self) -> &str {
        &self.by
    }

    /// Why.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Commits `proposal` without running gates. The stored header says who
/// bypassed and why ([`Admission::Bypassed`]), so
/// [`Region::bypassed`](crate::Region::bypassed) finds every bypass later.
///
/// # Errors
/// The target's error, or an encoding failure; nothing is written on error.
pub fn bypass<P: Serialize, T: CommitTarget + ?Sized>(
    target: &T,
    proposal: Proposal<P>,
    bypass: Bypass,
) -> Result<Committed<P>, T::Error> {
    let encoded = encode_payload(proposal.payload())?;
    let admission = Admission::Bypassed {
        by: bypass.by,
        reason: bypass.reason,
    };
    let (coordinate, kind, payload, options) = proposal.into_parts();
    let append = RawAppend::new(coordinate, kind, encoded, options, admission.clone());
    let receipt = target.commit_raw(append)?;
    Ok(Committed {
        payload,
        receipt,
        admission,
    })
}

/// An event the store accepted through the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed<P> {
    payload: P,
    receipt: AppendReceipt,
    admission: Admission,
}

impl<P> Committed<P> {
    /// The committed payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Where and as what the store recorded it.
    pub fn receipt(&self) -> &AppendReceipt {
        &self.receipt
    }

    /// How it passed the policy layer (gates or bypass).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The payload, dropping the rest.
    pub fn into_payload(self) -> P {
        self.payload
    }
}
