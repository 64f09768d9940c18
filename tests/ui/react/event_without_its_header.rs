use batpak::prelude::*;
use serde::{Deserialize, Serialize};

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

#[react(Order::Paid)]
fn send(_warehouse: &Warehouse, _paid: &Order) -> Reaction<Parcel> {
    Reaction::Nothing
}

fn main() {}
