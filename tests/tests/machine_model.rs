//! Model test: for any sequence of events thrown at a machine through the
//! dynamic path, the store holds exactly the accepted ones, the replayed
//! state is the fold of the transition table over them, and every refusal
//! wrote nothing.

use batpak::prelude::*;
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Shipped, Cancelled),
    initial = Draft,
    terminal(Shipped, Cancelled),
    gates(under_limit),
    context = u64,
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid,
    #[transition(Paid -> Shipped)]
    Shipped,
    #[transition(Draft | Placed | Paid -> Cancelled)]
    Cancelled,
}

/// Orders above the limit are refused.
#[gate(Order::Placed)]
fn under_limit(limit: &u64, event: &Order) -> bool {
    matches!(event, Order::Placed { total_cents } if total_cents <= limit)
}

const LIMIT: u64 = 100;

fn event() -> impl Strategy<Value = Order> {
    prop_oneof![
        (0..200_u64).prop_map(|total_cents| Order::Placed { total_cents }),
        Just(Order::Paid),
        Just(Order::Shipped),
        Just(Order::Cancelled),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn store_holds_exactly_the_accepted_events(events in prop::collection::vec(event(), 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual);
        let store = Store::open(config).unwrap();
        let coord = Coordinate::new("order:model", "shop:acme").unwrap();
        let mut state = Order::INITIAL;
        let mut accepted = Vec::new();
        for event in events {
            let legal = Order::apply(state, &event);
            let admitted = !matches!(&event, Order::Placed { total_cents } if *total_cents > LIMIT);
            let result = Order::submit(&store, &LIMIT, &coord, event.clone());
            match (legal, admitted) {
                (Ok(next), true) => {
                    prop_assert_eq!(result.unwrap(), next);
                    state = next;
                    accepted.push(event);
                }
                (Err(_), _) => prop_assert!(matches!(result, Err(MachineError::InvalidTransition(_)))),
                (Ok(_), false) => prop_assert!(matches!(result, Err(MachineError::Denied(_)))),
            }
        }
        let stored: Vec<Order> = store.stream::<Order>(&coord).unwrap().into_iter().map(|e| e.payload).collect();
        prop_assert_eq!(&stored, &accepted);
        if accepted.is_empty() {
            prop_assert!(
                matches!(Order::state_of(&store, &coord), Err(MachineError::NotFound { .. })),
                "an entity without events is not found"
            );
        } else {
            prop_assert_eq!(Order::state_of(&store, &coord).unwrap(), state);
        }
    }
}
