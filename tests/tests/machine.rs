//! Behaviour of generated machines on the segment store: typed steps, the
//! dynamic path, replay, and every refusal (each a distinct error, each
//! writing nothing).

use batpak::prelude::*;
use batpak::{Admission, CorruptReason, InvalidTransition, MachineStore, bypass};
use serde::{Deserialize, Serialize};

/// The shop's settings the gates read.
struct Shop {
    credit_limit_cents: u64,
    open: bool,
}

impl Shop {
    fn open() -> Self {
        Self {
            credit_limit_cents: 5_000,
            open: true,
        }
    }
}

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Shipped, Cancelled),
    initial = Draft,
    terminal(Shipped, Cancelled),
    gates(within_credit_limit, shop_is_open, paid_orders_stay),
    context = Shop,
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { items: u32, total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid { amount_cents: u64 },
    #[transition(Paid -> Shipped)]
    Shipped(String),
    #[transition(Draft | Placed | Paid -> Cancelled)]
    Cancelled { reason: String },
}

/// Orders above the shop's credit limit are refused.
#[gate(Order::Placed)]
fn within_credit_limit(shop: &Shop, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Placed { total_cents, .. } if *total_cents > shop.credit_limit_cents => Err(
            Denial::new("over_limit", "order total exceeds the credit limit")
                .with("limit_cents", shop.credit_limit_cents)
                .with("total_cents", total_cents),
        ),
        _ => Ok(()),
    }
}

/// A closed shop takes no steps.
#[gate]
fn shop_is_open(shop: &Shop, _event: &Order) -> bool {
    shop.open
}

/// A paid order is shipped, not cancelled.
#[gate(Order::Cancelled)]
fn paid_orders_stay(_shop: &Shop, state: &OrderState, _event: &Order) -> bool {
    *state != OrderState::Paid
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "shop:acme").unwrap()
}

fn version(store: &Store, coordinate: &Coordinate) -> u64 {
    store.stream_version(coordinate).unwrap().0
}

/// Writes `payload` as `kind` to `coordinate` without the machine's table or
/// gates, through an audited bypass (so only the table can object).
fn behind_the_machines_back(
    store: &Store,
    coordinate: &Coordinate,
    kind: EventKind,
    payload: &Order,
) {
    let proposal = Proposal::new(coordinate.clone(), kind, payload.clone());
    let audited = Bypass::new("test", "writing a stream the table refuses").unwrap();
    bypass(store, proposal, audited).unwrap();
}

#[test]
fn typed_steps_commit_and_record_the_gates_that_passed() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:1");
    let draft = Order::create(&store, order.clone()).unwrap();
    assert_eq!(draft.version(), 0);
    let placed = draft.placed(&store, &shop, 3, 4_200).unwrap();
    assert_eq!(placed.version(), 1);
    assert_eq!(placed.state(), OrderState::Placed);
    let paid = placed.paid(&store, &shop, 4_200).unwrap();
    let shipped = paid.shipped(&store, &shop, "post".to_owned()).unwrap();
    assert_eq!(shipped.version(), 3);
    assert_eq!(shipped.head(), store.head(&order).hash);

    let events = store.stream::<Order>(&order).unwrap();
    let gates: Vec<&[String]> = events.iter().map(|e| e.header.admission.gates()).collect();
    // The credit-limit gate is limited to `Placed`; the others run on all.
    assert_eq!(gates[0], ["within_credit_limit", "shop_is_open"]);
    assert_eq!(gates[1], ["shop_is_open"]);
    assert!(matches!(
        events[0].header.admission,
        Admission::Gated { .. }
    ));
    assert_eq!(events[2].payload, Order::Shipped("post".to_owned()));
    assert_eq!(events[0].header.kind, events[0].payload.kind());
}

#[test]
fn create_refuses_an_entity_that_has_events() {
    let (_dir, store) = store();
    let order = coord("order:2");
    let draft = Order::create(&store, order.clone()).unwrap();
    draft.placed(&store, &Shop::open(), 1, 10).unwrap();
    let error = Order::create(&store, order.clone()).unwrap_err();
    assert!(matches!(
        error,
        MachineError::AlreadyExists { version: 1, .. }
    ));
    assert_eq!(version(&store, &order), 1);
}

