use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Paid, Shipped), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    #[transition(Placed -> Paid)]
    Paid,
    #[transition(Paid -> Shiped)]
    Shipped,
}

fn main() {}
