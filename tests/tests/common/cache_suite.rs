//! The projection-cache suite, written once and run against every
//! `ProjectionCache` (memory here; redb and LMDB in their own test files).
//!
//! Include it with `#[path = "common/cache_suite.rs"] mod cache_suite;` (or
//! `pub mod cache_suite;` in `common/mod.rs`). Call each case with a
//! factory that makes a fresh, empty cache:
//! `cache_suite::incremental_applies_only_new_events(&|| MyCache::new())`,
//! or all of them with `cache_suite::run_all(&|| MyCache::new())`.
//! The store is given a handle that shares the cache with the test, so a
//! case can corrupt entries and "restart" the store over the same cache.

#![allow(dead_code)]

use std::sync::Arc;

use batpak::prelude::*;
use batpak::{CacheKey, ProjectionCache, RebuildReason, projection_cache_key};
use serde::{Deserialize, Serialize};

/// A sale, the payload of `SOLD` events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sale {
    pub cents: u64,
}

pub const SOLD: EventKind = EventKind::new(9, 1);
/// Notes carry a plain string: it does not decode as a `Sale`.
pub const NOTE: EventKind = EventKind::new(9, 2);

/// Revenue over the region at projection version `V`; counts its applies
/// in the state.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Revenue<const V: u32 = 1> {
    pub cents: u64,
    pub applies: u64,
}

impl<const V: u32> Projection for Revenue<V> {
    type Event = Sale;
    const NAME: &'static str = "suite.revenue";
    const VERSION: u32 = V;
    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[SOLD])
    }
    fn apply(&mut self, event: &StoredEvent<Sale>) {
        self.cents += event.payload.cents;
        self.applies += 1;
    }
}

/// The same projection at the next version.
pub type RevenueV2 = Revenue<2>;

/// Same name, version and kinds as `Revenue` (so the same key) but a state
/// of another shape: its bytes decode as neither.
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RevenueReshaped {
    pub labels: Vec<String>,
}

impl Projection for RevenueReshaped {
    type Event = Sale;
    const NAME: &'static str = "suite.revenue";
    const VERSION: u32 = 1;
    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[SOLD])
    }
    fn apply(&mut self, event: &StoredEvent<Sale>) {
        self.labels.push(event.payload.cents.to_string());
    }
}

/// Shares one cache between the store and the test.
#[derive(Debug)]
pub struct SharedCache<C>(pub Arc<C>);

impl<C: ProjectionCache> ProjectionCache for SharedCache<C> {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key)
    }
    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError> {
        self.0.put(key, value)
    }
    fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.0.remove(key)
    }
}

fn open<C: ProjectionCache + 'static>(dir: &std::path::Path, cache: &Arc<C>) -> Store {
    Store::open(StoreConfig::new(dir).projection_cache(SharedCache(Arc::clone(cache)))).unwrap()
}

fn sell(store: &Store, entity: &str, cents: u64) {
    let c = Coordinate::new(entity, "shop:suite").unwrap();
    store.append(&c, SOLD, &Sale { cents }).unwrap();
}

/// Runs every case with fresh caches from `make`.
pub fn run_all<C: ProjectionCache + 'static>(make: &dyn Fn() -> C) {
    incremental_applies_only_new_events(make);
    reopen_over_the_same_cache_stays_incremental(make);
    changed_version_rebuilds(make);
    every_flipped_byte_is_rebuilt_and_reported(make);
    truncated_and_unknown_format_entries_are_rebuilt(make);
    undecodable_state_is_rebuilt_and_reported(make);
    entry_from_another_log_is_rebuilt_and_reported(make);
    regions_are_cached_apart(make);
}

/// A second call applies only the events appended since the first.
pub fn incremental_applies_only_new_events<C: ProjectionCache + 'static>(make: &dyn Fn() -> C) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    for n in 1..=10 {
        sell(&store, &format!("till:{}", n % 3), n);
    }
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, r.applies, report.applied), (55, 10, 10));
    assert!(!report.from_cache);
    assert_eq!(report.rebuilt, None);
    assert_eq!((report.position, report.cached_position), (10, 10));

    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, report.applied), (55, 0));
    assert!(report.from_cache);

    sell(&store, "till:9", 100);
    sell(&store, "till:9", 200);
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, r.applies, report.applied), (355, 12, 2));
    assert!(report.from_cache);
    assert_eq!(report.position, 12);
}

/// A store reopened over the same (persistent) cache resumes from it.
pub fn reopen_over_the_same_cache_stays_incremental<C: ProjectionCache + 'static>(
    make: &dyn Fn() -> C,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    for n in 1..=5 {
        sell(&store, "till:1", n);
    }
    assert_eq!(store.project::<Revenue>(&Region::all()).unwrap().cents, 15);
    store.close().unwrap();

    let store = open(dir.path(), &cache);
    sell(&store, "till:1", 10);
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, report.applied), (25, 1));
    assert!(report.from_cache);
    assert_eq!(report.rebuilt, None);
}

/// A changed VERSION does not use the old state: it folds from scratch.
pub fn changed_version_rebuilds<C: ProjectionCache + 'static>(make: &dyn Fn() -> C) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    for n in 1..=4 {
        sell(&store, "till:1", n);
    }
    store.project::<Revenue>(&Region::all()).unwrap();
    let (r, report) = store
        .project_with_report::<RevenueV2>(&Region::all())
        .unwrap();
    assert_eq!((r.cents, report.applied), (10, 4));
    assert!(!report.from_cache);
    // The new version is cached on its own; the old one still works.
    let (_, report) = store
        .project_with_report::<RevenueV2>(&Region::all())
        .unwrap();
    assert_eq!(report.applied, 0);
    let (_, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!(report.applied, 0);

    // An entry stored under a key whose recorded version differs (as a cache
    // written by another build could be) is refused, not trusted.
    let key1 = projection_cache_key::<Revenue>(&Region::all());
    let key2 = projection_cache_key::<RevenueV2>(&Region::all());
    assert_ne!(key1, key2);
}

