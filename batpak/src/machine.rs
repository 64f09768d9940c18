//! The run-time half of `#[derive(StateMachine)]`: create, load, step,
//! submit.
//!
//! Generated code stays short by calling the generic functions here (through
//! [`crate::__private`]); this module owns the rules they share:
//!
//! - **Nothing is written on refusal.** An illegal event, a denied gate or a
//!   stale version returns an error before (or instead of) the append; the
//!   append itself is compare-and-append on the version the decision was
//!   taken against.
//! - **An entity exists once its first event is stored.** `create` writes
//!   nothing: it checks the stream is empty and hands out a handle in the
//!   initial state at version 0, whose first step commits with
//!   `ExpectedVersion::Exact(0)`, so two racing creators cannot both land.
//! - **Replay is the only source of state.** `load` and `state_of` fold the
//!   stream through [`StateMachine::apply`]; a stored step the table forbids
//!   (or whose kind does not match its payload) is reported with its
//!   sequence, never skipped.
//!
//! It must never panic on stored data and never write outside a commit.
//!
//! ```
//! use batpak::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(StateMachine, Debug, Serialize, Deserialize)]
//! #[machine(states(Draft, Placed, Paid), initial = Draft, gates(small), context = u64)]
//! enum Order {
//!     #[transition(Draft -> Placed)]
//!     Placed { total_cents: u64 },
//!     #[transition(Placed -> Paid)]
//!     Paid,
//! }
//!
//! /// Orders above the limit are refused.
//! #[gate(Order::Placed)]
//! fn small(limit: &u64, event: &Order) -> bool {
//!     matches!(event, Order::Placed { total_cents } if total_cents <= limit)
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(StoreConfig::new(dir.path()))?;
//! let coord = Coordinate::new("order:1", "shop:acme")?;
//! let draft = Order::create(&store, coord.clone())?;
//! let placed = draft.placed(&store, &5_000, 4_200)?;   // gates run, then commit
//! let paid = placed.paid(&store, &5_000)?;
//! assert_eq!(paid.version(), 2);
//! assert_eq!(Order::state_of(&store, &coord)?, OrderState::Paid);
//! // Dynamic path: an illegal event is refused and nothing is written.
//! let refused = Order::submit(&store, &5_000, &coord, Order::Paid);
//! assert!(matches!(refused, Err(MachineError::InvalidTransition(_))));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent};
use crate::guard::{Denial, ExpectedVersion, FnGate, GateError, GateSet, Proposal};
use crate::pipeline::CommitTarget;
use crate::projection::Projection;
use crate::typestate::{InvalidTransition, Machine, State, StateMachine};

/// What a machine needs from a store beyond committing: read a stream back
/// and recognise a version conflict in its own error type.
pub trait MachineStore: CommitTarget {
    /// Every event of `coordinate`'s stream, in sequence order, decoded as `P`.
    ///
    /// # Errors
    /// The store's error (I/O, a payload that does not decode as `P`).
    fn read_stream<P: DeserializeOwned>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, Self::Error>;

    /// The stream's version (number of events) and the hash of its last event.
    ///
    /// # Errors
    /// The store's error.
    fn stream_version(&self, coordinate: &Coordinate) -> Result<(u64, Hash), Self::Error>;

    /// The stream's actual version when `error` is a version mismatch.
    fn version_conflict(error: &Self::Error) -> Option<u64>;

    /// The machine's current state as a projection. The default folds the
    /// whole stream; a store with a projection cache folds only the events
    /// appended since its last call.
    ///
    /// # Errors
    /// The store's error (I/O, a payload that does not decode as `M`).
    fn project_machine<M: StateMachine>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<MachineProjection<M>, Self::Error> {
        let mut projection = MachineProjection::default();
        for event in &self.read_stream::<M>(coordinate)? {
            projection.apply(event);
        }
        Ok(projection)
    }
}

/// The current state of one machine stream, kept as an incremental
/// projection: what [`StateMachine`]'s generated `state_of` reads.
///
/// Folding stops at the first event that does not fit (a gap in sequences,
/// a kind that disagrees with its payload, an illegal step); `state_of` then
/// replays the stream to report exactly what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct MachineProjection<M: StateMachine> {
    state: M::State,
    version: u64,
    broken_at: Option<u64>,
}

impl<M: StateMachine> MachineProjection<M> {
    /// The state after the last event folded.
    #[must_use]
    pub fn state(&self) -> M::State {
        self.state
    }

    /// Number of events folded (the stream's version when not broken).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Sequence of the first event that did not fit the machine, if any.
    #[must_use]
    pub fn broken_at(&self) -> Option<u64> {
        self.broken_at
    }
}

impl<M: StateMachine> Default for MachineProjection<M> {
    fn default() -> Self {
        Self {
            state: M::INITIAL,
            version: 0,
            broken_at: None,
        }
    }
}

impl<M: StateMachine> Projection for MachineProjection<M> {
    type Event = M;
    const NAME: &'static str = M::NAME;
    const VERSION: u32 = 1;

