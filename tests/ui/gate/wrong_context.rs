use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Shop;
struct Warehouse;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, context = Shop, gates(in_stock))]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

/// Reads the wrong context.
#[gate]
fn in_stock(_warehouse: &Warehouse, _event: &Order) -> bool {
    true
}

fn main() {
    let _ = Shop;
}
