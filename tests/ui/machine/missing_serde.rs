// The loan workflow of the misuse trial, with `Serialize` and `Deserialize`
// forgotten on the event enum: one error per missing derive, on the enum.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Desk {
    limit_cents: u64,
}

#[derive(StateMachine, Debug)]
#[machine(
    states(Draft, Submitted, Approved, Disbursed, Expired),
    initial = Draft,
    terminal(Disbursed, Expired),
    gates(within_authority, desk_is_open),
    context = Desk,
    data = LoanFile,
)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    Approved { officer: String, amount_cents: u64 },
    #[transition(Approved -> Disbursed)]
    Disbursed { amount_cents: u64 },
    #[transition(Submitted -> Expired)]
    Expired,
}

#[derive(Default, Serialize, Deserialize)]
struct LoanFile {
    requested_cents: u64,
}

impl MachineData<Loan> for LoanFile {
    fn apply(&mut self, event: &Loan) {
        if let Loan::Submitted { requested_cents } = event {
            self.requested_cents = *requested_cents;
        }
    }
}

/// An approval stays within the desk's limit and the request.
#[gate(Loan::Approved)]
fn within_authority(desk: &Desk, state: LoanState, file: &LoanFile, event: &Loan) -> bool {
    let _ = state;
    matches!(event, Loan::Approved { amount_cents, .. }
        if *amount_cents <= desk.limit_cents.min(file.requested_cents))
}

/// The desk is open.
#[gate]
fn desk_is_open(_desk: &Desk, _event: &Loan) -> bool {
    true
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path()))?;
    let desk = Desk { limit_cents: 10_000 };
    let coord = Coordinate::new("loan:1", "bank:acme")?;
    let submitted = Loan::create(&store, coord.clone())?.submitted(&store, &desk, 5_000)?;
    let approved = submitted.approved(&store, &desk, "bob".to_owned(), 4_000)?;
    approved.disbursed(&store, &desk, 4_000)?;
    let _ = Loan::state_of(&store, &coord)?;
    if let LoanHandle::Disbursed(done) = Loan::load(&store, &coord)? {
        let _ = done.data().requested_cents;
    }
    Loan::submit(&store, &desk, &coord, Loan::Expired)?;
    Ok(())
}
