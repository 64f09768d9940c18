//! A store to look at with the `batpak` tool: three loans in different
//! states, one approved through an audited bypass. Writes to the directory
//! given (a fresh temporary one when none is) and prints the tool commands
//! to try on it.
//!
//! Run it with `cargo run -p batpak-examples --example loans -- /tmp/loans`,
//! then `cargo run -p batpak --features cli -- explain /tmp/loans loan:2`.

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// The lending desk the gate reads.
struct Desk {
    authority_cents: u64,
}

/// What can happen to a loan.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
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

/// An approval stays within the desk's authority.
#[gate(Loan::Approved)]
fn within_authority(desk: &Desk, event: &Loan) -> bool {
    matches!(event, Loan::Approved { amount_cents, .. } if *amount_cents <= desk.authority_cents)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp;
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            temp = tempfile::tempdir()?;
            temp.path().to_path_buf()
        }
    };
    let store = Store::open(StoreConfig::new(&dir))?;
    let desk = Desk {
        authority_cents: 100_000,
    };
    let loan = |n: u32| Coordinate::new(format!("loan:{n}"), "bank:acme");
    for n in 1..=3 {
        let requested_cents = 50_000 * u64::from(n);
        Loan::create(&store, loan(n)?)?.submitted(&store, &desk, requested_cents)?;
    }
    let approve = |amount_cents| Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents,
    };
    Loan::submit(&store, &desk, &loan(1)?, approve(40_000))?;
    let disburse = Loan::Disbursed {
        amount_cents: 40_000,
    };
    Loan::submit(&store, &desk, &loan(1)?, disburse)?;
    // Above the desk's authority: the gate refuses, the board overrides.
    let refused = Loan::submit(&store, &desk, &loan(2)?, approve(150_000));
    assert!(matches!(refused, Err(MachineError::Denied(_))));
    batpak::bypass(
        &store,
        Proposal::new(loan(2)?, Loan::APPROVED, approve(150_000)).expect(ExpectedVersion::Exact(1)),
        Bypass::new("ops:alice", "board approved above authority")?,
    )?;
    store.close()?;
    let dir = dir.display();
    println!("wrote three loans to {dir}; look at them with:");
    println!("  cargo run -p batpak --features cli -- machines {dir}");
    println!("  cargo run -p batpak --features cli -- explain {dir} loan:2");
    println!("  cargo run -p batpak --features cli -- dump {dir} --kind Loan::Approved");
    println!("  cargo run -p batpak --features cli -- report {dir} -o report.html");
    Ok(())
}
