use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, gates(limit))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
}

/// Refuses large orders.
#[gate(Order::Placd)]
fn limit(_ctx: &(), _event: &Order) -> bool {
    true
}

fn main() {}
