//! Why a machine operation wrote nothing: [`MachineError`], the
//! [`CorruptReason`] of a stream that broke, and [`StepError`], a refused
//! step that hands its handle back.

use std::fmt;

use super::definition::{InvalidTransition, MachineTypes, State, StateMachine};
use super::handle::Machine;
use crate::coordinate::Coordinate;
use crate::guard::Denial;

/// Why a machine operation wrote nothing.
///
/// `E` is the store's error. It defaults to the embedded store's so users
/// write `MachineError` without a parameter; the default is written as a
/// path (not an import) because it is the machine layer's only mention of
/// the store above it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MachineError<E = crate::store::StoreError> {
    /// The event has no transition out of the stream's current state.
    #[error(transparent)]
    InvalidTransition(#[from] InvalidTransition),
    /// A gate refused the event.
    #[error(transparent)]
    Denied(Denial),
    /// The stream moved since the handle (or the decision) was made.
    #[error("stale version: expected {expected} events, the stream has {actual}")]
    Conflict {
        /// The version the decision was taken against.
        expected: u64,
        /// The stream's version now.
        actual: u64,
    },
    /// The entity has no events.
    #[error("entity {coordinate} has no events")]
    NotFound {
        /// The entity asked for.
        coordinate: Coordinate,
    },
    /// `create` found events for the entity.
    #[error("entity {coordinate} already exists at version {version}")]
    AlreadyExists {
        /// The entity asked for.
        coordinate: Coordinate,
        /// How many events it has.
        version: u64,
    },
    /// The stored stream breaks the machine's rules at `sequence`.
    #[error("stream {coordinate} is corrupt at sequence {sequence}: {reason}")]
    CorruptStream {
        /// The entity whose stream is corrupt.
        coordinate: Coordinate,
        /// The 1-based sequence of the offending event.
        sequence: u64,
        /// What is wrong with it.
        reason: CorruptReason,
    },
    /// A stored event's kind is not the kind its decoded variant has today:
    /// the machine's category or the variant's code moved (a renamed enum
    /// or variant, a pin removed). Nothing is corrupt: pinning the old
    /// number restores it.
    #[error(
        "stream {coordinate} at sequence {sequence}: stored kind {stored} ({}) does not match \
         event `{event}`, whose kind is now {expected}; {}",
        stored_variant.map_or_else(|| "no variant has it today".to_owned(), |v| format!("today the kind of `{v}`")),
        kind_pin(*stored, *expected, event)
    )]
    KindMismatch {
        /// The entity whose stream holds the event.
        coordinate: Coordinate,
        /// The event's sequence.
        sequence: u64,
        /// The kind in the header.
        stored: crate::event::EventKind,
        /// The kind the decoded variant has today.
        expected: crate::event::EventKind,
        /// The variant that has the stored kind today, if any.
        stored_variant: Option<&'static str>,
        /// The decoded variant.
        event: &'static str,
    },
    /// A stored event led to a state (recorded by its stable code) that the
    /// machine no longer declares: a state renamed or removed.
    #[error(
        "stream {coordinate} at sequence {sequence}: the event led to a state with code {code}, \
         which no state of `{machine}` has today (renamed or removed); declare its old name as \
         an alias of the state it became, `#[machine(state_aliases(OldName = NewName))]` (the \
         schema history names it)"
    )]
    UnknownState {
        /// The entity whose stream holds the event.
        coordinate: Coordinate,
        /// The event's sequence.
        sequence: u64,
        /// The machine's name.
        machine: &'static str,
        /// The recorded state code.
        code: u16,
    },
    /// A typed handle was asked for in a state its stream is not in (or,
    /// for a step, does not reach). Generated code never asks for one; the
    /// runtime checks rather than trusts, so a handle's type never lies.
    #[error("a handle in state `{expected}` cannot hold stream {coordinate} in state `{actual}`")]
    StateMismatch {
        /// The stream the handle was for.
        coordinate: Coordinate,
        /// The state the handle's type names.
        expected: String,
        /// The state the stream is in (or a step leads to).
        actual: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(E),
}

/// The pin that gives `event` its stored kind back: the category, the
/// code, or both.
fn kind_pin(
    stored: crate::event::EventKind,
    expected: crate::event::EventKind,
    event: &str,
) -> String {
    let category = (stored.category() != expected.category()).then(|| {
        format!(
            "pin the machine's old category with `#[machine(.., category = {})]`",
            stored.category()
        )
    });
    let code = (stored.code() != expected.code()).then(|| {
        format!(
            "pin the variant's old code with `#[transition(.., kind = {})]` on `{event}`",
            stored.code()
        )
    });
    match (category, code) {
        (Some(category), Some(code)) => format!("{category} and {code}"),
        (Some(pin), None) | (None, Some(pin)) => pin,
        (None, None) => "the kinds agree".to_owned(),
    }
}

