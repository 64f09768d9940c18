//! Stable event kinds: a variant's kind depends on the machine's and the
//! variant's names only, so reordering variants or adding new ones never
//! changes a stored kind; explicit codes win.

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

mod before {
    use super::{Deserialize, Serialize, StateMachine};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Placed, Paid, Cancelled), initial = Draft)]
    pub enum Order {
        #[transition(Draft -> Placed)]
        Placed { items: u32 },
        #[transition(Placed -> Paid)]
        Paid(u64),
        #[transition(Draft | Placed -> Cancelled, kind = 9)]
        Cancelled,
    }
}

mod after {
    use super::{Deserialize, Serialize, StateMachine};

    // The same machine with its variants (and states) reordered and a new
    // event added.
    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Draft, Cancelled, Paid, Placed, Refunded), initial = Draft)]
    pub enum Order {
        #[transition(Paid -> Refunded)]
        Refunded,
        #[transition(Draft | Placed -> Cancelled, kind = 9)]
        Cancelled,
        #[transition(Placed -> Paid)]
        Paid(u64),
        #[transition(Draft -> Placed)]
        Placed { items: u32 },
    }
}

#[test]
fn reordering_and_adding_variants_keeps_every_kind() {
    assert_eq!(before::Order::CATEGORY, after::Order::CATEGORY);
    assert_eq!(
        before::Order::Placed { items: 1 }.kind(),
        after::Order::Placed { items: 1 }.kind()
    );
    assert_eq!(before::Order::Paid(1).kind(), after::Order::Paid(1).kind());
    assert_eq!(
        before::Order::Cancelled.kind(),
        after::Order::Cancelled.kind()
    );
}

#[test]
fn explicit_codes_win_and_derived_categories_avoid_the_system() {
    assert_eq!(before::Order::Cancelled.kind().code(), 9);
    assert!(!before::Order::Placed { items: 1 }.kind().is_system());
    assert_ne!(before::Order::CATEGORY, EventKind::SYSTEM_CATEGORY);
}

#[test]
fn every_kind_has_a_name_and_the_machine_lists_them() {
    use before::Order;
    assert_eq!(Order::PLACED, Order::Placed { items: 1 }.kind());
    assert_eq!(Order::PAID, Order::Paid(1).kind());
    assert_eq!(Order::CANCELLED, Order::Cancelled.kind());
    assert_eq!(Order::KINDS, [Order::PLACED, Order::PAID, Order::CANCELLED]);
    assert_eq!(<Order as StateMachine>::KINDS, Order::KINDS);
    // Renaming nothing, reordering everything: the names keep their kinds.
    assert_eq!(after::Order::PLACED, Order::PLACED);
    assert_eq!(after::Order::KINDS[0], after::Order::REFUNDED);
}

/// Revenue from `Paid` events only, over the machine enum itself.
#[derive(Default, Serialize, Deserialize)]
struct Takings {
    cents: u64,
    seen: Vec<String>,
}

impl Projection for Takings {
    type Event = before::Order;
    const NAME: &'static str = "takings";
    const VERSION: u32 = 1;
    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[before::Order::PAID])
    }
    fn apply(&mut self, event: &StoredEvent<before::Order>) {
        self.seen.push(event.payload.variant_name().to_owned());
        if let before::Order::Paid(cents) = event.payload {
            self.cents += cents;
        }
    }
}

#[test]
fn a_projection_over_the_machine_receives_only_the_kinds_it_names() {
    use before::{Order, OrderDraftTransitions, OrderPlacedTransitions};
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    for n in 1..=3_u64 {
        let coord = Coordinate::new(format!("order:{n}"), "shop:acme").unwrap();
        let placed = Order::create(&store, coord)
            .unwrap()
            .placed(&store, 1)
            .unwrap();
        if n < 3 {
            placed.paid(&store, 100 * n).unwrap();
        }
    }
    let takings = store.project::<Takings>(&Region::all()).unwrap();
    assert_eq!(takings.cents, 300);
    assert_eq!(takings.seen, ["Paid", "Paid"]);
}

#[test]
fn kinds_are_distinct_within_a_machine() {
    let kinds = [
        after::Order::Refunded.kind(),
        after::Order::Cancelled.kind(),
        after::Order::Paid(1).kind(),
        after::Order::Placed { items: 1 }.kind(),
    ];
    for (i, a) in kinds.iter().enumerate() {
        for b in &kinds[i + 1..] {
            assert_ne!(a, b);
        }
    }
}
