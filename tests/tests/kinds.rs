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
