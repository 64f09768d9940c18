//! What a machine is: the contract `#[derive(StateMachine)]` and `#[gate]`
//! implement.
//!
//! A machine is an enum of events ([`StateMachine`]) with a runtime state
//! enum (`MachineTypes::State`), one zero-sized type per state ([`State`],
//! sealed, carrying its runtime value), optional data folded from its events
//! ([`MachineData`]) and a list of gates ([`GateSpec`], each made from a
//! [`MachineGate`]). The trait, the data fold and the gate spec name each
//! other (`StateMachine::GATES` holds `GateSpec<Self>`, `MachineTypes::Data`
//! is a `MachineData<Self>`), so they share this file. Everything here is a
//! definition: this file must never read a store or build a handle.

use std::fmt;
use std::hash::Hash as StdHash;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::schema::MachineSchema;
use crate::event::EventKind;
use crate::guard::Denial;

/// The types a machine is made of: its state, its gates' context and its
/// data. Implemented by `#[derive(StateMachine)]` beside [`StateMachine`],
/// which builds on it; reach the types as `M::State`, `M::Context`,
/// `M::Data` for any `M: StateMachine`.
///
/// Apart from `StateMachine` because it asks nothing of serde: the state
/// markers and gates of a machine name these types, so a machine that forgot
/// `#[derive(Serialize, Deserialize)]` fails once, on its `StateMachine`
/// impl, instead of again at every marker and gate.
pub trait MachineTypes: Sized + 'static {
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

    /// What the machine remembers from its events beyond its state
    /// (`#[machine(data = T)]`; `()` when the machine declares none): folded
    /// by [`MachineData::apply`], kept by the state projection, read by
    /// handles and gates.
    type Data: MachineData<Self>;
}

/// An event enum whose variants are the transitions of a state machine.
///
/// Implemented by `#[derive(StateMachine)]`; the transition table in
/// [`StateMachine::apply`] is the one source of truth for replay, for the
/// dynamic API and for the typed handles. Its state, context and data types
/// are in [`MachineTypes`].
pub trait StateMachine: MachineTypes + Serialize + DeserializeOwned + Send + Sync {
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

    /// The kind of every variant, in declaration order. The derive also
    /// names each kind (`Order::PLACED` for variant `Placed`) and lists them
    /// as `Order::KINDS`, so a projection over a machine's events names the
    /// kinds it wants and receives only those variants:
    ///
    /// ```
    /// use batpak::prelude::*;
    /// use serde::{Deserialize, Serialize};
    ///
    /// #[derive(StateMachine, Debug, Serialize, Deserialize)]
    /// #[machine(states(Draft, Placed, Paid), initial = Draft)]
    /// enum Order {
    ///     #[transition(Draft -> Placed)]
    ///     Placed { total_cents: u64 },
    ///     #[transition(Placed -> Paid)]
    ///     Paid { amount_cents: u64 },
    /// }
    ///
    /// /// Money taken, from `Paid` events only.
    /// #[derive(Default, Serialize, Deserialize)]
    /// struct Takings { cents: u64 }
    ///
    /// impl Projection for Takings {
    ///     type Event = Order;
    ///     const NAME: &'static str = "takings";
    ///     const VERSION: u32 = 1;
    ///     fn kinds() -> Option<&'static [EventKind]> { Some(&[Order::PAID]) }
    ///     fn apply(&mut self, event: &StoredEvent<Order>) {
    ///         let Order::Paid { amount_cents } = event.payload else {
    ///             unreachable!("only the kinds asked for arrive");
    ///         };
    ///         self.cents += amount_cents;
    ///     }
    /// }
    ///
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new(dir.path()))?;
    /// for n in 1..=3 {
    ///     let coord = Coordinate::new(format!("order:{n}"), "shop:acme")?;
    ///     Order::create(&store, coord)?.placed(&store, 900)?.paid(&store, 100 * n)?;
    /// }
    /// assert_eq!(store.project::<Takings>(&Region::all())?.cents, 600);
    /// assert_eq!(Order::KINDS, [Order::PLACED, Order::PAID]);
    /// assert_eq!(Order::Paid { amount_cents: 1 }.kind(), Order::PAID);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    const KINDS: &'static [EventKind];

    /// The machine's schema as data: its variants with their kinds, fields
    /// and payload versions, its states with their stable codes, its
    /// transition table and data type. The schema history check compares
    /// it with the committed history; the runtime names variants and states
    /// from it; the catalog a store keeps and the test kit's path
    /// enumeration read it.
    const SCHEMA: MachineSchema;

    /// The declared terminal states (`terminal(..)`): no event leaves them.
    /// Diagrams (the catalog's, the CLI's) mark them.
    const TERMINAL: &'static [Self::State];

    /// Whether the machine's stream may hold events that neither its gates
    /// nor an audited bypass admitted ([`Admission::Direct`](crate::Admission::Direct),
    /// written by `Store::append` and its kin). `false` unless the machine
    /// declares `#[machine(.., accept_direct_appends)]`: replay then reports
    /// such an event as [`CorruptReason::DirectAppend`](crate::CorruptReason::DirectAppend).
    const ACCEPTS_DIRECT_APPENDS: bool = false;

    /// The machine's timed transitions (`#[transition(Placed -> Expired,
    /// after = "30m")]`), in declaration order; empty for a machine without
    /// one. A scheduler fires each through the gates once its entity has
    /// stayed in a source state for the delay.
    const TIMERS: &'static [Timer<Self>] = &[];

    /// The stable kind of this event.
    fn kind(&self) -> EventKind;

    /// The variant's name, for errors and diagrams.
    fn variant_name(&self) -> &'static str;

    /// The payload version this code writes for the event's variant
    /// (recorded in its header): 1 unless the variant has upcasters.
    fn payload_version(&self) -> u8 {
        Self::SCHEMA
            .variant(self.variant_name())
            .map_or(1, |variant| variant.version)
    }

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

