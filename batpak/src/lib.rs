//! # batpak
//!
//! Event-sourced state machines over coordinate spaces, with a sync API.
//!
//! Write a domain as a plain enum; `#[derive(StateMachine)]` turns it into a
//! state machine whose illegal steps do not compile, whose steps pass policy
//! gates, and whose events land in a durable, tamper-evident log.
//!
//! Reading order (each layer builds on the ones before it; `outcome` stands
//! alone):
//!
//! ```text
//! coordinate -> event -> region -> guard  -> pipeline -> projection -> machine -> store   -> wiring
//! WHO + WHERE   WHAT     WHICH     MAY I?    COMMIT      FOLD          STEP        PERSIST    TOGETHER
//! ```
//!
//! Machines work together through `wiring`: a [`Reactor`] (`#[react]`) takes
//! a step on one machine when another's event is committed, run by a
//! [`ReactorRunner`] exactly once per event; a timed transition
//! (`#[transition(Placed -> Expired, after = "30m")]`) is fired by
//! [`Timers`] when its entity has waited long enough, with its due time read
//! from the log. `examples/saga.rs` shows both.
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
//! ## Beyond one process
//!
//! The embedded [`Store`] has one writer process per directory. With the
//! `postgres` feature, `PgStore` keeps the same log in a
//! PostgreSQL schema that many processes and hosts share, with the same
//! promises (expected versions, idempotency keys, the hash chain, gated
//! and bypassed admissions) and the same machine seam: moving a domain
//! from one to the other changes the constructor, not the machines.
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `redb` | off | event log and projection cache on redb |
//! | `lmdb` | off | event log and projection cache on LMDB (heed) |
//! | `cli` | off | the `batpak` command-line tool: `verify`, `stats`, `dump`, `timers` and more on a store, read-only |
//! | `postgres` | off | `PgStore`: the event log in PostgreSQL, shared by many processes and hosts (libpq, no async runtime; needs `libpq-dev` to build) |
//! | `testkit` | off | `batpak::testkit`: `Loan::scenario().given([..]).when(..).then_events([..])` on a scratch store, and every legal path of the table walked through the gates (`testkit::explore`) |
//! | `tracing` | off | spans through the `tracing` facade: `step`, `submit` (machine, entity, kind), `submit_caused` (also cause and key: reactions and timers), `gate` (gate), `commit`, `sync`, `open`, `project`, each with its `outcome`; a denial is an `info` event with its gate, code and context. Off, none of it is compiled |

// The layers in reading order, each with its public items. A layer uses
// only the layers above it (`outcome` stands alone). Every module is
// private: the re-exports here are the one public path to each item.

// Optional `tracing` spans (the `tracing` feature): crate-private macros
// that compile to nothing without it.
mod trace;

// WHO + WHERE: the address of a stream.
mod coordinate;
pub use coordinate::{Coordinate, CoordinateError, CoordinatePart, MAX_COORDINATE_PART_LEN};

// WHAT: kinds, ids, headers, the hash chain, the byte encoding.
mod event;
pub use event::{
    Admission, CodecError, EventHeader, EventId, EventKind, Hash, KindError, MAX_DECODE_DEPTH,
    StoredEvent, StoredPayload, decode_header, decode_payload, decode_stored, encode_header,
    encode_payload, read_any_payload_version,
};

// WHICH: the one predicate over stored events.
mod region;
pub use region::{Region, RegionError};

// MAY I? Proposals, gates, and the receipt that proves they passed.
mod guard;
pub use guard::{
    AppendOptions, Denial, ExpectedVersion, FnGate, Gate, GateError, GateSet, Proposal, Receipt,
};

// COMMIT: a receipt or a bypass becomes an append.
mod pipeline;
pub use pipeline::{
    AppendReceipt, Bypass, BypassError, CommitTarget, Committed, RawAppend, RawAppendParts, bypass,
};

// FOLD: what a projection is.
mod projection;
pub use projection::Projection;

// STEP: state machines, typed handles, and the runtime the derive calls.
mod machine;
pub use machine::{
    CATALOG_KIND, CATALOG_SCOPE, CatalogEntry, CorruptReason, FieldSchema, GateSpec,
    InvalidTransition, Machine, MachineData, MachineError, MachineGate, MachineProjection,
    MachineSchema, MachineStore, MachineTypes, State, StateMachine, StateSchema, StepError, Timer,
    TransitionSchema, VariantSchema, catalog_coordinate, state_code,
};
pub use machine::{Cause, CausedStep, submit_caused};

// The schema history check (`batpak::schema`): a machine's schema against
// the history committed beside the code.
mod history;

/// Evolving a machine: its schema as data ([`MachineSchema`]) and the check
/// of that schema against the history committed beside the code, run from
/// an ordinary test (see [`schema::check`]).
pub mod schema {
    pub use crate::history::{
        Checked, Problem, SchemaError, UPDATE_ENV, check, check_schema, history_path,
    };
    pub use crate::machine::{
        FieldSchema, MachineSchema, StateSchema, TransitionSchema, VariantSchema, state_code,
    };
}