#[test]
fn stale_handle_cannot_commit() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:3");
    let placed = Order::create(&store, order.clone())
        .unwrap()
        .placed(&store, &shop, 1, 100)
        .unwrap();
    // Someone else loads the same order and moves it on.
    let OrderHandle::Placed(other) = Order::load(&store, &order).unwrap() else {
        unreachable!("the order was placed");
    };
    other.paid(&store, &shop, 100).unwrap();
    let error = placed
        .cancelled(&store, &shop, "changed my mind".to_owned())
        .unwrap_err()
        .into_error();
    assert!(matches!(
        error,
        MachineError::Conflict {
            expected: 1,
            actual: 2
        }
    ));
    assert_eq!(version(&store, &order), 2);
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Paid);
}

#[test]
fn two_creators_cannot_both_land() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:4");
    let first = Order::create(&store, order.clone()).unwrap();
    let second = Order::create(&store, order.clone()).unwrap();
    first.placed(&store, &shop, 1, 100).unwrap();
    let error = second
        .placed(&store, &shop, 2, 200)
        .unwrap_err()
        .into_error();
    assert!(matches!(
        error,
        MachineError::Conflict {
            expected: 0,
            actual: 1
        }
    ));
    assert_eq!(version(&store, &order), 1);
}

#[test]
fn denied_gate_writes_nothing_and_names_the_gate() {
    let (_dir, store) = store();
    let order = coord("order:5");
    let draft = Order::create(&store, order.clone()).unwrap();
    let error = draft
        .placed(&store, &Shop::open(), 9, 9_000)
        .unwrap_err()
        .into_error();
    let MachineError::Denied(denial) = error else {
        unreachable!("over the limit: {error}");
    };
    assert_eq!(denial.gate(), "within_credit_limit");
    assert_eq!(denial.code(), "over_limit");
    assert_eq!(denial.context()["total_cents"], "9000");
    assert_eq!(version(&store, &order), 0);
}

#[test]
fn bool_gate_denial_uses_the_gate_name_and_doc() {
    let (_dir, store) = store();
    let order = coord("order:6");
    let closed = Shop {
        open: false,
        ..Shop::open()
    };
    let draft = Order::create(&store, order.clone()).unwrap();
    let Err(MachineError::Denied(denial)) = draft
        .placed(&store, &closed, 1, 10)
        .map_err(StepError::into_error)
    else {
        unreachable!("the shop is closed");
    };
    assert_eq!(denial.gate(), "shop_is_open");
    assert_eq!(denial.code(), "shop_is_open");
    assert_eq!(denial.message(), "A closed shop takes no steps.");
    assert_eq!(version(&store, &order), 0);
}

#[test]
fn state_reading_gate_sees_the_current_state() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:7");
    Order::submit(
        &store,
        &shop,
        &order,
        Order::Placed {
            items: 1,
            total_cents: 1,
        },
    )
    .unwrap();
    Order::submit(&store, &shop, &order, Order::Paid { amount_cents: 1 }).unwrap();
    let cancel = Order::Cancelled {
        reason: "late".to_owned(),
    };
    let Err(MachineError::Denied(denial)) = Order::submit(&store, &shop, &order, cancel) else {
        unreachable!("paid orders stay");
    };
    assert_eq!(denial.gate(), "paid_orders_stay");
    assert_eq!(version(&store, &order), 2);
}

#[test]
fn submit_checks_the_table_and_writes_nothing_on_refusal() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:8");
    // A new entity starts in the initial state.
    let state = Order::submit(
        &store,
        &shop,
        &order,
        Order::Placed {
            items: 2,
            total_cents: 20,
        },
    );
    assert_eq!(state.unwrap(), OrderState::Placed);
    let error =
        Order::submit(&store, &shop, &order, Order::Shipped("post".to_owned())).unwrap_err();
    let MachineError::InvalidTransition(illegal) = error else {
        unreachable!("shipping a placed order is illegal");
    };
    assert_eq!(illegal.state, "Placed");
    assert_eq!(illegal.event, "Shipped");
    assert_eq!(version(&store, &order), 1);
}

