//! The test kit (`batpak::testkit`): given/when/then scenarios on a real
//! store, the givens checked by the table and folded into the data, failure
//! messages that show values; and model-based paths from the table, walked
//! through the gates, finding a gate that never admits a legal path.

use std::panic::{AssertUnwindSafe, catch_unwind};

use batpak::prelude::*;
use batpak::testkit::{Scenarios, explore, path_strategy, paths};
use batpak::{EventKind, MachineError};
use proptest::prelude::*;
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
    gates(within_authority, disburse_what_was_approved),
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
}

impl MachineData<Loan> for LoanFile {
    fn apply(&mut self, event: &Loan) {
        match event {
            Loan::Submitted { requested_cents } => self.requested_cents = *requested_cents,
            Loan::Approved { amount_cents, .. } => self.approved_cents = *amount_cents,
            Loan::Disbursed { .. } => {}
        }
    }
}

/// An approval stays within the desk's authority and the amount requested.
#[gate(Loan::Approved)]
fn within_authority(desk: &Desk, file: &LoanFile, event: &Loan) -> bool {
    matches!(event, Loan::Approved { amount_cents, .. }
        if *amount_cents <= file.requested_cents.min(desk.authority_cents))
}

/// A disbursement is exactly what was approved.
#[gate(Loan::Disbursed)]
fn disburse_what_was_approved(_desk: &Desk, file: &LoanFile, event: &Loan) -> bool {
    matches!(event, Loan::Disbursed { amount_cents } if *amount_cents == file.approved_cents)
}

fn submitted(requested_cents: u64) -> Loan {
    Loan::Submitted { requested_cents }
}

fn approved(amount_cents: u64) -> Loan {
    Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents,
    }
}

/// The panic message of `f`, which must panic.
fn panic_message(f: impl FnOnce()) -> String {
    let payload = catch_unwind(AssertUnwindSafe(f)).expect_err("the scenario must fail");
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

#[test]
fn approval_within_authority_is_written_with_the_data_folded() {
    Loan::scenario()
        .given([submitted(50_000)])
        .when(|loan: Machine<Loan, loan::Submitted>, store| {
            loan.approved(store, &DESK, "bob".to_owned(), 40_000)
        })
        .then_events([approved(40_000)])
        .then_state(LoanState::Approved)
        .then_data(&LoanFile {
            requested_cents: 50_000,
            approved_cents: 40_000,
        });
}

#[test]
fn approval_above_the_request_is_denied_and_writes_nothing() {
    Loan::scenario()
        .given([submitted(50_000)])
        .when(|loan: Machine<Loan, loan::Submitted>, store| {
            loan.approved(store, &DESK, "bob".to_owned(), 90_000)
        })
        .then_denied_by("within_authority")
        .then_state(LoanState::Submitted)
        .then_events([]);
}

#[test]
fn the_dynamic_path_is_a_when_too() {
    Loan::scenario()
        .given([submitted(50_000), approved(50_000)])
        .when_submitted(&DESK, Loan::Disbursed { amount_cents: 1 })
        .then_denied_by("disburse_what_was_approved");
    Loan::scenario()
        .given([submitted(50_000), approved(50_000)])
        .when_submitted(
            &DESK,
            Loan::Disbursed {
                amount_cents: 50_000,
            },
        )
        .then_events([Loan::Disbursed {
            amount_cents: 50_000,
        }])
        .then_state(LoanState::Disbursed);
}

#[test]
fn givens_are_stored_as_an_audited_bypass_and_the_when_as_gated() {
    let then = Loan::scenario()
        .given([submitted(50_000)])
        .when_submitted(&DESK, approved(10));
    let written = then.written();
    assert_eq!(written.len(), 1);
    assert_eq!(written[0].header.admission.gates(), ["within_authority"]);
    assert_eq!(written[0].sequence(), 2, "after the one given");
}

#[test]
fn an_illegal_given_fails_at_the_given_with_its_index() {
    let message = panic_message(|| {
        let _ = Loan::scenario()
            .given([submitted(1), Loan::Disbursed { amount_cents: 1 }])
            .when_submitted(&DESK, approved(1));
    });
    assert!(
        message.contains("given #1 (Disbursed) cannot happen"),
        "{message}"
    );
    assert!(
        message.contains("not allowed in state `Submitted`"),
        "{message}"
    );
}

#[test]
fn an_illegal_given_is_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let entity = Coordinate::new("loan:given", "bank").unwrap();
    let _ = panic_message(|| {
        let _ = Loan::scenario()
            .on(&store)
            .entity(entity.clone())
            .given([submitted(1), submitted(2)])
            .when_submitted(&DESK, approved(1));
    });
    assert_eq!(store.head(&entity).version, 1, "only the legal given");
}

