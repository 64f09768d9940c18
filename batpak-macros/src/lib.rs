//! Procedural macros for batpak: `#[derive(StateMachine)]` and `#[gate]`.
//!
//! Use them through `batpak` (`use batpak::prelude::*;`), never by naming
//! this crate. This file only parses, delegates and turns errors into
//! `compile_error!`; each macro is a pipeline in its own module:
//! `attr` (read attributes) → `ast` (our model) → `check` (rules across
//! attributes, every error collected) → `expand` (code generation).

mod gate;
mod react;
mod state_machine;
mod util;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives an event-sourced state machine from an event enum.
///
/// Each variant is an event; `#[transition(..)]` says which states it moves
/// between. The derive checks the machine at compile time (unknown,
/// unreachable or duplicate states and transitions, steps out of terminal
/// states, kind collisions are errors pointing at your tokens) and generates
/// typed handles whose methods are exactly the legal steps.
///
/// ```text
/// #[derive(StateMachine, Serialize, Deserialize)]
/// #[machine(
///     states(Draft, Placed, Paid, Shipped, Cancelled),  // required
///     initial = Draft,                                  // required
///     terminal(Shipped, Cancelled),                     // no way out of these
///     gates(within_credit_limit, shop_is_open),         // #[gate] functions, run in order;
///                                                       // every gate for Order must be here
///     context = Shop,                                   // what gates read (default `()`)
///     data = Bill,                                      // folded from the events (default `()`)
///     category = 7,                                     // default: blake3 of the enum's name
///     rename(module = order_states,                     // when your crate already has a
///            state = OrderStatus, handle = AnyOrder),   // `mod order`, `OrderState`, `OrderHandle`
///     crate = ::batpak,                                 // path of the runtime crate
///     accept_direct_appends,                            // see "Direct appends" below
/// )]
/// pub enum Order {
///     #[transition(Draft -> Placed)]
///     Placed { items: u32, total_cents: u64 },          // struct, tuple and unit variants
///     #[transition(Placed -> Paid)]
///     Paid(u64),
///     #[transition(Paid -> Shipped)]
///     Shipped,
///     #[transition(Draft | Placed | Paid -> Cancelled, kind = 9)]   // explicit event code
///     Cancelled,
/// }
/// ```
///
/// # Event kinds
/// Every event's `EventKind` is `(category, code)`. The category defaults to
/// blake3 of the enum's name folded into `1..=65535` (0 is reserved for
/// system records); a code defaults to blake3 of the variant's name. Neither
/// depends on declaration order, so reordering or adding variants never
/// changes a stored kind. Two variants with the same code are a compile
/// error naming both; `kind = N` resolves it.
///
/// Every kind has a name: `Order::PLACED` for variant `Placed` (the
/// variant's name in `SCREAMING_SNAKE_CASE`), and `Order::KINDS` lists them
/// all in declaration order (also `StateMachine::KINDS`). A projection over
/// a machine's events takes the enum as its event type and names the kinds
/// it wants, receiving only those variants (other kinds are skipped unread):
///
/// ```text
/// impl Projection for Takings {
///     type Event = Order;                    // the machine enum itself
///     fn kinds() -> Option<&'static [EventKind]> { Some(&[Order::PAID]) }
///     fn apply(&mut self, event: &StoredEvent<Order>) { /* only `Paid` arrives */ }
///     // ..
/// }
/// ```
///
/// (A runnable version is on `batpak::StateMachine::KINDS`.)
///
/// # Machine data
/// `data = Bill` gives the machine data folded from its own events: `Bill`
/// implements `batpak::MachineData<Order>` (`Default` and serde, plus `fn
/// apply(&mut self, event: &Order)`, written once). The runtime keeps it
/// beside the state in the machine's projection (cached by the store, one
/// `apply` per new event, persisted by a persistent projection cache),
/// hands it out with typed handles (`handle.data()`, also on `OrderHandle`
/// from `load`), and passes it to every gate that takes it (see
/// [`macro@gate`]) on typed steps and `submit` alike. Bump
/// `MachineData::VERSION` when `apply` changes meaning, so cached data is
/// refolded. Without `data`, the data is `()`.
///
/// # Direct appends
/// A machine's stream is written by its steps (gated) and by audited
/// bypasses. An event of the stream that neither admitted (appended through
/// `Store::append` and its kin: `Admission::Direct`) is an integrity error:
/// `load`, `state_of`, `submit` and a step that meets one report
/// `MachineError::CorruptStream` with `CorruptReason::DirectAppend` and its
/// sequence. `accept_direct_appends` opts out, for a machine whose stream
/// is also fed by trusted code that does not go through gates (an import, a
/// migration); `Region::direct()` still finds those events.
///
/// # What is generated
/// For `enum Order`: a module `order` with one marker type per state; the
/// runtime `OrderState` (`Copy`, `Eq`, `Hash`, `Display`, serde);
/// `impl batpak::MachineTypes for Order` (the state, context and data
/// types) and `impl batpak::StateMachine for Order` (the transition table
/// `apply`, `kind`, the gates, `SCHEMA`, `TERMINAL`); what its gates may take (hidden impls that
/// `#[gate]` checks its parameters against); for each listed gate, a hidden marker impl its
/// `#[gate]` checks for (see [`macro@gate`]); per source state a trait `Order<State>Transitions`
/// implemented for `Machine<Order, order::<State>>` with one method per legal
/// step (named after the variant in `snake_case`, taking `store`, `ctx` when
/// the machine has a context, then the variant's fields, and returning the
/// next state's handle or a `StepError` that gives this one back); `OrderHandle`, the
/// enum `load` returns; and `Order::{create, load, state_of, submit,
/// MERMAID, DOT, KINDS}` with a kind constant per variant (`Order::PLACED`).
///
/// The step traits are defined beside the enum, so they are in scope
/// wherever the enum is declared; elsewhere import them (`use
/// shop::OrderDraftTransitions;`) or glob the enum's module. (They are traits
/// because `Machine` is batpak's type: Rust allows inherent methods only in
/// the crate that defines a type.)
///
/// Hidden beside them, so that mistakes read well: per state a trait
/// `OrderDraftUnavailable` with the steps that state lacks, each bound so a
/// call is an error naming the states that have it ("`Order` in state
/// `Draft` has no step `shipped` .. a step out of `Placed`"); the markers
/// live in `__order_states`, re-exported as `order`, so a crate that already
/// has a `mod order` gets one error on it (fix: `rename(module = ..)`; a
/// clash with `OrderState` or `OrderHandle` is fixed the same way); and a
/// gate listed by a bare name that is a plain function (its `#[gate]`
/// forgotten) is an error saying to add `#[gate]`. When the derive reports
/// an error it still emits stand-ins for the items above (`create`, `load`,
/// the handles and steps), so code using the machine adds no errors of its
/// own.
///
/// A trimmed real expansion of
/// `#[machine(states(Draft, Placed, Done), initial = Draft, terminal(Done))]`
/// on `pub enum Order { #[transition(Draft -> Placed)] Placed { items: u32 },
/// #[transition(Placed -> Done)] Done }` (the untrimmed output is pinned by
/// snapshot tests):
///
/// ```text
/// #[doc(hidden)]
/// pub mod __order_states {
///     /// `Order` in state `Draft` (initial).
///     #[derive(Debug)]
///     pub enum Draft {}
///     // .. Placed, Done; the hidden step markers (`PlacedStep`, `DoneStep`)
/// }
/// /// States of [`Order`]: one marker type per state, used as the `S` of a typed handle `Machine<Order, S>`.
/// pub use __order_states as order;
/// /// The run-time state of one [`Order`] entity (typed handles carry it in their type instead).
/// #[derive(::core::clone::Clone, ::core::marker::Copy, /* .. */ ::batpak::__private::serde::Serialize, /* .. */)]
/// #[serde(crate = "::batpak::__private::serde")]
/// pub enum OrderState { Draft, Placed, Done }
/// #[automatically_derived]
/// impl ::batpak::State for __order_states::Draft {
///     type Machine = Order;
///     const VALUE: OrderState = OrderState::Draft;
/// }
/// #[automatically_derived]
/// impl ::batpak::MachineTypes for Order {
///     type State = OrderState;
///     type Context = ();
///     type Data = ();
/// }
/// #[automatically_derived]
/// impl ::batpak::StateMachine for Order {
///     const NAME: &'static str = "Order";
///     const INITIAL: OrderState = OrderState::Draft;
///     const CATEGORY: u16 = 35246;
///     const GATES: &'static [::batpak::GateSpec<Self>] = &[];
///     const KINDS: &'static [::batpak::EventKind] = &[Order::PLACED, Order::DONE];
///     fn kind(&self) -> ::batpak::EventKind {
///         match self {
///             Self::Placed { .. } => Self::PLACED,
///             Self::Done => Self::DONE,
///         }
///     }
///     fn apply(state: OrderState, event: &Self)
///         -> ::core::result::Result<OrderState, ::batpak::InvalidTransition> {
///         match (state, event) {
///             (OrderState::Draft, Self::Placed { .. }) => ::core::result::Result::Ok(OrderState::Placed),
///             (OrderState::Placed, Self::Done) => ::core::result::Result::Ok(OrderState::Done),
///             _ => ::core::result::Result::Err(
///                 ::batpak::InvalidTransition::new("Order", state, /* the variant's name */),
///             ),
///         }
///     }
///     // .. STATES, variant_name
/// }
/// /// The steps one [`Order`] in state [`order::Draft`] can take: one method per legal event. ..
/// pub trait OrderDraftTransitions: ::core::marker::Sized {
///     /// Records [`Order::Placed`]: `Draft` → `Placed`. ..
///     fn placed<Db: ::batpak::MachineStore + ?::core::marker::Sized>(self, store: &Db, items: u32)
///         -> ::core::result::Result<::batpak::Machine<Order, __order_states::Placed>, ::batpak::StepError<Order, __order_states::Draft, Db::Error>>;
/// }
/// #[automatically_derived]
/// impl OrderDraftTransitions for ::batpak::Machine<Order, __order_states::Draft> {
///     fn placed<Db: ::batpak::MachineStore + ?::core::marker::Sized>(self, store: &Db, items: u32)
///         -> /* .. */ {
///         ::batpak::__private::step(self, store, &(), Order::Placed { items })
///     }
/// }
/// /// A loaded [`Order`]: the typed handle of the state its stream is in ..
/// pub enum OrderHandle {
///     Draft(::batpak::Machine<Order, __order_states::Draft>),
///     // .. Placed, Done; with state(), version(), coordinate(), data()
/// }
/// #[automatically_derived]
/// impl Order {
///     pub const MERMAID: &'static str = "stateDiagram-v2\n    [*] --> Draft\n    Draft --> Placed : Placed\n ..";
///     pub const DOT: &'static str = "digraph Order {\n    rankdir=LR;\n ..";
///     pub fn create<Db: ::batpak::MachineStore + ?::core::marker::Sized>(store: &Db, coordinate: ::batpak::Coordinate)
///         -> ::core::result::Result<::batpak::Machine<Self, __order_states::Draft>, ::batpak::MachineError<Db::Error>> {
///         ::batpak::__private::create(store, coordinate)
///     }
///     // .. load (-> OrderHandle), state_of (-> OrderState), submit (dynamic, -> OrderState)
/// }
/// #[automatically_derived]
/// impl Order {
///     /// The kind of [`Order::Placed`] events (category 35246, code 14658).
///     pub const PLACED: ::batpak::EventKind = ::batpak::EventKind::new(35246, 14658);
///     // .. DONE
///     pub const KINDS: &'static [::batpak::EventKind] = &[Self::PLACED, Self::DONE];
/// }
/// ```
#[proc_macro_derive(StateMachine, attributes(machine, transition, upcast))]
pub fn derive_state_machine(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    state_machine::expand(&input)
        .unwrap_or_else(|error| state_machine::fallback(&input, &error))
        .into()
}

