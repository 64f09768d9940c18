//! Model-based paths: every legal sequence of events (by kind) a machine's
//! table allows from its initial state, up to a depth, and a walk of each
//! through the real store with the machine's gates.
//!
//! [`paths`] reads the table in [`StateMachine::SCHEMA`] only: it needs no
//! payload.
//! [`explore`] drives each path through [`submit`](crate::machine::submit)
//! on the scratch store, drawing payloads for each step from the proptest
//! strategy the caller gives for that kind, and reports the paths no drawn
//! payload got through ([`Blocked`]): the bug class of a gate that never
//! admits some path the table allows (a gate reading data the path never
//! set, a check that contradicts an earlier step). Draws are deterministic
//! (proptest's fixed-seed runner), so a report is repeatable.

use std::fmt;
use std::marker::PhantomData;

use proptest::strategy::{BoxedStrategy, Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use super::scratch::thread_scratch;
use crate::event::EventKind;
use crate::guard::Denial;
use crate::machine::{MachineError, StateMachine, TransitionSchema};

/// One legal sequence of events: the edges of the table it takes, from
/// the initial state.
pub struct TablePath<M: StateMachine> {
    steps: Vec<&'static TransitionSchema>,
    machine: PhantomData<fn() -> M>,
}

impl<M: StateMachine> TablePath<M> {
    /// The edges taken, in order.
    #[must_use]
    pub fn steps(&self) -> &[&'static TransitionSchema] {
        &self.steps
    }

    /// The kinds of the events, in order.
    #[must_use]
    pub fn kinds(&self) -> Vec<EventKind> {
        self.steps.iter().map(|t| kind_of::<M>(t)).collect()
    }

    /// The name of the state the path ends in.
    #[must_use]
    pub fn end_name(&self) -> &'static str {
        self.steps.last().map_or(M::SCHEMA.initial, |t| t.to)
    }

    /// The state the path ends in.
    ///
    /// # Panics
    /// When the schema names a state the machine does not have (the derive
    /// writes both from one list, so never).
    #[must_use]
    pub fn end(&self) -> M::State {
        let name = self.end_name();
        M::STATES
            .iter()
            .copied()
            .find(|s| s.to_string() == name)
            .unwrap_or_else(|| panic!("{}: the schema names an unknown state {name}", M::NAME))
    }
}

/// The kind of the event of edge `t`.
fn kind_of<M: StateMachine>(t: &TransitionSchema) -> EventKind {
    M::SCHEMA
        .variant(t.event)
        .map_or(EventKind::new(M::CATEGORY, 0), |v| {
            v.kind(M::SCHEMA.category)
        })
}

impl<M: StateMachine> Clone for TablePath<M> {
    fn clone(&self) -> Self {
        Self {
            steps: self.steps.clone(),
            machine: PhantomData,
        }
    }
}

impl<M: StateMachine> fmt::Debug for TablePath<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `Draft -Submitted-> Submitted -Approved-> Approved`.
impl<M: StateMachine> fmt::Display for TablePath<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", M::SCHEMA.initial)?;
        for step in &self.steps {
            write!(f, " -{}-> {}", step.event, step.to)?;
        }
        Ok(())
    }
}

/// Every legal path of 1 to `depth` events from the initial state, shorter
/// ones first, each in table order. A path stops early where the table has
/// no edge out (a terminal state).
#[must_use]
pub fn paths<M: StateMachine>(depth: usize) -> Vec<TablePath<M>> {
    let mut out = Vec::new();
    let mut layer = vec![TablePath::<M> {
        steps: Vec::new(),
        machine: PhantomData,
    }];
    for _ in 0..depth {
        let mut next = Vec::new();
        for path in &layer {
            let from = path.end_name();
            for edge in M::SCHEMA.transitions.iter().filter(|t| t.from == from) {
                let mut steps = path.steps.clone();
                steps.push(edge);
                next.push(TablePath {
                    steps,
                    machine: PhantomData,
                });
            }
        }
        out.extend(next.iter().cloned());
        layer = next;
    }
    out
}

/// A proptest strategy picking one of [`paths`]`(depth)`, for a property
/// test that walks paths itself.
///
/// # Panics
/// When the machine has no path at all (no transition out of its initial
/// state).
pub fn path_strategy<M: StateMachine>(depth: usize) -> BoxedStrategy<TablePath<M>> {
    let all = paths::<M>(depth);
    assert!(
        !all.is_empty(),
        "{}: no transition leaves the initial state",
        M::NAME
    );
    proptest::sample::select(all).boxed()
}

