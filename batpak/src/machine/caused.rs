//! Steps one event causes on another machine's stream: the dynamic path
//! ([`submit_caused`]) with the causing event recorded and an idempotency
//! key, what reactors and timers commit through.
//!
//! The step runs exactly as `submit` does (the stream's state and data from
//! its projection, the transition table, every applicable gate, then
//! compare-and-append), and its event carries the causing event's id
//! (`causation`, so `Store::walk_causation` finds it) and a key the caller
//! derives from who reacted to what, so the store never holds two events
//! under that key. `at_version` pins the version the decision must be taken
//! at: a timer fires only if its entity is still where the timer started.
//! Nothing is written on refusal; this file never reads an event's cause.

use super::definition::StateMachine;
use super::runtime::{Decision, Folded, MachineError, commit, current};
use super::seam::MachineStore;
use crate::coordinate::Coordinate;
use crate::event::EventId;
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;

/// Why a caused step is taken: the event behind it, the idempotency key
/// the step commits under and, optionally, the stream version it must find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The event that caused the step (recorded as its causation).
    pub event: EventId,
    /// The key the step commits under: the same cause always derives the
    /// same key, so a step is stored at most once.
    pub key: String,
    /// The version the stream must be at, if the step is only meant for
    /// that version (a timer's entity that moved on is left alone).
    pub at_version: Option<u64>,
}

/// A caused step that committed: the state it led to and the store's
/// receipt of its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CausedStep<M: StateMachine> {
    /// The stream's state after the step.
    pub state: M::State,
    /// Where the step's event was stored.
    pub receipt: AppendReceipt,
}

/// The dynamic path on behalf of `cause`: reads the stream's state, version
/// and data, checks `event` against the table and the gates, and commits it
/// with `cause`'s causation and key at that version (or refuses, writing
/// nothing, when `cause.at_version` is set and the stream is elsewhere).
///
/// # Errors
/// As `submit`: [`MachineError::InvalidTransition`],
/// [`MachineError::Denied`], [`MachineError::Conflict`] (also when the
/// stream is not at `cause.at_version`), [`MachineError::CorruptStream`], or
/// the store's error; nothing is written on error.
pub fn submit_caused<M, S>(
    store: &S,
    ctx: &M::Context,
    coordinate: &Coordinate,
    event: M,
    cause: &Cause,
) -> Result<CausedStep<M>, MachineError<S::Error>>
where
    M: StateMachine,
    S: MachineStore + ?Sized,
{
    let _span = crate::trace::span!(
        INFO,
        "submit_caused",
        machine = M::NAME,
        entity = %coordinate,
        kind = %event.kind(),
        cause = %cause.event,
        key = %cause.key,
    );
    let submitted = try_submit_caused(store, ctx, coordinate, event, cause);
    crate::trace::record!(_span, outcome = super::runtime::outcome_of(&submitted));
    submitted
}

/// [`submit_caused`] without its span.
fn try_submit_caused<M, S>(
    store: &S,
    ctx: &M::Context,
    coordinate: &Coordinate,
    event: M,
    cause: &Cause,
) -> Result<CausedStep<M>, MachineError<S::Error>>
where
    M: StateMachine,
    S: MachineStore + ?Sized,
{
    let Folded {
        state,
        version,
        data,
        ..
    } = current::<M, S>(store, coordinate)?;
    if let Some(expected) = cause.at_version
        && expected != version
    {
        return Err(MachineError::Conflict {
            expected,
            actual: version,
        });
    }
    let target = M::apply(state, &event)?;
    let decision = Decision {
        ctx,
        state,
        data: &data,
    };
    let options = AppendOptions::new()
        .caused_by(cause.event)
        .idempotency_key(cause.key.clone());
    let (receipt, _event) = commit(store, &decision, coordinate, version, event, options)?;
    Ok(CausedStep {
        state: target,
        receipt,
    })
}
