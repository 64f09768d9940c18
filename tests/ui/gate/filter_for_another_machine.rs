use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, gates(limit))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

/// Limited to a variant of a different enum than its event.
#[gate(Invoice::Paid)]
fn limit(_ctx: &(), _event: &Order) -> bool {
    true
}

fn main() {}