#[test]
fn load_returns_the_handle_of_the_current_state() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:9");
    Order::create(&store, order.clone())
        .unwrap()
        .placed(&store, &shop, 1, 10)
        .unwrap()
        .paid(&store, &shop, 10)
        .unwrap();
    let loaded = Order::load(&store, &order).unwrap();
    assert_eq!(loaded.state(), OrderState::Paid);
    assert_eq!(loaded.version(), 2);
    assert_eq!(loaded.coordinate(), &order);
    let OrderHandle::Paid(paid) = loaded else {
        unreachable!("loaded as paid");
    };
    let shipped = paid.shipped(&store, &shop, "post".to_owned()).unwrap();
    assert_eq!(shipped.version(), 3);
}

#[test]
fn load_of_an_entity_without_events_is_not_found() {
    let (_dir, store) = store();
    let order = coord("order:10");
    assert!(matches!(
        Order::load(&store, &order),
        Err(MachineError::NotFound { .. })
    ));
    assert!(matches!(
        Order::state_of(&store, &order),
        Err(MachineError::NotFound { .. })
    ));
}

#[test]
fn runtime_never_hands_out_a_handle_in_a_state_its_stream_is_not_in() {
    use batpak::__private;
    let (_dir, store) = store();
    let shop = Shop::open();
    let coordinate = coord("order:21");
    // Generated code never asks for these; the runtime checks anyway.
    let created = __private::create::<Order, order::Placed, _>(&store, coordinate.clone());
    assert!(matches!(created, Err(MachineError::StateMismatch { .. })));
    let draft = Order::create(&store, coordinate.clone()).unwrap();
    let placed = Order::Placed {
        items: 1,
        total_cents: 10,
    };
    let stepped =
        __private::step::<Order, order::Draft, order::Paid, _>(draft, &store, &shop, placed);
    assert!(matches!(
        stepped.map_err(StepError::into_error),
        Err(MachineError::StateMismatch { .. })
    ));
    assert_eq!(version(&store, &coordinate), 0);

    Order::create(&store, coordinate.clone())
        .unwrap()
        .placed(&store, &shop, 1, 10)
        .unwrap();
    let loaded = __private::load::<Order, _>(&store, &coordinate).unwrap();
    assert_eq!(loaded.state(), OrderState::Placed);
    let Err(error) = loaded.into_handle::<order::Draft>() else {
        unreachable!("a placed stream is not a draft");
    };
    assert_eq!(
        error.to_string(),
        "a handle in state `Draft` cannot hold stream order:21@shop:acme in state `Placed`"
    );
    let loaded = __private::load::<Order, _>(&store, &coordinate).unwrap();
    assert_eq!(loaded.into_handle::<order::Placed>().unwrap().version(), 1);
}

#[test]
fn illegal_stored_step_is_reported_with_its_sequence() {
    let (_dir, store) = store();
    let order = coord("order:11");
    let placed = Order::Placed {
        items: 1,
        total_cents: 1,
    };
    behind_the_machines_back(&store, &order, placed.kind(), &placed);
    // `Shipped` is illegal from `Placed`.
    let shipped = Order::Shipped("post".to_owned());
    behind_the_machines_back(&store, &order, shipped.kind(), &shipped);
    let error = Order::load(&store, &order).unwrap_err();
    let MachineError::CorruptStream {
        sequence, reason, ..
    } = error
    else {
        unreachable!("the stream is corrupt: {error}");
    };
    assert_eq!(sequence, 2);
    assert!(matches!(reason, CorruptReason::IllegalStep(_)));
    // The dynamic path refuses to build on a corrupt stream too.
    let cancel = Order::Cancelled {
        reason: "x".to_owned(),
    };
    assert!(matches!(
        Order::submit(&store, &Shop::open(), &order, cancel),
        Err(MachineError::CorruptStream { sequence: 2, .. })
    ));
    assert_eq!(version(&store, &order), 2);
}