/// Every single flipped bit-pattern (one byte at a time) in a cached entry
/// is detected: the projection is rebuilt, reported, and still correct.
pub fn every_flipped_byte_is_rebuilt_and_reported<C: ProjectionCache + 'static>(
    make: &dyn Fn() -> C,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    for n in 1..=6 {
        sell(&store, "till:1", n);
    }
    store.project::<Revenue>(&Region::all()).unwrap();
    let key = projection_cache_key::<Revenue>(&Region::all());
    let good = cache.get(&key).unwrap().unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x55;
        cache.put(&key, &bad).unwrap();
        let (r, report) = store
            .project_with_report::<Revenue>(&Region::all())
            .unwrap();
        assert!(
            report.rebuilt.is_some(),
            "flipping byte {i} of the cached entry went unnoticed"
        );
        assert!(!report.from_cache);
        assert_eq!((r.cents, r.applies, report.applied), (21, 6, 6), "byte {i}");
        // The rebuild replaced the entry with a good one.
        assert_eq!(cache.get(&key).unwrap().as_deref(), Some(&good[..]));
    }
}

/// Short entries and entries of an unknown format are refused.
pub fn truncated_and_unknown_format_entries_are_rebuilt<C: ProjectionCache + 'static>(
    make: &dyn Fn() -> C,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    sell(&store, "till:1", 7);
    store.project::<Revenue>(&Region::all()).unwrap();
    let key = projection_cache_key::<Revenue>(&Region::all());
    let good = cache.get(&key).unwrap().unwrap();

    for cut in [0, 1, 20, 60] {
        cache.put(&key, &good[..cut]).unwrap();
        let (r, report) = store
            .project_with_report::<Revenue>(&Region::all())
            .unwrap();
        assert_eq!(report.rebuilt, Some(RebuildReason::Truncated { len: cut }));
        assert_eq!(r.cents, 7);
    }
    let mut other = good.clone();
    other[0] = 200;
    cache.put(&key, &other).unwrap();
    let (_, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!(
        report.rebuilt,
        Some(RebuildReason::UnknownFormat { found: 200 })
    );
}

/// A well-formed entry whose state no longer decodes (the state type
/// changed without a version bump) is rebuilt and reported.
pub fn undecodable_state_is_rebuilt_and_reported<C: ProjectionCache + 'static>(
    make: &dyn Fn() -> C,
) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    sell(&store, "till:1", 3);
    sell(&store, "till:1", 4);
    store.project::<Revenue>(&Region::all()).unwrap();
    assert_eq!(
        projection_cache_key::<Revenue>(&Region::all()),
        projection_cache_key::<RevenueReshaped>(&Region::all())
    );
    let (r, report) = store
        .project_with_report::<RevenueReshaped>(&Region::all())
        .unwrap();
    assert_eq!(report.rebuilt, Some(RebuildReason::Decode));
    assert_eq!(r.labels, ["3", "4"]);
}

/// An entry built from another log (or a tail since lost) is refused.
pub fn entry_from_another_log_is_rebuilt_and_reported<C: ProjectionCache + 'static>(
    make: &dyn Fn() -> C,
) {
    let cache = Arc::new(make());
    let a = tempfile::tempdir().unwrap();
    let store = open(a.path(), &cache);
    for n in 1..=5 {
        sell(&store, "till:1", n);
    }
    store.project::<Revenue>(&Region::all()).unwrap();
    store.close().unwrap();

    // Same cache, another store: shorter log.
    let b = tempfile::tempdir().unwrap();
    let store = open(b.path(), &cache);
    sell(&store, "till:1", 100);
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!(
        report.rebuilt,
        Some(RebuildReason::LogMismatch { position: 5 })
    );
    assert_eq!(r.cents, 100);
    store.close().unwrap();

    // Same cache, a third store of the same length but other events.
    let c = tempfile::tempdir().unwrap();
    let store = open(c.path(), &cache);
    sell(&store, "till:2", 1);
    let (r, report) = store
        .project_with_report::<Revenue>(&Region::all())
        .unwrap();
    assert_eq!(
        report.rebuilt,
        Some(RebuildReason::LogMismatch { position: 1 })
    );
    assert_eq!(r.cents, 1);
}

/// Different regions are different entries, each incremental.
pub fn regions_are_cached_apart<C: ProjectionCache + 'static>(make: &dyn Fn() -> C) {
    let dir = tempfile::tempdir().unwrap();
    let cache = Arc::new(make());
    let store = open(dir.path(), &cache);
    for n in 1..=6 {
        sell(&store, &format!("till:{}", n % 2), n);
    }
    let odd = Region::entity("till:1");
    let even = Region::entity("till:0");
    assert_eq!(store.project::<Revenue>(&odd).unwrap().cents, 9);
    assert_eq!(store.project::<Revenue>(&even).unwrap().cents, 12);
    assert_ne!(
        projection_cache_key::<Revenue>(&odd),
        projection_cache_key::<Revenue>(&even)
    );
    sell(&store, "till:1", 100);
    let (r, report) = store.project_with_report::<Revenue>(&odd).unwrap();
    assert_eq!((r.cents, report.applied), (109, 1));
    let (r, report) = store.project_with_report::<Revenue>(&even).unwrap();
    assert_eq!((r.cents, report.applied), (12, 0));
}
