use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Expired), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    #[transition(Placed -> Expired, after = "30m")]
    Expired { reason: String },
}

fn main() {}
