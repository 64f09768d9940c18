//! Every accepted gate form, on a private machine under deny(warnings).
#![deny(warnings)]

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

struct Shop {
    open: bool,
}

#[derive(StateMachine, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed),
    initial = Draft,
    context = Shop,
    data = Basket,
    gates(open, limit, calm, by_value, with_data, data_first, self::policy::quiet)
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
}

/// A closed shop takes no orders.
#[gate]
fn open(shop: &Shop, _event: &Order) -> bool {
    shop.open
}

/// Big orders are refused.
#[gate(Order::Placed)]
fn limit(_shop: &Shop, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Placed { total_cents } if *total_cents > 100 => Err(Denial::new("big", "too big")),
        Order::Placed { .. } => Ok(()),
    }
}

/// Reads the state too.
#[gate]
fn calm(_shop: &Shop, state: &OrderState, _event: &Order) -> bool {
    *state == OrderState::Draft
}

/// What the order's events said.
#[derive(Default, Serialize, Deserialize)]
struct Basket {
    total_cents: u64,
}

impl MachineData<Order> for Basket {
    fn apply(&mut self, event: &Order) {
        let Order::Placed { total_cents } = event;
        self.total_cents = *total_cents;
    }
}

/// The state by value.
#[gate]
fn by_value(_shop: &Shop, state: OrderState, _event: &Order) -> bool {
    state == OrderState::Draft
}

/// The state and the data.
#[gate(Order::Placed)]
fn with_data(_shop: &Shop, state: OrderState, basket: &Basket, _event: &Order) -> bool {
    state == OrderState::Draft && basket.total_cents == 0
}

/// The data before the state, and the state by reference.
#[gate]
fn data_first(_shop: &Shop, basket: &Basket, state: &OrderState, _event: &Order) -> Result<(), Denial> {
    let _ = (basket, state);
    Ok(())
}

mod policy {
    use batpak::prelude::*;

    /// A gate in another module.
    #[gate]
    pub(crate) fn quiet(_shop: &super::Shop, _event: &super::Order) -> bool {
        true
    }
}

fn main() {
    // The functions stay callable.
    let shop = Shop { open: true };
    let event = Order::Placed { total_cents: 5 };
    assert!(open(&shop, &event));
    assert!(limit(&shop, &event).is_ok());
    assert!(calm(&shop, &OrderState::Draft, &event));
    assert!(with_data(&shop, OrderState::Draft, &Basket::default(), &event));
    assert_eq!(Order::GATES.len(), 7);
}
