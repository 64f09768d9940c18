//! The machine layer: what `#[derive(StateMachine)]` targets, the typed
//! handle, and the runtime the generated code calls.
//!
//! - `definition.rs`: the contract the macros implement ([`StateMachine`],
//!   [`MachineTypes`], [`MachineData`], [`State`], [`InvalidTransition`], [`GateSpec`],
//!   [`MachineGate`], [`Timer`]).
//! - `catalog.rs`: [`CatalogEntry`], what a store records about a machine
//!   the first time it writes, so tools speak its names.
//! - `gate_args.rs`: how a gate's context and its state and data parameters
//!   are checked against its machine (`GateContext`, `GateArg`).
//! - `handle.rs`: the typed handle [`Machine<M, S>`].
//! - `seam.rs`: what the runtime needs from a store ([`MachineStore`]) and
//!   the projection of state and data a store may cache
//!   ([`MachineProjection`]).
//! - `runtime.rs`: create, load, `state_of`, step and submit,
//!   [`MachineError`], and [`StepError`] (a refused step's error with its
//!   handle).
//! - `caused.rs`: [`submit_caused`], a step on behalf of another event
//!   (causation and idempotency key recorded), what reactors and timers
//!   commit through.
//!
//! Files only import the ones listed above them. This layer talks to storage
//! through `MachineStore` alone and must never import the store.
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

mod catalog;
mod caused;
mod definition;
mod gate_args;
mod handle;
mod runtime;
mod schema;
mod seam;
mod upcast;

pub use catalog::{CATALOG_KIND, CATALOG_SCOPE, CatalogEntry, catalog_coordinate};
pub use caused::{Cause, CausedStep, submit_caused};
pub use definition::{
    FallbackState, GateSpec, InvalidTransition, MachineData, MachineGate, MachineTypes, Sealed,
    State, StateMachine, Timer,
};
pub use gate_args::{CopyContext, GateArg, GateContext};
pub use handle::Machine;
pub use runtime::{
    CorruptReason, Loaded, MachineError, StepError, create, load, state_of, step, submit,
};
pub use schema::{
    FieldSchema, MachineSchema, StateSchema, TransitionSchema, VariantSchema, state_code,
};
pub use seam::{MachineProjection, MachineStore};
pub use upcast::{VariantBody, upcast_from};
