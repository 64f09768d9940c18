use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Default, Serialize, Deserialize)]
struct LoanFile {
    requested_cents: u64,
}

// `data = LoanFile` forgotten: the gate asks for data the machine has not.
#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Submitted), initial = Draft, gates(within_request))]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
}

/// Never more than requested.
#[gate]
fn within_request(_ctx: &(), file: &LoanFile, _event: &Loan) -> bool {
    file.requested_cents < 100
}

fn main() {}
