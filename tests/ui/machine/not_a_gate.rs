use batpak::prelude::*;
use serde::{Deserialize, Serialize};

fn shop_is_open(_ctx: &(), _event: &Order) -> bool {
    true
}

struct Weekday;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, gates(Weekday))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() {
    let _ = shop_is_open;
}
