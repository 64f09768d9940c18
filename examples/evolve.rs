//! Evolving a machine: version 1 of a loan machine writes events; version 2,
//! whose `Approved` gained a required rate, reads them through an upcaster,
//! and the schema history check tells the safe changes from the ones that
//! need a pin or an upcaster.
//!
//! Run: `cargo run -p batpak-examples --example evolve` (the test suite
//! runs it too: `cargo test -p batpak-examples --example evolve`).

use batpak::prelude::*;
use batpak::schema::{Checked, SchemaError, check_schema};

/// The loan machine as it was first shipped.
mod v1 {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, Approved), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> Approved)]
        Approved { amount_cents: u64 },
    }
}

/// The same machine a release later: approvals carry a rate. Stored
/// version-1 approvals have none, so `Approved` gets an upcaster and is now
/// written at payload version 2. (A machine with upcasters derives only
/// `Serialize`: its `Deserialize` comes from the derive and applies them.)
mod v2 {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, PartialEq, Serialize)]
    #[machine(states(Draft, Submitted, Approved), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> Approved)]
        #[upcast(from = 1, with = approved_v1)]
        Approved { amount_cents: u64, rate_bp: u32 },
    }

    /// `Approved` as version 1 stored it.
    #[derive(Deserialize)]
    pub struct ApprovedV1 {
        amount_cents: u64,
    }

    /// Loans approved before rates were recorded were at the standard 500 bp.
    pub fn approved_v1(old: ApprovedV1) -> Loan {
        Loan::Approved {
            amount_cents: old.amount_cents,
            rate_bp: 500,
        }
    }

    /// The change without its fix: a required field and no upcaster.
    pub mod unfixed {
        use batpak::prelude::*;
        use serde::{Deserialize, Serialize};

        #[derive(StateMachine, Debug, Serialize, Deserialize)]
        #[machine(states(Draft, Submitted, Approved), initial = Draft)]
        pub enum Loan {
            #[transition(Draft -> Submitted)]
            Submitted { requested_cents: u64 },
            #[transition(Submitted -> Approved)]
            Approved { amount_cents: u64, rate_bp: u32 },
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let schemas = tempfile::tempdir()?; // in a project: `schemas/`, committed
    let coord = Coordinate::new("loan:1", "bank:acme")?;

    // Version 1 writes two events and records its schema.
    {
        use v1::{LoanDraftTransitions as _, LoanSubmittedTransitions as _};
        let store = Store::open(StoreConfig::new(dir.path()))?;
        v1::Loan::create(&store, coord.clone())?
            .submitted(&store, 90_000)?
            .approved(&store, 80_000)?;
        store.close()?;
        let recorded = check_schema(&v1::Loan::SCHEMA, schemas.path(), true)?;
        assert_eq!(recorded, Checked::Recorded);
    }

    // The change without a fix is caught by the check, with the fix named.
    match check_schema(&v2::unfixed::Loan::SCHEMA, schemas.path(), false) {
        Err(SchemaError::Incompatible { problems, .. }) => {
            for problem in &problems {
                println!("schema check: {problem}");
            }
        }
        other => return Err(format!("expected the check to refuse, got {other:?}").into()),
    }

    // Version 2 reads version 1's events through the upcaster; the log is
    // not rewritten (it still verifies, the stored version is still 1).
    let store = Store::open(StoreConfig::new(dir.path()))?;
    assert_eq!(v2::Loan::state_of(&store, &coord)?, v2::LoanState::Approved);
    let events = store.stream::<v2::Loan>(&coord)?;
    for event in &events {
        println!(
            "  #{} stored at payload version {}: {:?}",
            event.sequence(),
            event.header.payload_version,
            event.payload
        );
    }
    assert_eq!(
        events[1].payload,
        v2::Loan::Approved {
            amount_cents: 80_000,
            rate_bp: 500
        }
    );
    assert!(store.verify()?.is_ok());

    // With the upcaster the change is compatible: recorded like a snapshot
    // (`BATPAK_SCHEMA_UPDATE=1 cargo test` in a project).
    assert!(matches!(
        check_schema(&v2::Loan::SCHEMA, schemas.path(), false),
        Err(SchemaError::Unrecorded { .. })
    ));
    check_schema(&v2::Loan::SCHEMA, schemas.path(), true)?;
    println!(
        "history:\n{}",
        std::fs::read_to_string(schemas.path().join("Loan.json"))?
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run()
}

#[test]
fn evolve_example_runs() {
    run().unwrap();
}