#[test]
fn a_wrong_event_list_shows_expected_and_actual_values() {
    let message = panic_message(|| {
        let _ = Loan::scenario()
            .given([submitted(50_000)])
            .when_submitted(&DESK, approved(40_000))
            .then_events([approved(45_000)]);
    });
    assert!(
        message.contains("expected:\n  [0] Approved { officer: \"bob\", amount_cents: 45000 }"),
        "{message}"
    );
    assert!(
        message.contains("actual:\n  [0] Approved { officer: \"bob\", amount_cents: 40000 }"),
        "{message}"
    );
}

#[test]
fn a_wrong_denial_says_what_happened_instead() {
    let admitted = panic_message(|| {
        let _ = Loan::scenario()
            .given([submitted(50_000)])
            .when_submitted(&DESK, approved(1))
            .then_denied_by("within_authority");
    });
    assert!(
        admitted.contains("the when was admitted and wrote"),
        "{admitted}"
    );
    let other = panic_message(|| {
        let _ = Loan::scenario()
            .when_submitted(&DESK, approved(1))
            .then_denied_by("within_authority");
    });
    assert!(other.contains("refused otherwise"), "{other}");
    assert!(other.contains("not allowed in state `Draft`"), "{other}");
}

#[test]
fn a_when_asking_for_the_wrong_state_says_which() {
    let message = panic_message(|| {
        let _ = Loan::scenario().when(|loan: Machine<Loan, loan::Submitted>, store| {
            loan.approved(store, &DESK, "bob".to_owned(), 1)
        });
    });
    assert!(
        message.contains("asks for a handle in state Submitted"),
        "{message}"
    );
}

#[test]
fn wrong_state_and_data_show_both_values() {
    let state = panic_message(|| {
        let _ = Loan::scenario()
            .when_submitted(&DESK, submitted(5))
            .then_state(LoanState::Approved);
    });
    assert!(
        state.contains("expected state Approved, actual Submitted"),
        "{state}"
    );
    let data = panic_message(|| {
        let _ = Loan::scenario()
            .when_submitted(&DESK, submitted(5))
            .then_data(&LoanFile::default());
    });
    assert!(
        data.contains("requested_cents: 0") && data.contains("requested_cents: 5"),
        "{data}"
    );
}

#[test]
fn a_scenario_runs_on_a_store_the_test_opened() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let then = Loan::scenario()
        .on(&store)
        .given([submitted(7)])
        .when_submitted(&DESK, approved(7))
        .then_state(LoanState::Approved);
    assert_eq!(store.head(then.coordinate()).version, 2);
    assert_eq!(
        Loan::state_of(&store, then.coordinate()).unwrap(),
        LoanState::Approved
    );
}

#[test]
fn a_refusal_is_there_for_checks_the_kit_does_not_cover() {
    let then = Loan::scenario().when_submitted(&DESK, approved(1));
    assert!(matches!(
        then.refusal(),
        Some(MachineError::InvalidTransition(_))
    ));
}

#[test]
fn thousands_of_scenarios_run_in_one_test() {
    for n in 0..2_000u64 {
        Loan::scenario()
            .given([submitted(n + 1)])
            .when_submitted(&DESK, approved(n + 1))
            .then_state(LoanState::Approved);
    }
}

// ---- model-based paths ----

#[test]
fn paths_are_every_legal_sequence_up_to_the_depth() {
    let all = paths::<Loan>(5);
    let shown: Vec<String> = all.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "Draft -Submitted-> Submitted",
            "Draft -Submitted-> Submitted -Approved-> Approved",
            "Draft -Submitted-> Submitted -Approved-> Approved -Disbursed-> Disbursed",
        ],
        "a terminal state ends a path early"
    );
    assert_eq!(
        all[2].kinds(),
        [Loan::SUBMITTED, Loan::APPROVED, Loan::DISBURSED]
    );
}

/// Payload strategies for the loan's kinds: amounts in a small range so
/// equal amounts (what the disbursement gate wants) come up.
fn loan_payloads(kind: EventKind) -> Option<BoxedStrategy<Loan>> {
    let cents = 1..=20u64;
    Some(match kind {
        k if k == Loan::SUBMITTED => cents.prop_map(submitted).boxed(),
        k if k == Loan::APPROVED => cents.prop_map(approved).boxed(),
        k if k == Loan::DISBURSED => cents
            .prop_map(|amount_cents| Loan::Disbursed { amount_cents })
            .boxed(),
        _ => return None,
    })
}