/// A path the gates never let through: the first step no drawn payload
/// got past, and the last denial there.
pub struct Blocked<M: StateMachine> {
    /// The whole path.
    pub path: TablePath<M>,
    /// The index of the step that never got through.
    pub step: usize,
    /// Why the last try was refused.
    pub denial: Denial,
    /// How many payloads were tried at that step.
    pub tries: u32,
}

/// What [`explore`] found.
pub struct Exploration<M: StateMachine> {
    /// Paths every step of which some payload got through.
    pub passed: Vec<TablePath<M>>,
    /// Paths some step of which no payload got through.
    pub blocked: Vec<Blocked<M>>,
    /// Paths with a step whose kind had no strategy (not walked).
    pub skipped: Vec<TablePath<M>>,
}

impl<M: StateMachine> fmt::Display for Exploration<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}: {} paths passed, {} blocked, {} skipped (no strategy)",
            M::NAME,
            self.passed.len(),
            self.blocked.len(),
            self.skipped.len()
        )?;
        for b in &self.blocked {
            writeln!(
                f,
                "  blocked: {} at step {} ({}): {} tries, last denied by `{}` ({}: {})",
                b.path,
                b.step,
                b.path.steps[b.step].event,
                b.tries,
                b.denial.gate(),
                b.denial.code(),
                b.denial.message()
            )?;
        }
        Ok(())
    }
}

impl<M: StateMachine> fmt::Debug for Exploration<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Walks every path of up to `depth` events through the real store (this
/// thread's scratch store, a fresh entity per path) with the machine's
/// gates and `ctx`: for each step, draws up to `tries` payloads from
/// `payloads(kind)` and submits them until one is admitted.
///
/// `payloads` returns `None` for a kind it has no strategy for (such paths
/// are skipped and listed); a strategy must yield events of the kind asked.
///
/// # Panics
/// When a strategy yields an event of another kind, or a step fails for a
/// reason other than a gate's denial (the table refusing a legal path, a
/// store error): both are bugs the walk must not hide.
pub fn explore<M, F>(ctx: &M::Context, depth: usize, tries: u32, payloads: F) -> Exploration<M>
where
    M: StateMachine + fmt::Debug,
    F: Fn(EventKind) -> Option<BoxedStrategy<M>>,
{
    let scratch = thread_scratch();
    let store = scratch.store();
    let mut runner = TestRunner::deterministic();
    let mut report = Exploration {
        passed: Vec::new(),
        blocked: Vec::new(),
        skipped: Vec::new(),
    };
    'paths: for path in paths::<M>(depth) {
        let strategies: Option<Vec<BoxedStrategy<M>>> = path
            .steps
            .iter()
            .map(|t| payloads(kind_of::<M>(t)))
            .collect();
        let Some(strategies) = strategies else {
            report.skipped.push(path);
            continue;
        };
        let coordinate = scratch.fresh_entity(M::NAME);
        for (index, (edge, strategy)) in path.steps.iter().zip(&strategies).enumerate() {
            let mut last = None;
            for _ in 0..tries.max(1) {
                let event = draw(&mut runner, strategy);
                assert!(
                    event.kind() == kind_of::<M>(edge),
                    "{}: the strategy for {} yielded {event:?}",
                    M::NAME,
                    edge.event
                );
                match crate::machine::submit(store, ctx, &coordinate, event) {
                    Ok(_) => {
                        last = None;
                        break;
                    }
                    Err(MachineError::Denied(denial)) => last = Some(denial),
                    Err(other) => panic!(
                        "{}: step {index} ({}) of legal path {path} failed: {other}",
                        M::NAME,
                        edge.event
                    ),
                }
            }
            if let Some(denial) = last {
                report.blocked.push(Blocked {
                    path,
                    step: index,
                    denial,
                    tries: tries.max(1),
                });
                continue 'paths;
            }
        }
        report.passed.push(path);
    }
    report
}

/// One value from `strategy` (proptest's generation, without shrinking).
fn draw<M: fmt::Debug>(runner: &mut TestRunner, strategy: &BoxedStrategy<M>) -> M {
    strategy
        .new_tree(runner)
        .unwrap_or_else(|reason| panic!("payload strategy gave up: {reason}"))
        .current()
}
