//! What a change says before any policy looks at it: a [`Proposal`] names
//! a stream, a kind, a payload and the conditions its append must meet
//! ([`AppendOptions`], [`ExpectedVersion`]).
//!
//! The conditions live here, with the proposal, because the proposal is
//! their lowest user; the pipeline and the store read the same types. A
//! proposal is plain data: building one checks and writes nothing.

use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind};

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// The payload's schema version, recorded in the header (1 by
    /// default; a machine sets its variant's version).
    pub payload_version: u8,
    /// The machine state the event leads to, as a stable code recorded in
    /// the header (0, none, by default; a machine step sets it).
    pub state_code: u16,
}

impl Default for AppendOptions {
    fn default() -> Self {
        Self {
            expected_version: ExpectedVersion::Any,
            idempotency_key: None,
            causation: None,
            correlation: None,
            payload_version: 1,
            state_code: 0,
        }
    }
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

    /// Records the payload's schema version (1 when not set).
    #[must_use]
    pub fn payload_version(mut self, version: u8) -> Self {
        self.payload_version = version;
        self
    }

    /// Records the machine state the event leads to, as its stable code.
    #[must_use]
    pub fn state_code(mut self, code: u16) -> Self {
        self.state_code = code;
        self
    }
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

    /// Takes the proposal apart, for the pipeline's commit.
    pub(crate) fn into_parts(self) -> (Coordinate, EventKind, P, AppendOptions) {
        (self.coordinate, self.kind, self.payload, self.options)
    }
}
