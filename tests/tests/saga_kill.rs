//! Kill loop for the saga (`examples/saga_domain.rs`): a child process runs
//! the four reactors and the order timer on threads, the parent places new
//! orders between rounds and SIGKILLs the child at a random moment, over
//! and over; then it lets the saga finish in-process and proves, from the
//! log, that every reaction and every timer took effect exactly once:
//!
//! - every placed order has exactly one payment request, caused by its
//!   `Placed` event under the key `react/request_payment/<id>`;
//! - every request within the bank's limit was captured exactly once;
//! - every captured payment has exactly one outcome: its order marked paid
//!   (caused by the capture) or, when the timer cancelled the order first,
//!   one parked record of `mark_paid` saying the table forbids it;
//! - every order ends paid or cancelled with exactly two events; a
//!   cancellation is caused by the `Placed` event (the timer), and only an
//!   order never paid is cancelled;
//! - every paid order has exactly one shipment, caused by its `Paid` event;
//! - `verify()` passes after every round.
//!
//! The child's clock runs on time for the first half of the rounds (no
//! timer is due: 30 minutes) and an hour ahead for the second half (every
//! unpaid order's timer is due at once, racing the payments), so both
//! outcomes of the race are exercised.
//!
//! Each test prints its seed; replay one with `BATPAK_SAGA_SEED=<seed>
//! cargo test -p batpak-tests --test saga_kill`. `BATPAK_SAGA_ROUNDS`
//! overrides the rounds per backend (default: segment 30, redb and LMDB 8).

mod common;
#[path = "../../examples/saga_domain.rs"]
mod saga_domain;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use batpak::prelude::*;
use batpak::{Backend, ParkReason, Reactor, ReactorRunner, Timers, WiringError, now_us, parked};
use common::{Rng, serial};
use saga_domain::{
    Bank, Order, OrderState, Payment, Shipment, capture, for_order, mark_paid, request_payment,
    ship,
};

const CHILD_DIR: &str = "BATPAK_SAGA_CHILD_DIR";
const CHILD_BACKEND: &str = "BATPAK_SAGA_CHILD_BACKEND";
const CHILD_AHEAD_US: &str = "BATPAK_SAGA_CHILD_AHEAD_US";
const BANK: Bank = Bank { limit_cents: 5_000 };
const HOUR_US: u64 = 3_600 * 1_000_000;
/// Orders placed before each round.
const ORDERS_PER_ROUND: u64 = 8;

/// How far ahead of the wall clock the child's timers run.
static AHEAD_US: AtomicU64 = AtomicU64::new(0);

fn child_clock() -> u64 {
    now_us() + AHEAD_US.load(Ordering::Relaxed)
}

fn backend_named(name: &str) -> Backend {
    [Backend::Segment, Backend::Redb, Backend::Lmdb]
        .into_iter()
        .find(|b| b.name() == name)
        .unwrap_or_else(|| panic!("unknown backend {name}"))
}

/// Child half: does nothing unless started by the kill loop; then runs the
/// saga until it is killed.
#[test]
fn saga_child_runner() {
    let (Ok(dir), Ok(name), Ok(ahead)) = (
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_BACKEND),
        std::env::var(CHILD_AHEAD_US),
    ) else {
        return;
    };
    AHEAD_US.store(ahead.parse().unwrap(), Ordering::Relaxed);
    let store = Arc::new(Store::open(StoreConfig::new(dir).backend(backend_named(&name))).unwrap());
    let bank = Arc::new(BANK);
    let _threads = [
        ReactorRunner::<request_payment>::spawn(Arc::clone(&store), Arc::clone(&bank)).unwrap(),
        ReactorRunner::<capture>::spawn(Arc::clone(&store), Arc::clone(&bank)).unwrap(),
        ReactorRunner::<mark_paid>::spawn(Arc::clone(&store), Arc::new(())).unwrap(),
        ReactorRunner::<ship>::spawn(Arc::clone(&store), Arc::new(())).unwrap(),
    ];
    let _timers =
        Timers::<Order>::spawn_with_clock(Arc::clone(&store), Arc::new(()), child_clock).unwrap();
    loop {
        std::thread::park(); // until SIGKILL
    }
}

