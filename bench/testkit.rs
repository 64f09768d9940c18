//! How many test-kit scenarios run per second, and how long a walk of every
//! path takes.
//!
//! `cargo bench -p batpak-bench --features testkit --bench testkit` prints
//! one markdown table: scenarios per second for a scenario with one given
//! and a gated when (the shape most scenarios have), with two givens, and
//! with a denied when; and the time to walk every path of a 4-state machine
//! to depth 3. Each scenario runs on a fresh entity of the thread's scratch
//! store (on /dev/shm when present). Figures are medians over `ROUNDS`
//! rounds of `SCENARIOS` scenarios.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::time::{Duration, Instant};

use batpak::EventKind;
use batpak::prelude::*;
use batpak::testkit::{Scenarios, explore};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

const ROUNDS: usize = 5;
const SCENARIOS: u64 = 2_000;

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Submitted, Approved, Disbursed),
    initial = Draft,
    terminal(Disbursed),
    gates(within_request),
    context = u64,
    data = LoanFile,
)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    Approved { officer: String, amount_cents: u64 },
    #[transition(Approved -> Disbursed)]
    Disbursed { amount_cents: u64 },
}

#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct LoanFile {
    requested_cents: u64,
}

impl MachineData<Loan> for LoanFile {
    fn apply(&mut self, event: &Loan) {
        if let Loan::Submitted { requested_cents } = event {
            self.requested_cents = *requested_cents;
        }
    }
}

/// An approval is at most what was requested and the desk's authority.
#[gate(Loan::Approved)]
fn within_request(authority: &u64, file: &LoanFile, event: &Loan) -> bool {
    matches!(event, Loan::Approved { amount_cents, .. }
        if *amount_cents <= file.requested_cents.min(*authority))
}

fn approved(amount_cents: u64) -> Loan {
    Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents,
    }
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn rate(scenario: impl Fn(u64)) -> f64 {
    let rounds = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for n in 0..SCENARIOS {
                scenario(n);
            }
            start.elapsed()
        })
        .collect();
    SCENARIOS as f64 / median(rounds).as_secs_f64()
}

fn main() {
    let one_given = rate(|n| {
        Loan::scenario()
            .given([Loan::Submitted {
                requested_cents: n + 1,
            }])
            .when_submitted(&1_000_000, approved(n + 1))
            .then_state(LoanState::Approved);
    });
    let two_givens = rate(|n| {
        Loan::scenario()
            .given([
                Loan::Submitted {
                    requested_cents: n + 1,
                },
                approved(n + 1),
            ])
            .when_submitted(
                &1_000_000,
                Loan::Disbursed {
                    amount_cents: n + 1,
                },
            )
            .then_state(LoanState::Disbursed);
    });
    let denied = rate(|n| {
        Loan::scenario()
            .given([Loan::Submitted {
                requested_cents: n + 1,
            }])
            .when_submitted(&1_000_000, approved(n + 2))
            .then_denied_by("within_request");
    });
    let walks: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            let report = explore::<Loan, _>(&1_000_000, 3, 50, |kind: EventKind| {
                Some(match kind {
                    k if k == Loan::SUBMITTED => (1..=9u64)
                        .prop_map(|requested_cents| Loan::Submitted { requested_cents })
                        .boxed(),
                    k if k == Loan::APPROVED => (1..=9u64).prop_map(approved).boxed(),
                    _ => (1..=9u64)
                        .prop_map(|amount_cents| Loan::Disbursed { amount_cents })
                        .boxed(),
                })
            });
            assert!(report.blocked.is_empty());
            start.elapsed()
        })
        .collect();
    println!("| test kit ({SCENARIOS} scenarios, median of {ROUNDS}) | rate |");
    println!("|---|---:|");
    println!("| one given, gated when admitted | {one_given:.0} scenarios/s |");
    println!("| two givens, gated when admitted | {two_givens:.0} scenarios/s |");
    println!("| one given, when denied | {denied:.0} scenarios/s |");
    println!(
        "| explore: every path to depth 3 (3 paths) | {:.2} ms |",
        median(walks).as_secs_f64() * 1e3
    );
}
