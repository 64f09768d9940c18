//! Reactors and durable timers on the real store, written once and run on
//! every backend (modules `segment`, `redb`, `lmdb`, as in
//! `conformance.rs`): a reaction is committed once with its key and
//! causation, survives a lost cursor without reacting twice, a refused one
//! is parked with its reason without holding up the rest and is retried
//! only when asked; a timer fires once, through the gates, at the version
//! its entity entered its state, never for an entity that left it, and its
//! due time comes back from the log after a restart.

use std::sync::Arc;
use std::time::{Duration, Instant};

use batpak::prelude::*;
use batpak::{
    Backend, Cause, ParkReason, Reacted, Reaction, ReactorRunner, Timers, parked, react,
    submit_caused,
};
use serde::{Deserialize, Serialize};

/// What the shop's gates read.
#[derive(Debug, Default)]
pub struct Shop {
    /// A frozen shop lets no order expire.
    frozen: bool,
}

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Expired),
    initial = Draft,
    terminal(Paid, Expired),
    gates(not_frozen),
    context = Shop
)]
pub enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid,
    #[transition(Placed -> Expired, after = "30m")]
    Expired,
}

/// A frozen shop keeps its orders as they are.
#[gate(Order::Expired)]
fn not_frozen(shop: &Shop, _event: &Order) -> bool {
    !shop.frozen
}

/// What the warehouse's gates and reactors read.
#[derive(Debug, Default)]
pub struct Warehouse {
    /// Orders the warehouse refuses to ship.
    refused: Vec<String>,
}

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(None, Requested, Sent),
    initial = None,
    terminal(Sent),
    gates(ships_it),
    context = Warehouse
)]
pub enum Shipment {
    #[transition(None -> Requested)]
    Requested { order: String },
    #[transition(Requested -> Sent)]
    Sent,
}

/// The warehouse ships every order it has not refused.
#[gate(Shipment::Requested)]
fn ships_it(warehouse: &Warehouse, event: &Shipment) -> bool {
    match event {
        Shipment::Requested { order } => !warehouse.refused.contains(order),
        Shipment::Sent => true,
    }
}

