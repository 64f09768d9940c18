use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() {}
