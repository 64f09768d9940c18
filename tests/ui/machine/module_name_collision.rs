// The user has a `mod loan` of their own: one error, on the module; the fix
// is `#[machine(.., rename(module = loan_states))]`.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Desk {
    limit_cents: u64,
}

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(
    states(Draft, Submitted, Approved, Disbursed),
    initial = Draft,
    terminal(Disbursed),
    gates(within_authority),
    context = Desk,
)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    Approved { officer: String, amount_cents: u64 },
    #[transition(Approved -> Disbursed)]
    Disbursed { amount_cents: u64 },
}

/// An approval stays within the desk's limit.
#[gate(Loan::Approved)]
fn within_authority(desk: &Desk, state: &LoanState, event: &Loan) -> bool {
    *state == LoanState::Submitted
        && matches!(event, Loan::Approved { amount_cents, .. } if *amount_cents <= desk.limit_cents)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path()))?;
    let desk = Desk { limit_cents: 10_000 };
    let coord = Coordinate::new("loan:1", "bank:acme")?;
    let submitted = Loan::create(&store, coord.clone())?.submitted(&store, &desk, 5_000)?;
    let approved = submitted.approved(&store, &desk, "bob".to_owned(), 4_000)?;
    println!("{}", approved.version());
    let _ = approved.disbursed(&store, &desk, 4_000)?;
    assert_eq!(Loan::state_of(&store, &coord)?, LoanState::Disbursed);
    match Loan::load(&store, &coord)? {
        LoanHandle::Disbursed(done) => println!("{}", done.version()),
        other => println!("{}", other.state()),
    }
    Loan::submit(&store, &desk, &coord, Loan::Disbursed { amount_cents: 1 })?;
    Ok(())
}

/// The user's own module about loans.
mod loan {
    pub fn rate() -> u32 { 5 }
}

