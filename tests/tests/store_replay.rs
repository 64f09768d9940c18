//! `Store::replay`, the streaming visitor: it visits exactly what `query`
//! returns, in the same order, stops when told, tolerates a visitor that
//! appends, and never hands out a frame the index did not select.

mod common;

use std::ops::ControlFlow;

use batpak::prelude::*;
use common::*;
use proptest::prelude::*;

fn replayed(store: &Store, region: &Region) -> Vec<StoredEvent<Payload>> {
    let mut out = Vec::new();
    let visited = store
        .replay::<Payload, _>(region, |view| {
            let (position, sequence, kind, id) =
                (view.position(), view.sequence(), view.kind(), view.id());
            let coordinate = view.coordinate().clone();
            let hash = view.hash().unwrap();
            let event = view.into_stored().unwrap();
            assert_eq!(event.header.position, position);
            assert_eq!(event.header.sequence, sequence);
            assert_eq!(event.header.kind, kind);
            assert_eq!(event.header.id, id);
            assert_eq!(event.header.coordinate, coordinate);
            assert_eq!(event.hash, hash);
            out.push(event);
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(visited, out.len() as u64);
    out
}

fn region(r: u8, a: u64, b: u64) -> Region {
    let (lo, hi) = (a.min(b), a.max(b));
    match r {
        0 => Region::all(),
        1 => Region::coordinate(&coord(&format!("e{}", a % 4))),
        2 => Region::entity_prefix("e1"),
        3 => Region::all().kind(OTHER_KIND),
        4 => Region::all().sequences(lo + 1..=hi + 1),
        5 => Region::entity("e2").kind(KIND).positions(lo..=hi * 3),
        _ => Region::all().positions(lo..=hi),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random logs (with reopens, so some indexes come from a checkpoint;
    /// some over many segments) and random regions: replay visits exactly
    /// the events `query` returns.
    #[test]
    fn replay_equals_query_for_random_regions(
        events in prop::collection::vec((0u8..4, any::<bool>(), 1u8..4), 1..40),
        reopen_at in 0usize..40,
        small_segments in any::<bool>(),
        regions in prop::collection::vec((0u8..7, 0u64..30, 0u64..30), 1..8),
    ) {
        let dir = fast_dir();
        // Small segments put runs of adjacent frames across segment files.
        let segment_bytes = if small_segments { 1_024 } else { 64 << 20 };
        let config = || {
            StoreConfig::new(dir.path())
                .sync_policy(SyncPolicy::Manual)
                .segment_max_bytes(segment_bytes)
        };
        let mut store = Store::open(config()).unwrap();
        for (i, &(entity, other, len)) in events.iter().enumerate() {
            if i == reopen_at {
                store.close().unwrap();
                store = Store::open(config()).unwrap();
            }
            let kind = if other { OTHER_KIND } else { KIND };
            let c = coord(&format!("e{entity}"));
            let batch: Vec<_> = (0..u64::from(len)).map(|j| (kind, payload(i as u64 * 10 + j))).collect();
            store.append_batch(&c, &batch, AppendOptions::new()).unwrap();
        }
        for &(r, a, b) in &regions {
            let region = region(r, a, b);
            let want = store.query::<Payload>(&region).unwrap();
            prop_assert_eq!(replayed(&store, &region), want, "region {} {} {}", r, a, b);
        }
        store.close().unwrap();
    }
}

#[test]
fn replay_stops_when_the_visitor_breaks() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let c = coord("e1");
    // Enough events to span several planning chunks.
    let batch: Vec<_> = (0..10_000).map(|n| (KIND, payload(n))).collect();
    store
        .append_batch(&c, &batch, AppendOptions::new())
        .unwrap();
    for stop_at in [0u64, 1, 4_095, 4_096, 9_999] {
        let mut seen = Vec::new();
        let visited = store
            .replay::<Payload, _>(&Region::all(), |view| {
                seen.push(view.payload().n);
                if view.position() == stop_at {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!(visited, stop_at + 1);
        assert_eq!(seen, (0..=stop_at).collect::<Vec<_>>());
    }
    let all = store
        .replay::<Payload, _>(&Region::all(), |_| ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(all, 10_000);
}

#[test]
fn replay_visitor_may_append_to_the_same_store() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let c = coord("e1");
    for n in 0..5_000 {
        store.append(&c, KIND, &payload(n)).unwrap();
    }
    let copy = coord("copy");
    let visited = store
        .replay::<Payload, _>(&Region::coordinate(&c), |view| {
            store.append(&copy, KIND, view.payload()).unwrap();
            ControlFlow::Continue(())
        })
        .unwrap();
    // Events appended during the replay are not visited.
    assert_eq!(visited, 5_000);
    assert_eq!(store.head(&copy).version, 5_000);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn replay_reports_a_payload_of_the_wrong_type() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(&coord("e1"), KIND, &payload(1)).unwrap();
    let err = store
        .replay::<u64, _>(&Region::all(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Codec(_)), "{err}");
}

/// Two same-length frames swapped on disk (valid CRCs) behind a checkpoint
/// that still matches the file lengths: replay must not return the other
/// event for the position it selected.
#[test]
fn replay_refuses_a_frame_that_is_not_the_indexed_event() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(&coord("e1"), KIND, &payload(1)).unwrap();
    store.append(&coord("e2"), KIND, &payload(2)).unwrap();
    store.close().unwrap();
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let f = frames(&bytes);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].1, f[1].1, "test needs frames of equal length");
    let (a, b) = (f[0], f[1]);
    let first = bytes[a.0..a.0 + a.1].to_vec();
    let second = bytes[b.0..b.0 + b.1].to_vec();
    bytes[a.0..a.0 + a.1].copy_from_slice(&second);
    bytes[b.0..b.0 + b.1].copy_from_slice(&first);
    std::fs::write(&path, &bytes).unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let err = store
        .replay::<Payload, _>(&Region::all(), |_| ControlFlow::Continue(()))
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err}");
}
