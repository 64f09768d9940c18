//! A refused typed step keeps the handle: on a denial or a version
//! conflict the handle comes back inside the `StepError`, nothing is
//! written, and the caller can correct the event and retry, even on a first
//! step, whose stream `load` cannot find. Callers who do not want the
//! handle use `?` as before.

use std::error::Error;

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// Orders above this are refused.
struct Limit(u64);

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid),
    initial = Draft,
    gates(within_limit),
    context = Limit,
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid { amount_cents: u64 },
}

/// Orders above the limit are refused.
#[gate(Order::Placed)]
fn within_limit(limit: &Limit, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Placed { total_cents } if *total_cents > limit.0 => {
            Err(Denial::new("over_limit", "order total exceeds the limit"))
        }
        _ => Ok(()),
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "shop:acme").unwrap()
}

#[test]
fn a_denied_first_step_returns_the_handle_and_a_corrected_retry_commits() {
    let (_dir, store) = store();
    let order = coord("order:1");
    let draft = Order::create(&store, order.clone()).unwrap();
    let refused = draft.placed(&store, &Limit(100), 900).unwrap_err();
    let MachineError::Denied(denial) = refused.error() else {
        unreachable!("over the limit: {refused}");
    };
    assert_eq!(denial.gate(), "within_limit");
    // Nothing was written, so `load` has nothing to give back: the handle
    // inside the error is the only way to go on.
    assert_eq!(store.head(&order).version, 0);
    assert!(matches!(
        Order::load(&store, &order),
        Err(MachineError::NotFound { .. })
    ));
    let draft = refused.into_handle();
    assert_eq!((draft.coordinate(), draft.version()), (&order, 0));

    let placed = draft.placed(&store, &Limit(100), 90).unwrap();
    assert_eq!(placed.version(), 1);
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Placed);
    let events = store.stream::<Order>(&order).unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].payload, Order::Placed { total_cents: 90 });
}

#[test]
fn a_version_conflict_returns_the_handle_unchanged() {
    let (_dir, store) = store();
    let order = coord("order:2");
    let first = Order::create(&store, order.clone()).unwrap();
    let second = Order::create(&store, order.clone()).unwrap();
    first.placed(&store, &Limit(100), 10).unwrap();

    let refused = second.placed(&store, &Limit(100), 20).unwrap_err();
    assert!(matches!(
        refused.error(),
        MachineError::Conflict {
            expected: 0,
            actual: 1
        }
    ));
    assert_eq!(refused.handle().version(), 0);
    let (stale, error) = refused.into_parts();
    assert!(matches!(error, MachineError::Conflict { .. }));
    // The handle is stale: it conflicts again and writes nothing; `load`
    // gives the current one.
    let again = stale.placed(&store, &Limit(100), 20).unwrap_err();
    assert!(matches!(again.error(), MachineError::Conflict { .. }));
    assert_eq!(store.head(&order).version, 1);
    let OrderHandle::Placed(placed) = Order::load(&store, &order).unwrap() else {
        unreachable!("the first creator placed it");
    };
    assert_eq!(placed.paid(&store, &Limit(100), 10).unwrap().version(), 2);
}

#[test]
fn question_mark_turns_a_refusal_into_its_machine_error() {
    fn place(store: &Store, order: &Coordinate, total_cents: u64) -> Result<u64, MachineError> {
        let draft = Order::create(store, order.clone())?;
        Ok(draft.placed(store, &Limit(100), total_cents)?.version())
    }
    fn place_boxed(store: &Store, order: &Coordinate) -> Result<u64, Box<dyn Error>> {
        let draft = Order::create(store, order.clone())?;
        Ok(draft.placed(store, &Limit(100), 900)?.version())
    }
    let (_dir, store) = store();
    let order = coord("order:3");
    assert!(matches!(
        place(&store, &order, 900),
        Err(MachineError::Denied(_))
    ));
    let boxed = place_boxed(&store, &order).unwrap_err();
    assert_eq!(
        boxed.to_string(),
        "gate `within_limit` denied (over_limit): order total exceeds the limit"
    );
    assert_eq!(place(&store, &order, 90).unwrap(), 1);
}

#[test]
fn a_step_error_reads_as_its_error() {
    let (_dir, store) = store();
    let draft = Order::create(&store, coord("order:4")).unwrap();
    let refused = draft.placed(&store, &Limit(100), 900).unwrap_err();
    assert_eq!(refused.to_string(), refused.error().to_string());
    assert_eq!(
        refused.source().map(ToString::to_string),
        refused.error().source().map(ToString::to_string)
    );
    let debug = format!("{refused:?}");
    assert!(
        debug.starts_with("StepError { handle: Machine {"),
        "{debug}"
    );
    assert!(debug.contains("Denied"), "{debug}");
}
