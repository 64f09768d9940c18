//! Machine data (`#[machine(data = T)]`): folded from the machine's own
//! events by the user's `MachineData::apply`, kept by the machine's
//! projection (cached, one fold per new event, persisted by a persistent
//! projection cache), read from typed handles and `load`, and passed to the
//! gates that take it, on the typed and the dynamic path alike.

use batpak::prelude::*;
use batpak::{CorruptReason, MachineProjection, RedbCache};
use serde::{Deserialize, Serialize};

/// The lending desk's settings the gates read.
struct Desk {
    authority_cents: u64,
}

const DESK: Desk = Desk {
    authority_cents: 100_000,
};

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Submitted, Approved, Disbursed),
    initial = Draft,
    terminal(Disbursed),
    gates(within_request, disburse_what_was_approved, not_twice),
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
}

/// What the loan's events said so far.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct LoanFile {
    requested_cents: u64,
    approved_cents: u64,
    officer: String,
    events: u32,
}

impl MachineData<Loan> for LoanFile {
    fn apply(&mut self, event: &Loan) {
        self.events += 1;
        match event {
            Loan::Submitted { requested_cents } => self.requested_cents = *requested_cents,
            Loan::Approved {
                officer,
                amount_cents,
            } => {
                self.officer.clone_from(officer);
                self.approved_cents = *amount_cents;
            }
            Loan::Disbursed { .. } => {}
        }
    }
}

/// An approval stays within the desk's authority and the amount requested.
#[gate(Loan::Approved)]
fn within_request(desk: &Desk, file: &LoanFile, event: &Loan) -> Result<(), Denial> {
    match event {
        Loan::Approved { amount_cents, .. }
            if *amount_cents > file.requested_cents.min(desk.authority_cents) =>
        {
            Err(Denial::new("over_request", "approval exceeds the request")
                .with("requested_cents", file.requested_cents)
                .with("amount_cents", amount_cents))
        }
        _ => Ok(()),
    }
}

/// A disbursement is exactly what was approved.
#[gate(Loan::Disbursed)]
fn disburse_what_was_approved(_desk: &Desk, file: &LoanFile, event: &Loan) -> bool {
    matches!(event, Loan::Disbursed { amount_cents } if *amount_cents == file.approved_cents)
}

/// Reads the state by value and the data: no event is gated twice in one
/// state (a guard that sees both before the event).
#[gate]
fn not_twice(_desk: &Desk, state: LoanState, file: &LoanFile, _event: &Loan) -> bool {
    match state {
        LoanState::Draft => file.events == 0,
        LoanState::Submitted => file.events == 1,
        LoanState::Approved => file.events == 2,
        LoanState::Disbursed => false,
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "bank:acme").unwrap()
}

fn submitted(store: &Store, loan: &Coordinate, requested_cents: u64) {
    Loan::create(store, loan.clone())
        .unwrap()
        .submitted(store, &DESK, requested_cents)
        .unwrap();
}

#[test]
fn each_step_folds_its_event_into_the_handles_data() {
    let (_dir, store) = store();
    let draft = Loan::create(&store, coord("loan:1")).unwrap();
    assert_eq!(draft.data(), &LoanFile::default());
    let submitted = draft.submitted(&store, &DESK, 50_000).unwrap();
    assert_eq!(submitted.data().requested_cents, 50_000);
    let approved = submitted
        .approved(&store, &DESK, "bob".to_owned(), 40_000)
        .unwrap();
    assert_eq!(
        approved.data(),
        &LoanFile {
            requested_cents: 50_000,
            approved_cents: 40_000,
            officer: "bob".to_owned(),
            events: 2,
        }
    );
}

