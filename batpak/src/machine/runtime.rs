//! The run-time half of `#[derive(StateMachine)]`: create, load,
//! `state_of`, step, submit.
//!
//! Generated code stays short by calling the generic functions here (through
//! `batpak::__private`); this module owns the rules they share:
//!
//! - **Nothing is written on refusal.** An illegal event, a denied gate or a
//!   stale version returns an error before (or instead of) the append; the
//!   append itself is compare-and-append on the version the decision was
//!   taken against.
//! - **An entity exists once its first event is stored.** `create` writes
//!   nothing: it checks the stream is empty and hands out a handle in the
//!   initial state at version 0, whose first step commits with
//!   `ExpectedVersion::Exact(0)`, so two racing creators cannot both land.
//! - **State and data come from the log.** `load`, `state_of` and `submit`
//!   read the fold of the stream through [`StateMachine::apply`] and
//!   [`MachineData::apply`] kept as an incremental projection
//!   ([`MachineProjection`], through [`MachineStore::project_machine`]: a
//!   caching store folds only the events appended since its last call), and
//!   replay only a stream the projection found not intact. A stored step the
//!   table forbids (or whose kind does not match its payload) is reported
//!   with its sequence, never skipped.
//! - **Gates see what was, not what will be.** Every gate gets the state and
//!   data before the event it decides on; a step then folds the committed
//!   event into the data it hands on with the new handle.
//! - **Only admitted events count.** An event of the stream that neither
//!   the machine's gates nor an audited bypass admitted
//!   ([`Admission::Direct`](crate::Admission::Direct)) is reported like any
//!   other break, as [`CorruptReason::DirectAppend`] with its sequence,
//!   unless the machine accepts direct appends
//!   ([`StateMachine::ACCEPTS_DIRECT_APPENDS`]). Handles are made only from
//!   streams without one, so a step meets one only as a version conflict,
//!   and a conflict caused by a stream that broke is reported as the break.
//! - **A handle's type is checked, not trusted.** Every typed handle is
//!   built by [`Machine::checked`] from the state replay or the table
//!   produced; a mismatch is [`MachineError::StateMismatch`].
//!
//! It must never panic on stored data and never write outside a commit.

use std::fmt;
use std::marker::PhantomData;

use super::definition::{InvalidTransition, MachineData, MachineTypes, State, StateMachine};
use super::handle::Machine;
use super::seam::{MachineProjection, MachineStore, recorded_state, state_code_of};
use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent};
use crate::guard::{AppendOptions, Denial, ExpectedVersion, FnGate, GateError, GateSet, Proposal};
use crate::pipeline::AppendReceipt;

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

/// A loaded, non-empty stream, waiting to become the typed handle of its
/// state: what `load` returns to generated code, which matches on
/// [`Loaded::state`] and asks for the handle of that state.
pub struct Loaded<M: StateMachine, E> {
    coordinate: Coordinate,
    state: M::State,
    version: u64,
    head: Hash,
    data: M::Data,
    error: PhantomData<fn() -> E>,
}

impl<M: StateMachine, E> Loaded<M, E> {
    /// The state the stream is in.
    #[must_use]
    pub fn state(&self) -> M::State {
        self.state
    }

    /// The typed handle of state `S`.
    ///
    /// # Errors
    /// [`MachineError::StateMismatch`] when the stream is not in `S`.
    pub fn into_handle<S: State<Machine = M>>(self) -> Result<Machine<M, S>, MachineError<E>> {
        typed_handle(
            self.coordinate,
            self.version,
            self.head,
            self.state,
            self.data,
        )
    }
}

impl<M: StateMachine, E> fmt::Debug for Loaded<M, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("machine", &M::NAME)
            .field("state", &self.state)
            .field("coordinate", &self.coordinate)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The typed handle of state `S` on a stream in `state`, or
/// [`MachineError::StateMismatch`]: the one place a handle is made.
fn typed_handle<M, S, E>(
    coordinate: Coordinate,
    version: u64,
    head: Hash,
    state: M::State,
    data: M::Data,
) -> Result<Machine<M, S>, MachineError<E>>
where
    M: StateMachine,
    S: State<Machine = M>,
{
    Machine::checked(coordinate, version, head, state, data)
        .map_err(|coordinate| state_mismatch::<M, S, E>(coordinate, state))
}