/// What a machine remembers from its own events beyond its state: the fold
/// behind `#[machine(data = T)]`, written once.
///
/// The runtime keeps it beside the state in the machine's projection (cached
/// by the store, one `apply` per new event), hands it out with typed handles
/// (`handle.data()`) and passes it to gates that take it
/// (`fn(ctx: &Desk, file: &LoanFile, event: &Loan)`). A gate sees the data
/// folded from every event *before* the one it decides on.
///
/// ```
/// use batpak::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Draft, Submitted, Approved), initial = Draft, data = LoanFile)]
/// enum Loan {
///     #[transition(Draft -> Submitted)]
///     Submitted { requested_cents: u64 },
///     #[transition(Submitted -> Approved)]
///     Approved { amount_cents: u64 },
/// }
///
/// /// What earlier events said.
/// #[derive(Debug, Default, Serialize, Deserialize)]
/// struct LoanFile { requested_cents: u64, approved_cents: u64 }
///
/// impl MachineData<Loan> for LoanFile {
///     fn apply(&mut self, event: &Loan) {
///         match event {
///             Loan::Submitted { requested_cents } => self.requested_cents = *requested_cents,
///             Loan::Approved { amount_cents } => self.approved_cents = *amount_cents,
///         }
///     }
/// }
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let coord = Coordinate::new("loan:1", "bank:acme")?;
/// let submitted = Loan::create(&store, coord.clone())?.submitted(&store, 90_000)?;
/// assert_eq!(submitted.data().requested_cents, 90_000);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait MachineData<M>: Default + Serialize + DeserializeOwned {
    /// Bump when [`MachineData::apply`] or the type's shape changes: data
    /// the store cached under another version is then refolded from the
    /// machine's events.
    const VERSION: u32 = 1;

    /// Folds one of the machine's events (already accepted by its
    /// transition table) into the data.
    fn apply(&mut self, event: &M);
}

/// No data: what a machine without `#[machine(data = ..)]` keeps.
impl<M> MachineData<M> for () {
    fn apply(&mut self, _event: &M) {}
}

/// A zero-sized marker type for one state of machine `Self::Machine`.
///
/// Sealed: only `#[derive(StateMachine)]` implements it (through the
/// hidden `Sealed` trait), so a handle's state type always matches the
/// machine's own table. `VALUE` is what the runtime checks a handle against
/// before it hands one out.
pub trait State: Sealed + 'static {
    /// The machine this state belongs to.
    type Machine: MachineTypes;

    /// The runtime value of this state.
    const VALUE: <Self::Machine as MachineTypes>::State;
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

