//! Gates: policies that admit a [`Proposal`] or say why not, and the
//! ordered set that runs them.
//!
//! A [`GateSet`] runs its gates in the order they were added and **stops at
//! the first denial** (later gates may rely on earlier ones, and a denied
//! proposal should cost as little as possible); [`GateSet::check_all`]
//! collects every denial for reporting. Passing every gate is the only way
//! to obtain a [`Receipt`]. A gate never writes: denials are returned to the
//! caller, never stored.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::proposal::Proposal;
use super::receipt::Receipt;
use crate::event::CodecError;

/// Why a gate refused a proposal: which gate, a stable code for programs, a
/// message for people, and structured context (limits, amounts, ids).
///
/// ```
/// use batpak::Denial;
/// let denial = Denial::new("over_limit", "order total exceeds the credit limit")
///     .with("limit_cents", 5_000)
///     .with("total_cents", 7_250);
/// assert_eq!(denial.code(), "over_limit");
/// assert_eq!(denial.context()["limit_cents"], "5000");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    gate: String,
    code: Cow<'static, str>,
    message: String,
    context: BTreeMap<String, String>,
}

impl Denial {
    /// A denial with a machine-readable `code` and a human `message`. The
    /// gate's name is filled in by the [`GateSet`] that ran it.
    #[must_use]
    pub fn new(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self {
            gate: String::new(),
            code: code.into(),
            message: message.into(),
            context: BTreeMap::new(),
        }
    }

    /// Adds one item of structured context.
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl fmt::Display) -> Self {
        self.context.insert(key.into(), value.to_string());
        self
    }

    /// Names the gate that denied. A [`GateSet`] calls this with the gate
    /// that actually ran, replacing any name the gate put there itself, so a
    /// denial can never speak for another gate.
    #[must_use]
    pub fn from_gate(mut self, gate: &str) -> Self {
        gate.clone_into(&mut self.gate);
        self
    }

    /// The gate that denied.
    #[must_use]
    pub fn gate(&self) -> &str {
        &self.gate
    }

    /// The stable code, for programs.
    #[must_use]
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The message, for people.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Structured context, for both.
    #[must_use]
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gate `{}` denied ({}): {}",
            self.gate, self.code, self.message
        )
    }
}

impl std::error::Error for Denial {}

/// Why a gate set produced no receipt.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GateError {
    /// A gate refused the proposal.
    #[error(transparent)]
    Denied(Denial),
    /// The payload could not be encoded, so no receipt can be bound to it.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// A policy: admit the proposal, or say why not.
///
/// `Ctx` is whatever the policy needs to decide (limits, clock, a read
/// model); `P` is the proposed payload type.
pub trait Gate<Ctx: ?Sized, P> {
    /// Stable name, recorded in every event this gate admits.
    fn name(&self) -> &str;

    /// What the gate enforces, for people (generated gates use their doc
    /// comment).
    fn description(&self) -> &str {
        ""
    }

    /// Admits the proposal or returns why not.
    ///
    /// # Errors
    /// A [`Denial`] when the policy refuses the proposal.
    fn evaluate(&self, ctx: &Ctx, proposal: &Proposal<P>) -> Result<(), Denial>;
}

/// A gate made from a name and a closure.
///
/// ```
/// use batpak::{Denial, FnGate, Gate};
/// let positive = FnGate::new("positive", |_: &(), p: &batpak::Proposal<i64>| {
///     if *p.payload() > 0 { Ok(()) } else { Err(Denial::new("not_positive", "must be > 0")) }
/// });
/// assert_eq!(positive.name(), "positive");
/// ```
pub struct FnGate<F> {
    name: Cow<'static, str>,
    check: F,
}

impl<F> FnGate<F> {
    /// Names the closure as a gate.
    pub fn new(name: impl Into<Cow<'static, str>>, check: F) -> Self {
        Self {
            name: name.into(),
            check,
        }
    }
}

impl<Ctx: ?Sized, P, F> Gate<Ctx, P> for FnGate<F>
where
    F: Fn(&Ctx, &Proposal<P>) -> Result<(), Denial>,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn evaluate(&self, ctx: &Ctx, proposal: &Proposal<P>) -> Result<(), Denial> {
        (self.check)(ctx, proposal)
    }
}

impl<F> fmt::Debug for FnGate<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnGate").field("name", &self.name).finish()
    }
}

/// An ordered set of gates that turns a proposal into a [`Receipt`].
pub struct GateSet<Ctx: ?Sized, P> {
    gates: Vec<Box<dyn Gate<Ctx, P> + Send + Sync>>,
}

impl<Ctx: ?Sized, P> Default for GateSet<Ctx, P> {
    fn default() -> Self {
        Self { gates: Vec::new() }
    }
}

impl<Ctx: ?Sized, P> fmt::Debug for GateSet<Ctx, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.gates.iter().map(|g| g.name()))
            .finish()
    }
}

impl<Ctx: ?Sized, P: Serialize> GateSet<Ctx, P> {
    /// An empty set: every proposal passes (its receipt names no gates).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a gate; gates run in the order they were added.
    #[must_use]
    pub fn with(mut self, gate: impl Gate<Ctx, P> + Send + Sync + 'static) -> Self {
        self.push(gate);
        self
    }

    /// Adds a gate in place.
    pub fn push(&mut self, gate: impl Gate<Ctx, P> + Send + Sync + 'static) {
        self.gates.push(Box::new(gate));
    }

    /// The gates' names, in evaluation order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.gates.iter().map(|g| g.name())
    }

    /// Runs every gate in order, stopping at the first denial; on success
    /// returns a receipt bound to the encoded payload and the proposal's
    /// expected version.
    ///
    /// # Errors
    /// [`GateError::Denied`] with the first denial (its gate name filled in),
    /// or [`GateError::Codec`] when the payload cannot be encoded.
    pub fn evaluate(&self, ctx: &Ctx, proposal: Proposal<P>) -> Result<Receipt<P>, GateError> {
        for gate in &self.gates {
            let _span = crate::trace::span!(
                DEBUG,
                "gate",
                gate = gate.name(),
                entity = %proposal.coordinate(),
                kind = %proposal.kind(),
            );
            let decided = gate
                .evaluate(ctx, &proposal)
                .map_err(|denial| denial.from_gate(gate.name()));
            crate::trace::record!(
                _span,
                outcome = if decided.is_ok() {
                    "admitted"
                } else {
                    "denied"
                }
            );
            crate::trace::denied!(decided);
            decided.map_err(GateError::Denied)?;
        }
        let gates = self.gates.iter().map(|g| g.name().to_owned()).collect();
        Ok(Receipt::issue(proposal, gates)?)
    }

    /// Runs every gate and returns all denials (empty when all pass); for
    /// reports and forms that show every problem at once.
    pub fn check_all(&self, ctx: &Ctx, proposal: &Proposal<P>) -> Vec<Denial> {
        self.gates
            .iter()
            .filter_map(|gate| {
                gate.evaluate(ctx, proposal)
                    .err()
                    .map(|denial| denial.from_gate(gate.name()))
            })
            .collect()
    }
}
