//! Frozen fixtures: a store written by format version 2 is committed under
//! `tests/fixtures/store-format-2/`, and every later version must read it:
//! the machines' states and data, the payloads (an upcast variant at both
//! payload versions, direct and bypassed events, a batch with a key), and
//! a clean verify.
//!
//! The fixture is written once by `write_the_frozen_fixture`, which is
//! ignored: run it only when the format version changes, as
//! `cargo test -p batpak-tests --test frozen_fixtures -- --ignored`, and
//! commit the new directory beside the old ones (never over them: a
//! fixture is a promise that stores written then still open).

#[path = "common/mod.rs"]
mod common;

use std::path::PathBuf;

use batpak::prelude::*;
use batpak::{AppendOptions, Bypass, MachineProjection, Proposal};
use serde::{Deserialize, Serialize};

/// Where the fixture of format version 2 lives.
fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-format-2")
}

fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "bank:fixture").unwrap()
}

/// The loan machine the fixture was written with: `Approved` at payload
/// version 2 (version 1 had no rate), data folded from its events.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize)]
#[machine(
    states(Draft, Submitted, Approved, Rejected),
    initial = Draft,
    data = LoanFile,
    accept_direct_appends
)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    #[upcast(from = 1, with = approved_v1)]
    Approved { amount_cents: u64, rate_bp: u32 },
    #[transition(Submitted -> Rejected)]
    Rejected { reason: String },
}

/// `Approved` as payload version 1 stored it.
#[derive(Serialize, Deserialize)]
struct ApprovedV1 {
    amount_cents: u64,
}

/// Version-1 approvals were at the standard 500 bp.
fn approved_v1(old: ApprovedV1) -> Loan {
    Loan::Approved {
        amount_cents: old.amount_cents,
        rate_bp: 500,
    }
}

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct LoanFile {
    requested_cents: u64,
    approved_cents: u64,
    rate_bp: u32,
}

impl MachineData<Loan> for LoanFile {
    fn apply(&mut self, event: &Loan) {
        match event {
            Loan::Submitted { requested_cents } => self.requested_cents = *requested_cents,
            Loan::Approved {
                amount_cents,
                rate_bp,
            } => {
                self.approved_cents = *amount_cents;
                self.rate_bp = *rate_bp;
            }
            Loan::Rejected { .. } => {}
        }
    }
}

/// A plain (non-machine) payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    text: String,
}

const NOTE: EventKind = EventKind::new(9, 1);

#[test]
#[ignore = "writes the committed fixture; run only when the format version changes"]
fn write_the_frozen_fixture() {
    let dir = fixture();
    assert!(
        !dir.exists(),
        "{} exists: a fixture is never overwritten",
        dir.display()
    );
    std::fs::create_dir_all(&dir).unwrap();
    let store = Store::open(StoreConfig::new(&dir)).unwrap();
    // loan:1 approved through the machine (Approved at version 2).
    Loan::create(&store, coord("loan:1"))
        .unwrap()
        .submitted(&store, 90_000)
        .unwrap()
        .approved(&store, 80_000, 650)
        .unwrap();
    // loan:2: submitted by the machine, then approved by a direct append
    // of a version-1 payload (what version-1 code wrote).
    Loan::create(&store, coord("loan:2"))
        .unwrap()
        .submitted(&store, 5_000)
        .unwrap();
    store
        .append(
            &coord("loan:2"),
            Loan::APPROVED,
            &ApprovedOld::Approved(ApprovedV1 {
                amount_cents: 4_000,
            }),
        )
        .unwrap();
    // loan:3 rejected through a recorded bypass.
    Loan::create(&store, coord("loan:3"))
        .unwrap()
        .submitted(&store, 1)
        .unwrap();
    batpak::bypass(
        &store,
        Proposal::new(
            coord("loan:3"),
            Loan::REJECTED,
            Loan::Rejected {
                reason: "fraud".to_owned(),
            },
        ),
        Bypass::new("ops:alice", "fraud desk").unwrap(),
    )
    .unwrap();
    // Notes: a batch with an idempotency key.
    store
        .append_batch(
            &coord("notes"),
            &[
                (
                    NOTE,
                    Note {
                        text: "first".to_owned(),
                    },
                ),
                (
                    NOTE,
                    Note {
                        text: "second".to_owned(),
                    },
                ),
            ],
            AppendOptions::new().idempotency_key("notes-1"),
        )
        .unwrap();
    store.close().unwrap();
}

/// How version-1 code stored an `Approved` (the enum, externally tagged).
#[derive(Serialize)]
enum ApprovedOld {
    Approved(ApprovedV1),
}

#[test]
fn the_format_2_fixture_still_reads_and_verifies() {
    // The fixture's checkpoint is of an older layout (version 2): it is
    // ignored and the log rescanned, with or without it.
    for remove_checkpoint in [false, true] {
        let copy = common::copy_store(&fixture());
        if remove_checkpoint {
            std::fs::remove_file(copy.path().join("index.ckpt")).unwrap();
        }
        let store = Store::open_read_only(StoreConfig::new(copy.path())).unwrap();
        assert!(!store.stats().opened_from_checkpoint);
        reads_back(&store);
    }
    // A writable open and close writes today's checkpoint, which the next
    // open loads.
    let copy = common::copy_store(&fixture());
    Store::open(StoreConfig::new(copy.path()))
        .unwrap()
        .close()
        .unwrap();
    let store = Store::open_read_only(StoreConfig::new(copy.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    reads_back(&store);
}

/// Every state, data, payload and header field the fixture was written with.
fn reads_back(store: &Store) {
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.stats().events, 8);

    let one = Loan::load(store, &coord("loan:1")).unwrap();
    assert_eq!(one.state(), LoanState::Approved);
    assert_eq!(
        *one.data(),
        LoanFile {
            requested_cents: 90_000,
            approved_cents: 80_000,
            rate_bp: 650
        }
    );
    let two = store.project::<MachineProjection<Loan>>(&Region::coordinate(&coord("loan:2")));
    let two = two.unwrap();
    assert_eq!(two.state(), LoanState::Approved);
    assert_eq!(two.data().rate_bp, 500, "the version-1 event is upcast");
    assert_eq!(
        Loan::state_of(store, &coord("loan:3")).unwrap(),
        LoanState::Rejected
    );

    let events = store.stream::<Loan>(&coord("loan:1")).unwrap();
    assert_eq!(
        events
            .iter()
            .map(|e| e.header.payload_version)
            .collect::<Vec<_>>(),
        [1, 2]
    );
    assert_eq!(events[1].header.state_code, batpak::state_code("Approved"));
    assert_eq!(
        events[1].payload,
        Loan::Approved {
            amount_cents: 80_000,
            rate_bp: 650
        }
    );
    let direct = store.stream::<Loan>(&coord("loan:2")).unwrap();
    assert_eq!(direct[1].header.payload_version, 1);
    assert_eq!(direct[1].header.state_code, 0);
    assert!(direct[1].header.admission.is_direct());
    assert_eq!(
        direct[1].payload,
        Loan::Approved {
            amount_cents: 4_000,
            rate_bp: 500
        }
    );
    let bypassed = store.stream::<Loan>(&coord("loan:3")).unwrap();
    assert!(bypassed[1].header.admission.is_bypass());
    let notes = store.stream::<Note>(&coord("notes")).unwrap();
    assert_eq!(
        notes
            .iter()
            .map(|n| n.payload.text.as_str())
            .collect::<Vec<_>>(),
        ["first", "second"]
    );
    assert_eq!(notes[0].header.idempotency_key.as_deref(), Some("notes-1"));
}
