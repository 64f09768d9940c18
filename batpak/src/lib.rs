//! # batpak
//!
//! Event-sourced state machines over coordinate spaces, with a sync API.
//!
//! Write a domain as a plain enum; `#[derive(StateMachine)]` turns it into a
//! state machine whose illegal steps do not compile, whose steps pass policy
//! gates, and whose events land in a durable, tamper-evident log.
//!
//! Reading order (each layer builds on the previous):
//!
//! ```text
//! coordinate  ->  event  ->  guard  ->  pipeline  ->  store
//! WHO + WHERE     WHAT       MAY I?     COMMIT        PERSIST
//! ```
//!
//! ## Example
//!
//! ```
//! use batpak::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// What the gates read.
//! struct Shop { credit_limit_cents: u64 }
//!
//! /// What can happen to an order.
//! #[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
//! #[machine(states(Draft, Placed, Paid), initial = Draft, terminal(Paid),
//!           gates(within_credit_limit), context = Shop)]
//! enum Order {
//!     #[transition(Draft -> Placed)]
//!     Placed { total_cents: u64 },
//!     #[transition(Placed -> Paid)]
//!     Paid { amount_cents: u64 },
//! }
//!
//! /// Orders above the credit limit are refused.
//! #[gate(Order::Placed)]
//! fn within_credit_limit(shop: &Shop, event: &Order) -> bool {
//!     matches!(event, Order::Placed { total_cents } if *total_cents <= shop.credit_limit_cents)
//! }
//!
//! let dir = tempfile::tempdir()?;
//! let store = Store::open(StoreConfig::new(dir.path()))?;
//! let shop = Shop { credit_limit_cents: 5_000 };
//! let coord = Coordinate::new("order:507", "shop:acme")?;
//!
//! let draft = Order::create(&store, coord.clone())?;     // Machine<Order, order::Draft>
//! let placed = draft.placed(&store, &shop, 4_200)?;      // gate passes, event committed
//! let paid = placed.paid(&store, &shop, 4_200)?;         // Machine<Order, order::Paid>
//! // `paid.placed(..)` does not compile: a paid order has no such step.
//! assert_eq!(paid.version(), 2);
//! assert_eq!(Order::state_of(&store, &coord)?, OrderState::Paid);
//!
//! let events: Vec<StoredEvent<Order>> = store.stream(&coord)?;
//! assert_eq!(events[0].header.admission.gates(), ["within_credit_limit"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `redb` | off | event log and projection cache on redb |
//! | `lmdb` | off | event log and projection cache on LMDB (heed) |
//! | `cli` | off | the `batpak` command-line tool: `verify`, `stats`, `dump` a store read-only |

pub mod coordinate;
pub mod event;
pub mod guard;
pub mod machine;
pub mod outcome;
pub mod pipeline;
pub mod projection;
pub mod region;
pub mod store;

pub use coordinate::{Coordinate, CoordinateError, CoordinatePart, MAX_COORDINATE_PART_LEN};
pub use event::{
    Admission, CodecError, Event, EventHeader, EventId, EventKind, Hash, KindError, StoredEvent,
};
pub use guard::{
    AppendOptions, Denial, ExpectedVersion, FnGate, Gate, GateError, GateSet, Proposal, Receipt,
};
pub use machine::{
    CorruptReason, GateSpec, InvalidTransition, Machine, MachineError, MachineGate,
    MachineProjection, MachineStore, State, StateMachine,
};
pub use outcome::{NotOk, Outcome, Wait};
pub use pipeline::{
    AppendReceipt, Bypass, BypassError, CommitTarget, Committed, RawAppend, bypass,
};
pub use projection::Projection;
pub use region::{Region, RegionError};
#[cfg(feature = "lmdb")]
pub use store::LmdbCache;
#[cfg(feature = "redb")]
pub use store::RedbCache;
pub use store::{
    Backend, CacheKey, Damage, EventView, MemoryCache, ProjectionCache, Store, StoreConfig,
    StoreError, StoreStats, StreamHead, SyncPolicy, Ticket, VerifyReport,
};
// views: projections, subscriptions, cursors.
pub use store::{
    Cursor, CursorFileProblem, DEFAULT_SUBSCRIPTION_CAPACITY, Delivery, ProjectionReport,
    RebuildReason, Subscription, SubscriptionError, SubscriptionIter, projection_cache_key,
};

/// Derives a state machine from an event enum; see [`batpak_macros::StateMachine`].
pub use batpak_macros::StateMachine;
/// Turns a function into a machine gate; see [`batpak_macros::gate`].
pub use batpak_macros::gate;

/// Everything a user of batpak usually needs, in one `use`.
pub mod prelude {
    pub use crate::Projection;
    pub use crate::{
        AppendOptions, Bypass, Coordinate, Denial, EventKind, ExpectedVersion, FnGate, Gate,
        GateSet, Machine, MachineError, Outcome, Proposal, Region, StateMachine, Store,
        StoreConfig, StoreError, StoredEvent, SyncPolicy, Wait, gate,
    };
}

/// What generated code may call. Not a public API: no stability promise.
///
/// Nothing here can build a typed handle in a state its stream is not in:
/// `create`, `step` and `Loaded::into_handle` check the handle's state type
/// against the state the table or replay produced.
#[doc(hidden)]
pub mod __private {
    pub use crate::machine::{FallbackState, Loaded, Sealed, create, load, state_of, step, submit};
    pub use serde;
}

/// The README's code, compiled and run as a doctest so it cannot drift.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
