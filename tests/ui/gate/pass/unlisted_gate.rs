//! `#[gate(.., unlisted)]`: a gate its machine does not list, on purpose,
//! because it is used elsewhere (called directly, or as a `GateSpec`).
#![deny(warnings)]

use batpak::prelude::*;
use batpak::GateSpec;
use serde::{Deserialize, Serialize};

struct Desk {
    authority_cents: u64,
}

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Applied, Approved), initial = Applied, context = Desk)]
enum Loan {
    #[transition(Applied -> Approved)]
    Approved { amount_cents: u64 },
}

/// Amounts above the desk's authority go to a second reviewer.
#[gate(Loan::Approved, unlisted)]
fn within_authority(desk: &Desk, event: &Loan) -> bool {
    matches!(event, Loan::Approved { amount_cents } if *amount_cents <= desk.authority_cents)
}

fn main() {
    let desk = Desk { authority_cents: 100 };
    let event = Loan::Approved { amount_cents: 50 };
    assert!(within_authority(&desk, &event));
    let spec = GateSpec::<Loan>::of::<within_authority>();
    assert_eq!(spec.name(), "within_authority");
    assert!(spec.check(&desk, LoanState::Applied, &(), &event).is_ok());
    assert!(Loan::GATES.is_empty());
}
