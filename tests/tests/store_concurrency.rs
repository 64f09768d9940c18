//! Concurrency: many threads appending to many streams lose and duplicate
//! nothing, sequences stay gapless, chains valid; racing compare-and-append
//! writers: exactly one wins; durable appenders share fsyncs.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};

use batpak::prelude::*;
use batpak::{AppendReceipt, Hash};
use common::*;

#[test]
fn eight_threads_over_a_hundred_entities_lose_and_duplicate_nothing() {
    let dir = fast_dir();
    let store = Arc::new(
        Store::open(
            StoreConfig::new(dir.path()).sync_policy(SyncPolicy::EveryN {
                events: 256,
                max_delay_ms: 5,
            }),
        )
        .unwrap(),
    );
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 2_000;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| {
                        let n = t * PER_THREAD + i;
                        let r = store
                            .append(&coord(&format!("entity:{}", n % 100)), KIND, &payload(n))
                            .unwrap();
                        (n, r)
                    })
                    .collect::<Vec<(u64, AppendReceipt)>>()
            })
        })
        .collect();
    let receipts: Vec<(u64, AppendReceipt)> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let total = THREADS * PER_THREAD;
    assert_eq!(receipts.len() as u64, total);
    let positions: HashSet<u64> = receipts.iter().map(|(_, r)| r.position).collect();
    assert_eq!(positions, (0..total).collect::<HashSet<_>>());

    let check = |store: &Store| {
        let all = store.query::<Payload>(&Region::all()).unwrap();
        assert_eq!(all.len() as u64, total);
        let payloads: HashSet<u64> = all.iter().map(|e| e.payload.n).collect();
        assert_eq!(
            payloads.len() as u64,
            total,
            "a payload is missing or duplicated"
        );
        let mut per_entity: HashMap<String, (u64, Hash)> = HashMap::new();
        for e in &all {
            let slot = per_entity
                .entry(e.header.coordinate.entity().to_owned())
                .or_insert((0, Hash::ZERO));
            assert_eq!(e.sequence(), slot.0 + 1, "sequence gap");
            assert_eq!(e.header.prev_hash, slot.1, "chain broken");
            *slot = (e.sequence(), e.hash);
        }
        assert_eq!(per_entity.len(), 100);
        assert!(store.verify().unwrap().is_ok());
    };
    check(&store);
    Arc::try_unwrap(store).unwrap().close().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    check(&store);
}

#[test]
fn racing_exact_version_writers_exactly_one_wins() {
    let dir = fast_dir();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path())).unwrap());
    let c = coord("contended");
    store.append(&c, KIND, &payload(0)).unwrap();
    for round in 1..=20u64 {
        let barrier = Arc::new(Barrier::new(6));
        let handles: Vec<_> = (0..6)
            .map(|t| {
                let store = store.clone();
                let barrier = barrier.clone();
                let c = c.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    store.append_with(
                        &c,
                        KIND,
                        &payload(round * 100 + t),
                        AppendOptions::new().expect(ExpectedVersion::Exact(round)),
                    )
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "round {round}");
        for r in &results {
            if let Err(e) = r {
                assert!(
                    matches!(e, StoreError::VersionMismatch { actual, .. } if *actual == round + 1),
                    "{e}"
                );
            }
        }
        assert_eq!(store.head(&c).version, round + 1);
    }
}

#[test]
fn concurrent_durable_appenders_share_fsyncs() {
    // On a real disk, fsync is slow enough that waiting threads pile up
    // behind one sync; on any disk the count can only go down.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path())).unwrap());
    let handles: Vec<_> = (0..8u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    store
                        .append(&coord(&format!("t{t}")), KIND, &payload(i))
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let stats = store.stats();
    assert_eq!(stats.events, 400);
    assert_eq!(
        stats.durable_events, 400,
        "every acknowledged event is durable"
    );
    eprintln!(
        "400 durable appends from 8 threads took {} fsyncs",
        stats.syncs
    );
    assert!(stats.syncs <= 400);
}

#[test]
fn readers_see_consistent_prefixes_while_writers_append() {
    // Buffered policy: readers must also find frames still in the write
    // buffer, and never a torn or foreign event.
    let dir = fast_dir();
    let store = Arc::new(
        Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap(),
    );
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4u64)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..1_500 {
                    store
                        .append(
                            &coord(&format!("w{}", (t + i) % 10)),
                            KIND,
                            &payload(t * 10_000 + i),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = store.clone();
            let done = done.clone();
            std::thread::spawn(move || {
                let mut last_len = 0;
                let mut rounds = 0u32;
                while !done.load(std::sync::atomic::Ordering::SeqCst) || rounds == 0 {
                    let all = store.query::<Payload>(&Region::all()).unwrap();
                    assert!(all.len() >= last_len, "the log shrank");
                    assert!(
                        all.iter()
                            .enumerate()
                            .all(|(i, e)| e.position() == i as u64)
                    );
                    let mut heads: HashMap<String, (u64, Hash)> = HashMap::new();
                    for e in &all {
                        let slot = heads
                            .entry(e.header.coordinate.entity().to_owned())
                            .or_insert((0, Hash::ZERO));
                        assert_eq!((e.sequence(), e.header.prev_hash), (slot.0 + 1, slot.1));
                        *slot = (e.sequence(), e.hash);
                    }
                    last_len = all.len();
                    rounds += 1;
                }
                rounds
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    assert_eq!(store.stats().events, 6_000);
    assert!(store.verify().unwrap().is_ok());
}
