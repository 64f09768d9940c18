use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Submitted), initial = Draft, gates(mutable, foreign))]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted,
}

/// The state is fine by value; a number is neither the state nor the data.
#[gate]
fn foreign(_ctx: &(), state: LoanState, limit: &u64, _event: &Loan) -> bool {
    let _ = (state, limit);
    true
}

/// The state is read, never changed.
#[gate]
fn mutable(_ctx: &(), state: &mut LoanState, _event: &Loan) -> bool {
    let _ = state;
    true
}

fn main() {}