    fn apply(&mut self, event: &StoredEvent<M>) {
        if self.broken_at.is_some() {
            return;
        }
        let sequence = event.sequence();
        let fits = sequence == self.version + 1 && event.header.kind == event.payload.kind();
        match M::apply(self.state, &event.payload) {
            Ok(next) if fits => {
                self.state = next;
                self.version = sequence;
            }
            _ => self.broken_at = Some(sequence),
        }
    }
}

/// Why a machine operation wrote nothing.
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
    /// The store failed.
    #[error(transparent)]
    Store(E),
}

/// What is wrong with a stored event that replay refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The transition table forbids the stored step.
    #[error(transparent)]
    IllegalStep(InvalidTransition),
    /// The stored kind is not the kind of the decoded variant.
    #[error("stored kind {stored} does not match event `{event}`")]
    KindMismatch {
        /// The kind in the header.
        stored: crate::event::EventKind,
        /// The decoded variant.
        event: &'static str,
    },
    /// The stream skips or repeats a sequence number.
    #[error("expected sequence {expected}")]
    Gap {
        /// The sequence replay expected.
        expected: u64,
    },
}

/// A gate attached to a machine: its name, description, the events it
/// looks at and the check itself. `#[gate]` makes one; a machine lists its
/// gates in [`StateMachine::GATES`].
pub struct GateSpec<M: StateMachine> {
    name: &'static str,
    description: &'static str,
    applies: fn(&M) -> bool,
    check: GateCheck<M>,
}

/// The signature every gate is called through.
type GateCheck<M> =
    fn(&<M as StateMachine>::Context, <M as StateMachine>::State, &M) -> Result<(), Denial>;

impl<M: StateMachine> GateSpec<M> {
    /// The spec of gate `G` (a `#[gate]` function's companion type).
    #[must_use]
    pub const fn of<G: MachineGate<M>>() -> Self {
        Self {
            name: G::NAME,
            description: G::DESCRIPTION,
            applies: G::applies,
            check: G::check,
        }
    }

    /// The gate's name (its function's name), recorded in admitted events.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The gate's doc comment.
    #[must_use]
    pub const fn description(&self) -> &'static str {
        self.description
    }

    /// Whether the gate runs for `event`.
    #[must_use]
    pub fn applies_to(&self, event: &M) -> bool {
        (self.applies)(event)
    }

    /// Runs the gate.
    ///
    /// # Errors
    /// The gate's [`Denial`].
    pub fn check(&self, ctx: &M::Context, state: M::State, event: &M) -> Result<(), Denial> {
        (self.check)(ctx, state, event)
    }
}

impl<M: StateMachine> fmt::Debug for GateSpec<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GateSpec")
            .field("name", &self.name)
            .field("description", &self.description)
            .finish_non_exhaustive()
    }
}

/// Implemented by the companion type `#[gate]` generates beside a gate
/// function (a braced struct of the same name, so the function stays
/// callable and the gate can be named in `#[machine(gates(..))]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a gate of machine `{M}`",
    label = "not a gate for `{M}`",
    note = "mark the function with `#[gate]` and take `&{M}` as its event parameter and the machine's context as its first"
)]
pub trait MachineGate<M: StateMachine> {
    /// The gate's name.
    const NAME: &'static str;
    /// The gate's doc comment.
    const DESCRIPTION: &'static str;
    /// Whether the gate runs for `event` (`#[gate(Order::Placed)]` narrows
    /// it to one variant).
    fn applies(event: &M) -> bool;
    /// Runs the gate function.
    ///
    /// # Errors
    /// The gate's [`Denial`].
    fn check(ctx: &M::Context, state: M::State, event: &M) -> Result<(), Denial>;
}

/// Replays a stream: its current state, version and head hash.
fn replay<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<(M::State, u64, Hash), MachineError<S::Error>> {
    let events = store
        .read_stream::<M>(coordinate)
        .map_err(MachineError::Store)?;
    let mut state = M::INITIAL;
    let mut version = 0;
    let mut head = Hash::ZERO;
    for stored in &events {
        let corrupt = |reason| MachineError::CorruptStream {
            coordinate: coordinate.clone(),
            sequence: stored.sequence(),
            reason,
        };
        if stored.sequence() != version + 1 {
            return Err(corrupt(CorruptReason::Gap {
                expected: version + 1,
            }));
        }
        if stored.header.kind != stored.payload.kind() {
            return Err(corrupt(CorruptReason::KindMismatch {
                stored: stored.header.kind,
                event: stored.payload.variant_name(),
            }));
        }
        state = M::apply(state, &stored.payload)
            .map_err(|illegal| corrupt(CorruptReason::IllegalStep(illegal)))?;
        version = stored.sequence();
        head = stored.hash;
    }
    Ok((state, version, head))
}

