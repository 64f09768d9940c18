use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(state(Draft, Placed), initial = Draft, colour = "red")]
enum Order {
    #[transition(Draft -> Placed, knd = 3)]
    Placed,
}

fn main() {}