/// Every paid order gets a shipment requested, once.
#[react(Order::Paid)]
fn ship(_warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Shipment> {
    let order = paid.header.coordinate.entity().to_owned();
    let shipment = Coordinate::new(format!("shipment:{order}"), "shop").unwrap();
    Reaction::step(shipment, Shipment::Requested { order })
}

/// A ledger of paid orders: its one transition loops, so its table would
/// take the same booking any number of times; only the wiring keeps it to
/// one per payment.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(states(Open), initial = Open, context = Warehouse)]
pub enum Ledger {
    #[transition(Open -> Open)]
    Booked { order: String },
}

/// Every paid order is booked in the shop's ledger.
#[react(Order::Paid)]
fn book(_warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Ledger> {
    let order = paid.header.coordinate.entity().to_owned();
    Reaction::step(ledger(), Ledger::Booked { order })
}

fn ledger() -> Coordinate {
    Coordinate::new("ledger", "shop").unwrap()
}

/// Every paid order's shipment is marked sent: taken twice for one
/// shipment, the table forbids the second.
#[react(Order::Paid)]
fn send_twice(_warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Shipment> {
    let order = paid.header.coordinate.entity();
    Reaction::step(
        Coordinate::new(format!("shipment:{order}"), "shop").unwrap(),
        Shipment::Sent,
    )
}

fn order(n: u64) -> Coordinate {
    Coordinate::new(format!("order:{n}"), "shop").unwrap()
}

fn shipment(n: u64) -> Coordinate {
    Coordinate::new(format!("shipment:order:{n}"), "shop").unwrap()
}

fn open(b: Backend, dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(dir).backend(b)).unwrap()
}

/// Places orders `1..=n` and pays those in `paid`.
fn place_and_pay(store: &Store, n: u64, paid: &[u64]) {
    let shop = Shop::default();
    for i in 1..=n {
        Order::submit(store, &shop, &order(i), Order::Placed { total_cents: i }).unwrap();
    }
    for &i in paid {
        Order::submit(store, &shop, &order(i), Order::Paid).unwrap();
    }
}

/// The event of `coordinate`'s stream at `sequence`.
fn event_at<P: serde::de::DeserializeOwned>(
    store: &Store,
    coordinate: &Coordinate,
    sequence: u64,
) -> StoredEvent<P> {
    store
        .stream::<P>(coordinate)
        .unwrap()
        .into_iter()
        .find(|e| e.sequence() == sequence)
        .unwrap()
}

macro_rules! on_every_backend {
    ($(fn $name:ident($b:ident: Backend) $body:block)*) => {
        $(fn $name($b: Backend) $body)*

        mod segment {
            $(#[test] fn $name() { super::$name(batpak::Backend::Segment) })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name(batpak::Backend::Redb) })*
        }
        mod lmdb {
            $(#[test] fn $name() { super::$name(batpak::Backend::Lmdb) })*
        }
    };
}

on_every_backend! {
    fn reaction_commits_once_with_its_key_and_causation(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        place_and_pay(&store, 4, &[1, 3]);
        let warehouse = Warehouse::default();
        let mut runner = ReactorRunner::<ship>::new(&store, &warehouse).unwrap();
        let report = runner.run_pending().unwrap();
        assert_eq!((report.committed, report.parked, report.lag), (2, 0, 0));
        // Placed events and the reactions themselves are not `Paid`.
        assert_eq!(report.ignored, 4);
        for i in [1, 3] {
            let paid = event_at::<Order>(&store, &order(i), 2);
            let step = event_at::<Shipment>(&store, &shipment(i), 1);
            assert_eq!(step.header.causation, Some(paid.header.id));
            let key = format!("react/ship/{}", paid.header.id);
            assert_eq!(step.header.idempotency_key.as_deref(), Some(key.as_str()));
            assert!(step.header.admission.is_gated(), "a reaction passes the target's gates");
            assert_eq!(step.header.correlation, paid.header.correlation);
        }
        assert!(store.stream::<Shipment>(&shipment(2)).unwrap().is_empty());
        // Run again: nothing new, nothing doubled.
        assert_eq!(runner.run_pending().unwrap().committed, 2);
        assert_eq!(store.stream::<Shipment>(&shipment(1)).unwrap().len(), 1);
    }

    fn a_runner_that_lost_its_cursor_never_reacts_twice(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let cursor_file = dir.path().join("ship.cursor");
        {
            let store = open(b, dir.path());
            place_and_pay(&store, 3, &[1, 2, 3]);
            let warehouse = Warehouse::default();
            let mut runner =
                ReactorRunner::<ship>::with_cursor_file(&store, &warehouse, cursor_file.clone())
                    .unwrap();
            assert_eq!(runner.run_pending().unwrap().committed, 3);
            store.close().unwrap();
        }
        // As if the process died after its reactions and before its cursor
        // was saved: every event is seen again.
        std::fs::remove_file(&cursor_file).unwrap();
        let store = open(b, dir.path());
        let warehouse = Warehouse::default();
        let mut runner =
            ReactorRunner::<ship>::with_cursor_file(&store, &warehouse, cursor_file).unwrap();
        let report = runner.run_pending().unwrap();
        assert_eq!((report.committed, report.already_handled), (0, 3));
        for i in 1..=3 {
            assert_eq!(store.stream::<Shipment>(&shipment(i)).unwrap().len(), 1);
        }
    }

    fn a_step_the_table_would_repeat_is_still_taken_once(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        place_and_pay(&store, 3, &[1, 2, 3]);
        let warehouse = Warehouse::default();
        for _ in 0..3 {
            // A lost cursor each time: every payment is seen again.
            let cursor = dir.path().join("book.cursor");
            let _ = std::fs::remove_file(&cursor);
            ReactorRunner::<book>::with_cursor_file(&store, &warehouse, cursor)
                .unwrap()
                .run_pending()
                .unwrap();
        }
        let booked: Vec<String> = store
            .stream::<Ledger>(&ledger())
            .unwrap()
            .into_iter()
            .map(|e| match e.payload {
                Ledger::Booked { order } => order,
            })
            .collect();
        assert_eq!(booked, ["order:1", "order:2", "order:3"]);
    }

    fn a_denied_reaction_is_parked_with_its_reason_and_holds_up_nothing(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        place_and_pay(&store, 3, &[1, 2, 3]);
        let strict = Warehouse { refused: vec!["order:2".into()] };
        let mut runner = ReactorRunner::<ship>::new(&store, &strict).unwrap();
        let report = runner.run_pending().unwrap();
        assert_eq!((report.committed, report.parked), (2, 1));
        assert_eq!(store.stream::<Shipment>(&shipment(3)).unwrap().len(), 1);
        let open_parked = parked(&store, "ship").unwrap();
        assert_eq!(open_parked.len(), 1);
        let record = &open_parked[0];
        assert_eq!(record.cause, event_at::<Order>(&store, &order(2), 2).header.id);
        assert_eq!(record.target, shipment(2));
        assert_eq!(record.attempt, 1);
        assert!(
            matches!(&record.reason, ParkReason::Denied { gate, .. } if gate == "ships_it"),
            "{:?}",
            record.reason
        );
        assert!(store.stream::<Shipment>(&shipment(2)).unwrap().is_empty());
        // Not retried by itself, even by a new runner that sees it again.
        drop(runner);
        std::fs::remove_dir_all(dir.path().join("wiring")).unwrap();
        let mut again = ReactorRunner::<ship>::new(&store, &strict).unwrap();
        let report = again.run_pending().unwrap();
        assert_eq!((report.committed, report.parked, report.already_handled), (0, 0, 3));
        assert_eq!(parked(&store, "ship").unwrap().len(), 1);
        // A retry under the same refusal parks it once more...
        assert!(matches!(again.retry(record).unwrap(), Reacted::Parked(_)));
        assert_eq!(parked(&store, "ship").unwrap()[0].attempt, 2);
        // ...and once the warehouse takes it, it is committed and unparked.
        let relaxed = Warehouse::default();
        let mut fixed = ReactorRunner::<ship>::new(&store, &relaxed).unwrap();
        assert!(matches!(fixed.retry(record).unwrap(), Reacted::Committed { .. }));
        assert!(parked(&store, "ship").unwrap().is_empty());
        assert_eq!(store.stream::<Shipment>(&shipment(2)).unwrap().len(), 1);
        assert!(matches!(fixed.retry(record).unwrap(), Reacted::AlreadyHandled));
    }

    fn a_step_the_store_refuses_stops_the_runner_and_is_not_skipped(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = open(b, dir.path());
            // Long enough an order name that its shipment's payload is too large below.
            let long = Coordinate::new(format!("order:{}", "9".repeat(200)), "shop").unwrap();
            Order::submit(&store, &Shop::default(), &long, Order::Placed { total_cents: 1 }).unwrap();
            Order::submit(&store, &Shop::default(), &long, Order::Paid).unwrap();
            store.close().unwrap();
        }
        let small = StoreConfig::new(dir.path()).backend(b).max_payload_bytes(64);
        let store = Store::open(small).unwrap();
        let warehouse = Warehouse::default();
        let mut runner = ReactorRunner::<ship>::new(&store, &warehouse).unwrap();
        for _ in 0..2 {
            let stopped = runner.run_pending();
            assert!(matches!(stopped, Err(batpak::WiringError::Step { .. })), "{stopped:?}");
        }
        assert!(parked(&store, "ship").unwrap().is_empty(), "a store failure is not parked");
        drop(runner);
        store.close().unwrap();
        // With room for the payload, the same event is reacted to: it was
        // never skipped, in memory or in the saved cursor.
        let store = open(b, dir.path());
        let report = ReactorRunner::<ship>::new(&store, &warehouse)
            .unwrap()
            .run_pending()
            .unwrap();
        assert_eq!(report.committed, 1);
    }

    fn a_reaction_the_table_forbids_is_parked(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        place_and_pay(&store, 1, &[1]);
        let warehouse = Warehouse::default();
        // `send_twice` marks a shipment sent before it was requested.
        let report = ReactorRunner::<send_twice>::new(&store, &warehouse)
            .unwrap()
            .run_pending()
            .unwrap();
        assert_eq!((report.committed, report.parked), (0, 1));
        let record = &parked(&store, "send_twice").unwrap()[0];
        assert!(
            matches!(&record.reason, ParkReason::Forbidden { state, event } if state == "None" && event == "Sent"),
            "{:?}",
            record.reason
        );
        assert!(store.stream::<Shipment>(&shipment(1)).unwrap().is_empty());
    }

    fn a_runner_thread_reacts_to_new_commits_and_shuts_down_cleanly(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(b, dir.path()));
        let thread =
            ReactorRunner::<ship>::spawn(Arc::clone(&store), Arc::new(Warehouse::default())).unwrap();
        place_and_pay(&store, 5, &[1, 2, 3, 4, 5]);
        let give_up = Instant::now() + Duration::from_secs(60);
        while thread.report().committed < 5 {
            assert!(Instant::now() < give_up, "the runner never caught up: {:?}", thread.report());
            std::thread::sleep(Duration::from_millis(5));
        }
        let report = thread.shutdown().unwrap();
        assert_eq!((report.committed, report.parked), (5, 0));
        for i in 1..=5 {
            assert_eq!(Shipment::state_of(&*store, &shipment(i)).unwrap(), ShipmentState::Requested);
        }
        // The saved cursor is past everything: a new runner has nothing to do.
        let report = ReactorRunner::<ship>::new(&store, &Warehouse::default())
            .unwrap()
            .run_pending()
            .unwrap();
        assert_eq!((report.committed, report.already_handled), (0, 0));
    }

    fn two_runners_of_one_reactor_still_take_each_step_once(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(b, dir.path()));
        // A misuse (two processes cannot share a store, but two threads
        // can run one reactor): both see every event; the key, the
        // handled check and compare-and-append keep each step single.
        std::thread::scope(|s| {
            for name in ["one.cursor", "two.cursor"] {
                let store = &store;
                let cursor = dir.path().join(name);
                s.spawn(move || {
                    let warehouse = Warehouse::default();
                    let mut runner =
                        ReactorRunner::<ship>::with_cursor_file(store, &warehouse, cursor).unwrap();
                    for _ in 0..20 {
                        runner.run_pending().unwrap();
                    }
                });
            }
            place_and_pay(&store, 12, &(1..=12).collect::<Vec<_>>());
        });
        let warehouse = Warehouse::default();
        let mut last = ReactorRunner::<ship>::new(&store, &warehouse).unwrap();
        last.run_pending().unwrap();
        for i in 1..=12 {
            assert_eq!(store.stream::<Shipment>(&shipment(i)).unwrap().len(), 1, "order {i}");
        }
        assert!(parked(&store, "ship").unwrap().is_empty(), "a step taken is not parked");
    }

    fn a_due_timer_fires_once_and_survives_a_restart(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let shop = Shop::default();
        let due = {
            let store = open(b, dir.path());
            place_and_pay(&store, 3, &[2]);
            let timers = Timers::<Order>::new(&store).unwrap();
            let pending = timers.pending();
            assert_eq!(pending.len(), 2, "order 2 is paid: no timer waits");
            let placed = event_at::<Order>(&store, &order(1), 1);
            let first = pending.iter().find(|p| p.coordinate == order(1)).unwrap();
            assert_eq!(first.due_us, placed.header.timestamp_us + 30 * 60 * 1_000_000);
            assert_eq!((first.version, first.variant), (1, "Expired"));
            // The table the scheduler recorded lists the same, without the
            // machine's types (what `batpak timers` prints).
            let recorded: Vec<_> = batpak::pending_timers(&store)
                .unwrap()
                .into_iter()
                .map(|t| (t.coordinate, t.due_us, t.variant))
                .collect();
            let scheduled: Vec<_> = pending
                .iter()
                .map(|t| (t.coordinate.clone(), t.due_us, t.variant.to_owned()))
                .collect();
            assert_eq!(recorded, scheduled);
            // Due times came from the log: a restart finds the same.
            store.close().unwrap();
            first.due_us
        };
        let store = open(b, dir.path());
        let mut timers = Timers::<Order>::new(&store).unwrap();
        assert_eq!(timers.pending().iter().find(|p| p.coordinate == order(1)).unwrap().due_us, due);
        assert_eq!(timers.run_due(&shop, due - 1).unwrap().fired, 0);
        assert_eq!(timers.next_due(), Some(due), "order 1 was placed first");
        let last_due = timers.pending().iter().map(|p| p.due_us).max().unwrap();
        assert_eq!(timers.run_due(&shop, last_due).unwrap().fired, 2);
        assert_eq!(timers.run_due(&shop, u64::MAX).unwrap().fired, 0);
        for i in [1, 3] {
            assert_eq!(Order::state_of(&store, &order(i)).unwrap(), OrderState::Expired);
            let expired = event_at::<Order>(&store, &order(i), 2);
            let placed = event_at::<Order>(&store, &order(i), 1);
            assert_eq!(expired.header.causation, Some(placed.header.id));
            assert!(expired.header.admission.gates().contains(&"not_frozen".to_owned()));
        }
        assert_eq!(Order::state_of(&store, &order(2)).unwrap(), OrderState::Paid);
        assert!(Timers::<Order>::new(&store).unwrap().pending().is_empty());
    }

    fn a_timer_whose_entity_left_the_state_does_nothing(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let shop = Shop::default();
        place_and_pay(&store, 1, &[]);
        let timers = Timers::<Order>::new(&store).unwrap();
        let pending = timers.pending()[0].clone();
        // The order is paid after the scheduler looked: the step the timer
        // was meant for (at version 1) is refused and nothing is written.
        Order::submit(&store, &shop, &order(1), Order::Paid).unwrap();
        let placed = event_at::<Order>(&store, &order(1), 1);
        let cause = Cause {
            event: placed.header.id,
            key: format!("timer/Order/Expired/{}", placed.header.id),
            at_version: Some(pending.version),
        };
        let late = submit_caused(&store, &shop, &order(1), Order::Expired, &cause);
        assert!(matches!(late, Err(MachineError::Conflict { expected: 1, actual: 2 })));
        let mut timers = timers;
        let report = timers.run_due(&shop, u64::MAX).unwrap();
        assert_eq!((report.fired, report.left_state), (0, 0), "the fold saw the payment first");
        assert_eq!(store.stream::<Order>(&order(1)).unwrap().len(), 2);
        assert_eq!(Order::state_of(&store, &order(1)).unwrap(), OrderState::Paid);
    }

    fn a_denied_timer_is_parked_and_not_tried_again(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        place_and_pay(&store, 2, &[]);
        let frozen = Shop { frozen: true };
        let mut timers = Timers::<Order>::new(&store).unwrap();
        let report = timers.run_due(&frozen, u64::MAX).unwrap();
        assert_eq!((report.fired, report.parked), (0, 2));
        assert_eq!(timers.run_due(&frozen, u64::MAX).unwrap().parked, 0);
        assert!(timers.pending().is_empty());
        assert!(batpak::pending_timers(&store).unwrap().is_empty(), "parked timers are not pending");
        let records = parked(&store, "timer/Order/Expired").unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].at_version, Some(1));
        assert!(matches!(&records[0].reason, ParkReason::Denied { gate, .. } if gate == "not_frozen"));
        // A new scheduler (a restart) reads the parked records back.
        let mut restarted = Timers::<Order>::new(&store).unwrap();
        assert!(restarted.pending().is_empty());
        assert_eq!(restarted.run_due(&Shop::default(), u64::MAX).unwrap().fired, 0);
        assert_eq!(Order::state_of(&store, &order(1)).unwrap(), OrderState::Placed);
        // Order 2 is paid meanwhile: its parked timer can never fire, and
        // is no longer listed.
        Order::submit(&store, &Shop::default(), &order(2), Order::Paid).unwrap();
        let records = parked(&store, "timer/Order/Expired").unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].target, order(1));
        // Retried once the shop thaws: fired at the version it was meant for.
        let thawed = Shop::default();
        assert_eq!(restarted.retry(&thawed, &records[0]).unwrap().fired, 1);
        let again = restarted.retry(&thawed, &records[0]).unwrap();
        assert_eq!((again.fired, again.left_state), (0, 1), "at most once");
        assert!(parked(&store, "timer/Order/Expired").unwrap().is_empty());
        assert_eq!(Order::state_of(&store, &order(1)).unwrap(), OrderState::Expired);
        assert_eq!(Order::state_of(&store, &order(2)).unwrap(), OrderState::Paid);
    }

    fn a_timer_thread_fires_on_its_clock_and_shuts_down_cleanly(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open(b, dir.path()));
        /// A clock a day ahead of the wall clock.
        fn tomorrow() -> u64 {
            batpak::now_us() + 24 * 3_600 * 1_000_000
        }
        let thread =
            Timers::<Order>::spawn_with_clock(Arc::clone(&store), Arc::new(Shop::default()), tomorrow)
                .unwrap();
        // Committed after the thread started: it wakes on the commit.
        place_and_pay(&store, 3, &[]);
        let give_up = Instant::now() + Duration::from_secs(60);
        while thread.report().fired < 3 {
            assert!(Instant::now() < give_up, "the timers never fired: {:?}", thread.report());
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(thread.shutdown().unwrap().fired, 3);
        for i in 1..=3 {
            assert_eq!(Order::state_of(&*store, &order(i)).unwrap(), OrderState::Expired);
        }
    }
}

/// A reaction found handled reports where its step is.
#[test]
fn handled_names_the_step_it_found() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    place_and_pay(&store, 1, &[1]);
    let warehouse = Warehouse::default();
    let mut runner = ReactorRunner::<ship>::new(&store, &warehouse).unwrap();
    let paid = event_at::<Order>(&store, &order(1), 2);
    let first = runner.react_to(&paid).unwrap();
    let Reacted::Committed { position } = first else {
        panic!("expected a commit, got {first:?}");
    };
    assert_eq!(runner.react_to(&paid).unwrap(), Reacted::AlreadyHandled);
    assert_eq!(
        event_at::<Shipment>(&store, &shipment(1), 1).position(),
        position
    );
}
