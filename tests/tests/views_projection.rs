//! Projections on the store: kind skipping, bad regions, durability of the
//! cache, and a read model across many entities.

#[path = "common/cache_suite.rs"]
mod cache_suite;

use batpak::prelude::*;
use batpak::{RegionError, StoreError};
use cache_suite::{NOTE, Revenue, SOLD, Sale};
use serde::{Deserialize, Serialize};

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

/// Folds every kind the region selects (declares no kinds).
#[derive(Debug, Default, Serialize, Deserialize)]
struct EverySale {
    cents: u64,
}

impl Projection for EverySale {
    type Event = Sale;
    const NAME: &'static str = "every-sale";
    const VERSION: u32 = 1;
    fn apply(&mut self, event: &StoredEvent<Sale>) {
        self.cents += event.payload.cents;
    }
}

#[test]
fn undeclared_kinds_are_skipped_without_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let c = coord("till:1");
    store.append(&c, SOLD, &Sale { cents: 5 }).unwrap();
    store.append(&c, NOTE, &"not a sale").unwrap();
    store.append(&c, SOLD, &Sale { cents: 7 }).unwrap();

    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, r.applies, report.applied), (12, 2, 2));
    assert_eq!(report.position, 3);

    // Without the kind declaration the note is decoded as a sale and fails:
    // the skip above is what kept it out.
    let err = store.project::<EverySale>(&Region::all()).unwrap_err();
    assert!(matches!(err, StoreError::Codec(_)), "{err}");
    // The region can narrow kinds too.
    let r = store
        .project::<EverySale>(&Region::all().kind(SOLD))
        .unwrap();
    assert_eq!(r.cents, 12);
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // the inverted range is the point
fn inverted_region_is_refused_with_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let err = store
        .project::<Revenue>(&Region::all().positions(5..=2))
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::InvalidRegion(RegionError::InvertedRange {
            field: "position",
            start: 5,
            end: 2
        })
    ));
    let err = store
        .project::<Revenue>(&Region::all().sequences(9..=1))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidRegion(_)));
}

#[test]
fn undurable_events_are_folded_but_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual);
    let store = Store::open(config).unwrap();
    let c = coord("till:1");
    for cents in [1, 2, 3] {
        store.append(&c, SOLD, &Sale { cents }).unwrap();
    }
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, report.applied), (6, 3));
    assert_eq!((report.position, report.cached_position), (3, 0));
    // Still not durable: folded again, never from a cache that saw them.
    let (_, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!(report.applied, 3);
    assert!(!report.from_cache);

    store.sync().unwrap();
    let (_, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((report.applied, report.cached_position), (3, 3));
    store.append(&c, SOLD, &Sale { cents: 4 }).unwrap();
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, report.applied), (10, 1));
    assert!(report.from_cache);
    assert_eq!((report.position, report.cached_position), (4, 3));
}

/// Revenue per scope: a read model across many entities.
#[derive(Debug, Default, Serialize, Deserialize)]
struct RevenueByScope {
    cents: std::collections::BTreeMap<String, u64>,
}

impl Projection for RevenueByScope {
    type Event = Sale;
    const NAME: &'static str = "revenue-by-scope";
    const VERSION: u32 = 1;
    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[SOLD])
    }
    fn apply(&mut self, event: &StoredEvent<Sale>) {
        *self
            .cents
            .entry(event.header.coordinate.scope().to_owned())
            .or_default() += event.payload.cents;
    }
}

#[test]
fn read_model_across_entities_matches_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let mut expected = std::collections::BTreeMap::<String, u64>::new();
    for round in 0..4_u64 {
        for n in 0..50_u64 {
            let scope = format!("shop:{}", n % 5);
            let c = Coordinate::new(format!("order:{n}"), scope.clone()).unwrap();
            let cents = round * 100 + n;
            store.append(&c, SOLD, &Sale { cents }).unwrap();
            store.append(&c, NOTE, &"gift wrap").unwrap();
            *expected.entry(scope).or_default() += cents;
        }
        store.sync().unwrap();
        let (model, report) = store
            .project_with_report::<RevenueByScope>(&Region::entity_prefix("order:"))
            .unwrap();
        assert_eq!(model.cents, expected);
        assert_eq!(
            report.applied, 50,
            "round {round} applies only its own sales"
        );
    }
}

#[test]
fn cache_value_layout_matches_format_md() {
    use batpak::{MemoryCache, ProjectionCache, projection_cache_key};
    use cache_suite::SharedCache;
    let dir = tempfile::tempdir().unwrap();
    let cache = std::sync::Arc::new(MemoryCache::new());
    let store = Store::open(
        StoreConfig::new(dir.path()).projection_cache(SharedCache(std::sync::Arc::clone(&cache))),
    )
    .unwrap();
    let c = coord("till:1");
    store.append(&c, NOTE, &"first").unwrap();
    let last = store.append(&c, SOLD, &Sale { cents: 9 }).unwrap();
    let state = store.project::<Revenue>(&Region::all()).unwrap();
    let key = projection_cache_key::<Revenue>(&Region::all());
    let value = cache.get(&key).unwrap().unwrap();
    assert_eq!(value[0], 1, "format byte");
    assert_eq!(value[1..5], 1_u32.to_le_bytes(), "version");
    assert_eq!(value[5..13], 2_u64.to_le_bytes(), "next position");
    assert_eq!(
        value[13..29],
        last.event_id.as_u128().to_le_bytes(),
        "last id"
    );
    let mut h = blake3::Hasher::new();
    h.update(&key.0);
    h.update(&value[..29]);
    h.update(&value[61..]);
    assert_eq!(&value[29..61], h.finalize().as_bytes(), "checksum");
    assert_eq!(value[61..], rmp_serde::to_vec_named(&state).unwrap()[..]);
}

#[test]
fn concurrent_appends_and_projections_agree_with_a_full_replay() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    std::thread::scope(|s| {
        for t in 0..3_u64 {
            let store = &store;
            s.spawn(move || {
                for n in 1..=40_u64 {
                    let c = coord(&format!("till:{t}"));
                    store.append(&c, SOLD, &Sale { cents: n }).unwrap();
                }
            });
        }
        let store = &store;
        s.spawn(move || {
            for _ in 0..30 {
                let r = store.project::<Revenue>(&Region::all()).unwrap();
                assert!(r.cents <= 3 * 820);
            }
        });
    });
    let (r, _) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, r.applies), (3 * 820, 120));
}

#[test]
fn bounded_position_range_is_folded_once_and_then_stays_put() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let c = coord("till:1");
    for cents in 1..=10 {
        store.append(&c, SOLD, &Sale { cents }).unwrap();
    }
    let first_five = Region::all().positions(0..=4);
    let (r, report) = store.project_with_report::<Revenue>(&first_five).unwrap();
    assert_eq!((r.cents, report.applied), (15, 5));
    store.append(&c, SOLD, &Sale { cents: 100 }).unwrap();
    let (r, report) = store.project_with_report::<Revenue>(&first_five).unwrap();
    assert_eq!((r.cents, report.applied), (15, 0));
    assert!(report.from_cache);
    let tail = Region::all().from_position(8);
    let r = store.project::<Revenue>(&tail).unwrap();
    assert_eq!(r.cents, 9 + 10 + 100);
}
