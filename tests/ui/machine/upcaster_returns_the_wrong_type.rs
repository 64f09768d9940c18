use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize)]
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

/// Returns the old type again instead of the machine's event.
fn approved_v1(old: ApprovedV1) -> ApprovedV1 {
    old
}

fn main() {}