#[test]
fn gate_reads_the_data_folded_before_the_event() {
    let (_dir, store) = store();
    let loan = coord("loan:2");
    submitted(&store, &loan, 50_000);
    let LoanHandle::Submitted(handle) = Loan::load(&store, &loan).unwrap() else {
        unreachable!("the loan was submitted");
    };
    let refused = match handle.approved(&store, &DESK, "bob".to_owned(), 60_000) {
        Err(refused) => refused,
        Ok(approved) => panic!("expected a denial, got {approved:?}"),
    };
    let MachineError::Denied(denial) = refused.error() else {
        panic!("expected a denial, got {refused:?}");
    };
    assert_eq!(denial.gate(), "within_request");
    assert_eq!(denial.code(), "over_request");
    assert_eq!(store.head(&loan).version, 1, "nothing written");
    // The refused step gives the handle back with its data, to retry.
    let handle = refused.into_handle();
    assert_eq!(handle.data().requested_cents, 50_000);
    let approved = handle
        .approved(&store, &DESK, "bob".to_owned(), 50_000)
        .unwrap();
    assert_eq!(approved.data().approved_cents, 50_000);
}

#[test]
fn submit_gives_gates_the_same_data_as_a_typed_step() {
    let (_dir, store) = store();
    let loan = coord("loan:3");
    submitted(&store, &loan, 50_000);
    let too_much = Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents: 50_001,
    };
    assert!(matches!(
        Loan::submit(&store, &DESK, &loan, too_much),
        Err(MachineError::Denied(denial)) if denial.gate() == "within_request"
    ));
    let approve = Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents: 50_000,
    };
    assert_eq!(
        Loan::submit(&store, &DESK, &loan, approve).unwrap(),
        LoanState::Approved
    );
    // The disbursement gate reads the approved amount folded from the log.
    assert!(matches!(
        Loan::submit(&store, &DESK, &loan, Loan::Disbursed { amount_cents: 1 }),
        Err(MachineError::Denied(denial)) if denial.gate() == "disburse_what_was_approved"
    ));
    let disburse = Loan::Disbursed {
        amount_cents: 50_000,
    };
    assert_eq!(
        Loan::submit(&store, &DESK, &loan, disburse).unwrap(),
        LoanState::Disbursed
    );
}

#[test]
fn load_returns_the_handle_with_its_data() {
    let (_dir, store) = store();
    let loan = coord("loan:4");
    submitted(&store, &loan, 70_000);
    let loaded = Loan::load(&store, &loan).unwrap();
    assert_eq!(loaded.state(), LoanState::Submitted);
    assert_eq!(loaded.data().requested_cents, 70_000);
    let LoanHandle::Submitted(handle) = loaded else {
        unreachable!("the loan was submitted");
    };
    assert_eq!(handle.data().events, 1);
}

#[test]
fn load_folds_only_the_events_after_the_cached_projection() {
    let (_dir, store) = store();
    let loan = coord("loan:5");
    submitted(&store, &loan, 70_000);
    assert_eq!(Loan::load(&store, &loan).unwrap().version(), 1);
    Loan::submit(
        &store,
        &DESK,
        &loan,
        Loan::Approved {
            officer: "ann".to_owned(),
            amount_cents: 1_000,
        },
    )
    .unwrap();
    let (projection, report) = store
        .project_with_report::<MachineProjection<Loan>>(&Region::coordinate(&loan))
        .unwrap();
    assert!(
        report.from_cache,
        "load and submit left a cached projection"
    );
    assert_eq!(report.applied, 1, "only the new approval is folded");
    assert_eq!(projection.data().approved_cents, 1_000);
    assert_eq!(projection.head(), store.head(&loan).hash);
    let loaded = Loan::load(&store, &loan).unwrap();
    assert_eq!(
        (loaded.version(), loaded.data().officer.as_str()),
        (2, "ann")
    );
}

#[test]
fn load_reports_an_illegal_step_appended_after_a_cached_projection() {
    let (_dir, store) = store();
    let loan = coord("loan:6");
    submitted(&store, &loan, 70_000);
    assert_eq!(Loan::load(&store, &loan).unwrap().version(), 1);
    // An audited bypass skips the gates, not the table: a disbursement of a
    // loan never approved.
    let illegal = Loan::Disbursed { amount_cents: 5 };
    let proposal = Proposal::new(loan.clone(), illegal.kind(), illegal);
    let audit = Bypass::new("ops", "test: an illegal step").unwrap();
    batpak::bypass(&store, proposal, audit).unwrap();
    assert!(matches!(
        Loan::load(&store, &loan),
        Err(MachineError::CorruptStream {
            sequence: 2,
            reason: CorruptReason::IllegalStep(_),
            ..
        })
    ));
}

