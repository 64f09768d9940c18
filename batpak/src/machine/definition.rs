//! What a machine is: the contract `#[derive(StateMachine)]` and `#[gate]`
//! implement.
//!
//! A machine is an enum of events ([`StateMachine`]) with a runtime state
//! enum (`StateMachine::State`), one zero-sized type per state ([`State`],
//! sealed, carrying its runtime value) and a list of gates ([`GateSpec`],
//! each made from a [`MachineGate`]). The trait and the gate spec name each
//! other (`StateMachine::GATES` holds `GateSpec<Self>`), so they share this
//! file. Everything here is a definition: this file must never read a store
//! or build a handle.

use std::fmt;
use std::hash::Hash as StdHash;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::event::EventKind;
use crate::guard::Denial;

/// An event enum whose variants are the transitions of a state machine.
///
/// Implemented by `#[derive(StateMachine)]`; the transition table in
/// [`StateMachine::apply`] is the one source of truth for replay, for the
/// dynamic API and for the typed handles.
pub trait StateMachine: Serialize + DeserializeOwned + Send + Sync + Sized + 'static {
    /// The runtime state enum (one unit variant per declared state).
    type State: Copy
        + Eq
        + StdHash
        + fmt::Debug
        + fmt::Display
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static;

    /// What the machine's gates read to decide (`#[machine(context = T)]`;
    /// `()` when the machine has no context).
    type Context: ?Sized + 'static;

    /// The machine's name, as written by the user.
    const NAME: &'static str;

    /// The state of a stream with no events.
    const INITIAL: Self::State;

    /// Every declared state, in declaration order.
    const STATES: &'static [Self::State];

    /// The event category shared by all of this machine's kinds.
    const CATEGORY: u16;

    /// The machine's gates (`#[machine(gates(..))]`), in evaluation order.
    const GATES: &'static [GateSpec<Self>];

    /// Whether the machine's stream may hold events that neither its gates
    /// nor an audited bypass admitted ([`Admission::Direct`](crate::Admission::Direct),
    /// written by `Store::append` and its kin). `false` unless the machine
    /// declares `#[machine(.., accept_direct_appends)]`: replay then reports
    /// such an event as [`CorruptReason::DirectAppend`](crate::CorruptReason::DirectAppend).
    const ACCEPTS_DIRECT_APPENDS: bool = false;

    /// The stable kind of this event.
    fn kind(&self) -> EventKind;

    /// The variant's name, for errors and diagrams.
    fn variant_name(&self) -> &'static str;

    /// The transition table: the state after `event` in `state`, or why the
    /// event is illegal there.
    ///
    /// # Errors
    /// [`InvalidTransition`] when `event` has no transition out of `state`.
    fn apply(state: Self::State, event: &Self) -> Result<Self::State, InvalidTransition>;
}

/// An event that has no transition out of the current state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{machine}: event `{event}` is not allowed in state `{state}`")]
pub struct InvalidTransition {
    /// The machine's name.
    pub machine: &'static str,
    /// The state the stream was in.
    pub state: String,
    /// The event's variant name.
    pub event: &'static str,
}

impl InvalidTransition {
    /// Describes an illegal `event` in `state` of `machine`.
    #[must_use]
    pub fn new(machine: &'static str, state: impl fmt::Display, event: &'static str) -> Self {
        Self {
            machine,
            state: state.to_string(),
            event,
        }
    }
}

/// A zero-sized marker type for one state of machine `Self::Machine`.
///
/// Sealed: only `#[derive(StateMachine)]` implements it (through the
/// hidden `Sealed` trait), so a handle's state type always matches the
/// machine's own table. `VALUE` is what the runtime checks a handle against
/// before it hands one out.
pub trait State: Sealed + 'static {
    /// The machine this state belongs to.
    type Machine: StateMachine;

    /// The runtime value of this state.
    const VALUE: <Self::Machine as StateMachine>::State;
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

/// Seals [`State`]: implemented only by the state types the derive
/// generates. Public (through `__private`) only so generated code can name it.
pub trait Sealed {}

/// The state type of a machine whose derive failed: the derive still
/// emits a stub `StateMachine` impl (beside its errors) so code that
/// names the machine, such as its gates, adds no follow-on errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FallbackState {
    /// The only value; never stored.
    Invalid,
}

impl fmt::Display for FallbackState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid machine")
    }
}
