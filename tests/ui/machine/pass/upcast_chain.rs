//! An upcaster chain v1 -> v2 -> v3 and a state alias compile, and the
//! schema records the current version and the alias.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Debug, Serialize)]
#[machine(
    states(Draft, InReview, Approved),
    initial = Draft,
    state_aliases(UnderReview = InReview)
)]
enum Loan {
    #[transition(Draft -> InReview)]
    Reviewed,
    #[transition(InReview -> Approved)]
    #[upcast(from = 2, with = approved_v2)]
    #[upcast(from = 1, with = approved_v1)]
    Approved { amount_cents: u64, rate_bp: u32, currency: String },
}

#[derive(Deserialize)]
struct ApprovedV1 {
    amount_cents: u64,
}

#[derive(Deserialize)]
struct ApprovedV2 {
    amount_cents: u64,
    rate_bp: u32,
}

fn approved_v1(old: ApprovedV1) -> ApprovedV2 {
    ApprovedV2 { amount_cents: old.amount_cents, rate_bp: 500 }
}

fn approved_v2(old: ApprovedV2) -> Loan {
    Loan::Approved { amount_cents: old.amount_cents, rate_bp: old.rate_bp, currency: "EUR".into() }
}

fn main() {
    assert_eq!(Loan::SCHEMA.variants[1].version, 3);
    assert_eq!(Loan::SCHEMA.states[1].aliases, ["UnderReview"]);
}
