//! `rename(..)` moves the generated module, state enum and handle enum out
//! of the way of the user's own items of the same names.
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// The user's own module, state type and handle type.
mod order {
    pub(crate) const SHOP: &str = "shop:acme";
}
struct OrderState;
struct OrderHandle;

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed),
    initial = Draft,
    rename(module = order_states, state = OrderStatus, handle = AnyOrder),
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let _ = (OrderState, OrderHandle);
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path()))?;
    let coord = Coordinate::new("order:1", order::SHOP)?;
    let draft: Machine<Order, order_states::Draft> = Order::create(&store, coord.clone())?;
    let _placed: Machine<Order, order_states::Placed> = draft.placed(&store)?;
    assert_eq!(Order::state_of(&store, &coord)?, OrderStatus::Placed);
    assert!(matches!(Order::load(&store, &coord)?, AnyOrder::Placed(_)));
    Ok(())
}
