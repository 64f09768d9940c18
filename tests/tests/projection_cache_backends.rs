//! The projection-cache suite (`common/cache_suite.rs`, written by the views
//! work) on the persistent caches: `RedbCache` and `LmdbCache`. Each factory
//! call opens a fresh cache in its own temporary directory, kept alive with
//! the cache.

#[path = "common/cache_suite.rs"]
mod cache_suite;

use batpak::{CacheKey, LmdbCache, ProjectionCache, RedbCache, StoreError};

/// A cache and the temporary directory that holds its files.
#[derive(Debug)]
struct InTempDir<C> {
    cache: C,
    _dir: tempfile::TempDir,
}

impl<C: ProjectionCache> ProjectionCache for InTempDir<C> {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.cache.get(key)
    }
    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError> {
        self.cache.put(key, value)
    }
    fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.cache.remove(key)
    }
}

fn redb() -> InTempDir<RedbCache> {
    let dir = tempfile::tempdir().unwrap();
    let cache = RedbCache::open(dir.path().join("projections.redb")).unwrap();
    InTempDir { cache, _dir: dir }
}

fn lmdb() -> InTempDir<LmdbCache> {
    let dir = tempfile::tempdir().unwrap();
    let cache = LmdbCache::open(dir.path().join("projections.lmdb")).unwrap();
    InTempDir { cache, _dir: dir }
}

#[test]
fn redb_cache_passes_the_projection_cache_suite() {
    cache_suite::run_all(&redb);
}

#[test]
fn lmdb_cache_passes_the_projection_cache_suite() {
    cache_suite::run_all(&lmdb);
}
