//! Given/when/then for one machine: [`Scenario`] and what it found,
//! [`Then`].
//!
//! A scenario runs on a real store (this thread's scratch store unless
//! [`Scenario::on`] names another) and on an entity of its own. The givens
//! are history: each must be legal in the state the ones before it left
//! ([`StateMachine::apply`]) and is folded into the machine's data, then
//! committed through an audited bypass (by `testkit`, reason `given`), so
//! the stream the when sees is one the machine accepts. An illegal given
//! fails the scenario at that given, with its index; it is never written.
//!
//! Every `then_*` panics with a message that shows expected and actual as
//! values (`Debug`), pointing at the caller's line (`#[track_caller]`).

use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::scratch::{Scratch, thread_scratch};
use crate::coordinate::Coordinate;
use crate::event::StoredEvent;
use crate::guard::{ExpectedVersion, Proposal};
use crate::machine::{
    Machine, MachineData, MachineError, State, StateMachine, StepError, create, load,
};
use crate::pipeline::{Bypass, bypass};
use crate::store::Store;

/// Who the givens' bypass records, and why.
const GIVEN_BY: &str = "testkit";
const GIVEN_REASON: &str = "given";

/// Gives every machine its `scenario()`: `Loan::scenario()`.
pub trait Scenarios: StateMachine {
    /// A scenario of this machine on this thread's scratch store.
    fn scenario() -> Scenario<'static, Self>;
}

impl<M: StateMachine> Scenarios for M {
    fn scenario() -> Scenario<'static, Self> {
        Scenario {
            store: Target::Scratch(thread_scratch()),
            entity: None,
            given: Vec::new(),
        }
    }
}

/// Where a scenario runs.
enum Target<'s> {
    /// This thread's scratch store.
    Scratch(Rc<Scratch>),
    /// A store the test opened.
    Borrowed(&'s Store),
}

impl Target<'_> {
    fn store(&self) -> &Store {
        match self {
            Self::Scratch(scratch) => scratch.store(),
            Self::Borrowed(store) => store,
        }
    }
}

/// A scenario being set up: the store, the entity and the givens. Ends
/// with a `when`, which runs it and returns a [`Then`] to check.
///
/// ```
/// use batpak::prelude::*;
/// use batpak::testkit::Scenarios;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, PartialEq, Serialize, Deserialize)]
/// #[machine(states(Draft, Placed, Paid), initial = Draft, gates(small), context = u64)]
/// enum Order {
///     #[transition(Draft -> Placed)]
///     Placed { total_cents: u64 },
///     #[transition(Placed -> Paid)]
///     Paid { amount_cents: u64 },
/// }
///
/// /// Orders above the limit are refused.
/// #[gate(Order::Placed)]
/// fn small(limit: &u64, event: &Order) -> bool {
///     matches!(event, Order::Placed { total_cents } if total_cents <= limit)
/// }
///
/// Order::scenario()
///     .when(|draft: Machine<Order, order::Draft>, store| draft.placed(store, &5_000, 9_000))
///     .then_denied_by("small")
///     .then_state(OrderState::Draft);
/// Order::scenario()
///     .given([Order::Placed { total_cents: 9_000 }])
///     .when_submitted(&5_000, Order::Paid { amount_cents: 9_000 })
///     .then_events([Order::Paid { amount_cents: 9_000 }])
///     .then_state(OrderState::Paid);
/// ```
#[must_use = "a scenario runs only when a `when` ends it"]
pub struct Scenario<'s, M: StateMachine> {
    store: Target<'s>,
    entity: Option<Coordinate>,
    given: Vec<M>,
}