#[test]
fn every_path_of_the_loan_is_admitted_for_some_payload() {
    let report = explore::<Loan, _>(&DESK, 3, 200, loan_payloads);
    assert!(report.blocked.is_empty(), "{report}");
    assert_eq!(report.passed.len(), 3, "{report}");
}

// A machine with a real bug: a returned application is resubmitted, and
// the data fold forgets the amount on `Returned` but does not read it again
// from `Resubmitted` (it only reads `Submitted`). The approval gate then
// compares with zero, so no approval after a resubmission ever passes: the
// table allows the path, the gates never do. Single scenarios written from
// the happy path do not find it; walking every path does.

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Submitted, Returned, Approved),
    initial = Draft,
    terminal(Approved),
    gates(within_request),
    context = Desk,
    data = Application,
)]
enum Credit {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Returned)]
    Returned,
    #[transition(Returned -> Submitted)]
    Resubmitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    Approved { amount_cents: u64 },
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Application {
    requested_cents: u64,
}

impl MachineData<Credit> for Application {
    fn apply(&mut self, event: &Credit) {
        match event {
            Credit::Submitted { requested_cents } => self.requested_cents = *requested_cents,
            Credit::Returned => self.requested_cents = 0,
            // The bug: forgets `Resubmitted { requested_cents }`.
            Credit::Resubmitted { .. } | Credit::Approved { .. } => {}
        }
    }
}

/// An approval is at most what was requested.
#[gate(Credit::Approved)]
fn within_request(_desk: &Desk, application: &Application, event: &Credit) -> bool {
    matches!(event, Credit::Approved { amount_cents }
        if *amount_cents > 0 && *amount_cents <= application.requested_cents)
}

fn credit_payloads(kind: EventKind) -> Option<BoxedStrategy<Credit>> {
    let cents = 1..=1_000u64;
    Some(match kind {
        k if k == Credit::SUBMITTED => cents
            .prop_map(|requested_cents| Credit::Submitted { requested_cents })
            .boxed(),
        k if k == Credit::RETURNED => Just(Credit::Returned).boxed(),
        k if k == Credit::RESUBMITTED => cents
            .prop_map(|requested_cents| Credit::Resubmitted { requested_cents })
            .boxed(),
        k if k == Credit::APPROVED => cents
            .prop_map(|amount_cents| Credit::Approved { amount_cents })
            .boxed(),
        _ => return None,
    })
}

#[test]
fn walking_every_path_finds_a_gate_that_never_admits_one() {
    // The happy path passes: a scenario written from it finds nothing.
    Credit::scenario()
        .given([Credit::Submitted {
            requested_cents: 500,
        }])
        .when_submitted(&DESK, Credit::Approved { amount_cents: 400 })
        .then_state(CreditState::Approved);

    let report = explore::<Credit, _>(&DESK, 4, 100, credit_payloads);
    let blocked: Vec<String> = report
        .blocked
        .iter()
        .map(|b| format!("{} @ {}", b.path, b.step))
        .collect();
    assert_eq!(
        blocked,
        [
            "Draft -Submitted-> Submitted -Returned-> Returned -Resubmitted-> Submitted -Approved-> Approved @ 3"
        ],
        "{report}"
    );
    assert_eq!(report.blocked[0].denial.gate(), "within_request");
    assert!(
        report
            .to_string()
            .contains("last denied by `within_request`")
    );
}

#[test]
fn a_path_whose_kind_has_no_strategy_is_skipped_and_listed() {
    let report = explore::<Loan, _>(&DESK, 3, 10, |kind| {
        (kind != Loan::DISBURSED)
            .then(|| loan_payloads(kind))
            .flatten()
    });
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.passed.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any legal path, with payloads a test picks, replays to the state
    /// the path ends in (through the real store and the table).
    #[test]
    fn a_legal_path_replays_to_its_end_state(path in path_strategy::<Loan>(3), cents in 1..=50u64) {
        let events: Vec<Loan> = path.steps().iter().map(|step| match step.event {
            "Submitted" => submitted(cents),
            "Approved" => approved(cents),
            _ => Loan::Disbursed { amount_cents: cents },
        }).collect();
        let (last, givens) = events.split_last().unwrap();
        Loan::scenario()
            .given(givens.iter().cloned())
            .when_submitted(&DESK, last.clone())
            .then_events([last.clone()])
            .then_state(path.end());
    }
}
