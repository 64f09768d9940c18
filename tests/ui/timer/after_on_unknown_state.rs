use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Expired), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    #[transition(Placd -> Expired, after = "30m")]
    Expired,
}

fn main() {}
