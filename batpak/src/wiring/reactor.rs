//! What a reactor is: "when this event of machine A is committed, take
//! this step on machine B" ([`Reactor`], implemented by `#[react]`), what it
//! decides ([`Reaction`]), and the key its step commits under.
//!
//! A reactor's decision is a plain function of the context and the causing
//! event; the runner commits it. Everything here is a definition: this file
//! must never read or write a store.

use crate::coordinate::Coordinate;
use crate::event::{EventId, StoredEvent};
use crate::machine::{MachineTypes, StateMachine};

/// A reaction to one machine's events: implemented by the companion type
/// `#[react]` generates beside a function such as
/// `fn ship(desk: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Shipment>`.
///
/// The function reads the target machine's context (what the target's
/// gates read too) and the causing event, and says which step to take; a
/// [`ReactorRunner`](crate::ReactorRunner) feeds it every committed event
/// of `Source` it [`applies`](Reactor::applies) to and commits its step
/// exactly once.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a reactor",
    label = "not a reactor",
    note = "a reactor is a function marked `#[react(Machine::Variant)]`, taking `&Ctx` (the target machine's context) and `&StoredEvent<Machine>`, returning `Reaction<Target>`"
)]
pub trait Reactor: 'static {
    /// The machine whose events the reactor reacts to.
    type Source: StateMachine;
    /// The machine the reactor takes steps on.
    type Target: StateMachine;
    /// The reactor's name (its function's name): part of every key its
    /// steps commit under, so renaming a reactor makes it react again, and
    /// two reactors of one store must not share a name (the second would
    /// find the first's steps and take them for its own). Moving the
    /// function to another module changes nothing.
    const NAME: &'static str;
    /// The reactor's doc comment.
    const DESCRIPTION: &'static str;

    /// Whether the reactor reacts to `event` (`#[react(Order::Paid)]`
    /// narrows it to those variants).
    fn applies(event: &Self::Source) -> bool;

    /// Decides the step to take for `event`, reading `ctx`.
    fn react(
        ctx: &<Self::Target as MachineTypes>::Context,
        event: &StoredEvent<Self::Source>,
    ) -> Reaction<Self::Target>;
}

/// What a reactor decided for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reaction<M> {
    /// Take `event` on the stream at `coordinate` (through its gates; on an
    /// empty stream, its first step).
    Step {
        /// The target entity.
        coordinate: Coordinate,
        /// The event to record there.
        event: M,
    },
    /// Nothing to do for this event.
    Nothing,
}

impl<M> Reaction<M> {
    /// Take `event` on the stream at `coordinate`.
    #[must_use]
    pub fn step(coordinate: Coordinate, event: M) -> Self {
        Self::Step { coordinate, event }
    }
}

/// The key reactor `name`'s step for the event `cause` commits under: the
/// same pair always gives the same key, so the store holds that step once.
pub(crate) fn reaction_key(name: &str, cause: EventId) -> String {
    format!("react/{name}/{cause}")
}