impl<'s, M: StateMachine> Scenario<'s, M> {
    /// Runs on `store` instead of the scratch store (another backend, or a
    /// store the test reads afterwards).
    pub fn on<'t>(self, store: &'t Store) -> Scenario<'t, M> {
        Scenario {
            store: Target::Borrowed(store),
            entity: self.entity,
            given: self.given,
        }
    }

    /// Runs on `entity`, which must have no events yet (by default each
    /// scenario gets a fresh entity of its own).
    pub fn entity(mut self, entity: Coordinate) -> Self {
        self.entity = Some(entity);
        self
    }

    /// Adds history: events the entity went through before the when, in
    /// order. Checked against the table and folded into the data when the
    /// scenario runs.
    pub fn given(mut self, events: impl IntoIterator<Item = M>) -> Self {
        self.given.extend(events);
        self
    }

    /// Runs the scenario: writes the givens, then calls `step` with the
    /// typed handle of the state they left (annotate the closure's
    /// parameter, `|loan: Machine<Loan, loan::Submitted>, store|`) and the
    /// store, and records what it wrote or why it was refused.
    ///
    /// # Panics
    /// When a given is illegal (with its index), or the givens left the
    /// entity in another state than `S`.
    #[track_caller]
    pub fn when<S, R>(self, step: impl FnOnce(Machine<M, S>, &Store) -> R) -> Then<M>
    where
        S: State<Machine = M>,
        R: WhenOutcome,
    {
        let coordinate = self.write_givens();
        let store = self.store.store();
        let handle = handle_after_givens::<M, S>(store, &coordinate);
        let refusal = step(handle, store).into_refusal();
        self.then(coordinate, refusal)
    }

    /// Runs the scenario with the dynamic path: writes the givens, then
    /// submits `event` with `ctx` (as `Loan::submit` does).
    ///
    /// # Panics
    /// When a given is illegal (with its index).
    #[track_caller]
    pub fn when_submitted(self, ctx: &M::Context, event: M) -> Then<M> {
        let coordinate = self.write_givens();
        let submitted = crate::machine::submit(self.store.store(), ctx, &coordinate, event);
        self.then(coordinate, submitted.into_refusal())
    }

    /// Checks and commits the givens; returns the scenario's entity.
    #[track_caller]
    fn write_givens(&self) -> Coordinate {
        let store = self.store.store();
        let coordinate = self.entity.clone().unwrap_or_else(|| match &self.store {
            Target::Scratch(scratch) => scratch.fresh_entity(M::NAME),
            Target::Borrowed(_) => fresh_borrowed_entity::<M>(store),
        });
        let head = store.head(&coordinate);
        assert!(
            head.version == 0,
            "scenario for {}: entity {coordinate} already has {} events; a scenario needs a \
             new entity",
            M::NAME,
            head.version
        );
        let mut state = M::INITIAL;
        let mut data = M::Data::default();
        for (index, event) in self.given.iter().enumerate() {
            state = M::apply(state, event).unwrap_or_else(|illegal| {
                panic!(
                    "scenario for {}: given #{index} ({}) cannot happen: {illegal}",
                    M::NAME,
                    event.variant_name()
                )
            });
            data.apply(event);
            commit_given(store, &coordinate, index, event);
        }
        coordinate
    }

    /// Reads back what the when left.
    #[track_caller]
    fn then(&self, coordinate: Coordinate, refusal: Option<MachineError>) -> Then<M> {
        let store = self.store.store();
        let stream: Vec<StoredEvent<M>> = store.stream(&coordinate).unwrap_or_else(|e| {
            panic!(
                "scenario for {}: cannot read {coordinate} back: {e}",
                M::NAME
            )
        });
        let (state, data) = fold(&stream);
        let written = stream.into_iter().skip(self.given.len()).collect();
        Then {
            coordinate,
            written,
            refusal,
            state,
            data,
        }
    }
}

