use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Desk;

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(states(Draft, Submitted), initial = Draft, gates(desk_is_open), context = Desk)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted,
}

/// The desk is open (but `#[gate]` is forgotten).
fn desk_is_open(_desk: &Desk, _event: &Loan) -> bool {
    true
}

fn main() {}
