//! Where projection states are kept between calls.
//!
//! A cache is a plain key → bytes map; it knows nothing of projections. The
//! projection layer owns the key (projection name, version and region, hashed)
//! and the value's framing (format byte, checksum, last applied position), so
//! a cache entry that is damaged or stale is detected above this seam and
//! rebuilt, never trusted. The in-memory cache is the default; the `redb` and
//! `lmdb` features add persistent ones.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use super::error::StoreError;
use super::lock::lock;

/// The key of one cached projection: blake3 of (name, version, region).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(pub [u8; 32]);

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}

/// Storage for projection states: a key → bytes map that may persist.
pub trait ProjectionCache: Send + Sync + fmt::Debug {
    /// The bytes stored under `key`, if any.
    ///
    /// # Errors
    /// [`StoreError`] when the backing storage cannot be read.
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the bytes stored under `key`.
    ///
    /// # Errors
    /// [`StoreError`] when the backing storage cannot be written.
    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError>;

    /// Forgets `key` (a no-op when absent).
    ///
    /// # Errors
    /// [`StoreError`] when the backing storage cannot be written.
    fn remove(&self, key: &CacheKey) -> Result<(), StoreError>;
}

/// The default cache: a map in memory, gone when the store closes.
#[derive(Debug, Default)]
pub struct MemoryCache {
    entries: Mutex<HashMap<CacheKey, Vec<u8>>>,
}

impl MemoryCache {
    /// An empty cache.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Vec<u8>>> {
        // A panic while holding this lock cannot leave a half-written entry
        // (insert and remove are single calls), so a poisoned map is usable.
        lock(&self.entries)
    }
}

impl ProjectionCache for MemoryCache {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.entries().get(key).cloned())
    }

    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError> {
        self.entries().insert(*key, value.to_vec());
        Ok(())
    }

    fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.entries().remove(key);
        Ok(())
    }
}
