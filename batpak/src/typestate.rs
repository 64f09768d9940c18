//! The runtime pieces `#[derive(StateMachine)]` targets.
//!
//! A machine is an enum of events ([`StateMachine`]) with a runtime state
//! enum (`StateMachine::State`) and one zero-sized type per state
//! ([`State`]). [`Machine<M, S>`] is a typed handle on one stream known to be
//! in state `S`: the derive adds a method per legal transition to
//! `Machine<M, S>` for each source state `S`, so an illegal step is a missing
//! method, i.e. a compile error. Transitions consume the handle, so a handle
//! cannot be used twice.

use std::fmt;
use std::hash::Hash as StdHash;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::coordinate::Coordinate;
use crate::event::{EventKind, Hash};
use crate::machine::GateSpec;

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
/// Sealed: only `#[derive(StateMachine)]` implements it (through
/// [`crate::__private::Sealed`]), so a handle's state type always matches
/// the machine's own table.
pub trait State: crate::__private::Sealed + 'static {
    /// The machine this state belongs to.
    type Machine: StateMachine;

    /// The runtime value of this state.
    const VALUE: <Self::Machine as StateMachine>::State;
}

/// A typed handle on one stream of machine `M`, known to be in state `S`.
///
/// Holds the stream's coordinate, its version (number of events) and the hash
/// of its last event. Transition methods (generated) consume the handle and
/// commit with compare-and-append on `version`, so a stale handle cannot
/// write.
pub struct Machine<M, S> {
    coordinate: Coordinate,
    version: u64,
    head: Hash,
    marker: PhantomData<fn() -> (M, S)>,
}

impl<M: StateMachine, S: State<Machine = M>> Machine<M, S> {
    /// The stream's coordinate.
    #[must_use]
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    /// Number of events in the stream when this handle was made.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Hash of the stream's last event ([`Hash::ZERO`] when empty).
    #[must_use]
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The state this handle is in, as a runtime value.
    #[must_use]
    pub fn state(&self) -> M::State {
        S::VALUE
    }

    /// Builds a handle. Hidden: only generated code, which has just checked
    /// the stream's state, may call it.
    #[doc(hidden)]
    #[must_use]
    pub fn __from_parts(coordinate: Coordinate, version: u64, head: Hash) -> Self {
        Self {
            coordinate,
            version,
            head,
            marker: PhantomData,
        }
    }

    /// Takes the handle apart. Hidden: used by generated transitions.
    #[doc(hidden)]
    #[must_use]
    pub fn __into_parts(self) -> (Coordinate, u64, Hash) {
        (self.coordinate, self.version, self.head)
    }
}

impl<M: StateMachine, S: State<Machine = M>> fmt::Debug for Machine<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("machine", &M::NAME)
            .field("state", &S::VALUE)
            .field("coordinate", &self.coordinate)
            .field("version", &self.version)
            .field("head", &self.head)
            .finish()
    }
}