/// What is wrong with a stored event that replay refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The transition table forbids the stored step.
    #[error(transparent)]
    IllegalStep(InvalidTransition),
    /// The stream skips or repeats a sequence number.
    #[error("expected sequence {expected}")]
    Gap {
        /// The sequence replay expected.
        expected: u64,
    },
    /// The event was appended directly (`Store::append` and its kin):
    /// neither the machine's gates nor an audited bypass admitted it, and
    /// the machine does not accept direct appends.
    #[error(
        "event `{event}` was appended directly: neither the machine's gates nor an audited \
         bypass admitted it (a machine fed by trusted direct appends declares \
         `accept_direct_appends`)"
    )]
    DirectAppend {
        /// The decoded variant.
        event: &'static str,
    },
}

/// A typed step that wrote nothing, with the handle it was given: the
/// caller can correct the event and step again, even on a first step, whose
/// stream `load` cannot find (it has no events yet).
///
/// [`StepError::error`] says why ([`MachineError::Denied`],
/// [`MachineError::Conflict`], ...); [`StepError::into_handle`] gives the
/// handle back. After a `Conflict` the handle is stale (another writer
/// moved the stream) and would conflict again: `load` the entity to go on.
/// A caller who does not want the handle uses `?`: a `StepError` converts
/// into its [`MachineError`], and its `Display` and `source` are the
/// error's.
///
/// ```
/// use batpak::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Draft, Placed), initial = Draft, gates(small), context = u64)]
/// enum Order {
///     #[transition(Draft -> Placed)]
///     Placed { total_cents: u64 },
/// }
///
/// /// Orders above the limit are refused.
/// #[gate(Order::Placed)]
/// fn small(limit: &u64, event: &Order) -> bool {
///     matches!(event, Order::Placed { total_cents } if total_cents <= limit)
/// }
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let draft = Order::create(&store, Coordinate::new("order:1", "shop:acme")?)?;
/// let draft = match draft.placed(&store, &5_000, 9_000) {
///     Ok(_) => unreachable!("over the limit"),
///     Err(refused) => {
///         assert!(matches!(refused.error(), MachineError::Denied(_)));
///         refused.into_handle() // the draft again, nothing written
///     }
/// };
/// let placed = draft.placed(&store, &5_000, 4_200)?; // corrected: commits
/// assert_eq!(placed.version(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct StepError<M: MachineTypes, S, E = crate::store::StoreError> {
    // Boxed: a handle and an error together are a few hundred bytes, too
    // much to move through every `Result` of a step for the rare refusal.
    refused: Box<Refused<M, S, E>>,
}

/// What a [`StepError`] holds.
struct Refused<M: MachineTypes, S, E> {
    handle: Machine<M, S>,
    error: MachineError<E>,
}

impl<M: MachineTypes, S, E> StepError<M, S, E> {
    /// A refusal of a step from `handle`, for `error`.
    pub(crate) fn new(handle: Machine<M, S>, error: MachineError<E>) -> Self {
        Self {
            refused: Box::new(Refused { handle, error }),
        }
    }
}

impl<M: StateMachine, S: State<Machine = M>, E> StepError<M, S, E> {
    /// Why the step wrote nothing.
    #[must_use]
    pub fn error(&self) -> &MachineError<E> {
        &self.refused.error
    }

    /// The handle the step was given, unchanged.
    #[must_use]
    pub fn handle(&self) -> &Machine<M, S> {
        &self.refused.handle
    }

    /// The handle back, to correct the event and step again.
    #[must_use]
    pub fn into_handle(self) -> Machine<M, S> {
        self.refused.handle
    }

    /// The error, dropping the handle (what `?` does).
    #[must_use]
    pub fn into_error(self) -> MachineError<E> {
        self.refused.error
    }

    /// Both parts.
    #[must_use]
    pub fn into_parts(self) -> (Machine<M, S>, MachineError<E>) {
        let Refused { handle, error } = *self.refused;
        (handle, error)
    }
}

impl<M: MachineTypes, S, E> From<StepError<M, S, E>> for MachineError<E> {
    fn from(refused: StepError<M, S, E>) -> Self {
        refused.refused.error
    }
}

impl<M: StateMachine, S: State<Machine = M>, E: fmt::Debug> fmt::Debug for StepError<M, S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepError")
            .field("handle", &self.refused.handle)
            .field("error", &self.refused.error)
            .finish()
    }
}

impl<M: MachineTypes, S, E> fmt::Display for StepError<M, S, E>
where
    MachineError<E>: fmt::Display,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.refused.error, f)
    }
}

impl<M, S, E> std::error::Error for StepError<M, S, E>
where
    M: StateMachine,
    S: State<Machine = M>,
    E: fmt::Debug,
    MachineError<E>: std::error::Error,
{
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.refused.error.source()
    }
}
