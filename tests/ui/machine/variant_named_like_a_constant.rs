use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    // Its kind would be `Order::KINDS`, the list of every kind.
    #[transition(Placed -> Placed)]
    Kinds,
}

fn main() {}
