use batpak::prelude::*;
use serde::{Deserialize, Serialize};

use std::time::Duration;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Paid, Expired), initial = Draft, terminal(Paid, Expired))]
pub enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid,
    #[transition(Draft | Placed -> Expired, after = "1h30m", kind = 9)]
    Expired,
}

fn main() {
    let [timer] = Order::TIMERS else { panic!("one timer") };
    assert_eq!(timer.variant(), "Expired");
    assert_eq!(timer.after(), Duration::from_secs(5_400));
    assert_eq!(timer.from(), &[OrderState::Draft, OrderState::Placed]);
    assert!(matches!(timer.event(), Order::Expired));
}
