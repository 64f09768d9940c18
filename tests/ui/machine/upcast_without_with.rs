use batpak::prelude::*;
use serde::Serialize;

#[derive(StateMachine, Serialize)]
#[machine(states(Draft, Approved), initial = Draft)]
enum Loan {
    #[transition(Draft -> Approved)]
    #[upcast(from = 1)]
    Approved { amount_cents: u64 },
}

fn main() {}
