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
//!
//! let coord = Coordinate::new("order:507", "shop:acme")?;
//! let placed = EventKind::custom(7, 1)?;
//! let proposal = Proposal::new(coord, placed, 4_200_u64).expect(ExpectedVersion::NoStream);
//! let gates = GateSet::<u64, u64>::new().with(FnGate::new("within_limit", |limit: &u64, p: &Proposal<u64>| {
//!     if p.payload() <= limit { Ok(()) } else { Err(Denial::new("over_limit", "total exceeds limit")) }
//! }));
//! let receipt = gates.evaluate(&5_000, proposal)?;
//! assert_eq!(receipt.gates(), ["within_limit"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `redb` | off | event log and projection cache on redb |
//! | `lmdb` | off | event log and projection cache on LMDB (heed) |

pub mod coordinate;
pub mod event;
pub mod guard;
pub mod outcome;
pub mod pipeline;
pub mod store;
pub mod typestate;

pub use coordinate::{
    Coordinate, CoordinateError, CoordinatePart, EntityFilter, KindFilter, MAX_COORDINATE_PART_LEN,
    Region, RegionError,
};
pub use event::{
    Admission, CodecError, Event, EventHeader, EventId, EventKind, Hash, KindError, StoredEvent,
};
pub use guard::{Denial, FnGate, Gate, GateError, GateSet};
pub use outcome::{NotOk, Outcome, Wait};
pub use pipeline::{
    AppendOptions, AppendReceipt, Bypass, BypassError, CommitTarget, Committed, ExpectedVersion,
    Proposal, RawAppend, Receipt, bypass,
};
#[cfg(feature = "lmdb")]
pub use store::LmdbCache;
#[cfg(feature = "redb")]
pub use store::RedbCache;
pub use store::{
    Backend, CacheKey, Damage, MemoryCache, ProjectionCache, Store, StoreConfig, StoreError,
    StoreStats, StreamHead, SyncPolicy, Ticket, VerifyReport,
};
pub use typestate::{InvalidTransition, Machine, State, StateMachine};

/// Everything a user of batpak usually needs, in one `use`.
pub mod prelude {
    pub use crate::{
        AppendOptions, Bypass, Coordinate, Denial, EventKind, ExpectedVersion, FnGate, Gate,
        GateSet, Machine, Outcome, Proposal, Region, StateMachine, Store, StoreConfig, StoreError,
        StoredEvent, SyncPolicy, Wait,
    };
}

/// What generated code may call. Not a public API: no stability promise.
#[doc(hidden)]
pub mod __private {
    /// Seals [`crate::State`]: implemented only by generated state types.
    pub trait Sealed {}
}
