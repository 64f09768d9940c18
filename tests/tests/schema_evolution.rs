//! Events that outlive their code: six events stored by version 1 of a loan
//! machine, read back by a changed machine. Every change either works or is
//! caught, by a typed error and by the schema history check, with the fix
//! named; the fix then works. One test per row of the evolution table
//! (README, "Evolving a machine").

use batpak::prelude::*;
use batpak::schema::{Checked, Problem, SchemaError, check_schema};
use batpak::{CodecError, MachineProjection, MachineSchema};
use serde::{Deserialize, Serialize};
use std::ops::ControlFlow;

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "bank:acme").unwrap()
}

/// Version 1: the machine that wrote the stored events.
mod v1 {
    use super::*;

    #[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[machine(
        states(Draft, Submitted, UnderReview, Approved, Rejected),
        initial = Draft,
        data = LoanFile
    )]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }

    /// What the loan's events said.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct LoanFile {
        pub requested_cents: u64,
        pub approved_cents: u64,
    }

    impl MachineData<Loan> for LoanFile {
        fn apply(&mut self, event: &Loan) {
            match event {
                Loan::Submitted { requested_cents } => self.requested_cents = *requested_cents,
                Loan::Approved { amount_cents } => self.approved_cents = *amount_cents,
                Loan::Reviewed { .. } | Loan::Rejected { .. } => {}
            }
        }
    }

    /// Six events: loan:1 approved, loan:2 rejected (each three steps).
    pub fn write(store: &Store) {
        let approved = Loan::create(store, coord("loan:1")).unwrap();
        approved
            .submitted(store, 90_000)
            .unwrap()
            .reviewed(store, "ana".to_owned())
            .unwrap()
            .approved(store, 80_000)
            .unwrap();
        let rejected = Loan::create(store, coord("loan:2")).unwrap();
        rejected
            .submitted(store, 5_000)
            .unwrap()
            .reviewed(store, "bo".to_owned())
            .unwrap()
            .rejected(store, "income".to_owned())
            .unwrap();
    }
}

/// A store holding version 1's six events, and the v1 schema recorded in a
/// history directory.
fn written_by_v1() -> (tempfile::TempDir, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    v1::write(&store);
    store.close().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let schemas = tempfile::tempdir().unwrap();
    let first = check_schema(&v1::Loan::SCHEMA, schemas.path(), true).unwrap();
    assert_eq!(first, Checked::Recorded);
    (dir, store, schemas)
}

/// The schema check's problems for `schema` against the v1 history.
fn problems(schema: &MachineSchema, schemas: &tempfile::TempDir) -> Vec<Problem> {
    match check_schema(schema, schemas.path(), true) {
        Err(SchemaError::Incompatible { problems, .. }) => problems,
        other => unreachable!("expected an incompatible change, got {other:?}"),
    }
}

/// A compatible change fails until recorded, then passes unchanged.
fn assert_compatible(schema: &MachineSchema, schemas: &tempfile::TempDir) {
    let unrecorded = check_schema(schema, schemas.path(), false);
    assert!(
        matches!(unrecorded, Err(SchemaError::Unrecorded { .. })),
        "{unrecorded:?}"
    );
    assert_eq!(
        check_schema(schema, schemas.path(), true).unwrap(),
        Checked::Recorded
    );
    assert_eq!(
        check_schema(schema, schemas.path(), false).unwrap(),
        Checked::Unchanged
    );
}

// ---- row: reorder variants, add a state --------------------------------------

mod reordered {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(
        states(Withdrawn, Draft, Submitted, UnderReview, Approved, Rejected),
        initial = Draft
    )]
    pub enum Loan {
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(Submitted -> Withdrawn)]
        Withdrawn,
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
    }
}

#[test]
fn reordered_variants_and_a_new_state_read_the_old_stream() {
    let (_dir, store, schemas) = written_by_v1();
    use reordered::{Loan, LoanState};
    assert_eq!(
        Loan::state_of(&store, &coord("loan:1")).unwrap(),
        LoanState::Approved
    );
    assert_eq!(
        Loan::load(&store, &coord("loan:2")).unwrap().state(),
        LoanState::Rejected
    );
    assert_compatible(&Loan::SCHEMA, &schemas);
}

// ---- row: rename a state -------------------------------------------------------

mod state_renamed {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, InReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> InReview)]
        Reviewed { officer: String },
        #[transition(InReview -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(InReview -> Rejected)]
        Rejected { reason: String },
    }
}