/// Places orders `from..from + count`, a quarter of them above the bank's
/// limit.
fn place(store: &Store, from: u64, count: u64) {
    for n in from..from + count {
        let total_cents = if n % 4 == 3 { 9_000 } else { 1_000 + n };
        let coord = Coordinate::new(format!("order:{n}"), saga_domain::SCOPE).unwrap();
        Order::submit(store, &coord, Order::Placed { total_cents }).unwrap();
    }
}

/// Runs every reactor and the timers (an hour ahead) until nothing moves.
fn finish(store: &Store) -> Result<(), WiringError> {
    fn pass<R: Reactor>(runner: &mut ReactorRunner<'_, R>) -> Result<u64, WiringError> {
        let before = runner.report().committed + runner.report().parked;
        let after = runner.run_pending()?;
        Ok(after.committed + after.parked - before)
    }
    let mut request = ReactorRunner::<request_payment>::new(store, &BANK)?;
    let mut capture = ReactorRunner::<capture>::new(store, &BANK)?;
    let mut mark = ReactorRunner::<mark_paid>::new(store, &())?;
    let mut ship = ReactorRunner::<ship>::new(store, &())?;
    let mut timers = Timers::<Order>::new(store)?;
    loop {
        let moved = timers.run_due(&(), now_us() + HOUR_US)?.fired
            + pass(&mut request)?
            + pass(&mut capture)?
            + pass(&mut mark)?
            + pass(&mut ship)?;
        if moved == 0 {
            return Ok(());
        }
    }
}

/// What the checks found, for the closing report.
#[derive(Debug, Default)]
struct Tally {
    orders: u64,
    paid: u64,
    cancelled: u64,
    parked_payments: u64,
    reactions: u64,
}

/// Checks every promise in the file's doc against the log.
fn check_exactly_once(store: &Store, orders: u64, ctx: &str) -> Tally {
    let parked_marks = parked(store, "mark_paid").unwrap();
    let mut tally = Tally {
        orders,
        ..Tally::default()
    };
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
        let ctx = format!("{ctx}: {entity}");
        assert_eq!(order.len(), 2, "{ctx}: {order:?}");
        let placed = &order[0];
        let Order::Placed { total_cents } = placed.payload else {
            panic!("{ctx}: first event {:?}", placed.payload);
        };
        // One payment request, caused by the placing, under its key.
        assert!(
            matches!(payment[0].payload, Payment::Requested { .. }),
            "{ctx}"
        );
        assert_eq!(payment[0].header.causation, Some(placed.header.id), "{ctx}");
        let key = format!("react/request_payment/{}", placed.header.id);
        assert_eq!(
            payment[0].header.idempotency_key.as_deref(),
            Some(key.as_str()),
            "{ctx}"
        );
        let within_limit = total_cents <= BANK.limit_cents;
        assert_eq!(
            payment.len(),
            if within_limit { 2 } else { 1 },
            "{ctx}: {payment:?}"
        );
        tally.reactions += 1 + u64::from(within_limit);
        let captured = payment.get(1);
        if let Some(captured) = captured {
            assert_eq!(captured.payload, Payment::Captured, "{ctx}");
            assert_eq!(
                captured.header.causation,
                Some(payment[0].header.id),
                "{ctx}"
            );
        }
        let parked_for_order: Vec<_> = parked_marks
            .iter()
            .filter(|p| captured.is_some_and(|c| p.cause == c.header.id))
            .collect();
        match order[1].payload {
            Order::Paid => {
                let captured = captured.unwrap_or_else(|| panic!("{ctx}: paid, never captured"));
                assert_eq!(order[1].header.causation, Some(captured.header.id), "{ctx}");
                assert!(parked_for_order.is_empty(), "{ctx}: paid and parked");
                assert_eq!(shipment.len(), 1, "{ctx}: {shipment:?}");
                assert_eq!(
                    shipment[0].header.causation,
                    Some(order[1].header.id),
                    "{ctx}"
                );
                tally.paid += 1;
                tally.reactions += 2;
            }
            Order::Cancelled => {
                // The timer's step: caused by the event that entered `Placed`.
                assert_eq!(order[1].header.causation, Some(placed.header.id), "{ctx}");
                assert!(shipment.is_empty(), "{ctx}: cancelled and shipped");
                if captured.is_some() {
                    assert_eq!(
                        parked_for_order.len(),
                        1,
                        "{ctx}: captured, neither paid nor parked"
                    );
                    assert!(matches!(
                        parked_for_order[0].reason,
                        ParkReason::Forbidden { .. }
                    ));
                    tally.parked_payments += 1;
                }
                tally.cancelled += 1;
            }
            ref other => panic!("{ctx}: second event {other:?}"),
        }
        assert!(
            matches!(
                Order::state_of(store, &order[0].header.coordinate).unwrap(),
                OrderState::Paid | OrderState::Cancelled
            ),
            "{ctx}"
        );
    }
    tally
}

