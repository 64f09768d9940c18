//! TEST: given/when/then scenarios per machine and model-based paths from
//! the transition table, on a real store (the `testkit` feature).
//!
//! - `scratch.rs`: the per-thread scratch store every scenario and walk
//!   runs on, each on an entity of its own.
//! - `scenario.rs`: [`Scenarios`] (`Loan::scenario()`), [`Scenario`] and
//!   [`Then`].
//! - `paths.rs`: [`paths`] (every legal sequence up to a depth, from
//!   the table in [`StateMachine::SCHEMA`](crate::StateMachine::SCHEMA)),
//!   [`path_strategy`] and [`explore`] (walks every path through the gates
//!   and reports the ones never admitted).
//!
//! The kit sits above the store: it uses the store and the machine runtime
//! as a user would, and nothing below imports it.
//!
//! Unlike the rest of the crate, the kit panics: a failed `then_*` or an
//! illegal given fails the test that ran it, as `assert!` does, with a
//! message that says what was expected and what happened.
#![allow(
    clippy::panic,
    reason = "a test kit fails the calling test by panicking, as assert! does"
)]

mod paths;
mod scenario;
mod scratch;

pub use paths::{Blocked, Exploration, TablePath, explore, path_strategy, paths};
pub use scenario::{Scenario, Scenarios, Then, WhenOutcome};
