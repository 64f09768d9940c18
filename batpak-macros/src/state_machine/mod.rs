//! `#[derive(StateMachine)]`: an event enum becomes an event-sourced state
//! machine.
//!
//! ```text
//! #[derive(StateMachine, Serialize, Deserialize)]
//! #[machine(
//!     states(Draft, Placed, Paid, Shipped, Cancelled),  // required
//!     initial = Draft,                                  // required
//!     terminal(Shipped, Cancelled),                     // no way out of these
//!     gates(within_credit_limit, shop_is_open),         // #[gate] functions
//!     context = Shop,                                   // what gates read (default `()`)
//!     category = 7,                                     // default: blake3 of the name
//!     crate = ::batpak,                                 // path of the runtime crate
//! )]
//! pub enum Order {
//!     #[transition(Draft -> Placed)]
//!     Placed { items: u32, total_cents: u64 },
//!     #[transition(Draft | Placed | Paid -> Cancelled, kind = 9)]
//!     Cancelled(String),
//!     ..
//! }
//! ```
//!
//! Pipeline: `attr` reads the attributes, `ast` builds the model (borrowing
//! the input for spans), `check` applies every rule and collects all errors,
//! `expand` generates. When a rule fails only the errors are emitted: the
//! enum itself is untouched by a derive, so follow-on errors stay few.
//!
//! # What one derive generates
//! A trimmed real expansion of
//! `#[machine(states(Draft, Placed, Done), initial = Draft, terminal(Done))]`
//! on `enum Order { #[transition(Draft -> Placed)] Placed { items: u32 },
//! #[transition(Placed -> Done)] Done }`:
//!
//! ```text
//! /// States of [`Order`]: one marker type per state, ...
//! pub mod order {
//!     /// `Order` in state `Draft` (initial).
//!     #[derive(Debug)]
//!     pub enum Draft {}
//!     ...
//! }
//! /// The state of a [`Order`] entity at run time ...
//! #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
//! pub enum OrderState { Draft, Placed, Done }
//! impl ::batpak::State for order::Draft {
//!     type Machine = Order;
//!     const VALUE: OrderState = OrderState::Draft;
//! }
//! #[automatically_derived]
//! impl ::batpak::StateMachine for Order {
//!     type State = OrderState;
//!     type Context = ();
//!     const NAME: &'static str = "Order";
//!     const INITIAL: OrderState = OrderState::Draft;
//!     const CATEGORY: u16 = 24_171;   // blake3("batpak/category/Order"), never 0
//!     const GATES: &'static [::batpak::GateSpec<Self>] = &[];
//!     fn kind(&self) -> ::batpak::EventKind {
//!         match self {
//!             Self::Placed { .. } => ::batpak::EventKind::new(Self::CATEGORY, 23_113),
//!             Self::Done => ::batpak::EventKind::new(Self::CATEGORY, 52_510),
//!         }
//!     }
//!     fn apply(state: OrderState, event: &Self) -> Result<OrderState, ::batpak::InvalidTransition> {
//!         match (state, event) {
//!             (OrderState::Draft, Self::Placed { .. }) => Ok(OrderState::Placed),
//!             (OrderState::Placed, Self::Done) => Ok(OrderState::Done),
//!             _ => Err(::batpak::InvalidTransition::new(Self::NAME, state, event.variant_name())),
//!         }
//!     }
//!     ...
//! }
//! /// The steps an [`Order`] in state [`order::Draft`] can take ...
//! pub trait OrderDraftTransitions: Sized {
//!     fn placed<Db: ::batpak::MachineStore + ?Sized>(self, store: &Db, items: u32)
//!         -> Result<::batpak::Machine<Order, order::Placed>, ::batpak::MachineError<Db::Error>>;
//! }
//! #[automatically_derived]
//! impl OrderDraftTransitions for ::batpak::Machine<Order, order::Draft> {
//!     fn placed<Db: ::batpak::MachineStore + ?Sized>(self, store: &Db, items: u32) -> ... {
//!         ::batpak::__private::step(self, store, &(), Order::Placed { items })
//!     }
//! }
//! pub enum OrderHandle { Draft(Machine<Order, order::Draft>), ... }   // what `load` returns
//! impl Order {
//!     pub const MERMAID: &'static str = "stateDiagram-v2\n    [*] --> Draft\n ...";
//!     pub const DOT: &'static str = "digraph Order {\n ...";
//!     pub fn create<Db>(store: &Db, coordinate: Coordinate) -> Result<Machine<Self, order::Draft>, ...>;
//!     pub fn load<Db>(store: &Db, coordinate: &Coordinate) -> Result<OrderHandle, ...>;
//!     pub fn state_of<Db>(store: &Db, coordinate: &Coordinate) -> Result<OrderState, ...>;
//!     pub fn submit<Db>(store: &Db, coordinate: &Coordinate, event: Self) -> Result<OrderState, ...>;
//! }
//! ```
//! The full, untrimmed output is pinned by the snapshot tests in
//! `src/snapshots/`.

mod ast;
mod attr;
mod check;
mod expand;

use proc_macro2::TokenStream;
use syn::DeriveInput;

use crate::util::Errors;

/// The derive's pipeline: read, check, generate. Every rule violation is
/// reported together.
pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let mut errors = Errors::default();
    let machine = ast::Machine::from_syn(input, &mut errors);
    if let Some(machine) = &machine {
        check::check(machine, &mut errors);
    }
    errors.finish()?;
    Ok(machine.map(|m| expand::machine(&m)).unwrap_or_default())
}

#[cfg(test)]
mod tests;
