//! Model test of the saga's wiring (`examples/saga_domain.rs`): random
//! scripts of placing orders, partial reactor runs that "crash" (the runner
//! is dropped mid-way, its cursor unsaved), timer runs at random clock
//! readings from a fresh scheduler, and store reopens. After every step no
//! effect exists twice and every effect has its cause; once the script is
//! done and the saga is run to rest, every cause has exactly one effect.
//!
//! Failing cases are shrunk by proptest and printed with their script.

mod common;
#[path = "../../examples/saga_domain.rs"]
mod saga_domain;

use batpak::prelude::*;
use batpak::{Reactor, ReactorRunner, Timers, now_us, parked};
use proptest::prelude::*;
use saga_domain::{
    Bank, Order, Payment, Shipment, capture, for_order, mark_paid, request_payment, ship,
};

const BANK: Bank = Bank { limit_cents: 5_000 };
const MINUTE_US: u64 = 60 * 1_000_000;

/// One step of a script.
#[derive(Debug, Clone)]
enum Op {
    /// Place the next order, within the bank's limit or above it.
    Place { within_limit: bool },
    /// Run reactor `which` (0..4) on at most `events` events, then drop it
    /// without saving its cursor (a crash), or run it to the end.
    React { which: u8, events: u8, crash: bool },
    /// A fresh scheduler fires what is due `minutes` from now.
    Timers { minutes: u8 },
    /// Close and reopen the store.
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        any::<bool>().prop_map(|within_limit| Op::Place { within_limit }),
        (0..4u8, 0..6u8, any::<bool>()).prop_map(|(which, events, crash)| Op::React {
            which,
            events,
            crash
        }),
        prop_oneof![Just(0u8), Just(31), Just(90)].prop_map(|minutes| Op::Timers { minutes }),
        Just(Op::Reopen),
    ]
}

/// Runs reactor `R` on at most `events` events it has not saved past,
/// then drops it unsaved (`crash`) or runs it to the end.
fn react<R: Reactor>(
    store: &Store,
    ctx: &<R::Target as batpak::MachineTypes>::Context,
    events: u8,
    crash: bool,
) {
    let mut runner = ReactorRunner::<R>::new(store, ctx).unwrap();
    if !crash {
        runner.run_pending().unwrap();
        return;
    }
    let position = runner.report().position;
    let region = Region::all()
        .category(<R::Source as StateMachine>::CATEGORY)
        .from_position(position);
    for event in store
        .query::<R::Source>(&region)
        .unwrap()
        .into_iter()
        .take(usize::from(events))
    {
        runner.react_to(&event).unwrap();
    }
}

fn run(store: &Store, op: &Op, orders: &mut u64) {
    match *op {
        Op::Place { within_limit } => {
            let total_cents = if within_limit { 1_000 } else { 9_000 };
            let coord = Coordinate::new(format!("order:{orders}"), saga_domain::SCOPE).unwrap();
            Order::submit(store, &coord, Order::Placed { total_cents }).unwrap();
            *orders += 1;
        }
        Op::React {
            which,
            events,
            crash,
        } => match which {
            0 => react::<request_payment>(store, &BANK, events, crash),
            1 => react::<capture>(store, &BANK, events, crash),
            2 => react::<mark_paid>(store, &(), events, crash),
            _ => react::<ship>(store, &(), events, crash),
        },
        Op::Timers { minutes } => {
            let mut timers = Timers::<Order>::new(store).unwrap();
            timers
                .run_due(&(), now_us() + u64::from(minutes) * MINUTE_US)
                .unwrap();
        }
        Op::Reopen => {}
    }
}

/// Runs everything until nothing moves, with every timer due.
fn settle(store: &Store) {
    for _ in 0..8 {
        react::<request_payment>(store, &BANK, 0, false);
        react::<capture>(store, &BANK, 0, false);
        react::<mark_paid>(store, &(), 0, false);
        react::<ship>(store, &(), 0, false);
        Timers::<Order>::new(store)
            .unwrap()
            .run_due(&(), now_us() + 90 * MINUTE_US)
            .unwrap();
    }
}

/// No effect twice, every effect with its cause; with `complete`, every
/// cause with exactly one effect.
fn check(store: &Store, orders: u64, complete: bool) -> Result<(), TestCaseError> {
    let parked_marks = parked(store, "mark_paid").unwrap();
    for n in 0..orders {
        let entity = format!("order:{n}");
        let order = store
            .stream::<Order>(&Coordinate::new(&entity, saga_domain::SCOPE).unwrap())
            .unwrap();
        let payment = store
            .stream::<Payment>(&for_order("payment", &entity))
            .unwrap();
        let shipment = store
            .stream::<Shipment>(&for_order("shipment", &entity))
            .unwrap();
        let placed = matches!(order[0].payload, Order::Placed { .. });
        prop_assert!(placed, "{}: first event {:?}", entity, order[0].payload);
        prop_assert!(order.len() <= 2, "{entity}: {order:?}");
        prop_assert!(payment.len() <= 2, "{entity}: {payment:?}");
        prop_assert!(shipment.len() <= 1, "{entity}: {shipment:?}");
        if let Some(requested) = payment.first() {
            prop_assert_eq!(requested.header.causation, Some(order[0].header.id));
        }
        let captured = payment.get(1);
        let outcome = order.get(1);
        if let Some(paid) = outcome.filter(|e| e.payload == Order::Paid) {
            prop_assert_eq!(paid.header.causation, captured.map(|c| c.header.id));
        }
        if let Some(shipped) = shipment.first() {
            prop_assert_eq!(
                Some(shipped.header.causation),
                outcome.map(|o| Some(o.header.id))
            );
        }
        let parked_here = parked_marks
            .iter()
            .filter(|p| captured.is_some_and(|c| c.header.id == p.cause))
            .count();
        prop_assert!(parked_here <= 1);
        if complete {
            prop_assert_eq!(order.len(), 2, "{}: {:?}", entity, order);
            let Order::Placed { total_cents } = order[0].payload else {
                unreachable!("checked above");
            };
            let within = total_cents <= BANK.limit_cents;
            prop_assert_eq!(payment.len(), if within { 2 } else { 1 });
            match order[1].payload {
                Order::Paid => prop_assert_eq!(shipment.len(), 1),
                Order::Cancelled => {
                    prop_assert!(shipment.is_empty());
                    prop_assert_eq!(parked_here, usize::from(within));
                }
                Order::Placed { .. } => prop_assert!(false, "{entity} placed twice"),
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_cause_gets_exactly_one_effect(script in proptest::collection::vec(op(), 1..40)) {
        let dir = common::fast_dir();
        let config = || StoreConfig::new(dir.path());
        let mut store = Store::open(config()).unwrap();
        let mut orders = 0;
        for op in &script {
            if matches!(op, Op::Reopen) {
                store.close().unwrap();
                store = Store::open(config()).unwrap();
            }
            run(&store, op, &mut orders);
            check(&store, orders, false)?;
        }
        settle(&store);
        check(&store, orders, true)?;
    }
}
