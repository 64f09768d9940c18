use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Shop;

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(states(Draft, Placed), initial = Draft, context = Shop)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

/// Takes the context by value, but it is not `Copy`.
#[gate(unlisted)]
fn by_value(shop: Shop, event: &Order) -> bool {
    let _ = (shop, event);
    true
}

/// Takes only the event.
#[gate]
fn too_few(event: &Order) -> bool {
    let _ = event;
    true
}

/// Returns a number.
#[gate]
fn wrong_return(shop: &Shop, event: &Order) -> u8 {
    let _ = (shop, event);
    0
}

/// A mutable event.
#[gate]
fn mutable(shop: &Shop, event: &mut Order) -> bool {
    let _ = (shop, event);
    true
}

fn main() {}
