//! A saga across three machines: an order asks for its payment, a captured
//! payment marks the order paid, a paid order is shipped, and an order
//! nobody pays within 30 minutes is cancelled by a durable timer. Each
//! step is taken by a reactor, exactly once, with the event that caused it
//! recorded; a payment that arrives after its order was cancelled is
//! parked with the reason, not lost and not retried forever.
//!
//! The machines and reactors are in `saga_domain.rs`. Here they run step
//! by step on an injected clock, so the story is the same on every run;
//! `ReactorRunner::spawn` and `Timers::spawn` run the same code on threads
//! of their own (see the end).
//!
//! Run it with `cargo run -p batpak-examples --example saga`.

mod saga_domain;

use std::sync::Arc;

use batpak::prelude::*;
use batpak::{Reactor, ReactorRunner, Timers, WiringError, now_us, parked};
use saga_domain::{
    Bank, Order, OrderState, Payment, Shipment, capture, for_order, mark_paid, request_payment,
    ship,
};

/// Everything that moves the saga, run in passes until nothing moves.
struct Saga<'s> {
    request_payment: ReactorRunner<'s, request_payment>,
    capture: ReactorRunner<'s, capture>,
    mark_paid: ReactorRunner<'s, mark_paid>,
    ship: ReactorRunner<'s, ship>,
    timers: Timers<'s, Order>,
}

impl<'s> Saga<'s> {
    fn new(store: &'s Store, bank: &'s Bank) -> Result<Self, WiringError> {
        Ok(Self {
            request_payment: ReactorRunner::new(store, bank)?,
            capture: ReactorRunner::new(store, bank)?,
            mark_paid: ReactorRunner::new(store, &())?,
            ship: ReactorRunner::new(store, &())?,
            timers: Timers::new(store)?,
        })
    }

    /// Runs every reactor and the timers due at `now_us` until a pass
    /// takes no step; returns how many steps were taken.
    fn settle(&mut self, now_us: u64) -> Result<u64, WiringError> {
        let mut steps = 0;
        loop {
            let taken = self.timers.run_due(&(), now_us)?.fired
                + new_steps(&mut self.request_payment)?
                + new_steps(&mut self.capture)?
                + new_steps(&mut self.mark_paid)?
                + new_steps(&mut self.ship)?;
            if taken == 0 {
                return Ok(steps);
            }
            steps += taken;
        }
    }
}

/// Runs `runner` on what is pending; returns the steps it committed.
fn new_steps<R: Reactor>(runner: &mut ReactorRunner<'_, R>) -> Result<u64, WiringError> {
    let before = runner.report().committed;
    Ok(runner.run_pending()?.committed - before)
}

const MINUTE_US: u64 = 60 * 1_000_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let bank = Bank { limit_cents: 5_000 };
    let (order_1, order_2) = (
        Coordinate::new("order:1", saga_domain::SCOPE)?,
        Coordinate::new("order:2", saga_domain::SCOPE)?,
    );
    {
        let store = Store::open(StoreConfig::new(dir.path()))?;
        let mut saga = Saga::new(&store, &bank)?;

        // Two orders: one the bank will capture, one above its limit.
        Order::submit(&store, &order_1, Order::Placed { total_cents: 4_200 })?;
        Order::submit(&store, &order_2, Order::Placed { total_cents: 9_900 })?;
        let now = now_us();
        println!("steps taken by reactors: {}", saga.settle(now)?);
        println!("order:1 is {}", Order::state_of(&store, &order_1)?);
        println!("order:2 is {}", Order::state_of(&store, &order_2)?);
        for timer in saga.timers.pending() {
            let minutes = timer.due_us.saturating_sub(now).div_ceil(MINUTE_US);
            println!(
                "pending timer: {} on {} in about {minutes} minutes",
                timer.variant, timer.coordinate
            );
        }

        // Half an hour later, nobody has paid order 2: the timer cancels it.
        println!(
            "steps taken 31 minutes later: {}",
            saga.settle(now + 31 * MINUTE_US)?
        );
        assert_eq!(Order::state_of(&store, &order_2)?, OrderState::Cancelled);
        println!("order:2 is {}", Order::state_of(&store, &order_2)?);

        // The bank captures order 2's payment after all: too late. The
        // reaction is parked with its reason, and the saga goes on.
        let generous = Bank {
            limit_cents: 10_000,
        };
        Payment::submit(
            &store,
            &generous,
            &for_order("payment", "order:2"),
            Payment::Captured,
        )?;
        saga.settle(now + 32 * MINUTE_US)?;
        for record in parked(&store, "mark_paid")? {
            println!(
                "parked: {} for {}: {}",
                record.name, record.target, record.reason
            );
        }

        // What order 1's placing caused, through every machine.
        let placed = &store.stream::<Order>(&order_1)?[0];
        for header in store.walk_causation(placed.header.id)? {
            println!(
                "  {} #{} (caused by {})",
                header.coordinate,
                header.sequence,
                header
                    .causation
                    .map_or_else(|| "the customer".to_owned(), |id| id.to_string()),
            );
        }
        store.close()?;
    }

    // A restart: every reactor resumes from its cursor, and nothing is
    // done twice.
    let store = Store::open(StoreConfig::new(dir.path()))?;
    let mut saga = Saga::new(&store, &bank)?;
    println!(
        "steps taken after a restart: {}",
        saga.settle(now_us() + 60 * MINUTE_US)?
    );
    assert_eq!(
        store
            .stream::<Shipment>(&for_order("shipment", "order:1"))?
            .len(),
        1
    );
    drop(saga);

    // The same saga on threads of their own: each runner sleeps until a
    // commit wakes it, and stops at `shutdown`.
    let store = Arc::new(store);
    let bank = Arc::new(bank);
    let threads = [
        ReactorRunner::<request_payment>::spawn(Arc::clone(&store), Arc::clone(&bank))?,
        ReactorRunner::<capture>::spawn(Arc::clone(&store), Arc::clone(&bank))?,
        ReactorRunner::<mark_paid>::spawn(Arc::clone(&store), Arc::new(()))?,
        ReactorRunner::<ship>::spawn(Arc::clone(&store), Arc::new(()))?,
    ];
    let timers = Timers::<Order>::spawn(Arc::clone(&store), Arc::new(()))?;
    let shipments = Region::all().category(<Shipment as StateMachine>::CATEGORY);
    let mut shipped = store.cursor::<Shipment>(shipments, store.stats().events)?;
    let order_3 = Coordinate::new("order:3", saga_domain::SCOPE)?;
    Order::submit(&*store, &order_3, Order::Placed { total_cents: 1_500 })?;
    let shipment = shipped.next_blocking()?; // woken by the commit, no polling
    println!("shipped on its own: {}", shipment.header.coordinate);
    for thread in threads {
        let report = thread.shutdown()?;
        println!(
            "reactor thread stopped: {} committed, {} behind",
            report.committed, report.lag
        );
    }
    timers.shutdown()?;
    Ok(())
}