/// The signature every gate is called through: the context, the state and
/// data before the event, the event.
type GateCheck<M> = fn(
    &<M as MachineTypes>::Context,
    <M as MachineTypes>::State,
    &<M as MachineTypes>::Data,
    &M,
) -> Result<(), Denial>;

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

    /// Runs the gate on `event`, proposed in `state` with `data` (both as
    /// before the event).
    ///
    /// # Errors
    /// The gate's [`Denial`].
    pub fn check(
        &self,
        ctx: &M::Context,
        state: M::State,
        data: &M::Data,
        event: &M,
    ) -> Result<(), Denial> {
        (self.check)(ctx, state, data, event)
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

/// A timed transition: when an entity has stayed in one of `from` for
/// `after`, the machine takes the step `event()` by itself (written
/// `#[transition(Placed -> Expired, after = "30m")]` on a unit variant).
///
/// Nothing about a timer is stored: its due time is the timestamp of the
/// event that put the entity in its state plus `after`, read from the log,
/// so a timer survives restarts with no timer store of its own.
pub struct Timer<M: StateMachine> {
    variant: &'static str,
    from: &'static [M::State],
    after: Duration,
    event: fn() -> M,
    entered_by: &'static [EventKind],
}

impl<M: StateMachine> Timer<M> {
    /// The timed transition to `variant` (made by `event`) out of `from`
    /// after `after`; `entered_by` lists the kinds of the events that always
    /// lead into a state of `from`. What the derive writes for each
    /// `after = ".."`.
    #[must_use]
    pub const fn new(
        variant: &'static str,
        from: &'static [M::State],
        after: Duration,
        event: fn() -> M,
        entered_by: &'static [EventKind],
    ) -> Self {
        Self {
            variant,
            from,
            after,
            event,
            entered_by,
        }
    }

    /// The kinds of the events that always put an entity in a state the
    /// timer waits in: a tool that cannot run the machine's table (the
    /// CLI) finds a waiting entity by the kind of its last event.
    #[must_use]
    pub const fn entered_by(&self) -> &'static [EventKind] {
        self.entered_by
    }

    /// The variant the timer records, for names, keys and reports.
    #[must_use]
    pub const fn variant(&self) -> &'static str {
        self.variant
    }

    /// The states it waits in.
    #[must_use]
    pub const fn from(&self) -> &'static [M::State] {
        self.from
    }

    /// How long an entity stays in a source state before the timer is due.
    #[must_use]
    pub const fn after(&self) -> Duration {
        self.after
    }

    /// Whether the timer runs for an entity in `state`.
    #[must_use]
    pub fn waits_in(&self, state: M::State) -> bool {
        self.from.contains(&state)
    }

    /// The event the timer records when it fires.
    #[must_use]
    pub fn event(&self) -> M {
        (self.event)()
    }
}

impl<M: StateMachine> fmt::Debug for Timer<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timer")
            .field("variant", &self.variant)
            .field("from", &self.from)
            .field("after", &self.after)
            .finish_non_exhaustive()
    }
}

/// Implemented by the companion type `#[gate]` generates beside a gate
/// function (a braced struct of the same name, so the function stays
/// callable and the gate can be named in `#[machine(gates(..))]`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a gate of machine `{M}`",
    label = "not a gate for `{M}`",
    note = "a gate is a function marked `#[gate]` (a plain function is not one: add `#[gate]` above it), taking the machine's context first and `&{M}` last"
)]
pub trait MachineGate<M: MachineTypes> {
    /// The gate's name.
    const NAME: &'static str;
    /// The gate's doc comment.
    const DESCRIPTION: &'static str;
    /// Whether the gate runs for `event` (`#[gate(Order::Placed)]` narrows
    /// it to one variant).
    fn applies(event: &M) -> bool;
    /// Runs the gate function with what it asks for of the context, the
    /// state and data before the event, and the event.
    ///
    /// # Errors
    /// The gate's [`Denial`].
    fn check(ctx: &M::Context, state: M::State, data: &M::Data, event: &M) -> Result<(), Denial>;
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