mod state_renamed_with_alias {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(
        states(Draft, Submitted, InReview, Approved, Rejected),
        initial = Draft,
        state_aliases(UnderReview = InReview)
    )]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> InReview)]
        Reviewed { officer: String },
        #[transition(InReview -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(InReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn renamed_state_is_a_typed_error_naming_the_alias_and_the_alias_reads_it() {
    let (_dir, store, schemas) = written_by_v1();
    let error = state_renamed::Loan::state_of(&store, &coord("loan:1")).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            MachineError::UnknownState { sequence: 2, code, machine: "Loan", .. }
                if code == batpak::state_code("UnderReview")
        ),
        "{error:?}"
    );
    assert!(message.contains("state_aliases("), "{message}");
    let found = problems(&state_renamed::Loan::SCHEMA, &schemas);
    assert_eq!(
        found,
        [Problem::StateRemoved {
            state: "UnderReview".to_owned()
        }]
    );
    assert!(
        found[0]
            .to_string()
            .contains("state_aliases(UnderReview = NewName)")
    );

    use state_renamed_with_alias::{Loan, LoanState};
    assert_eq!(
        Loan::state_of(&store, &coord("loan:1")).unwrap(),
        LoanState::Approved
    );
    assert_compatible(&Loan::SCHEMA, &schemas);
}

// ---- row: add a field with a default or as an Option -----------------------------

mod field_with_default {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted {
            requested_cents: u64,
            #[serde(default)]
            branch: String,
        },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved {
            amount_cents: u64,
            note: Option<String>,
        },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn added_field_with_a_default_or_as_an_option_reads_old_events() {
    let (_dir, store, schemas) = written_by_v1();
    use field_with_default::{Loan, LoanState};
    assert_eq!(
        Loan::state_of(&store, &coord("loan:1")).unwrap(),
        LoanState::Approved
    );
    let events = store.stream::<Loan>(&coord("loan:1")).unwrap();
    assert!(matches!(
        &events[0].payload,
        Loan::Submitted { requested_cents: 90_000, branch } if branch.is_empty()
    ));
    assert!(matches!(
        events[2].payload,
        Loan::Approved {
            amount_cents: 80_000,
            note: None
        }
    ));
    assert_compatible(&Loan::SCHEMA, &schemas);
}

// ---- rows: add a required field, rename a field, change a field's type ----------

mod required_field {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount_cents: u64, rate_bp: u32 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

mod renamed_field {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { granted_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

mod retyped_field {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount: String },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

/// The fix for all three: an upcaster from version 1, so `Approved` is
/// written at version 2 and version-1 events are read through it.
mod upcast {
    use super::*;

    #[derive(StateMachine, Debug, Clone, PartialEq, Serialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        #[upcast(from = 1, with = approved_v1)]
        Approved { granted: String, rate_bp: u32 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }

    /// `Approved` as version 1 wrote it.
    #[derive(Deserialize)]
    pub struct ApprovedV1 {
        amount_cents: u64,
    }