// PERSIST: the store and its views.
mod store;
#[cfg(feature = "lmdb")]
pub use store::LmdbCache;
#[cfg(feature = "redb")]
pub use store::RedbCache;
pub use store::{
    BACKEND_FILE, Backend, CacheKey, Cursor, CursorFileProblem, DEFAULT_CHECKPOINT_EVERY_BYTES,
    DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SEGMENT_MAX_BYTES, DEFAULT_SUBSCRIPTION_CAPACITY, Damage,
    Delivery, EventView, Follower, MAX_IDEMPOTENCY_KEY_LEN, MemoryCache, Place, ProjectionCache,
    ProjectionReport, RebuildReason, Store, StoreConfig, StoreError, StoreStats, StreamHead,
    Subscription, SubscriptionError, SubscriptionIter, SyncPolicy, Ticket, VerifyReport,
    projection_cache_key,
};
#[cfg(feature = "postgres")]
pub use store::{
    DEFAULT_PG_POLL_INTERVAL, DEFAULT_PG_SCHEMA, PgConfig, PgCursor, PgStore, PgSubscription,
};

// WIRE: reactors between machines, durable timers, parked steps.
mod wiring;
pub use wiring::{
    DueTimer, Handled, PARKED_KIND, ParkReason, Parked, PendingTimer, Reacted, Reaction, Reactor,
    ReactorRunner, RunnerReport, RunnerThread, TIMER_TABLE_KIND, TimerReport, TimerRow, TimerTable,
    TimerThread, Timers, WIRING_SCOPE, WiringError, now_us, parked, pending_timers,
};

// TEST: scenarios and model-based paths, above everything they test.
#[cfg(feature = "testkit")]
pub mod testkit;

// Independent of the layers: the result of a workflow step.
mod outcome;
pub use outcome::{NotOk, Outcome, Wait};

/// Derives a state machine from an event enum; see [`batpak_macros::StateMachine`].
pub use batpak_macros::StateMachine;
/// Turns a function into a machine gate; see [`batpak_macros::gate`].
pub use batpak_macros::gate;
/// Turns a function into a reactor; see [`batpak_macros::react`].
pub use batpak_macros::react;

/// Everything a user of batpak usually needs, in one `use`.
pub mod prelude {
    pub use crate::Projection;
    pub use crate::{
        AppendOptions, Bypass, Coordinate, Cursor, Delivery, Denial, EventKind, ExpectedVersion,
        FnGate, Gate, GateSet, Machine, MachineData, MachineError, Outcome, Proposal, Reaction,
        Region, StateMachine, StepError, Store, StoreConfig, StoreError, StoredEvent, Subscription,
        SyncPolicy, Wait, gate, react,
    };
}

/// What generated code may call. Not a public API: no stability promise.
///
/// Nothing here can build a typed handle in a state its stream is not in:
/// `create`, `step` and `Loaded::into_handle`
/// check the handle's state type against the state the table or replay
/// produced.
#[doc(hidden)]
pub mod __private {
    pub use crate::event::{refuse_newer_payload, take_stored_payload};
    pub use crate::machine::{
        CopyContext, FallbackState, GateArg, GateContext, Loaded, Sealed, VariantBody, create,
        load, state_of, step, submit, upcast_from,
    };

    /// Gate `Self` is listed in machine `M`'s `#[machine(gates(..))]`. The
    /// derive implements it for each gate it lists; `#[gate]` asserts it of
    /// its companion (by naming `LISTED`) unless marked `unlisted`, so a gate
    /// no machine runs is a compile error, not a policy that silently never
    /// applies. `S` is `M::State`: keying on it lets the impl for failed
    /// machines below sit beside the derive's impls without overlapping.
    #[diagnostic::on_unimplemented(
        message = "gate `{Self}` never runs: machine `{M}` does not list it in `#[machine(gates(..))]`",
        label = "not in the `gates(..)` of `{M}`",
        note = "add it to the machine's list, as in `#[machine(.., gates(.., {Self}))]` on `{M}`; if it is meant to be used elsewhere (called directly, or through `GateSpec::of`), mark it `#[gate(.., unlisted)]`"
    )]
    pub trait ListedGate<M, S> {
        /// What `#[gate]`'s assertion names: `<G as ListedGate<M, S>>::LISTED`.
        const LISTED: () = ();
    }

    /// A machine whose derive failed (its state is [`FallbackState`]) counts
    /// as listing every gate, so its gates add no errors to the derive's.
    impl<G: ?Sized, M> ListedGate<M, FallbackState> for G {}

    pub use serde;
}

/// Entry points for the fuzz targets (`fuzz/`) and their bounded run in the
/// tests. Not a public API: no stability promise.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub use store::fuzz as __fuzz;

// The fuzz module compiles the CLI's renderer (`src/bin/batpak/render.rs`),
// which names this library `batpak`, as the binary does.
#[cfg(feature = "fuzzing")]
extern crate self as batpak;

/// The README's code, compiled and run as a doctest so it cannot drift.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
