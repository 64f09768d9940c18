use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft)]
struct Order {
    items: u32,
}

fn main() {}
