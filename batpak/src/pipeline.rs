//! COMMIT: `Proposal<T>` → [`Receipt<T>`] → [`Committed<T>`].
//!
//! A proposal names a stream, a kind, a payload and the stream version it
//! was decided against. Gates turn it into a receipt (see [`crate::guard`]);
//! committing the receipt appends exactly the bytes the gates saw, with the
//! gates' names in the stored header, and only if the stream is still at the
//! expected version (compare-and-append, so a decision taken on stale state
//! cannot land). [`bypass`] commits without gates and records who and why.
//!
//! Committing goes through [`CommitTarget`], the one method a store must
//! offer the pipeline.

use serde::Serialize;

use crate::coordinate::Coordinate;
use crate::event::{Admission, CodecError, EventId, EventKind, Hash, encode_payload};

/// Which stream version an append requires. A mismatch writes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExpectedVersion {
    /// Append whatever the stream holds.
    #[default]
    Any,
    /// The stream must not exist yet (zero events).
    NoStream,
    /// The stream must hold exactly this many events.
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently holding `version` events satisfies this.
    #[must_use]
    pub fn allows(self, version: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => version == 0,
            Self::Exact(n) => version == n,
        }
    }
}

/// Optional controls of one append.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AppendOptions {
    /// Version the stream must be at (checked after the idempotency key).
    pub expected_version: ExpectedVersion,
    /// A retry with the same key and content returns the original receipt.
    pub idempotency_key: Option<String>,
    /// The event that caused this one.
    pub causation: Option<EventId>,
    /// The workflow this event belongs to (defaults to the event's own id,
    /// or the causing event's correlation when `causation` is set).
    pub correlation: Option<EventId>,
}

impl AppendOptions {
    /// No conditions: any version, no key, no causation.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Requires a stream version.
    #[must_use]
    pub fn expect(mut self, expected: ExpectedVersion) -> Self {
        self.expected_version = expected;
        self
    }

    /// Sets an idempotency key.
    #[must_use]
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Records the causing event.
    #[must_use]
    pub fn caused_by(mut self, cause: EventId) -> Self {
        self.causation = Some(cause);
        self
    }

    /// Sets the correlation id.
    #[must_use]
    pub fn correlated_with(mut self, correlation: EventId) -> Self {
        self.correlation = Some(correlation);
        self
    }
}

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

/// A change someone wants to make, before any policy has looked at it.
///
/// ```
/// use batpak::{Coordinate, EventKind, ExpectedVersion, Proposal};
/// let coord = Coordinate::new("order:1", "shop:acme")?;
/// let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u32)
///     .expect(ExpectedVersion::Exact(3));
/// assert_eq!(*proposal.payload(), 42);
/// # Ok::<(), batpak::CoordinateError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proposal<P> {
    coordinate: Coordinate,
    kind: EventKind,
    payload: P,
    options: AppendOptions,
}

impl<P> Proposal<P> {
    /// Proposes `payload` as an event of `kind` on `coordinate`, at any
    /// version. Pin the version with [`Proposal::expect`] so a receipt cannot
    /// land on a stream that moved after the gates looked at it.
    pub fn new(coordinate: Coordinate, kind: EventKind, payload: P) -> Self {
        Self {
            coordinate,
            kind,
            payload,
            options: AppendOptions::default(),
        }
    }

    /// Requires the stream to be at `expected` when committed.
    #[must_use]
    pub fn expect(mut self, expected: ExpectedVersion) -> Self {
        self.options.expected_version = expected;
        self
    }

    /// Replaces all append options.
    #[must_use]
    pub fn with_options(mut self, options: AppendOptions) -> Self {
        self.options = options;
        self
    }

    /// Which stream.
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    /// Which kind.
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The proposed payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// The append options.
    pub fn options(&self) -> &AppendOptions {
        &self.options
    }

    /// The version the stream must be at.
    pub fn expected_version(&self) -> ExpectedVersion {
        self.options.expected_version
    }
}

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
    pub(crate) fn issue(proposal: Proposal<P>, gates: Vec<String>) -> Result<Self, CodecError> {
        let encoded = encode_payload(&proposal.payload)?;
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
        &self.proposal.payload
    }

    /// blake3 of the encoded payload the gates admitted.
    pub fn payload_hash(&self) -> Hash {
        self.payload_hash
    }

    /// Names of the gates that passed, in evaluation order.
    pub fn gates(&self) -> &[String] {
        &self.gates
    }

    /// Appends the admitted event, recording the gates in its header, if the
    /// stream is still at the expected version.
    ///
    /// # Errors
    /// The target's error; on a version mismatch nothing is written.
    pub fn commit<T: CommitTarget + ?Sized>(self, target: &T) -> Result<Committed<P>, T::Error> {
        let admission = Admission::Gated { gates: self.gates };
        let Proposal {
            coordinate,
            kind,
            payload,
            options,
        } = self.proposal;
        let append = RawAppend::new(coordinate, kind, self.encoded, options, admission.clone());
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
    let encoded = encode_payload(&proposal.payload)?;
    let admission = Admission::Bypassed {
        by: bypass.by,
        reason: bypass.reason,
    };
    let Proposal {
        coordinate,
        kind,
        payload,
        options,
    } = proposal;
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
