//! Append semantics specific to the segment engine or beyond the
//! conformance suite: keyed batches, key bounds, batch atomicity, causation,
//! submit tickets, sync policies. The durable default, expected versions,
//! idempotency and pipeline commits are proven on every backend in
//! `conformance.rs`.

mod common;

use batpak::prelude::*;
use common::*;

fn open(dir: &std::path::Path) -> Store {
    Store::open(StoreConfig::new(dir)).unwrap()
}

#[test]
fn keyed_batch_retry_returns_all_original_receipts_after_reopen() {
    let dir = fast_dir();
    let a = coord("a");
    let batch: Vec<(EventKind, Payload)> = (0..3).map(|i| (KIND, payload(i))).collect();
    let opts = || AppendOptions::new().idempotency_key("batch-1");
    let original = {
        let store = open(dir.path());
        store.append(&a, KIND, &payload(100)).unwrap();
        let original = store.append_batch(&a, &batch, opts()).unwrap();
        assert_eq!(
            original.iter().map(|r| r.sequence).collect::<Vec<_>>(),
            [2, 3, 4]
        );
        store.append(&a, KIND, &payload(101)).unwrap();
        original
    };
    let store = open(dir.path());
    assert_eq!(store.append_batch(&a, &batch, opts()).unwrap(), original);
    assert_eq!(store.stats().events, 5);
}

#[test]
fn idempotency_keys_are_bounded() {
    let dir = fast_dir();
    let store = open(dir.path());
    let long = "k".repeat(257);
    let err = store
        .append_with(
            &coord("a"),
            KIND,
            &payload(0),
            AppendOptions::new().idempotency_key(long),
        )
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::IdempotencyKeyTooLong { len: 257, max: 256 }
    ));
    let ok = "k".repeat(256);
    store
        .append_with(
            &coord("a"),
            KIND,
            &payload(0),
            AppendOptions::new().idempotency_key(ok),
        )
        .unwrap();
}

#[test]
fn batch_is_atomic_and_checks_version_once() {
    let dir = fast_dir();
    let store = open(dir.path());
    let a = coord("a");
    let batch: Vec<(EventKind, Payload)> = (0..4).map(|i| (KIND, payload(i))).collect();
    let receipts = store
        .append_batch(
            &a,
            &batch,
            AppendOptions::new().expect(ExpectedVersion::NoStream),
        )
        .unwrap();
    assert_eq!(receipts.len(), 4);
    assert!(
        receipts
            .windows(2)
            .all(|w| w[1].position == w[0].position + 1)
    );
    let err = store
        .append_batch(
            &a,
            &batch,
            AppendOptions::new().expect(ExpectedVersion::NoStream),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::VersionMismatch { actual: 4, .. }));
    let empty: Vec<(EventKind, Payload)> = Vec::new();
    assert!(matches!(
        store.append_batch(&a, &empty, AppendOptions::new()),
        Err(StoreError::BatchSize { len: 0, .. })
    ));
    // A reserved kind anywhere in the batch refuses all of it.
    let bad = vec![(KIND, payload(9)), (EventKind::new(0, 1), payload(10))];
    assert!(matches!(
        store.append_batch(&a, &bad, AppendOptions::new()),
        Err(StoreError::ReservedKind { .. })
    ));
    assert_eq!(store.head(&a).version, 4);
    let events = store.stream::<Payload>(&a).unwrap();
    assert_eq!(events.last().unwrap().hash, receipts[3].hash);
}

#[test]
fn causation_links_are_walked_and_correlation_inherited() {
    let dir = fast_dir();
    let store = open(dir.path());
    let root = store.append(&coord("a"), KIND, &payload(0)).unwrap();
    let child = store
        .append_with(
            &coord("b"),
            KIND,
            &payload(1),
            AppendOptions::new().caused_by(root.event_id),
        )
        .unwrap();
    let unrelated = store.append(&coord("a"), KIND, &payload(2)).unwrap();
    let grandchild = store
        .append_with(
            &coord("c"),
            KIND,
            &payload(3),
            AppendOptions::new().caused_by(child.event_id),
        )
        .unwrap();
    let walked = store.walk_causation(root.event_id).unwrap();
    let ids: Vec<_> = walked.iter().map(|h| h.id).collect();
    assert_eq!(ids, [root.event_id, child.event_id, grandchild.event_id]);
    assert!(walked.iter().all(|h| h.correlation == root.event_id));
    assert_eq!(store.walk_causation(unrelated.event_id).unwrap().len(), 1);
    drop(store);
    let store = open(dir.path());
    assert_eq!(store.walk_causation(root.event_id).unwrap().len(), 3);
}

#[test]
fn submitted_tickets_become_durable_on_wait() {
    let dir = fast_dir();
    let store = open(dir.path());
    let tickets: Vec<_> = (0..100)
        .map(|i| {
            store
                .append_pipelined(&coord("a"), KIND, &payload(i), AppendOptions::new())
                .unwrap()
        })
        .collect();
    let syncs_before = store.stats().syncs;
    let receipts: Vec<_> = tickets.into_iter().map(|t| t.wait().unwrap()).collect();
    assert_eq!(receipts.len(), 100);
    assert_eq!(store.stats().durable_events, 100);
    assert!(
        store.stats().syncs - syncs_before <= 1,
        "one sync covers all waits"
    );
    assert_eq!(store.stream::<Payload>(&coord("a")).unwrap().len(), 100);
}

#[test]
fn manual_and_every_n_policies_sync_when_they_say() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    for i in 0..10 {
        store.append(&coord("a"), KIND, &payload(i)).unwrap();
    }
    // Buffered events are readable before they are durable.
    assert_eq!(store.stream::<Payload>(&coord("a")).unwrap().len(), 10);
    assert_eq!(store.stats().durable_events, 0);
    store.sync().unwrap();
    assert_eq!(store.stats().durable_events, 10);
    drop(store);

    // EveryN: a sync starts in the background once half of `events` wait,
    // and no append returns with more than `events` unsynced. The periodic
    // check (every 30 s here) plays no part.
    let dir = fast_dir();
    let every = |events, max_delay_ms| {
        StoreConfig::new(dir.path()).sync_policy(SyncPolicy::EveryN {
            events,
            max_delay_ms,
        })
    };
    let store = Store::open(every(8, 60_000)).unwrap();
    for i in 0..3 {
        store.append(&coord("a"), KIND, &payload(i)).unwrap();
    }
    assert_eq!(store.stats().durable_events, 0, "fewer than half wait");
    store.append(&coord("a"), KIND, &payload(3)).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while store.stats().durable_events < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "the 4th event (half of 8) starts a sync"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    for i in 4..200 {
        store.append(&coord("a"), KIND, &payload(i)).unwrap();
        let stats = store.stats();
        assert!(stats.events - stats.durable_events <= 8, "{stats:?}");
    }
    store.close().unwrap();
    // The periodic check syncs what fewer than half left waiting.
    let store = Store::open(every(1_000, 20)).unwrap();
    store.append(&coord("a"), KIND, &payload(200)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        store.stats().durable_events,
        201,
        "max_delay_ms bounds the wait"
    );
    store.close().unwrap();
    assert_eq!(open(dir.path()).head(&coord("a")).version, 201);
}
