//! The projection-cache contract, run on MemoryCache, RedbCache and
//! LmdbCache: get/put/remove/overwrite, persistence across reopen (for the
//! persistent ones), and damaged bytes handed back as bytes (the projection
//! layer above frames and checks them; the cache never interprets values).

use batpak::{CacheKey, LmdbCache, MemoryCache, ProjectionCache, RedbCache, StoreError};

fn key(n: u8) -> CacheKey {
    CacheKey([n; 32])
}

/// The checks every cache passes, whatever keeps it.
fn basic_contract(cache: &dyn ProjectionCache) {
    assert_eq!(cache.get(&key(1)).unwrap(), None);
    cache.put(&key(1), b"state one").unwrap();
    cache.put(&key(2), b"").unwrap();
    assert_eq!(
        cache.get(&key(1)).unwrap().as_deref(),
        Some(&b"state one"[..])
    );
    assert_eq!(cache.get(&key(2)).unwrap().as_deref(), Some(&b""[..]));
    cache.put(&key(1), b"state one, later").unwrap();
    assert_eq!(
        cache.get(&key(1)).unwrap().as_deref(),
        Some(&b"state one, later"[..])
    );
    cache.remove(&key(2)).unwrap();
    cache.remove(&key(2)).unwrap(); // absent: a no-op
    assert_eq!(cache.get(&key(2)).unwrap(), None);
    let big = vec![0xA5; 1 << 20];
    cache.put(&key(3), &big).unwrap();
    assert_eq!(cache.get(&key(3)).unwrap(), Some(big));
    assert!(!format!("{cache:?}").is_empty());
}

#[test]
fn memory_cache_keeps_the_contract() {
    basic_contract(&MemoryCache::new());
}

type Opener = fn(&std::path::Path) -> Result<Box<dyn ProjectionCache>, StoreError>;

fn persistent() -> [(&'static str, Opener, &'static str); 2] {
    [
        (
            "redb",
            |p| Ok(Box::new(RedbCache::open(p.join("cache.redb"))?)),
            "cache.redb",
        ),
        (
            "lmdb",
            |p| Ok(Box::new(LmdbCache::open(p.join("cache.lmdb"))?)),
            "cache.lmdb/data.mdb",
        ),
    ]
}

#[test]
fn persistent_caches_keep_the_contract_and_survive_reopen() {
    for (name, open, _) in persistent() {
        let dir = tempfile::tempdir().unwrap();
        {
            let cache = open(dir.path()).unwrap();
            basic_contract(cache.as_ref());
            cache.put(&key(9), b"kept").unwrap();
            cache.remove(&key(3)).unwrap();
        }
        let cache = open(dir.path()).unwrap();
        assert_eq!(
            cache.get(&key(1)).unwrap().as_deref(),
            Some(&b"state one, later"[..]),
            "{name}"
        );
        assert_eq!(cache.get(&key(9)).unwrap().as_deref(), Some(&b"kept"[..]));
        assert_eq!(cache.get(&key(2)).unwrap(), None, "{name}");
        assert_eq!(cache.get(&key(3)).unwrap(), None, "{name}");
    }
}

#[test]
fn a_second_open_of_one_cache_in_a_process_is_refused() {
    for (name, open, _) in persistent() {
        let dir = tempfile::tempdir().unwrap();
        let first = open(dir.path()).unwrap();
        assert!(
            matches!(open(dir.path()), Err(StoreError::Engine { .. })),
            "{name}"
        );
        drop(first);
        open(dir.path()).unwrap();
    }
}

#[test]
fn a_value_damaged_on_disk_comes_back_as_bytes_not_as_the_original() {
    let original = b"projection-state-0123456789-abcdefghijklmnopqrstuvwxyz";
    for (name, open, file) in persistent() {
        let dir = tempfile::tempdir().unwrap();
        open(dir.path()).unwrap().put(&key(7), original).unwrap();
        let path = dir.path().join(file);
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes
            .windows(original.len())
            .position(|w| w == original)
            .unwrap_or_else(|| panic!("{name}: value bytes not found in {}", path.display()));
        bytes[at + 5] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        // Neither engine checksums values on read (measured: redb 4.6 and
        // LMDB both return the flipped bytes), so the damaged value comes
        // back as bytes and the projection layer's own checksum rejects it.
        let got = open(dir.path()).unwrap().get(&key(7)).unwrap();
        let got = got.unwrap_or_else(|| panic!("{name}: a damaged value disappeared"));
        assert_ne!(&got[..], &original[..], "{name}: damage vanished");
        assert_eq!(got.len(), original.len(), "{name}");
    }
}
