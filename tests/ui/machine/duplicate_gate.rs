use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, gates(open, open))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

/// Always open.
#[gate]
fn open(_ctx: &(), _event: &Order) -> bool {
    true
}

fn main() {}