/// A handle of state `S` was asked for on a stream in `actual`.
fn state_mismatch<M, S, E>(coordinate: Coordinate, actual: M::State) -> MachineError<E>
where
    M: StateMachine,
    S: State<Machine = M>,
{
    MachineError::StateMismatch {
        coordinate,
        expected: S::VALUE.to_string(),
        actual: actual.to_string(),
    }
}

/// A stream's state, version, head hash and data, as the projection or a
/// replay found them.
pub(super) struct Folded<M: StateMachine> {
    pub(super) state: M::State,
    pub(super) version: u64,
    pub(super) head: Hash,
    pub(super) data: M::Data,
}

/// The stream as its projection holds it (folding only what is new to a
/// caching store), or, when the projection is not intact, the replay's
/// report of exactly what is wrong.
pub(super) fn current<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<Folded<M>, MachineError<S::Error>> {
    let projection: MachineProjection<M> = store
        .project_machine::<M>(coordinate)
        .map_err(MachineError::Store)?;
    if !projection.is_intact() {
        return replay::<M, S>(store, coordinate);
    }
    Ok(Folded {
        state: projection.state(),
        version: projection.version(),
        head: projection.head(),
        data: projection.into_data(),
    })
}

/// Replays a stream from its first event: its current state, version, head
/// hash and data, or the first event that does not fit.
fn replay<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<Folded<M>, MachineError<S::Error>> {
    let events = store
        .read_stream::<M>(coordinate)
        .map_err(MachineError::Store)?;
    let mut state = M::INITIAL;
    let mut version = 0;
    let mut head = Hash::ZERO;
    let mut data = M::Data::default();
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
        if !M::ACCEPTS_DIRECT_APPENDS && stored.header.admission.is_direct() {
            return Err(corrupt(CorruptReason::DirectAppend {
                event: stored.payload.variant_name(),
            }));
        }
        if stored.header.kind != stored.payload.kind() {
            return Err(kind_mismatch::<M, S::Error>(coordinate, stored));
        }
        state = match recorded_state::<M, _>(stored) {
            Some(Ok(recorded)) => recorded,
            Some(Err(code)) => {
                return Err(MachineError::UnknownState {
                    coordinate: coordinate.clone(),
                    sequence: stored.sequence(),
                    machine: M::NAME,
                    code,
                });
            }
            None => M::apply(state, &stored.payload)
                .map_err(|illegal| corrupt(CorruptReason::IllegalStep(illegal)))?,
        };
        data.apply(&stored.payload);
        version = stored.sequence();
        head = stored.hash;
    }
    Ok(Folded {
        state,
        version,
        head,
        data,
    })
}

/// [`MachineError::KindMismatch`] for a stored event whose kind is not its
/// variant's.
fn kind_mismatch<M: StateMachine, E>(
    coordinate: &Coordinate,
    stored: &StoredEvent<M>,
) -> MachineError<E> {
    MachineError::KindMismatch {
        coordinate: coordinate.clone(),
        sequence: stored.sequence(),
        stored: stored.header.kind,
        expected: stored.payload.kind(),
        stored_variant: M::SCHEMA
            .variant_of_kind(stored.header.kind)
            .map(|variant| variant.name),
        event: stored.payload.variant_name(),
    }
}

/// What a machine's gates decide on besides the proposal: the caller's
/// context, and the stream's state and data before the event.
pub(super) struct Decision<'a, M: StateMachine> {
    pub(super) ctx: &'a M::Context,
    pub(super) state: M::State,
    pub(super) data: &'a M::Data,
}