#[test]
fn data_survives_a_reopen_with_a_persistent_projection_cache() {
    let dir = tempfile::tempdir().unwrap();
    let caches = tempfile::tempdir().unwrap();
    let open = || {
        let cache = RedbCache::open(caches.path().join("projections.redb")).unwrap();
        Store::open(StoreConfig::new(dir.path()).projection_cache(cache)).unwrap()
    };
    let loan = coord("loan:7");
    {
        let store = open();
        submitted(&store, &loan, 80_000);
        Loan::submit(
            &store,
            &DESK,
            &loan,
            Loan::Approved {
                officer: "bob".to_owned(),
                amount_cents: 75_000,
            },
        )
        .unwrap();
        // Caches the projection (of durable events) in the redb file.
        assert_eq!(Loan::load(&store, &loan).unwrap().version(), 2);
        store.close().unwrap();
    }
    let store = open();
    let (projection, report) = store
        .project_with_report::<MachineProjection<Loan>>(&Region::coordinate(&loan))
        .unwrap();
    assert!(report.from_cache, "the reopened store read the cached data");
    assert_eq!((report.applied, report.rebuilt), (0, None));
    assert_eq!(projection.data().approved_cents, 75_000);
    let LoanHandle::Approved(approved) = Loan::load(&store, &loan).unwrap() else {
        unreachable!("the loan was approved");
    };
    assert_eq!(approved.data().officer, "bob");
    // The gate still reads the data after the reopen.
    let disbursed = approved.disbursed(&store, &DESK, 75_000).unwrap();
    assert_eq!(disbursed.data().events, 3);
}

/// The same machine, with a data type whose fold changed (version 2).
mod revised {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(
        states(Draft, Submitted, Approved, Disbursed),
        initial = Draft,
        terminal(Disbursed),
        data = LoanFile,
    )]
    pub(crate) enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> Approved)]
        Approved { officer: String, amount_cents: u64 },
        #[transition(Approved -> Disbursed)]
        Disbursed { amount_cents: u64 },
    }

    /// Same shape as the first `LoanFile`, new meaning: amounts in whole
    /// units.
    #[derive(Debug, Default, Serialize, Deserialize)]
    pub(crate) struct LoanFile {
        pub(crate) requested_cents: u64,
        pub(crate) approved_cents: u64,
        pub(crate) officer: String,
        pub(crate) events: u32,
    }

    impl MachineData<Loan> for LoanFile {
        const VERSION: u32 = 2;
        fn apply(&mut self, event: &Loan) {
            if let Loan::Submitted { requested_cents } = event {
                self.requested_cents = requested_cents / 100;
            }
        }
    }
}

#[test]
fn a_new_data_version_refolds_the_cached_projection() {
    let (_dir, store) = store();
    let loan = coord("loan:8");
    submitted(&store, &loan, 80_000);
    assert_eq!(
        Loan::load(&store, &loan).unwrap().data().requested_cents,
        80_000
    );
    let (projection, report) = store
        .project_with_report::<MachineProjection<revised::Loan>>(&Region::coordinate(&loan))
        .unwrap();
    assert!(
        !report.from_cache,
        "another data version is another cache entry"
    );
    assert_eq!(projection.data().requested_cents, 800);
    let loaded = revised::Loan::load(&store, &loan).unwrap();
    assert_eq!(loaded.data().requested_cents, 800);
}

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(states(Off, On), initial = Off)]
enum Switch {
    #[transition(Off -> On)]
    TurnOn,
    #[transition(On -> Off)]
    TurnOff,
}

#[test]
fn a_machine_without_data_has_unit_data() {
    let (_dir, store) = store();
    let on = Switch::create(&store, coord("switch:1"))
        .unwrap()
        .turn_on(&store)
        .unwrap();
    assert_eq!(on.data(), &());
    assert_eq!(
        Switch::load(&store, &coord("switch:1")).unwrap().data(),
        &()
    );
}