/// Turns a function into a named gate a machine can list in
/// `#[machine(gates(..))]`. Its doc comment becomes the gate's description.
/// The machine must list it (see below).
///
/// Accepted signatures (parameter names are free): the machine's context
/// first and the event last, both by shared reference (a `Copy` context,
/// such as the `()` of a machine without one, may come by value, which
/// keeps clippy's pedantic `trivially_copy_pass_by_ref` quiet); between them,
/// optionally, the state (by value, or `&OrderState`) and the data (`&T`
/// for the machine's `data = T`), in either order; returning `bool` or
/// `Result<(), Denial>`. The state and data are those *before* the event:
///
/// ```text
/// #[gate]                 fn open(ctx: &Shop, event: &Order) -> bool
/// #[gate(Order::Placed)]  fn limit(ctx: &Shop, event: &Order) -> Result<(), Denial>
/// #[gate]                 fn calm(ctx: &Shop, state: OrderState, event: &Order) -> bool
/// #[gate(Order::Paid)]    fn exact(ctx: &Shop, bill: &Bill, event: &Order) -> bool
/// #[gate]                 fn both(ctx: &Shop, state: OrderState, bill: &Bill, event: &Order) -> bool
/// #[gate]                 fn plain(_ctx: (), state: SwitchState, event: &Switch) -> bool  // no context
/// #[gate(Order::Placed, unlisted)]  fn audit(ctx: &Shop, event: &Order) -> bool
/// ```
///
/// A machine without `context = ..` gives its gates `&()`. Each signature
/// rule is checked on the offending parameter: more or fewer parameters,
/// `self`, a context or event not taken by reference, a `&mut`. Whether a
/// type fits is checked against the machine, on the parameter, with the
/// fix:
///
/// ```text
/// error[E0277]: this gate takes context `Desk`, but machine `Loan` gives its gates another context
///  = note: .. if `Loan` declares no context, add `context = Desk` to its `#[machine(..)]` ..
/// error[E0277]: a gate of machine `Loan` cannot take `&LoanFile`
///  = note: .. the data, as `&T` for the `T` in `#[machine(.., data = T)]` (declare `data = ..` on `Loan` if it has none)
/// ```
///
/// `#[gate]` alone runs on every transition of the machine that lists it;
/// `#[gate(Order::Placed, ..)]` only on those variants; `unlisted` lets the
/// machine leave it out of `gates(..)`; `crate = path` names the runtime
/// crate when it is not `::batpak`. A `bool` gate that returns `false` is
/// denied with code = the gate's name and message = its doc comment
/// ("denied by gate `name`" without one). The names of the gates that
/// passed are stored in the event's header (`Admission::Gated`).
///
/// # Every gate is listed
/// A gate runs only when its machine lists it, so a gate left out of
/// `gates(..)` is a policy that silently never applies. `#[gate]` makes it
/// a compile error on the gate's name, saying which machine and the fix:
///
/// ```text
/// error[E0277]: gate `within_authority` never runs: machine `Loan` does not list it in `#[machine(gates(..))]`
/// ```
///
/// Add it to the machine's `gates(..)`; or, for a gate meant to be used
/// elsewhere (called directly, or through `GateSpec::of`), say so with
/// `#[gate(Loan::Approved, unlisted)]`. A gate for a machine defined in
/// another crate always needs `unlisted`: that machine cannot name it. A
/// machine whose derive failed counts as listing every gate, so only the
/// derive's own errors show.
///
/// # What is generated
/// The function is kept as written (it stays callable). Beside it comes a
/// *companion*: an empty braced struct with the same name. A braced struct
/// lives only in the type namespace and a function only in the value
/// namespace, so both coexist, and `gates(limit)` names the companion with no
/// new name to learn. The companion implements `batpak::MachineGate<Order>`:
///
/// ```text
/// /// Gate companion of [`limit()`](fn@limit): ..
/// #[allow(non_camel_case_types)]
/// struct limit {}
/// #[automatically_derived]
/// impl ::batpak::MachineGate<Order> for limit {
///     const NAME: &'static str = "limit";
///     const DESCRIPTION: &'static str = "Orders above the credit limit are refused.";
///     fn applies(event: &Order) -> bool {
///         ::core::matches!(event, Order::Placed { .. })
///     }
///     fn check(
///         ctx: &<Order as ::batpak::MachineTypes>::Context,
///         _state: <Order as ::batpak::MachineTypes>::State,
///         _data: &<Order as ::batpak::MachineTypes>::Data,
///         event: &Order,
///     ) -> ::core::result::Result<(), ::batpak::Denial> {
///         // The context (and any state or data parameter) goes through a
///         // hidden trait the derive implements for what the machine gives.
///         limit(<Order as ::batpak::__private::GateContext<Shop, ..>>::context(ctx), event)
///     }
/// }
/// // Unless `unlisted`: an error unless `gates(..)` of `Order` lists `limit`
/// // (the derive implements the hidden `ListedGate` for each gate it lists).
/// const _: () = <limit as ::batpak::__private::ListedGate<
///     Order,
///     <Order as ::batpak::MachineTypes>::State,
/// >>::LISTED;
/// ```
#[proc_macro_attribute]
pub fn gate(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    gate::expand(args, item.clone())
        .unwrap_or_else(|error| gate::fallback(item, &error))
        .into()
}