/// Gates `event` in `state`, then appends it if the stream is still at
/// `version`. Returns the new version and head.
fn commit<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    ctx: &M::Context,
    coordinate: Coordinate,
    state: M::State,
    version: u64,
    event: M,
) -> Result<(u64, Hash), MachineError<S::Error>> {
    M::apply(state, &event)?;
    let mut gates = GateSet::<M::Context, M>::new();
    for spec in M::GATES.iter().filter(|spec| spec.applies_to(&event)) {
        let check = spec.check;
        gates.push(FnGate::new(
            spec.name,
            move |ctx: &M::Context, proposal: &Proposal<M>| check(ctx, state, proposal.payload()),
        ));
    }
    let proposal =
        Proposal::new(coordinate, event.kind(), event).expect(ExpectedVersion::Exact(version));
    let receipt = gates.evaluate(ctx, proposal).map_err(|error| match error {
        GateError::Denied(denial) => MachineError::Denied(denial),
        GateError::Codec(codec) => MachineError::Store(S::Error::from(codec)),
    })?;
    let committed = receipt
        .commit(store)
        .map_err(|error| match S::version_conflict(&error) {
            Some(actual) => MachineError::Conflict {
                expected: version,
                actual,
            },
            None => MachineError::Store(error),
        })?;
    Ok((committed.receipt().sequence, committed.receipt().hash))
}

/// `Machine::create`: a handle in the initial state, if the entity has no
/// events. Writes nothing.
///
/// # Errors
/// [`MachineError::AlreadyExists`], or the store's error.
pub fn create<M, I, S>(
    store: &S,
    coordinate: Coordinate,
) -> Result<Machine<M, I>, MachineError<S::Error>>
where
    M: StateMachine,
    I: State<Machine = M>,
    S: MachineStore + ?Sized,
{
    let (version, _) = store
        .stream_version(&coordinate)
        .map_err(MachineError::Store)?;
    if version != 0 {
        return Err(MachineError::AlreadyExists {
            coordinate,
            version,
        });
    }
    Ok(Machine::__from_parts(coordinate, 0, Hash::ZERO))
}

/// `Machine::load`: replays the stream; the generated code wraps the result
/// in the typed handle of the state it ends in.
///
/// # Errors
/// [`MachineError::NotFound`] for an empty stream,
/// [`MachineError::CorruptStream`], or the store's error.
pub fn load<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<(M::State, u64, Hash), MachineError<S::Error>> {
    let (state, version, head) = replay::<M, S>(store, coordinate)?;
    if version == 0 {
        return Err(MachineError::NotFound {
            coordinate: coordinate.clone(),
        });
    }
    Ok((state, version, head))
}

/// `Machine::state_of`: the current state by incremental projection (only
/// events appended since the last call are folded).
///
/// # Errors
/// As [`load`].
pub fn state_of<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<M::State, MachineError<S::Error>> {
    let projection = store
        .project_machine::<M>(coordinate)
        .map_err(MachineError::Store)?;
    if projection.broken_at.is_some() {
        // The replay names the exact sequence and reason.
        return load::<M, S>(store, coordinate).map(|(state, _, _)| state);
    }
    if projection.version == 0 {
        return Err(MachineError::NotFound {
            coordinate: coordinate.clone(),
        });
    }
    Ok(projection.state)
}

/// A typed step: consumes the handle in state `F`, gates and commits
/// `event`, returns the handle in state `T`.
///
/// # Errors
/// [`MachineError::Denied`], [`MachineError::Conflict`] (stale handle), or
/// the store's error; nothing is written on error.
pub fn step<M, F, T, S>(
    handle: Machine<M, F>,
    store: &S,
    ctx: &M::Context,
    event: M,
) -> Result<Machine<M, T>, MachineError<S::Error>>
where
    M: StateMachine,
    F: State<Machine = M>,
    T: State<Machine = M>,
    S: MachineStore + ?Sized,
{
    let target = M::apply(F::VALUE, &event)?;
    if target != T::VALUE {
        // Unreachable through generated code (the table made the method);
        // reported rather than trusted.
        return Err(InvalidTransition::new(M::NAME, F::VALUE, event.variant_name()).into());
    }
    let (coordinate, version, _) = handle.__into_parts();
    let (version, head) = commit(store, ctx, coordinate.clone(), F::VALUE, version, event)?;
    Ok(Machine::__from_parts(coordinate, version, head))
}

/// The dynamic path: replays the stream, checks `event` against the table
/// and the gates, and commits it at the replayed version. Works on an empty
/// stream (the initial state). Returns the new state.
///
/// # Errors
/// [`MachineError::InvalidTransition`], [`MachineError::Denied`],
/// [`MachineError::Conflict`], [`MachineError::CorruptStream`], or the
/// store's error; nothing is written on error.
pub fn submit<M, S>(
    store: &S,
    ctx: &M::Context,
    coordinate: &Coordinate,
    event: M,
) -> Result<M::State, MachineError<S::Error>>
where
    M: StateMachine,
    S: MachineStore + ?Sized,
{
    let (state, version, _) = replay::<M, S>(store, coordinate)?;
    let target = M::apply(state, &event)?;
    commit(store, ctx, coordinate.clone(), state, version, event)?;
    Ok(target)
}
