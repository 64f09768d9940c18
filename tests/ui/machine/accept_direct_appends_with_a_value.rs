// `accept_direct_appends` is a flag: it takes no value.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Idle, Running), initial = Idle, accept_direct_appends = true)]
enum Meter {
    #[transition(Idle -> Running)]
    Started,
}

fn main() {}