/// Turns a function into a reactor: "when this event of machine A is
/// committed, take this step on machine B". A `batpak::ReactorRunner`
/// feeds it every committed event of A, from a durable cursor, and commits
/// the step it decides exactly once, through B's gates.
///
/// Accepted signature (parameter names are free): the target machine's
/// context (by shared reference; a `Copy` context such as `()` may come by
/// value), then the committed event of the source machine, returning the
/// step on the target:
///
/// ```text
/// #[react(Order::Paid)]
/// fn ship(warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Shipment>
/// #[react]                                  // every event of `Order`
/// fn audit(_ctx: (), event: &StoredEvent<Order>) -> Reaction<Ledger>
/// ```
///
/// `#[react(Order::Paid, ..)]` limits it to those variants (a variant the
/// source machine does not have is a compile error on its name); `crate =
/// path` names the runtime crate when it is not `::batpak`. The function's
/// name is the reactor's name: it is part of the idempotency key of every
/// step it commits (`react/<name>/<cause event id>`), so renaming a reactor
/// makes it react again to every event, and the reactors run on one store
/// need distinct names (moving one to another module changes nothing).
///
/// # What is generated
/// The function is kept as written. Beside it comes a companion, an empty
/// braced struct of the same name implementing `batpak::Reactor`:
///
/// ```text
/// /// Reactor companion of [`ship()`](fn@ship): ..
/// #[allow(non_camel_case_types)]
/// struct ship {}
/// #[automatically_derived]
/// impl ::batpak::Reactor for ship {
///     type Source = Order;
///     type Target = Shipment;
///     const NAME: &'static str = "ship";
///     const DESCRIPTION: &'static str = "Every paid order is shipped, once.";
///     fn applies(event: &Order) -> bool {
///         ::core::matches!(event, Order::Paid { .. })
///     }
///     fn react(
///         ctx: &<Shipment as ::batpak::MachineTypes>::Context,
///         event: &::batpak::StoredEvent<Order>,
///     ) -> ::batpak::Reaction<Shipment> {
///         ship(ctx, event)
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn react(args: TokenStream, item: TokenStream) -> TokenStream {
    let args = proc_macro2::TokenStream::from(args);
    let item = proc_macro2::TokenStream::from(item);
    react::expand(args, item.clone())
        .unwrap_or_else(|error| react::fallback(item, &error))
        .into()
}
