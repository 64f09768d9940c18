use batpak::prelude::*;
use serde::{Deserialize, Serialize};

// A machine with upcasters gets its `Deserialize` from the derive (it
// applies them): deriving serde's as well is a conflict.
#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Approved), initial = Draft)]
enum Loan {
    #[transition(Draft -> Approved)]
    #[upcast(from = 1, with = approved_v1)]
    Approved { amount_cents: u64, rate_bp: u32 },
}

#[derive(Deserialize)]
struct ApprovedV1 {
    amount_cents: u64,
}

fn approved_v1(old: ApprovedV1) -> Loan {
    Loan::Approved { amount_cents: old.amount_cents, rate_bp: 500 }
}

fn main() {}
