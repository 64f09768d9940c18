//! The saga's domain, shared by `saga.rs`, the kill test
//! (`tests/tests/saga_kill.rs`) and the benchmark (`bench/wiring.rs`),
//! which include this file with `#[path]`: three machines (an order, its
//! payment, its shipment), the four reactors that carry an order from one
//! to the next, and the timer that cancels an order nobody paid.
//!
//! ```text
//! Order::Placed ──request_payment──▶ Payment::Requested
//! Payment::Requested ──capture──▶ Payment::Captured   (within the bank's limit)
//! Payment::Captured ──mark_paid──▶ Order::Paid
//! Order::Paid ──ship──▶ Shipment::Requested
//! Order: Placed ──30 minutes──▶ Cancelled             (a durable timer)
//! ```
//!
//! A payment captured after its order was cancelled cannot mark it paid:
//! the order's table forbids `Paid` after `Cancelled`, so that reaction is
//! parked with the reason, for someone to refund.

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// The scope every entity of the saga lives in.
pub const SCOPE: &str = "shop";

/// What the payment provider decides with: it captures amounts up to its
/// limit and lets larger ones lapse.
#[derive(Debug)]
pub struct Bank {
    /// The largest amount captured, in cents.
    pub limit_cents: u64,
}

/// An order, from placing to payment or cancellation.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Cancelled),
    initial = Draft,
    terminal(Paid, Cancelled)
)]
pub enum Order {
    /// The customer placed the order.
    #[transition(Draft -> Placed)]
    Placed {
        /// What it costs, in cents.
        total_cents: u64,
    },
    /// Its payment was captured.
    #[transition(Placed -> Paid)]
    Paid,
    /// Nobody paid within 30 minutes.
    #[transition(Placed -> Cancelled, after = "30m")]
    Cancelled,
}

/// The payment of one order.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(None, Requested, Captured),
    initial = None,
    terminal(Captured),
    context = Bank
)]
pub enum Payment {
    /// The shop asked for the money.
    #[transition(None -> Requested)]
    Requested {
        /// How much, in cents.
        amount_cents: u64,
    },
    /// The bank took it.
    #[transition(Requested -> Captured)]
    Captured,
}

/// The shipment of one paid order.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(states(None, Requested), initial = None, terminal(Requested))]
pub enum Shipment {
    /// The warehouse was asked to ship.
    #[transition(None -> Requested)]
    Requested,
}

/// The coordinate of `kind` (`payment`, `shipment`) for the order whose
/// entity is `order` (`order:7` gives `payment:order:7`).
#[must_use]
pub fn for_order(kind: &str, order: &str) -> Coordinate {
    Coordinate::new(format!("{kind}:{order}"), SCOPE).expect("a valid entity")
}

/// The order a payment or shipment entity belongs to (`payment:order:7`
/// gives `order:7`).
#[must_use]
pub fn order_of(entity: &Coordinate) -> Coordinate {
    let order = entity
        .entity()
        .split_once(':')
        .map_or("", |(_, order)| order);
    Coordinate::new(order, SCOPE).expect("a valid entity")
}

/// Every placed order asks for its money.
#[react(Order::Placed)]
pub fn request_payment(_bank: &Bank, placed: &StoredEvent<Order>) -> Reaction<Payment> {
    let Order::Placed { total_cents } = placed.payload else {
        return Reaction::Nothing;
    };
    Reaction::step(
        for_order("payment", placed.header.coordinate.entity()),
        Payment::Requested {
            amount_cents: total_cents,
        },
    )
}

/// The bank captures what is within its limit; larger amounts lapse.
#[react(Payment::Requested)]
pub fn capture(bank: &Bank, requested: &StoredEvent<Payment>) -> Reaction<Payment> {
    match requested.payload {
        Payment::Requested { amount_cents } if amount_cents <= bank.limit_cents => {
            Reaction::step(requested.header.coordinate.clone(), Payment::Captured)
        }
        _ => Reaction::Nothing,
    }
}

/// A captured payment marks its order paid.
#[react(Payment::Captured)]
pub fn mark_paid(_ctx: (), captured: &StoredEvent<Payment>) -> Reaction<Order> {
    Reaction::step(order_of(&captured.header.coordinate), Order::Paid)
}

/// Every paid order is shipped.
#[react(Order::Paid)]
pub fn ship(_ctx: (), paid: &StoredEvent<Order>) -> Reaction<Shipment> {
    Reaction::step(
        for_order("shipment", paid.header.coordinate.entity()),
        Shipment::Requested,
    )
}
