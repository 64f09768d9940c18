use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Desk {
    open: bool,
}

// `context = Desk` forgotten: the machine gives its gates `()`.
#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Submitted), initial = Draft, gates(desk_is_open))]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted,
}

/// The desk is open.
#[gate]
fn desk_is_open(desk: &Desk, _event: &Loan) -> bool {
    desk.open
}

fn main() {}
