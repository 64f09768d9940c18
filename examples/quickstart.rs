//! Quickstart: the store and the policy layer without the derive.
//!
//! Open a store, append events, read a stream back, query a region, pass a
//! proposal through a gate and commit its receipt, bypass the gates on the
//! record, and verify the whole log. Everything here is what the generated
//! code of `#[derive(StateMachine)]` builds on (see the `order` example).
//!
//! Run it with `cargo run -p batpak-examples --example quickstart`.

use batpak::prelude::*;
use batpak::{Admission, Bypass, bypass};
use serde::{Deserialize, Serialize};

/// A payload: any serde type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Deposit {
    cents: u64,
    memo: String,
}

const DEPOSITED: EventKind = EventKind::new(42, 1);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let store = Store::open(StoreConfig::new(dir.path()))?;
    let account = Coordinate::new("account:7", "bank:north")?;

    // Append: durable when it returns (the default sync policy).
    let first = store.append(
        &account,
        DEPOSITED,
        &Deposit {
            cents: 500,
            memo: "salary".into(),
        },
    )?;
    println!(
        "appended at position {} (sequence {})",
        first.position, first.sequence
    );

    // Conditional append: only if the stream still holds exactly one event.
    let options = AppendOptions::new()
        .expect(ExpectedVersion::Exact(1))
        .idempotency_key("deposit-2026-11-25");
    let deposit = Deposit {
        cents: 250,
        memo: "refund".into(),
    };
    let second = store.append_with(&account, DEPOSITED, &deposit, options.clone())?;
    // A retry with the same key returns the original receipt; nothing new is written.
    let retried = store.append_with(&account, DEPOSITED, &deposit, options)?;
    assert_eq!(retried, second);
    // A stale expectation is refused with the actual version.
    let stale = AppendOptions::new().expect(ExpectedVersion::Exact(1));
    match store.append_with(&account, DEPOSITED, &deposit, stale) {
        Err(StoreError::VersionMismatch { actual, .. }) => {
            println!("refused: stream is at {actual}")
        }
        other => println!("unexpected: {other:?}"),
    }

    // The policy layer: a gate admits a proposal and returns a receipt.
    let gates = GateSet::<u64, Deposit>::new().with(FnGate::new(
        "below_daily_limit",
        |limit: &u64, p: &Proposal<Deposit>| {
            if p.payload().cents <= *limit {
                Ok(())
            } else {
                Err(Denial::new("over_limit", "deposit exceeds the daily limit")
                    .with("limit", limit)
                    .with("cents", p.payload().cents))
            }
        },
    ));
    let version = store.head(&account).version;
    let proposal = |cents| {
        Proposal::new(
            account.clone(),
            DEPOSITED,
            Deposit {
                cents,
                memo: "atm".into(),
            },
        )
        .expect(ExpectedVersion::Exact(version))
    };
    let committed = gates.evaluate(&1_000, proposal(900))?.commit(&store)?;
    println!("gated commit at sequence {}", committed.receipt().sequence);
    if let Err(denial) = gates.evaluate(&1_000, proposal(5_000)) {
        println!("refused: {denial}");
    }
    // Skipping the gates is possible, and always on the record.
    let proposal = Proposal::new(
        account.clone(),
        DEPOSITED,
        Deposit {
            cents: 5_000,
            memo: "wire".into(),
        },
    );
    bypass(
        &store,
        proposal,
        Bypass::new("ops:alice", "manual wire approved by phone")?,
    )?;

    // Read back: one stream, or any region of the log.
    for event in store.stream::<Deposit>(&account)? {
        let how = match &event.header.admission {
            Admission::Gated { gates, .. } => format!("gates {gates:?}"),
            Admission::Bypassed { by, reason, .. } => format!("bypassed by {by}: {reason}"),
            _ => "direct".to_owned(),
        };
        println!(
            "  #{} {:>5} cents  {:<8} {how}",
            event.sequence(),
            event.payload.cents,
            event.payload.memo
        );
    }
    let audit: Vec<StoredEvent<Deposit>> = store.query(&Region::all().bypassed())?;
    println!("bypasses on record: {}", audit.len());

    // Every frame's CRC, every position and every hash chain.
    let report = store.verify()?;
    println!("verify: {}", if report.is_ok() { "ok" } else { "damaged" });
    store.close()?;
    Ok(())
}
