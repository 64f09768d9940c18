//! A `pub` gate is not even an unused function: only the listing check
//! notices that no machine runs it.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

pub struct Desk;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Applied, Approved), initial = Applied, context = Desk)]
pub enum Loan {
    #[transition(Applied -> Approved)]
    Approved { amount_cents: u64 },
}

/// Written, but the machine lists no gates: it would never run.
#[gate(Loan::Approved)]
pub fn within_authority(_desk: &Desk, _event: &Loan) -> bool {
    true
}

fn main() {}
