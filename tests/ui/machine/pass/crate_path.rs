//! `crate = path` for a renamed or re-exported runtime.
use serde::{Deserialize, Serialize};

mod runtime {
    pub use batpak::*;
}

#[derive(runtime::StateMachine, Serialize, Deserialize)]
#[machine(states(Off, On), initial = Off, crate = crate::runtime, gates(powered))]
pub enum Switch {
    #[transition(Off -> On)]
    TurnOn,
    #[transition(On -> Off)]
    TurnOff,
}

/// Only a powered switch moves.
#[runtime::gate(crate = crate::runtime)]
fn powered(_ctx: &(), _event: &Switch) -> bool {
    true
}

fn main() {
    use runtime::StateMachine;
    assert_eq!(Switch::apply(SwitchState::Off, &Switch::TurnOn), Ok(SwitchState::On));
}
