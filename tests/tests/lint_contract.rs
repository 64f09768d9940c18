//! Lint contract: a full machine and its gates compile without a single
//! warning under the strictest lints a user might set, so the derive never
//! forces an `#[allow]` on anyone. `cargo clippy --all-targets` checks this
//! file in CI (the pedantic group included).
#![deny(warnings, missing_docs, unused_qualifications, unreachable_pub)]
#![deny(clippy::pedantic)]

use batpak::prelude::*;
use serde::{Deserialize, Serialize};

/// The shop's settings the gates read.
pub struct Shop {
    /// Largest order total accepted, in cents.
    pub credit_limit_cents: u64,
    /// Whether the shop takes orders.
    pub open: bool,
}

/// What can happen to an order.
#[derive(StateMachine, Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed, Paid, Shipped, Cancelled),
    initial = Draft,
    terminal(Shipped, Cancelled),
    gates(within_credit_limit, shop_is_open, not_after_payment, pays_the_total),
    context = Shop,
    data = Bill,
)]
pub enum Order {
    /// The customer placed the order.
    #[transition(Draft -> Placed)]
    Placed {
        /// Number of items.
        items: u32,
        /// Total, in cents.
        total_cents: u64,
    },
    /// The customer paid.
    #[transition(Placed -> Paid)]
    Paid(u64),
    /// The order left the warehouse.
    #[transition(Paid -> Shipped)]
    Shipped {
        /// Who carries it.
        carrier: String,
    },
    /// The order was called off.
    #[transition(Draft | Placed | Paid -> Cancelled, kind = 9)]
    Cancelled,
}

/// Orders above the shop's credit limit are refused.
///
/// # Errors
/// A denial naming the limit and the total.
#[gate(Order::Placed)]
pub fn within_credit_limit(shop: &Shop, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Placed { total_cents, .. } if *total_cents > shop.credit_limit_cents => Err(
            Denial::new("over_limit", "order total exceeds the credit limit")
                .with("limit_cents", shop.credit_limit_cents)
                .with("total_cents", total_cents),
        ),
        _ => Ok(()),
    }
}

/// A closed shop takes no steps.
#[gate]
#[must_use]
pub fn shop_is_open(shop: &Shop, _event: &Order) -> bool {
    shop.open
}

/// What the order's events said: its data.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Bill {
    /// The total placed, in cents.
    pub total_cents: u64,
}

impl MachineData<Order> for Bill {
    fn apply(&mut self, event: &Order) {
        if let Order::Placed { total_cents, .. } = event {
            self.total_cents = *total_cents;
        }
    }
}

/// Paid orders cannot be cancelled here (the state by value: pedantic's
/// `trivially_copy_pass_by_ref` would flag `&OrderState` on a private gate).
#[gate(Order::Cancelled)]
fn not_after_payment(_shop: &Shop, state: OrderState, _event: &Order) -> bool {
    state != OrderState::Paid
}

/// A payment is the placed total.
#[gate(Order::Paid)]
fn pays_the_total(_shop: &Shop, state: OrderState, bill: &Bill, event: &Order) -> bool {
    state == OrderState::Placed && matches!(event, Order::Paid(cents) if *cents == bill.total_cents)
}

/// A private machine without context, with unit and tuple
/// variants and a gate: its generated items must not trip `dead_code`,
/// `unreachable_pub` or `private_interfaces` either.
mod internal {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Off, On), initial = Off, gates(only_from_off))]
    enum Switch {
        #[transition(Off -> On)]
        TurnOn(u8),
        #[transition(On -> Off, after = "5m")]
        TurnOff,
    }

    /// A reactor with a context by value: its companion must not trip
    /// `non_camel_case_types` or `dead_code` once it is named.
    #[react(Switch::TurnOn)]
    fn echo(_ctx: (), _event: &StoredEvent<Switch>) -> Reaction<Switch> {
        Reaction::Nothing
    }

    pub(super) fn reactor() -> &'static str {
        <echo as batpak::Reactor>::NAME
    }

    pub(super) fn timers() -> usize {
        <Switch as StateMachine>::TIMERS.len()
    }

    /// The no-context `()` and the state by value: nothing for
    /// `trivially_copy_pass_by_ref` to flag.
    #[gate(Switch::TurnOn)]
    fn only_from_off(_ctx: (), state: SwitchState, _event: &Switch) -> bool {
        state == SwitchState::Off
    }

    pub(super) fn initial() -> &'static str {
        <Switch as StateMachine>::NAME
    }
}

/// A machine that evolved: a state alias and a chain of upcasters, so
/// the version-aware `Deserialize` the derive writes meets the lints too.
pub mod evolved {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    /// A loan whose approval gained a rate in version 2 and a currency in 3.
    #[derive(StateMachine, Debug, Serialize)]
    #[machine(
        states(Draft, InReview, Approved),
        initial = Draft,
        state_aliases(UnderReview = InReview)
    )]
    pub enum Loan {
        /// An officer picked the loan up.
        #[transition(Draft -> InReview)]
        Reviewed,
        /// The loan was approved.
        #[transition(InReview -> Approved)]
        #[upcast(from = 1, with = approved_v1)]
        #[upcast(from = 2, with = approved_v2)]
        Approved {
            /// Amount, in cents.
            amount_cents: u64,
            /// Rate, in basis points.
            rate_bp: u32,
            /// ISO currency code.
            currency: String,
        },
    }

    /// `Approved` as version 1 stored it.
    #[derive(Clone, Copy, Deserialize)]
    pub struct ApprovedV1 {
        amount_cents: u64,
    }

    /// `Approved` as version 2 stored it.
    #[derive(Clone, Copy, Deserialize)]
    pub struct ApprovedV2 {
        amount_cents: u64,
        rate_bp: u32,
    }

    /// Version 1 loans were at the standard rate.
    #[must_use]
    pub fn approved_v1(old: ApprovedV1) -> ApprovedV2 {
        ApprovedV2 {
            amount_cents: old.amount_cents,
            rate_bp: 500,
        }
    }

    /// Version 2 loans were in euros.
    #[must_use]
    pub fn approved_v2(old: ApprovedV2) -> Loan {
        Loan::Approved {
            amount_cents: old.amount_cents,
            rate_bp: old.rate_bp,
            currency: "EUR".to_owned(),
        }
    }
}

#[test]
fn strict_lints_accept_the_generated_code() {
    assert_eq!(evolved::Loan::SCHEMA.variants[1].version, 3);
    assert_eq!(internal::initial(), "Switch");
    assert_eq!((internal::reactor(), internal::timers()), ("echo", 1));
    assert_eq!(Order::NAME, "Order");
    assert_eq!(Order::GATES.len(), 4);
    assert_eq!(Order::KINDS.len(), 4);
    assert!(Order::MERMAID.starts_with("stateDiagram-v2"));
}
