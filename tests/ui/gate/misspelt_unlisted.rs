use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Applied, Approved), initial = Applied)]
enum Loan {
    #[transition(Applied -> Approved)]
    Approved,
}

/// Meant to be used elsewhere, but the opt-out is misspelt.
#[gate(Loan::Approved, unlisteed)]
pub fn within_authority(_ctx: &(), _event: &Loan) -> bool {
    true
}

fn main() {}
