use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Cancelled), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    #[transition(Draft -> Cancelled)]
    Placed,
    #[transition(Draft | Placed | Draft -> Cancelled)]
    Cancelled,
}

fn main() {}
