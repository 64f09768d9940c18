use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Paid), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed, kind = 7)]
    Placed,
    #[transition(Placed -> Paid, kind = 7)]
    Paid,
}

fn main() {}
