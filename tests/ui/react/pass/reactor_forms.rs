use batpak::prelude::*;
use serde::{Deserialize, Serialize};

use batpak::{Reaction, Reactor};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Open, Paid), initial = Open)]
pub enum Order {
    #[transition(Open -> Paid)]
    Paid,
}

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Waiting, Sent), initial = Waiting, context = Warehouse)]
pub enum Parcel {
    #[transition(Waiting -> Sent)]
    Sent,
}

pub struct Warehouse;
pub struct Desk;

/// Paid orders are sent.
#[react(Order::Paid)]
fn send(_warehouse: &Warehouse, paid: &StoredEvent<Order>) -> Reaction<Parcel> {
    let entity = format!("parcel:{}", paid.header.coordinate.entity());
    Reaction::step(Coordinate::new(entity, "shop").unwrap(), Parcel::Sent)
}

/// Every order event, with a context by value.
#[react]
fn mirror(_ctx: (), _event: &batpak::StoredEvent<Order>) -> batpak::Reaction<Order> {
    Reaction::Nothing
}

fn main() {
    assert_eq!(<send as Reactor>::NAME, "send");
    assert_eq!(<send as Reactor>::DESCRIPTION, "Paid orders are sent.");
    assert!(<send as Reactor>::applies(&Order::Paid));
    assert!(<mirror as Reactor>::applies(&Order::Paid));
}
