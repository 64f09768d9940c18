//! WIRE: machines working together. Reactors (an event of one machine
//! causes a step of another) with exactly-once effects, durable timers
//! (a step that falls due when an entity stays in a state), and the parked
//! record of a step either could not take.
//!
//! - `error.rs`: [`WiringError`], what stops a runner or a scheduler.
//! - `reactor.rs`: [`Reactor`] (what `#[react]` implements) and
//!   [`Reaction`].
//! - `parked.rs`: parked steps ([`Parked`], [`ParkReason`], [`parked`]) and
//!   how a cause is found handled.
//! - `runner.rs`: [`ReactorRunner`], fed by a durable cursor, and its
//!   thread.
//! - `table.rs`: a machine's timers as data ([`TimerTable`]), recorded by
//!   its scheduler, and [`pending_timers`], which lists pending timers
//!   without the machine's types (the CLI's `timers`).
//! - `timers.rs`: [`Timers`], due times from the log, `run_due` and its
//!   thread.
//!
//! The layer above the store: it reads through cursors and
//! `walk_causation`, and commits every step through the machine runtime
//! (`submit_caused`), so steps pass the target's gates and table like any
//! other. Nothing here keeps state of its own outside the log except a
//! reactor's cursor position, which is only a shortcut.

mod error;
mod parked;
mod reactor;
mod runner;
mod table;
mod timers;

pub use error::WiringError;
pub use parked::{Handled, PARKED_KIND, ParkReason, Parked, WIRING_CATEGORY, WIRING_SCOPE, parked};
pub use reactor::{Reaction, Reactor};
pub use runner::{Reacted, ReactorRunner, RunnerReport, RunnerThread};
pub use table::{DueTimer, TIMER_TABLE_KIND, TimerRow, TimerTable, pending_timers};
pub use timers::{PendingTimer, TimerReport, TimerThread, Timers, now_us};
