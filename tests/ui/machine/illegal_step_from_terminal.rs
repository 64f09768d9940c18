use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Shipped, Cancelled),
    initial = Draft,
    terminal(Shipped, Cancelled),
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    #[transition(Placed -> Shipped)]
    Shipped { carrier: String },
    #[transition(Draft | Placed -> Cancelled)]
    Cancelled,
}

fn cancel<Db: batpak::MachineStore>(store: &Db, shipped: Machine<Order, order::Shipped>) {
    // Nothing leaves a terminal state; `cancelled` is a step out of Draft or Placed.
    let _ = shipped.cancelled(store);
}

fn main() {}
