//! Basic store behaviour: append, stream, head, get, query, reopen, versions,
//! idempotency, causation, read-only and locking.

use batpak::prelude::*;
use batpak::{AppendReceipt, EventId, Hash, StreamHead};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Placed {
    items: u32,
    total_cents: u64,
    note: String,
}

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

fn placed(n: u32) -> Placed {
    Placed {
        items: n,
        total_cents: u64::from(n) * 100,
        note: format!("order {n}"),
    }
}

#[test]
fn append_then_stream_returns_events_in_sequence_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let a = coord("order:1");
    for n in 1..=3 {
        let r = store.append(&a, PLACED, &placed(n)).unwrap();
        assert_eq!(r.sequence, u64::from(n));
        assert_eq!(r.position, u64::from(n - 1));
    }
    let events = store.stream::<Placed>(&a).unwrap();
    assert_eq!(events.len(), 3);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.payload, placed(i as u32 + 1));
        assert_eq!(e.sequence(), i as u64 + 1);
    }
    assert_eq!(events[0].header.prev_hash, Hash::ZERO);
    assert_eq!(events[1].header.prev_hash, events[0].hash);
    assert_eq!(
        store.head(&a),
        StreamHead {
            version: 3,
            hash: events[2].hash
        }
    );
    assert_eq!(store.head(&coord("nobody")).version, 0);
    let got = store.get::<Placed>(events[1].header.id).unwrap().unwrap();
    assert_eq!(got, events[1]);
    assert!(
        store
            .get::<Placed>(EventId::from_u128(42))
            .unwrap()
            .is_none()
    );
}

#[test]
fn reopen_keeps_events_positions_and_chains() {
    let dir = tempfile::tempdir().unwrap();
    let receipts: Vec<AppendReceipt> = {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let receipts = (0..10)
            .map(|n| {
                store
                    .append(&coord(&format!("e{}", n % 3)), PLACED, &placed(n))
                    .unwrap()
            })
            .collect();
        // A process ending without cleanup: the next open scans.
        store.exit_without_checkpoint();
        receipts
    };
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    let all = store.query::<Placed>(&Region::all()).unwrap();
    assert_eq!(all.len(), 10);
    for (i, (e, r)) in all.iter().zip(&receipts).enumerate() {
        assert_eq!(e.position(), i as u64);
        assert_eq!(e.hash, r.hash);
        assert_eq!(e.header.id, r.event_id);
    }
    let r = store.append(&coord("e0"), PLACED, &placed(99)).unwrap();
    assert_eq!((r.position, r.sequence), (10, 5));
    store.close().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    assert_eq!(store.stats().events, 11);
    assert_eq!(store.head(&coord("e0")).version, 5);
    assert!(store.verify().unwrap().is_ok());
    let r = store.append(&coord("e1"), PLACED, &placed(100)).unwrap();
    assert_eq!((r.position, r.sequence), (11, 4));
}

#[test]
fn query_filters_by_kind_sequence_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    for n in 0..20u32 {
        let kind = if n % 2 == 0 { PLACED } else { PAID };
        let entity = if n % 4 < 2 {
            format!("order:{}", n % 5)
        } else {
            format!("user:{}", n % 5)
        };
        store.append(&coord(&entity), kind, &placed(n)).unwrap();
    }
    let paid = store.query::<Placed>(&Region::all().kind(PAID)).unwrap();
    assert_eq!(paid.len(), 10);
    assert!(paid.iter().all(|e| e.header.kind == PAID));
    let orders = store
        .query_headers(&Region::entity_prefix("order:"))
        .unwrap();
    assert!(
        orders
            .iter()
            .all(|h| h.coordinate.entity().starts_with("order:"))
    );
    assert!(orders.windows(2).all(|w| w[0].position < w[1].position));
    let region = Region::all().sequences(2..=3).positions(5..=15);
    let got = store.query_headers(&region).unwrap();
    let expected: Vec<u64> = store
        .query_headers(&Region::all())
        .unwrap()
        .into_iter()
        .filter(|h| region.matches(h))
        .map(|h| h.position)
        .collect();
    assert_eq!(got.iter().map(|h| h.position).collect::<Vec<_>>(), expected);
    let (start, end) = (5, 1);
    assert!(matches!(
        store.query_headers(&Region::all().positions(start..=end)),
        Err(StoreError::InvalidRegion(_))
    ));
}

#[test]
fn query_hashes_match_recomputed_hashes_for_any_region() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    for n in 0..30u32 {
        let kind = if n % 3 == 0 { PAID } else { PLACED };
        store
            .append(&coord(&format!("e{}", n % 4)), kind, &placed(n))
            .unwrap();
    }
    let regions = [
        Region::all(),
        Region::all().kind(PAID),
        Region::entity("e1"),
        Region::all().sequences(2..=4),
        Region::all().positions(7..=19),
    ];
    for region in regions {
        for e in store.query::<Placed>(&region).unwrap() {
            // `get` hashes the stored bytes itself.
            let direct = store.get::<Placed>(e.header.id).unwrap().unwrap();
            assert_eq!(e.hash, direct.hash, "{region:?} position {}", e.position());
        }
    }
    let last = store.stream::<Placed>(&coord("e2")).unwrap();
    assert_eq!(last.last().unwrap().hash, store.head(&coord("e2")).hash);
}

#[test]
fn store_and_tickets_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Store>();
    send::<batpak::Ticket>();
    send_sync::<StoreError>();
}
