//! The open segment files: the active segment's, always, and a bounded,
//! least-recently-used cache of the others (`StoreConfig::max_open_segments`).
//!
//! Invariants: at most `capacity` handles of segments other than the active
//! one are held here; the active segment's handle is never evicted. Readers
//! clone an `Arc` under a shared lock and read after releasing it, so reads
//! run concurrently and no lock is held across a read or an open syscall. A
//! miss opens the file with no lock held (the caller's `open`, which goes
//! through the store's `FileSystem`), then inserts it under the exclusive
//! lock, evicting the least recently used handle. An evicted handle closes
//! when the last read using it ends, so the descriptors this engine holds
//! are at most `capacity + 1` plus one per read in flight. This module
//! never opens a file itself and knows nothing of paths.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::store::error::StoreError;
use crate::store::fs::FsFile;
use crate::store::lock::{read_lock, write_lock};

/// A cached handle and when it was last used (a tick of [`Handles::clock`]).
#[derive(Debug)]
struct Cached {
    file: Arc<dyn FsFile>,
    used: AtomicU64,
}

#[derive(Debug, Default)]
struct Open {
    /// The active segment and its (append) handle.
    active: Option<(u32, Arc<dyn FsFile>)>,
    /// Other segments' handles, at most `capacity`.
    cached: HashMap<u32, Cached>,
}

/// Open segment files, bounded.
#[derive(Debug)]
pub(crate) struct Handles {
    capacity: usize,
    /// Ticks once per lookup; orders handles by last use.
    clock: AtomicU64,
    open: RwLock<Open>,
}