#[test]
fn stored_kind_that_does_not_match_its_payload_is_a_kind_mismatch_naming_the_pin() {
    let (_dir, store) = store();
    let order = coord("order:12");
    let placed = Order::Placed {
        items: 1,
        total_cents: 1,
    };
    let wrong = Order::Paid { amount_cents: 1 }.kind();
    behind_the_machines_back(&store, &order, wrong, &placed);
    let error = Order::state_of(&store, &order).unwrap_err();
    let message = error.to_string();
    assert!(matches!(
        error,
        MachineError::KindMismatch {
            sequence: 1,
            event: "Placed",
            stored_variant: Some("Paid"),
            stored,
            expected,
            ..
        } if stored == Order::PAID && expected == Order::PLACED
    ));
    assert!(
        message.contains(&format!("kind = {}", Order::PAID.code())),
        "{message}"
    );
}

#[test]
fn undecodable_payload_is_a_store_error() {
    let (_dir, store) = store();
    let order = coord("order:13");
    let kind = Order::Paid { amount_cents: 1 }.kind();
    store.append(&order, kind, &"not an order").unwrap();
    assert!(matches!(
        Order::load(&store, &order),
        Err(MachineError::Store(StoreError::Codec(_)))
    ));
}

#[test]
fn machines_reload_after_the_store_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let shop = Shop::open();
    let order = coord("order:14");
    {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        Order::create(&store, order.clone())
            .unwrap()
            .placed(&store, &shop, 1, 10)
            .unwrap();
        store.close().unwrap();
    }
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let OrderHandle::Placed(placed) = Order::load(&store, &order).unwrap() else {
        unreachable!("placed before the reopen");
    };
    let paid = placed.paid(&store, &shop, 10).unwrap();
    assert_eq!(paid.version(), 2);
}

#[test]
fn errors_are_distinct_and_readable() {
    let order = coord("order:15");
    let errors: Vec<MachineError> = vec![
        InvalidTransition::new("Order", OrderState::Placed, "Shipped").into(),
        MachineError::Denied(Denial::new("closed", "shop closed").from_gate("shop_is_open")),
        MachineError::Conflict {
            expected: 1,
            actual: 2,
        },
        MachineError::NotFound {
            coordinate: order.clone(),
        },
        MachineError::AlreadyExists {
            coordinate: order,
            version: 3,
        },
    ];
    let messages: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "Order: event `Shipped` is not allowed in state `Placed`",
            "gate `shop_is_open` denied (closed): shop closed",
            "stale version: expected 1 events, the stream has 2",
            "entity order:15@shop:acme has no events",
            "entity order:15@shop:acme already exists at version 3",
        ]
    );
}

#[test]
fn state_of_folds_only_events_appended_since_the_last_call() {
    let (_dir, store) = store();
    let shop = Shop::open();
    let order = coord("order:20");
    let placed = Order::create(&store, order.clone())
        .unwrap()
        .placed(&store, &shop, 1, 100)
        .unwrap();
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Placed);
    placed.paid(&store, &shop, 100).unwrap();

    let region = Region::coordinate(&order);
    let (projection, report) = store
        .project_with_report::<batpak::MachineProjection<Order>>(&region)
        .unwrap();
    assert!(
        report.from_cache,
        "the earlier state_of left a cached state"
    );
    assert_eq!(report.applied, 1, "only the new `Paid` event is folded");
    assert_eq!(projection.state(), OrderState::Paid);
    assert_eq!(projection.version(), 2);
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Paid);
}

#[test]
fn state_of_reports_an_illegal_step_appended_after_a_cached_state() {
    let (_dir, store) = store();
    let order = coord("order:21");
    let placed = Order::Placed {
        items: 1,
        total_cents: 1,
    };
    behind_the_machines_back(&store, &order, placed.kind(), &placed);
    assert_eq!(Order::state_of(&store, &order).unwrap(), OrderState::Placed);
    let shipped = Order::Shipped("post".to_owned());
    behind_the_machines_back(&store, &order, shipped.kind(), &shipped);
    assert!(matches!(
        Order::state_of(&store, &order),
        Err(MachineError::CorruptStream {
            sequence: 2,
            reason: CorruptReason::IllegalStep(_),
            ..
        })
    ));
}