/// A fresh entity in a store the test gave: the next `machine:N` (from a
/// process-wide counter, so scenarios on one store do not probe the same
/// numbers again) that has no events.
fn fresh_borrowed_entity<M: StateMachine>(store: &Store) -> Coordinate {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::iter::repeat_with(|| NEXT.fetch_add(1, Ordering::Relaxed))
        .map(|n| Coordinate::new(format!("{}:{n}", M::NAME.to_lowercase()), "testkit"))
        .find_map(|c| c.ok().filter(|c| store.head(c).version == 0))
        .unwrap_or_else(|| unreachable!("some entity number is free"))
}

/// Commits one given through an audited bypass, at the version before it.
#[track_caller]
fn commit_given<M: StateMachine>(store: &Store, coordinate: &Coordinate, index: usize, event: &M) {
    let version = u64::try_from(index).unwrap_or(u64::MAX);
    let proposal = Proposal::new(coordinate.clone(), event.kind(), event)
        .expect(ExpectedVersion::Exact(version));
    let by = Bypass::new(GIVEN_BY, GIVEN_REASON)
        .unwrap_or_else(|_| unreachable!("the given bypass text is plain"));
    if let Err(e) = bypass(store, proposal, by) {
        panic!(
            "scenario for {}: given #{index} ({}) was not stored: {e}",
            M::NAME,
            event.variant_name()
        );
    }
}

/// The typed handle of `S` after the givens.
#[track_caller]
fn handle_after_givens<M, S>(store: &Store, coordinate: &Coordinate) -> Machine<M, S>
where
    M: StateMachine,
    S: State<Machine = M>,
{
    let handle = if store.head(coordinate).version == 0 {
        create::<M, S, Store>(store, coordinate.clone())
    } else {
        load::<M, Store>(store, coordinate).and_then(|loaded| loaded.into_handle::<S>())
    };
    handle.unwrap_or_else(|e| {
        panic!(
            "scenario for {}: the when asks for a handle in state {}, but after the givens: {e}",
            M::NAME,
            S::VALUE
        )
    })
}

/// The state and data the stream folds to (what it says, not a cache).
fn fold<M: StateMachine>(stream: &[StoredEvent<M>]) -> (Result<M::State, String>, M::Data) {
    let mut state = Ok(M::INITIAL);
    let mut data = M::Data::default();
    for stored in stream {
        state = state.and_then(|s| M::apply(s, &stored.payload).map_err(|e| e.to_string()));
        data.apply(&stored.payload);
    }
    (state, data)
}

/// What a `when` returned, as a refusal or nothing: implemented for what
/// typed steps (`Result<Machine<M, T>, StepError<..>>`) and `submit`
/// (`Result<State, MachineError>`) return, and for `()` (a when that
/// handled its results itself).
pub trait WhenOutcome {
    /// The error that refused the step, if any.
    fn into_refusal(self) -> Option<MachineError>;
}

impl<M: StateMachine, S, T> WhenOutcome for Result<Machine<M, T>, StepError<M, S>> {
    fn into_refusal(self) -> Option<MachineError> {
        self.err().map(MachineError::from)
    }
}

impl<T> WhenOutcome for Result<T, MachineError> {
    fn into_refusal(self) -> Option<MachineError> {
        self.err()
    }
}

impl WhenOutcome for () {
    fn into_refusal(self) -> Option<MachineError> {
        None
    }
}

/// What a scenario's when did: the events it wrote, its refusal, and the
/// state and data of the stream after it. Each `then_*` checks one of
/// them and returns `self`, so checks chain.
pub struct Then<M: StateMachine> {
    coordinate: Coordinate,
    written: Vec<StoredEvent<M>>,
    refusal: Option<MachineError>,
    state: Result<M::State, String>,
    data: M::Data,
}

