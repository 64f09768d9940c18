//! A shared event log on PostgreSQL: [`PgStore`], for many processes and
//! hosts writing and reading one log (the `postgres` feature).
//!
//! The same promises as the embedded store, kept by the database instead
//! of a single writer process:
//! - **Expected version**: checked in the writing transaction, and backed
//!   by a unique `(entity, scope, sequence)` constraint, so two writers can
//!   never both append sequence *n* to a stream.
//! - **Global order**: every append takes one transaction-level advisory
//!   lock per schema before it reads the next position, and holds it until
//!   it commits. Positions are therefore handed out *in commit order* and
//!   are gapless (no `SEQUENCE` object, so a rolled-back append leaves no
//!   hole): a reader that sees position *n* committed sees every position
//!   below it, so a cursor or subscription that reads "after my last
//!   position" never skips an event. The cost: commits to one schema are
//!   serialized across all processes, one WAL flush at a time (threads of
//!   one process share commits, `group.rs`); see ARCHITECTURE.md and
//!   TUNING.md.
//! - **The hash chain**: each event's header is encoded with the event
//!   codec and its hash computed as `Hash::chain(prev, header, payload)`
//!   over exactly the stored bytes, in the writing transaction, the same
//!   computation as the segment store.
//! - **Idempotency keys, admissions, atomic batches, reserved kinds,
//!   limits**: as the embedded store, with the same [`StoreError`]s.
//! - **Durability**: an append is durable when it returns (PostgreSQL's
//!   commit with `synchronous_commit` on, the server default).
//!
//! Files, lowest first: `conn.rs` (pool, parameters, rows, errors),
//! `schema.rs` (tables and SQL text), `log.rs` (config and what handles
//! share), `write.rs` (the append transaction), `group.rs` (group commit), `read.rs` (reads and
//! verify), `facade.rs` (`PgStore`), `views.rs` (projection cache table, cursors, subscriptions),
//! `seam.rs` (the machine seam). This module never touches the embedded
//! store's core or engines.

mod conn;
mod facade;
mod group;
mod log;
mod read;
mod schema;
mod seam;
mod views;
mod write;

pub use self::facade::PgStore;
pub use self::log::{DEFAULT_PG_POLL_INTERVAL, DEFAULT_PG_SCHEMA, PgConfig};
pub use self::views::{PgCursor, PgSubscription};