impl Handles {
    /// Keeps at most `capacity` handles besides the active segment's.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            clock: AtomicU64::new(0),
            open: RwLock::new(Open::default()),
        }
    }

    /// Makes `segment` the active segment, held open apart from the cache.
    /// The previous active handle (complete now) moves into the cache, so
    /// the segment just finished stays warm for readers.
    pub(crate) fn set_active(&self, segment: u32, file: Arc<dyn FsFile>) {
        let mut open = write_lock(&self.open);
        let stale = open.cached.remove(&segment).map(|c| c.file);
        let mut evicted = None;
        if let Some((previous, file)) = open.active.replace((segment, file)) {
            let used = AtomicU64::new(self.tick());
            open.cached.insert(previous, Cached { file, used });
            evicted = self.evict_over_capacity(&mut open);
        }
        drop(open);
        // Handles close here, outside the lock (close is a syscall).
        drop((stale, evicted));
    }

    /// The handle of `segment`: held, or opened by `open` and cached.
    pub(crate) fn get(
        &self,
        segment: u32,
        open: impl FnOnce() -> Result<Arc<dyn FsFile>, StoreError>,
    ) -> Result<Arc<dyn FsFile>, StoreError> {
        if let Some(file) = self.held(segment) {
            return Ok(file);
        }
        let file = open()?;
        let mut held = write_lock(&self.open);
        // Another reader may have opened it meanwhile: keep one handle.
        if let Some(cached) = held.cached.get(&segment) {
            cached.used.store(self.tick(), Ordering::Relaxed);
            return Ok(Arc::clone(&cached.file));
        }
        let used = AtomicU64::new(self.tick());
        let cached = Cached {
            file: Arc::clone(&file),
            used,
        };
        held.cached.insert(segment, cached);
        let evicted = self.evict_over_capacity(&mut held);
        drop(held);
        // A handle closes here, outside the lock (close is a syscall).
        drop(evicted);
        Ok(file)
    }

    /// The handle of `segment` when held; otherwise one opened by `open`
    /// and not cached. For a pass over every segment (`verify`), which
    /// would otherwise evict every handle readers use for one each of its
    /// own that is never used again.
    pub(crate) fn get_uncached(
        &self,
        segment: u32,
        open: impl FnOnce() -> Result<Arc<dyn FsFile>, StoreError>,
    ) -> Result<Arc<dyn FsFile>, StoreError> {
        match self.held(segment) {
            Some(file) => Ok(file),
            None => open(),
        }
    }

    /// Handles held now, the active one included (for tests and stats).
    #[cfg(test)]
    pub(crate) fn held_count(&self) -> usize {
        let open = read_lock(&self.open);
        open.cached.len() + usize::from(open.active.is_some())
    }

    fn held(&self, segment: u32) -> Option<Arc<dyn FsFile>> {
        let open = read_lock(&self.open);
        if let Some((active, file)) = &open.active
            && *active == segment
        {
            return Some(Arc::clone(file));
        }
        let cached = open.cached.get(&segment)?;
        cached.used.store(self.tick(), Ordering::Relaxed);
        Some(Arc::clone(&cached.file))
    }

    fn tick(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed)
    }

    /// Takes out the least recently used handle when one more than
    /// `capacity` is held (each insert adds one), for the caller to drop
    /// after releasing the lock. O(capacity), paid only on a miss, beside
    /// an open syscall.
    fn evict_over_capacity(&self, open: &mut Open) -> Option<Arc<dyn FsFile>> {
        if open.cached.len() <= self.capacity {
            return None;
        }
        let oldest = open
            .cached
            .iter()
            .min_by_key(|(_, c)| c.used.load(Ordering::Relaxed))
            .map(|(&segment, _)| segment)?;
        open.cached.remove(&oldest).map(|c| c.file)
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::atomic::AtomicUsize;

    use super::*;

    /// A file that only knows its segment; counts how many are alive.
    #[derive(Debug)]
    struct Fake(u32, Arc<AtomicUsize>);

    impl Drop for Fake {
        fn drop(&mut self) {
            self.1.fetch_sub(1, Ordering::SeqCst);
        }
    }

    impl FsFile for Fake {
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            Ok(())
        }
        fn set_len(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn read_at(&self, buf: &mut [u8], _: u64) -> io::Result<()> {
            buf.fill(self.0 as u8);
            Ok(())
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn opener<'a>(
        segment: u32,
        alive: &'a Arc<AtomicUsize>,
        opens: &'a AtomicUsize,
    ) -> impl FnOnce() -> Result<Arc<dyn FsFile>, StoreError> + 'a {
        move || {
            opens.fetch_add(1, Ordering::SeqCst);
            alive.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(Fake(segment, Arc::clone(alive))) as Arc<dyn FsFile>)
        }
    }

    fn segment_of(file: &Arc<dyn FsFile>) -> u32 {
        let mut b = [0u8; 1];
        file.read_at(&mut b, 0).unwrap_or_default();
        u32::from(b[0])
    }

    #[test]
    fn the_least_recently_used_handle_is_evicted_and_the_active_one_never() {
        let alive = Arc::new(AtomicUsize::new(0));
        let opens = AtomicUsize::new(0);
        let handles = Handles::new(2);
        handles.set_active(
            9,
            opener(9, &alive, &opens)().unwrap_or_else(|_| unreachable!()),
        );
        for segment in [1, 2, 1, 3] {
            let file = handles
                .get(segment, opener(segment, &alive, &opens))
                .unwrap_or_else(|_| unreachable!());
            assert_eq!(segment_of(&file), segment);
        }
        // 1 was used after 2, so 3 evicted 2; the active 9 stays.
        assert_eq!(handles.held_count(), 3);
        assert_eq!(alive.load(Ordering::SeqCst), 3);
        let before = opens.load(Ordering::SeqCst);
        for segment in [1, 3, 9] {
            let _ = handles.get(segment, || unreachable!());
        }
        assert_eq!(opens.load(Ordering::SeqCst), before, "all three held");
        // Rotation: 9 joins the cache (evicting 1), 10 is active.
        handles.set_active(
            10,
            opener(10, &alive, &opens)().unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(handles.held_count(), 3);
        assert_eq!(alive.load(Ordering::SeqCst), 3);
        // An uncached read of a segment not held leaves the cache alone.
        let file = handles
            .get_uncached(4, opener(4, &alive, &opens))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(segment_of(&file), 4);
        drop(file);
        assert_eq!(alive.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn concurrent_readers_never_hold_more_than_the_bound_plus_reads_in_flight() {
        let alive = Arc::new(AtomicUsize::new(0));
        let opens = AtomicUsize::new(0);
        let handles = Handles::new(4);
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (handles, alive, opens) = (&handles, &alive, &opens);
                s.spawn(move || {
                    for i in 0..2_000u32 {
                        let segment = 1 + (i * 7 + t) % 20;
                        let file = handles
                            .get(segment, opener(segment, alive, opens))
                            .unwrap_or_else(|_| unreachable!());
                        assert_eq!(segment_of(&file), segment);
                        // Cached, plus one in use per reader, plus one
                        // being inserted per reader.
                        assert!(alive.load(Ordering::SeqCst) <= 4 + 2 * 4);
                    }
                });
            }
        });
        assert!(handles.held_count() <= 4);
        assert_eq!(alive.load(Ordering::SeqCst), handles.held_count());
    }
}
