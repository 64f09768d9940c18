use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Shipped, Returned), initial = Draft, terminal(Shipped))]
enum Order {
    #[transition(Draft -> Shipped)]
    Shipped,
    #[transition(Shipped -> Returned)]
    Returned,
}

fn main() {}
