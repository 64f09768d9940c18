use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() {}
