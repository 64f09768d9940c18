//! The order workflow, end to end on the embedded segment store:
//! create an order, see a gate refuse a step and retry it corrected with
//! the handle the refusal gave back, see a gate that reads the order's own
//! data (what was placed) refuse a wrong payment, see a stale handle lose a
//! race, reopen the store and carry on, print the diagram.
//!
//! Run it with `cargo run -p batpak-examples --example order`.

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// What the gates read: the shop's policy.
struct Shop {
    credit_limit_cents: u64,
    open: bool,
}

/// What can happen to an order.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Shipped, Cancelled),
    initial = Draft,
    terminal(Shipped, Cancelled),
    gates(within_credit_limit, shop_is_open, pays_the_total),
    context = Shop,
    data = Bill,
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { items: u32, total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid { amount_cents: u64 },
    #[transition(Paid -> Shipped)]
    Shipped { carrier: String },
    #[transition(Draft | Placed | Paid -> Cancelled)]
    Cancelled { reason: String },
}

/// What the order's events said so far: its data, folded once per event and
/// kept with its state (`handle.data()`, and gates that ask for it).
#[derive(Debug, Default, Serialize, Deserialize)]
struct Bill {
    total_cents: u64,
    paid_cents: u64,
}

impl MachineData<Order> for Bill {
    fn apply(&mut self, event: &Order) {
        match event {
            Order::Placed { total_cents, .. } => self.total_cents = *total_cents,
            Order::Paid { amount_cents } => self.paid_cents = *amount_cents,
            Order::Shipped { .. } | Order::Cancelled { .. } => {}
        }
    }
}

/// A payment is exactly the total placed.
#[gate(Order::Paid)]
fn pays_the_total(_shop: &Shop, bill: &Bill, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Paid { amount_cents } if *amount_cents != bill.total_cents => Err(Denial::new(
            "wrong_amount",
            "a payment must equal the placed total",
        )
        .with("total_cents", bill.total_cents)
        .with("amount_cents", amount_cents)),
        _ => Ok(()),
    }
}

/// Orders above the customer's credit limit are refused.
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

/// A closed shop takes no orders.
#[gate]
fn shop_is_open(shop: &Shop, _event: &Order) -> bool {
    shop.open
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let shop = Shop {
        credit_limit_cents: 5_000,
        open: true,
    };
    let coord = Coordinate::new("order:507", "shop:acme")?;

    {
        let store = Store::open(StoreConfig::new(dir.path()))?;

        // Typed handles: only legal steps exist as methods.
        let draft = Order::create(&store, coord.clone())?;
        // `draft.shipped(..)` would not compile: a draft cannot ship.

        // A gate refuses: nothing is written, the caller learns why and
        // gets the handle back to correct the order and try again.
        let draft = match draft.placed(&store, &shop, 40, 90_000) {
            Ok(_) => return Err("the credit limit should refuse this order".into()),
            Err(refused) => {
                if let MachineError::Denied(denial) = refused.error() {
                    println!("refused: {denial} {:?}", denial.context());
                }
                refused.into_handle()
            }
        };
        let placed = draft.placed(&store, &shop, 3, 4_200)?;
        println!(
            "placed at version {}, total {}",
            placed.version(),
            placed.data().total_cents
        );

        // Someone else pays the order through a handle of their own; a
        // wrong amount is refused by the gate that reads the bill...
        let wrong = Order::Paid {
            amount_cents: 4_000,
        };
        if let Err(MachineError::Denied(denial)) = Order::submit(&store, &shop, &coord, wrong) {
            println!("refused: {denial}");
        }
        let OrderHandle::Placed(theirs) = Order::load(&store, &coord)? else {
            return Err("order should be placed".into());
        };
        theirs.paid(&store, &shop, 4_200)?;

        // ...so our handle is stale: a conflict, and nothing written.
        match placed.cancelled(&store, &shop, "customer changed their mind".to_owned()) {
            Err(refused) if matches!(refused.error(), MachineError::Conflict { .. }) => {
                println!("stale handle: {refused}")
            }
            other => println!("unexpected: {other:?}"),
        }
        store.close()?;
    }

    // Reopen the store: the order is rebuilt by replaying its events.
    let store = Store::open(StoreConfig::new(dir.path()))?;
    println!("after reopen: {}", Order::state_of(&store, &coord)?);
    if let OrderHandle::Paid(paid) = Order::load(&store, &coord)? {
        println!(
            "paid {} of {}",
            paid.data().paid_cents,
            paid.data().total_cents
        );
        let shipped = paid.shipped(&store, &shop, "parcel-post".to_owned())?;
        println!("shipped at version {}", shipped.version());
    }
    for event in store.stream::<Order>(&coord)? {
        println!(
            "  #{} {:?} admitted by {:?}",
            event.sequence(),
            event.payload,
            event.header.admission.gates()
        );
    }

    println!("\n{}", Order::MERMAID);
    Ok(())
}
