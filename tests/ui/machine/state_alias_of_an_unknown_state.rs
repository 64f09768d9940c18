use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(
    states(Draft, InReview),
    initial = Draft,
    state_aliases(UnderReview = InRevew, Draft = InReview)
)]
enum Loan {
    #[transition(Draft -> InReview)]
    Reviewed,
}

fn main() {}
