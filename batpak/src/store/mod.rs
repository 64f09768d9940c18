//! PERSIST: the embedded event store.
//!
//! Folders and files in reading order; each uses only what is above it:
//!
//! ```text
//! backend.rs  config.rs  error.rs  report.rs  lock.rs  fs.rs  cache.rs   leaves and seams
//! engine/     the LogEngine seam; body layout, engine choice, segment, kv (redb, LMDB)
//! core/       every rule of the log: open, write, commit, read, replay, verify, index
//! views/      hub (fan-out), subscriptions, cursors, cached projections
//! facade.rs   `Store`: the public API, thin calls into core and views
//! follow.rs   `Follower`: reads segment files beside a writer, without its lock
//! seam.rs     how the layers above (pipeline, machines) reach this store
//! postgres/   `PgStore`: a shared log on PostgreSQL (feature `postgres`),
//!             beside `Store`, with its own views, behind the same seam
//! ```
//!
//! The core owns every rule (validation, idempotency then expected-version
//! checks, positions, ids, the hash chain, the index); an engine only keeps
//! frame bodies in position order, so one conformance suite proves every
//! engine equal. Views meet the core at one point: right after a sync
//! advances the durable watermark the core tells the hub, so everything a
//! view sees or caches is durable.

mod backend;
mod cache;
mod config;
mod core;
#[cfg(test)]
mod crash_model;
mod engine;
mod error;
mod facade;
mod follow;
mod fs;
#[cfg(feature = "fuzzing")]
pub mod fuzz;
mod lock;
#[cfg(feature = "postgres")]
mod postgres;
mod report;
mod seam;
mod views;

pub use self::backend::Backend;
pub use self::cache::{CacheKey, MemoryCache, ProjectionCache};
pub use self::config::{
    DEFAULT_CHECKPOINT_EVERY_BYTES, DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SEGMENT_MAX_BYTES,
    DEFAULT_SUBSCRIPTION_CAPACITY, MAX_IDEMPOTENCY_KEY_LEN, StoreConfig, SyncPolicy,
};
pub use self::core::replay::EventView;
pub use self::engine::choose::BACKEND_FILE;
#[cfg(feature = "lmdb")]
pub use self::engine::lmdb::LmdbCache;
#[cfg(feature = "redb")]
pub use self::engine::redb::RedbCache;
pub use self::error::{CursorFileProblem, Place, StoreError};
pub use self::facade::{Store, Ticket};
pub use self::follow::Follower;
#[cfg(feature = "postgres")]
pub use self::postgres::{
    DEFAULT_PG_POLL_INTERVAL, DEFAULT_PG_SCHEMA, PgConfig, PgCursor, PgStore, PgSubscription,
};
pub use self::report::{Damage, StoreStats, StreamHead, VerifyReport};
pub use self::views::cursor::Cursor;
pub use self::views::projection::{ProjectionReport, RebuildReason, projection_cache_key};
pub use self::views::subscription::{
    Delivery, Iter as SubscriptionIter, Subscription, SubscriptionError,
};
