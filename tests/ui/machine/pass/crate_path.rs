//! `crate = path` for a renamed or re-exported runtime.
use serde::{Deserialize, Serialize};

mod runtime {
    pub use batpak::*;
}

#[derive(runtime::StateMachine, Serialize, Deserialize)]
#[machine(states(Off, On), initial = Off, crate = crate::runtime)]
pub enum Switch {
    #[transition(Off -> On)]
    TurnOn,
    #[transition(On -> Off)]
    TurnOff,
}

fn main() {
    use runtime::StateMachine;
    assert_eq!(Switch::apply(SwitchState::Off, &Switch::TurnOn), Ok(SwitchState::On));
}
