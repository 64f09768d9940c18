use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() {}