impl<M: StateMachine> Then<M> {
    /// The when wrote exactly `expected`, in order (and was not refused).
    ///
    /// # Panics
    /// With expected and actual events, one per line.
    #[track_caller]
    pub fn then_events(self, expected: impl IntoIterator<Item = M>) -> Self
    where
        M: PartialEq + fmt::Debug,
    {
        let expected: Vec<M> = expected.into_iter().collect();
        let actual: Vec<&M> = self.written.iter().map(|e| &e.payload).collect();
        let same =
            expected.len() == actual.len() && expected.iter().zip(&actual).all(|(e, a)| e == *a);
        if !same {
            let refused = self
                .refusal
                .as_ref()
                .map(|e| format!("\nthe when was refused: {e}"))
                .unwrap_or_default();
            panic!(
                "scenario for {} ({}): the when wrote other events than expected{refused}\n\
                 expected:\n{}actual:\n{}",
                M::NAME,
                self.coordinate,
                list(expected.iter()),
                list(actual.into_iter()),
            );
        }
        self
    }

    /// The when was denied by gate `gate`, and wrote nothing.
    ///
    /// # Panics
    /// With what happened instead.
    #[track_caller]
    pub fn then_denied_by(self, gate: &str) -> Self
    where
        M: fmt::Debug,
    {
        match &self.refusal {
            Some(MachineError::Denied(denial)) if denial.gate() == gate => {}
            Some(other) => panic!(
                "scenario for {} ({}): expected a denial by `{gate}`, the when was refused \
                 otherwise: {other}",
                M::NAME,
                self.coordinate
            ),
            None => panic!(
                "scenario for {} ({}): expected a denial by `{gate}`, the when was admitted \
                 and wrote:\n{}",
                M::NAME,
                self.coordinate,
                list(self.written.iter().map(|e| &e.payload))
            ),
        }
        assert!(
            self.written.is_empty(),
            "scenario for {}: denied, yet the when wrote:\n{}",
            M::NAME,
            list(self.written.iter().map(|e| &e.payload))
        );
        self
    }

    /// The stream is in `expected` after the when.
    ///
    /// # Panics
    /// With expected and actual states.
    #[track_caller]
    pub fn then_state(self, expected: M::State) -> Self {
        match &self.state {
            Ok(actual) if *actual == expected => {}
            Ok(actual) => panic!(
                "scenario for {} ({}): expected state {expected:?}, actual {actual:?}",
                M::NAME,
                self.coordinate
            ),
            Err(e) => panic!(
                "scenario for {} ({}): expected state {expected:?}, the stream does not replay: {e}",
                M::NAME,
                self.coordinate
            ),
        }
        self
    }

    /// The machine's data is `expected` after the when.
    ///
    /// # Panics
    /// With expected and actual data.
    #[track_caller]
    pub fn then_data(self, expected: &M::Data) -> Self
    where
        M::Data: PartialEq + fmt::Debug,
    {
        assert!(
            self.data == *expected,
            "scenario for {} ({}): the data differs\nexpected: {expected:#?}\nactual:   {:#?}",
            M::NAME,
            self.coordinate,
            self.data
        );
        self
    }

    /// Why the when was refused, if it was: for checks the `then_*` do not
    /// cover.
    #[must_use]
    pub fn refusal(&self) -> Option<&MachineError> {
        self.refusal.as_ref()
    }

    /// The events the when wrote, as stored (headers and payloads).
    #[must_use]
    pub fn written(&self) -> &[StoredEvent<M>] {
        &self.written
    }

    /// The scenario's entity.
    #[must_use]
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }
}

impl<M: StateMachine + fmt::Debug> fmt::Debug for Then<M>
where
    M::Data: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Then")
            .field("coordinate", &self.coordinate)
            .field("written", &self.written)
            .field("refusal", &self.refusal)
            .field("state", &self.state)
            .field("data", &self.data)
            .finish()
    }
}

/// Events one per line, numbered, as `Debug` shows them (or `(none)`).
fn list<'a, M: fmt::Debug + 'a>(events: impl Iterator<Item = &'a M>) -> String {
    let mut out = String::new();
    for (i, event) in events.enumerate() {
        out.push_str(&format!("  [{i}] {event:?}\n"));
    }
    if out.is_empty() {
        out.push_str("  (none)\n");
    }
    out
}
