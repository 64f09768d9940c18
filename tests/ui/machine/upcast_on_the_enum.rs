use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Approved), initial = Draft)]
#[upcast(from = 1, with = approved_v1)]
enum Loan {
    #[transition(Draft -> Approved)]
    Approved { amount_cents: u64 },
}

fn main() {}