    /// Version 1 had no rate: those loans were at the standard 500 bp.
    pub fn approved_v1(old: ApprovedV1) -> Loan {
        Loan::Approved {
            granted: format!("{} cents", old.amount_cents),
            rate_bp: 500,
        }
    }
}

#[test]
fn added_renamed_or_retyped_fields_are_caught_by_the_check_and_an_upcaster_reads_old_events() {
    let (_dir, store, schemas) = written_by_v1();
    // Unreadable without a fix: a typed decode error, nothing damaged.
    let unreadable = store.stream::<required_field::Loan>(&coord("loan:1"));
    assert!(
        matches!(
            unreadable,
            Err(StoreError::Codec(CodecError::Decode { .. }))
        ),
        "{unreadable:?}"
    );
    let added = problems(&required_field::Loan::SCHEMA, &schemas);
    assert!(
        matches!(&added[..], [Problem::RequiredFieldAdded { variant, field, was: None, version: 1 }]
            if variant == "Approved" && field == "rate_bp"),
        "{added:?}"
    );
    let text = added[0].to_string();
    assert!(
        text.contains("#[serde(default)]") && text.contains("#[upcast(from = 1, with = ..)]"),
        "{text}"
    );
    let renamed = problems(&renamed_field::Loan::SCHEMA, &schemas);
    assert!(
        matches!(&renamed[..], [Problem::RequiredFieldAdded { field, was: Some(was), .. }]
            if field == "granted_cents" && was == "amount_cents"),
        "{renamed:?}"
    );
    assert!(
        renamed[0]
            .to_string()
            .contains("#[serde(alias = \"amount_cents\")]")
    );
    let retyped = problems(&retyped_field::Loan::SCHEMA, &schemas);
    assert!(
        retyped
            .iter()
            .any(|p| matches!(p, Problem::RequiredFieldAdded { field, .. } if field == "amount")),
        "{retyped:?}"
    );

    // The fix: an upcaster. Every read path reads version 1 through it.
    use upcast::{
        Loan, LoanDraftTransitions as _, LoanState, LoanSubmittedTransitions as _,
        LoanUnderReviewTransitions as _,
    };
    let expected = Loan::Approved {
        granted: "80000 cents".to_owned(),
        rate_bp: 500,
    };
    let loan = coord("loan:1");
    assert_eq!(Loan::state_of(&store, &loan).unwrap(), LoanState::Approved);
    assert_eq!(Loan::load(&store, &loan).unwrap().version(), 3);
    let events = store.stream::<Loan>(&loan).unwrap();
    assert_eq!(events[2].payload, expected);
    assert_eq!(events[2].header.payload_version, 1);
    let queried = store
        .query::<Loan>(&Region::all().kind(Loan::APPROVED))
        .unwrap();
    assert_eq!(queried.len(), 1);
    assert_eq!(queried[0].payload, expected);
    let mut replayed = Vec::new();
    store
        .replay::<Loan, _>(&Region::coordinate(&loan), |view| {
            replayed.push(view.payload().clone());
            ControlFlow::<()>::Continue(())
        })
        .unwrap();
    assert_eq!(replayed[2], expected);
    let mut cursor = store.cursor::<Loan>(Region::coordinate(&loan), 0).unwrap();
    let third = (0..3).map(|_| cursor.next_blocking().unwrap()).last();
    assert_eq!(third.map(|e| e.payload), Some(expected.clone()));
    // A subscription upcasts too: a version-1 event (written directly, as
    // version-1 code wrote it) arrives as the current variant.
    let live = coord("loan:9");
    let subscription = store.subscribe::<Loan>(Region::coordinate(&live)).unwrap();
    store
        .append(
            &live,
            Loan::APPROVED,
            &v1::Loan::Approved { amount_cents: 7 },
        )
        .unwrap();
    store.sync().unwrap();
    let delivered = subscription.recv().unwrap();
    assert!(
        matches!(
            delivered,
            Delivery::Event(ref event) if event.payload == Loan::Approved {
                granted: "7 cents".to_owned(),
                rate_bp: 500
            }
        ),
        "{delivered:?}"
    );
    assert_compatible(&Loan::SCHEMA, &schemas);

    // New events are written at version 2 and read back as written.
    let fresh = coord("loan:3");
    Loan::create(&store, fresh.clone())
        .unwrap()
        .submitted(&store, 1)
        .unwrap()
        .reviewed(&store, "cy".to_owned())
        .unwrap()
        .approved(&store, "1 cent".to_owned(), 650)
        .unwrap();
    let events = store.stream::<Loan>(&fresh).unwrap();
    assert_eq!(events[2].header.payload_version, 2);
    assert_eq!(events[0].header.payload_version, 1);
    assert!(matches!(
        events[2].payload,
        Loan::Approved { rate_bp: 650, .. }
    ));
    // The log was not rewritten: it still verifies, and version 1 code
    // refuses the version-2 event rather than misreading it.
    assert!(store.verify().unwrap().is_ok());
    let newer = store.stream::<v1::Loan>(&fresh);
    assert!(
        matches!(
            newer,
            Err(StoreError::Codec(CodecError::NewerPayloadVersion {
                stored: 2,
                known: 1,
                ..
            }))
        ),
        "{newer:?}"
    );
}

// ---- rows: remove a stored variant, rename a variant -----------------------------

mod variant_removed {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount_cents: u64 },
    }
}

mod variant_renamed {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Accepted { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn removed_or_renamed_variant_is_caught_by_the_check_with_the_fix() {
    let (_dir, store, schemas) = written_by_v1();
    let removed = problems(&variant_removed::Loan::SCHEMA, &schemas);
    assert!(
        matches!(&removed[..], [Problem::VariantRemoved { variant, renamed_to: None, .. }, Problem::StateRemoved { .. }]
            if variant == "Rejected"),
        "{removed:?}"
    );
    let unreadable = store.stream::<variant_removed::Loan>(&coord("loan:2"));
    assert!(
        matches!(
            unreadable,
            Err(StoreError::Codec(CodecError::Decode { .. }))
        ),
        "{unreadable:?}"
    );
    let renamed = problems(&variant_renamed::Loan::SCHEMA, &schemas);
    let code = v1::Loan::APPROVED.code();
    assert!(
        matches!(&renamed[..], [Problem::VariantRemoved { variant, renamed_to: Some(new), code: c }]
            if variant == "Approved" && new == "Accepted" && *c == code),
        "{renamed:?}"
    );
    let fix = renamed[0].to_string();
    assert!(
        fix.contains(&format!("kind = {code}")) && fix.contains("#[serde(rename = \"Approved\")]"),
        "{fix}"
    );
}

// ---- row: rename a variant, keep its serde name ------------------------------------

mod serde_renamed {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        #[serde(rename = "Approved")]
        Accepted { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

/// The fix the error names: the old code pinned.
mod serde_renamed_pinned {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved, kind = 8531)]
        #[serde(rename = "Approved")]
        Accepted { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn renamed_variant_keeping_its_serde_name_is_a_kind_mismatch_naming_the_pin() {
    let (_dir, store, schemas) = written_by_v1();
    let code = v1::Loan::APPROVED.code();
    let error = serde_renamed::Loan::state_of(&store, &coord("loan:1")).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(
            error,
            MachineError::KindMismatch { sequence: 3, event: "Accepted", stored_variant: None, stored, .. }
                if stored == v1::Loan::APPROVED
        ),
        "{error:?}"
    );
    assert!(message.contains(&format!("kind = {code}")), "{message}");
    assert!(matches!(
        &problems(&serde_renamed::Loan::SCHEMA, &schemas)[..],
        [Problem::VariantRemoved {
            renamed_to: Some(_),
            ..
        }]
    ));

    // The pin restores it (8531 is v1's derived code for `Approved`).
    assert_eq!(code, 8531);
    use serde_renamed_pinned::{Loan, LoanState};
    assert_eq!(
        Loan::state_of(&store, &coord("loan:1")).unwrap(),
        LoanState::Approved
    );
    assert_compatible(&Loan::SCHEMA, &schemas);
}

// ---- row: rename the enum -------------------------------------------------------

mod enum_renamed {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum LoanApplication {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(UnderReview -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn renamed_enum_is_a_kind_mismatch_naming_the_category_pin_and_has_no_history() {
    let (_dir, store, schemas) = written_by_v1();
    use enum_renamed::LoanApplication;
    let error = LoanApplication::state_of(&store, &coord("loan:1")).unwrap_err();
    let message = error.to_string();
    assert!(
        matches!(error, MachineError::KindMismatch { sequence: 1, .. }),
        "{error:?}"
    );
    assert!(
        message.contains(&format!("category = {}", v1::Loan::CATEGORY)),
        "{message}"
    );
    // The check finds no history under the new name, and says what to do.
    let missing = check_schema(&LoanApplication::SCHEMA, schemas.path(), false);
    assert!(
        matches!(&missing, Err(SchemaError::Missing { .. })),
        "{missing:?}"
    );
    assert!(
        missing.unwrap_err().to_string().contains("renamed"),
        "the message points at a renamed enum"
    );
}

// ---- row: change the transition table ------------------------------------------

mod table_changed {
    use super::*;

    /// Approval no longer needs a review; a reviewed loan can only be
    /// rejected.
    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Submitted, UnderReview, Approved, Rejected), initial = Draft)]
    pub enum Loan {
        #[transition(Draft -> Submitted)]
        Submitted { requested_cents: u64 },
        #[transition(Submitted -> UnderReview)]
        Reviewed { officer: String },
        #[transition(Submitted -> Approved)]
        Approved { amount_cents: u64 },
        #[transition(UnderReview -> Rejected)]
        Rejected { reason: String },
    }
}

#[test]
fn changed_table_keeps_history_and_judges_only_new_steps() {
    let (_dir, store, schemas) = written_by_v1();
    use v1::{LoanDraftTransitions as _, LoanSubmittedTransitions as _};
    // loan:4 stops in review under version 1.
    v1::Loan::create(&store, coord("loan:4"))
        .unwrap()
        .submitted(&store, 7)
        .unwrap()
        .reviewed(&store, "di".to_owned())
        .unwrap();
    use table_changed::{
        Loan, LoanDraftTransitions as _, LoanHandle, LoanState, LoanSubmittedTransitions as _,
    };
    // History is not judged again: loan:1 went through review to approval.
    assert_eq!(
        Loan::state_of(&store, &coord("loan:1")).unwrap(),
        LoanState::Approved
    );
    assert!(matches!(
        Loan::load(&store, &coord("loan:1")).unwrap(),
        LoanHandle::Approved(_)
    ));
    // New steps follow the new table.
    let refused = Loan::submit(&store, &coord("loan:4"), Loan::Approved { amount_cents: 1 });
    assert!(
        matches!(refused, Err(MachineError::InvalidTransition(_))),
        "{refused:?}"
    );
    let fresh = Loan::create(&store, coord("loan:5"))
        .unwrap()
        .submitted(&store, 3)
        .unwrap()
        .approved(&store, 3)
        .unwrap();
    assert_eq!(fresh.version(), 2);
    assert_compatible(&Loan::SCHEMA, &schemas);
}

// ---- the stale cache: every projection cache is keyed by the schema --------------

/// A machine fed by trusted direct appends (no recorded states), so the
/// table alone decides its state: the case a cache could get wrong.
mod direct_v1 {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(
        states(Draft, Submitted, UnderReview, Escalated),
        initial = Draft,
        accept_direct_appends
    )]
    pub enum Ticket {
        #[transition(Draft -> Submitted)]
        Opened,
        #[transition(Submitted -> UnderReview)]
        Reviewed,
        #[transition(UnderReview -> Escalated)]
        Escalate,
    }
}

mod direct_v2 {
    use super::*;

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(
        states(Draft, Submitted, UnderReview, Escalated),
        initial = Draft,
        accept_direct_appends
    )]
    pub enum Ticket {
        #[transition(Draft -> Submitted)]
        Opened,
        #[transition(Submitted -> Escalated)]
        Reviewed,
        #[transition(Escalated -> UnderReview)]
        Deescalate,
    }
}

fn changed_table_never_reads_a_stale_cached_state(config: impl Fn() -> StoreConfig) {
    let ticket = coord("ticket:1");
    {
        let store = Store::open(config()).unwrap();
        store
            .append(
                &ticket,
                direct_v1::Ticket::OPENED,
                &direct_v1::Ticket::Opened,
            )
            .unwrap();
        store
            .append(
                &ticket,
                direct_v1::Ticket::REVIEWED,
                &direct_v1::Ticket::Reviewed,
            )
            .unwrap();
        store.sync().unwrap();
        assert_eq!(
            direct_v1::Ticket::state_of(&store, &ticket).unwrap(),
            direct_v1::TicketState::UnderReview
        );
        // The v2 machine on the same store and cache: its cache key holds
        // its schema fingerprint, so v1's entry is never its starting point.
        let region = Region::coordinate(&ticket);
        let (projection, report) = store
            .project_with_report::<MachineProjection<direct_v2::Ticket>>(&region)
            .unwrap();
        assert!(!report.from_cache && report.applied == 2, "{report:?}");
        assert_eq!(projection.state(), direct_v2::TicketState::Escalated);
        store
            .project_with_report::<MachineProjection<direct_v1::Ticket>>(&region)
            .unwrap();
        store.close().unwrap();
    }
    // Reopened under version 2 over the cache version 1 left.
    let store = Store::open(config()).unwrap();
    let state = direct_v2::Ticket::state_of(&store, &ticket).unwrap();
    let loaded = direct_v2::Ticket::load(&store, &ticket).unwrap().state();
    assert_eq!(state, direct_v2::TicketState::Escalated);
    assert_eq!(loaded, state);
}

#[test]
fn changed_table_rebuilds_the_memory_cache() {
    let dir = tempfile::tempdir().unwrap();
    changed_table_never_reads_a_stale_cached_state(|| StoreConfig::new(dir.path()));
}

#[test]
fn changed_table_rebuilds_the_redb_cache() {
    let dir = tempfile::tempdir().unwrap();
    let caches = tempfile::tempdir().unwrap();
    let path = caches.path().join("projections.redb");
    changed_table_never_reads_a_stale_cached_state(|| {
        StoreConfig::new(dir.path()).projection_cache(batpak::RedbCache::open(&path).unwrap())
    });
}

#[test]
fn changed_table_rebuilds_the_lmdb_cache() {
    let dir = tempfile::tempdir().unwrap();
    let caches = tempfile::tempdir().unwrap();
    let path = caches.path().join("projections.lmdb");
    changed_table_never_reads_a_stale_cached_state(|| {
        StoreConfig::new(dir.path()).projection_cache(batpak::LmdbCache::open(&path).unwrap())
    });
}