/// Gates `event` in `state` with `data`, then appends it with `options`
/// (causation, idempotency key) if the stream is still at `version`.
/// Returns the store's receipt and the event.
pub(super) fn commit<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    decision: &Decision<'_, M>,
    coordinate: &Coordinate,
    version: u64,
    event: M,
    options: AppendOptions,
) -> Result<(AppendReceipt, M), MachineError<S::Error>> {
    let target = M::apply(decision.state, &event)?;
    let options = options
        .expect(ExpectedVersion::Exact(version))
        .payload_version(event.payload_version())
        .state_code(state_code_of::<M>(target));
    let mut gates = GateSet::<Decision<'_, M>, M>::new();
    for spec in M::GATES.iter().filter(|spec| spec.applies_to(&event)) {
        gates.push(FnGate::new(
            spec.name(),
            |decision: &Decision<'_, M>, proposal: &Proposal<M>| {
                spec.check(
                    decision.ctx,
                    decision.state,
                    decision.data,
                    proposal.payload(),
                )
            },
        ));
    }
    let proposal = Proposal::new(coordinate.clone(), event.kind(), event).with_options(options);
    let receipt = gates
        .evaluate(decision, proposal)
        .map_err(|error| match error {
            GateError::Denied(denial) => MachineError::Denied(denial),
            GateError::Codec(codec) => MachineError::Store(S::Error::from(codec)),
        })?;
    store.record_machine::<M>().map_err(MachineError::Store)?;
    let committed = receipt
        .commit(store)
        .map_err(|error| match S::version_conflict(&error) {
            Some(actual) => conflict::<M, S>(store, coordinate, version, actual),
            None => MachineError::Store(error),
        })?;
    let receipt = *committed.receipt();
    Ok((receipt, committed.into_payload()))
}

/// The error for a commit refused because the stream is at `actual`, not
/// `expected`: [`MachineError::Conflict`], unless the stream broke since
/// (an event the machine cannot take, such as a direct append, after the
/// handle was made): then the break, which no retry can get past. The
/// stream's cached projection says whether it broke, so the common case
/// reads no events.
fn conflict<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
    expected: u64,
    actual: u64,
) -> MachineError<S::Error> {
    let stale = MachineError::Conflict { expected, actual };
    match store.project_machine::<M>(coordinate) {
        Ok(projection) if projection.is_intact() => stale,
        Ok(_) => replay::<M, S>(store, coordinate).err().unwrap_or(stale),
        Err(error) => MachineError::Store(error),
    }
}

/// `Machine::create`: a handle in the initial state, if the entity has no
/// events. Writes nothing.
///
/// # Errors
/// [`MachineError::AlreadyExists`], [`MachineError::StateMismatch`] when
/// `I` is not the initial state, or the store's error.
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
    typed_handle(coordinate, 0, Hash::ZERO, M::INITIAL, M::Data::default())
}

/// `Machine::load`: the stream's state, version and data from its
/// projection (a caching store folds only the events appended since its
/// last call; a stream the projection finds not intact is replayed to
/// report where); the generated code matches on the state and asks
/// [`Loaded::into_handle`] for that state's handle.
///
/// # Errors
/// [`MachineError::NotFound`] for an empty stream,
/// [`MachineError::CorruptStream`], or the store's error.
pub fn load<M: StateMachine, S: MachineStore + ?Sized>(
    store: &S,
    coordinate: &Coordinate,
) -> Result<Loaded<M, S::Error>, MachineError<S::Error>> {
    let Folded {
        state,
        version,
        head,
        data,
    } = current::<M, S>(store, coordinate)?;
    if version == 0 {
        return Err(MachineError::NotFound {
            coordinate: coordinate.clone(),
        });
    }
    Ok(Loaded {
        coordinate: coordinate.clone(),
        state,
        version,
        head,
        data,
        error: PhantomData,
    })
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
    if !projection.is_intact() {
        // The replay names the exact sequence and reason.
        return load::<M, S>(store, coordinate).map(|loaded| loaded.state);
    }
    if projection.version() == 0 {
        return Err(MachineError::NotFound {
            coordinate: coordinate.clone(),
        });
    }
    Ok(projection.state())
}

