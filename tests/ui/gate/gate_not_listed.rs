use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Desk;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Applied, Approved), initial = Applied, context = Desk, gates(complete))]
enum Loan {
    #[transition(Applied -> Approved)]
    Approved { amount_cents: u64 },
}

/// Incomplete applications are refused.
#[gate]
fn complete(_desk: &Desk, _event: &Loan) -> bool {
    true
}

/// Written, but left out of `gates(..)`: it would never run.
#[gate(Loan::Approved)]
fn within_authority(_desk: &Desk, _event: &Loan) -> bool {
    true
}

fn main() {
    let _ = Desk;
}