fn kill_loop(backend: Backend, default_rounds: u64) {
    let _serial = serial();
    let (mut rng, seed) = Rng::from_env("BATPAK_SAGA_SEED");
    let rounds: u64 = std::env::var("BATPAK_SAGA_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_rounds);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let config = || StoreConfig::new(dir.path()).backend(backend);
    let mut orders = 0;
    // Events the killed children stored: their steps and parked records.
    let (mut child_events, mut after_placing) = (0, 0);
    for round in 0..rounds {
        let ctx = format!("{backend} BATPAK_SAGA_SEED={seed} round {round}");
        {
            let store = Store::open(config()).unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            let report = store.verify().unwrap();
            assert!(report.is_ok(), "{ctx}: {report:?}");
            child_events += store.stats().events - after_placing;
            place(&store, orders, ORDERS_PER_ROUND);
            orders += ORDERS_PER_ROUND;
            after_placing = store.stats().events;
            store.close().unwrap();
        }
        let ahead = if round < rounds / 2 { 0 } else { HOUR_US };
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "saga_child_runner",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_BACKEND, backend.name())
            .env(CHILD_AHEAD_US, ahead.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(10 + rng.below(250)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let store = Store::open(config()).unwrap();
    child_events += store.stats().events - after_placing;
    assert!(
        child_events > 0,
        "the children never took a step before being killed"
    );
    finish(&store).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    let tally = check_exactly_once(
        &store,
        orders,
        &format!("{backend} BATPAK_SAGA_SEED={seed}"),
    );
    assert!(tally.paid > 0 && tally.cancelled > 0, "{tally:?}");
    eprintln!(
        "{backend}: {rounds} kills, {} orders: {} paid and shipped, {} cancelled by their timer \
         ({} of them captured too late: parked), {} reactions and {} timers, each exactly once \
         ({child_events} events stored by the killed children; seed {seed})",
        tally.orders,
        tally.paid,
        tally.cancelled,
        tally.parked_payments,
        tally.reactions,
        tally.cancelled,
    );
}

mod segment {
    #[test]
    fn killed_saga_runner_takes_every_step_exactly_once() {
        super::kill_loop(batpak::Backend::Segment, 30);
    }
}

mod redb {
    #[test]
    fn killed_saga_runner_takes_every_step_exactly_once() {
        super::kill_loop(batpak::Backend::Redb, 8);
    }
}

mod lmdb {
    #[test]
    fn killed_saga_runner_takes_every_step_exactly_once() {
        super::kill_loop(batpak::Backend::Lmdb, 8);
    }
}