/// A typed step: takes the handle in state `F`, gates and commits `event`,
/// returns the handle in state `T`; on refusal, the handle comes back
/// inside the error.
///
/// # Errors
/// A [`StepError`] holding the handle and [`MachineError::Denied`],
/// [`MachineError::Conflict`] (stale handle), [`MachineError::CorruptStream`]
/// (the stream broke since the handle was made),
/// [`MachineError::StateMismatch`] when `event` does not lead to `T`, or
/// the store's error; nothing is written on error.
pub fn step<M, F, T, S>(
    handle: Machine<M, F>,
    store: &S,
    ctx: &M::Context,
    event: M,
) -> Result<Machine<M, T>, StepError<M, F, S::Error>>
where
    M: StateMachine,
    F: State<Machine = M>,
    T: State<Machine = M>,
    S: MachineStore + ?Sized,
{
    let refused = |handle, error| StepError {
        refused: Box::new(Refused { handle, error }),
    };
    let _span = crate::trace::span!(
        INFO,
        "step",
        machine = M::NAME,
        entity = %handle.coordinate(),
        kind = %event.kind(),
    );
    let stepped = try_step::<M, F, T, S>(&handle, store, ctx, event);
    crate::trace::record!(_span, outcome = outcome_of(&stepped));
    let stepped = match stepped {
        Ok(stepped) => stepped,
        Err(error) => return Err(refused(handle, error)),
    };
    let Stepped {
        version,
        head,
        event,
        target,
    } = stepped;
    // `advance` cannot refuse: `target` is `T::VALUE`, checked before the
    // commit; it folds the committed event into the handle's data.
    handle
        .advance(version, head, target, &event)
        .map_err(|handle| {
            let error = state_mismatch::<M, T, _>(handle.coordinate().clone(), target);
            refused(handle, error)
        })
}

/// A step [`try_step`] committed: the stream's new version and head, the
/// event, and the state it led to.
struct Stepped<M: StateMachine> {
    version: u64,
    head: Hash,
    event: M,
    target: M::State,
}

/// [`step`] with the handle borrowed, so a refusal can give it back:
/// checks `event` leads to `T`, gates it with the handle's state and data,
/// commits it.
fn try_step<M, F, T, S>(
    handle: &Machine<M, F>,
    store: &S,
    ctx: &M::Context,
    event: M,
) -> Result<Stepped<M>, MachineError<S::Error>>
where
    M: StateMachine,
    F: State<Machine = M>,
    T: State<Machine = M>,
    S: MachineStore + ?Sized,
{
    let target = M::apply(F::VALUE, &event)?;
    let coordinate = handle.coordinate();
    if target != T::VALUE {
        // Refused before the commit, so a step whose target type is wrong
        // writes nothing (generated code never asks for one).
        return Err(state_mismatch::<M, T, _>(coordinate.clone(), target));
    }
    let decision = Decision {
        ctx,
        state: F::VALUE,
        data: handle.data(),
    };
    let options = AppendOptions::new();
    let (receipt, event) = commit(
        store,
        &decision,
        coordinate,
        handle.version(),
        event,
        options,
    )?;
    Ok(Stepped {
        version: receipt.sequence,
        head: receipt.hash,
        event,
        target,
    })
}

/// The dynamic path: reads the stream's state, version and data as `load`
/// does, checks `event` against the table and the gates (which get the
/// data, as on the typed path), and commits it at that version. Works on an
/// empty stream (the initial state). Returns the new state.
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
    let _span = crate::trace::span!(
        INFO,
        "submit",
        machine = M::NAME,
        entity = %coordinate,
        kind = %event.kind(),
    );
    let submitted = try_submit(store, ctx, coordinate, event);
    crate::trace::record!(_span, outcome = outcome_of(&submitted));
    submitted
}

/// [`submit`] without its span.
fn try_submit<M, S>(
    store: &S,
    ctx: &M::Context,
    coordinate: &Coordinate,
    event: M,
) -> Result<M::State, MachineError<S::Error>>
where
    M: StateMachine,
    S: MachineStore + ?Sized,
{
    let Folded {
        state,
        version,
        data,
        ..
    } = current::<M, S>(store, coordinate)?;
    let target = M::apply(state, &event)?;
    let decision = Decision {
        ctx,
        state,
        data: &data,
    };
    commit(
        store,
        &decision,
        coordinate,
        version,
        event,
        AppendOptions::new(),
    )?;
    Ok(target)
}

/// The `outcome` a `step` or `submit` span records.
#[cfg(feature = "tracing")]
pub(super) fn outcome_of<T, E>(result: &Result<T, MachineError<E>>) -> &'static str {
    match result {
        Ok(_) => "committed",
        Err(MachineError::InvalidTransition(_)) => "invalid_transition",
        Err(MachineError::Denied(_)) => "denied",
        Err(MachineError::Conflict { .. }) => "conflict",
        Err(MachineError::CorruptStream { .. }) => "corrupt_stream",
        Err(MachineError::KindMismatch { .. }) => "kind_mismatch",
        Err(MachineError::UnknownState { .. }) => "unknown_state",
        Err(_) => "error",
    }
}
