//! The audit trail of a machine on the real store: only events its gates or
//! an audited bypass admitted count. An event appended directly to its
//! stream is an integrity error naming its sequence, from `load`,
//! `state_of`, `submit` and a step alike (unless the machine accepts direct
//! appends), and a region finds every such event.

use batpak::prelude::*;
use batpak::{CorruptReason, bypass};
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
    Paid,
}

/// Orders above the limit are refused.
#[gate(Order::Placed)]
fn within_limit(limit: &Limit, event: &Order) -> bool {
    matches!(event, Order::Placed { total_cents } if *total_cents <= limit.0)
}

/// A meter whose readings are imported by trusted code as well as stepped.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(states(Idle, Running), initial = Idle, accept_direct_appends)]
enum Meter {
    #[transition(Idle -> Running)]
    Started,
    #[transition(Running -> Idle)]
    Stopped,
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "shop:acme").unwrap()
}

/// `error` is the direct append of `event` at `sequence`.
fn is_direct_append<E>(error: &MachineError<E>, at: u64, variant: &str) -> bool {
    matches!(
        error,
        MachineError::CorruptStream {
            sequence,
            reason: CorruptReason::DirectAppend { event },
            ..
        } if *sequence == at && *event == variant
    )
}

#[test]
fn a_direct_append_in_a_machine_stream_is_an_integrity_error_naming_its_sequence() {
    let (_dir, store) = store();
    let order = coord("order:1");
    let placed = Order::create(&store, order.clone())
        .unwrap()
        .placed(&store, &Limit(100), 50)
        .unwrap();
    // `state_of` caches its projection before the direct append.
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Placed);
    // A legal step by the table, but no gate and no bypass admitted it.
    store
        .append(&order, Order::Paid.kind(), &Order::Paid)
        .unwrap();

    let error = Order::load(&store, &order).unwrap_err();
    assert!(is_direct_append(&error, 2, "Paid"), "{error}");
    assert_eq!(
        error.to_string(),
        "stream order:1@shop:acme is corrupt at sequence 2: event `Paid` was appended directly: \
         neither the machine's gates nor an audited bypass admitted it (a machine fed by trusted \
         direct appends declares `accept_direct_appends`)"
    );
    let error = Order::state_of(&store, &order).unwrap_err();
    assert!(is_direct_append(&error, 2, "Paid"), "state_of: {error}");
    let error = Order::submit(&store, &Limit(100), &order, Order::Paid).unwrap_err();
    assert!(is_direct_append(&error, 2, "Paid"), "submit: {error}");
    // The handle made before the append meets it as a stale version; the
    // step reports the break, which no reload can get past, and writes
    // nothing.
    let error = placed.paid(&store, &Limit(100)).unwrap_err();
    assert!(is_direct_append(error.error(), 2, "Paid"), "step: {error}");
    assert_eq!(store.head(&order).version, 2);
}

#[test]
fn a_direct_first_event_breaks_the_stream_at_sequence_1() {
    let (_dir, store) = store();
    let order = coord("order:2");
    let draft = Order::create(&store, order.clone()).unwrap();
    // Over the limit: the gate would have denied it.
    let forged = Order::Placed { total_cents: 9_999 };
    store.append(&order, forged.kind(), &forged).unwrap();
    let error = Order::state_of(&store, &order).unwrap_err();
    assert!(is_direct_append(&error, 1, "Placed"), "{error}");
    let error = draft.placed(&store, &Limit(100), 1).unwrap_err();
    assert!(is_direct_append(error.error(), 1, "Placed"), "{error}");
}

#[test]
fn an_audited_bypass_is_admitted_and_found_by_the_audit() {
    let (_dir, store) = store();
    let order = coord("order:3");
    let over = Order::Placed { total_cents: 9_999 };
    let proposal = Proposal::new(order.clone(), over.kind(), over);
    let audited = Bypass::new("ops:alice", "approved by phone").unwrap();
    bypass(&store, proposal, audited).unwrap();

    let OrderHandle::Placed(placed) = Order::load(&store, &order).unwrap() else {
        unreachable!("the bypass placed the order");
    };
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Placed);
    placed.paid(&store, &Limit(100)).unwrap();
    let ungated = store
        .query_headers(&Region::coordinate(&order).ungated())
        .unwrap();
    assert_eq!(ungated.len(), 1);
    assert!(ungated[0].admission.is_bypass());
}

#[test]
fn a_region_finds_every_ungated_event_of_every_machine() {
    let (_dir, store) = store();
    let (a, b) = (coord("order:4"), coord("order:5"));
    Order::create(&store, a.clone())
        .unwrap()
        .placed(&store, &Limit(100), 1)
        .unwrap();
    store.append(&a, Order::Paid.kind(), &Order::Paid).unwrap();
    let audited = Bypass::new("ops", "import").unwrap();
    let placed = Order::Placed { total_cents: 1 };
    bypass(
        &store,
        Proposal::new(b.clone(), placed.kind(), placed),
        audited,
    )
    .unwrap();
    store.append(&b, Order::Paid.kind(), &Order::Paid).unwrap();

    let audit = Region::entity_prefix("order:").ungated();
    let found: Vec<(String, u64, bool)> = store
        .query_headers(&audit)
        .unwrap()
        .into_iter()
        .map(|h| {
            let bypassed = h.admission.is_bypass();
            (h.coordinate.entity().to_owned(), h.sequence, bypassed)
        })
        .collect();
    assert_eq!(
        found,
        [
            ("order:4".to_owned(), 2, false),
            ("order:5".to_owned(), 1, true),
            ("order:5".to_owned(), 2, false),
        ]
    );
    let direct = store.query_headers(&Region::all().direct()).unwrap();
    assert_eq!(direct.len(), 2);
}

#[test]
fn a_machine_that_accepts_direct_appends_folds_them() {
    let (_dir, store) = store();
    let meter = coord("meter:1");
    store
        .append(&meter, Meter::Started.kind(), &Meter::Started)
        .unwrap();
    assert_eq!(
        Meter::state_of(&store, &meter).unwrap(),
        MeterState::Running
    );
    let MeterHandle::Running(running) = Meter::load(&store, &meter).unwrap() else {
        unreachable!("the import started the meter");
    };
    running.stopped(&store).unwrap();
    store
        .append(&meter, Meter::Started.kind(), &Meter::Started)
        .unwrap();
    assert_eq!(
        Meter::state_of(&store, &meter).unwrap(),
        MeterState::Running
    );
    // Accepted, and still on the record.
    let direct = store
        .query_headers(&Region::coordinate(&meter).direct())
        .unwrap();
    assert_eq!(
        direct.iter().map(|h| h.sequence).collect::<Vec<_>>(),
        [1, 3]
    );
    // The table still holds: an illegal direct append breaks the stream.
    store
        .append(&meter, Meter::Started.kind(), &Meter::Started)
        .unwrap();
    assert!(matches!(
        Meter::load(&store, &meter),
        Err(MachineError::CorruptStream {
            sequence: 4,
            reason: CorruptReason::IllegalStep(_),
            ..
        })
    ));
}
