use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize)]
#[machine(states(Draft, Approved), initial = Draft)]
enum Loan {
    #[transition(Draft -> Approved)]
    #[upcast(from = 2, with = approved_v2)]
    Approved { amount_cents: u64, rate_bp: u32 },
}

#[derive(Deserialize)]
struct ApprovedV2 {
    amount_cents: u64,
}

fn approved_v2(old: ApprovedV2) -> Loan {
    Loan::Approved { amount_cents: old.amount_cents, rate_bp: 500 }
}

fn main() {}
