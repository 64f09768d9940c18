use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, rename(modul = order_states))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() {}
