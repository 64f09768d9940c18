//! MAY I? What a change proposes, the policies that judge it, and the
//! receipt that proves they passed.
//!
//! A [`Gate`] looks at the caller's context and the [`Proposal`] and either
//! admits it or returns a [`Denial`]; a [`GateSet`] turns a proposal that
//! passes every gate into a [`Receipt`], which only this crate can make.
//! This layer decides and never writes: committing a receipt is the
//! pipeline's job, and this layer must never import it.
//!
//! - `proposal.rs`: [`Proposal`] and the conditions of its append.
//! - `gate.rs`: [`Gate`], [`FnGate`], [`GateSet`], [`Denial`], [`GateError`].
//! - `receipt.rs`: [`Receipt`], the proof of passing.

mod gate;
mod proposal;
mod receipt;

pub use gate::{Denial, FnGate, Gate, GateError, GateSet};
pub use proposal::{AppendOptions, ExpectedVersion, Proposal};
pub use receipt::Receipt;
