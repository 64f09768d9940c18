use batpak::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Shipped), initial = Draft)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
    #[transition(Placed -> Shipped)]
    Shipped { carrier: String },
}

fn ship<Db: batpak::MachineStore>(store: &Db, draft: Machine<Order, order::Draft>) {
    // A draft has not been placed: there is no `shipped` step from it.
    let _ = draft.shipped(store, "post".to_owned());
}

fn main() {}
