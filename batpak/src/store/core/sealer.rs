//! The sealer: a thread that writes full segments' sealed indexes, so the
//! append that rotates into a new segment does not wait for a file of ~20%
//! of the old segment's size.
//!
//! The append path encodes the sealed index (it needs the index as it
//! stands at the rotation) and queues the bytes; the sealer writes them and
//! then moves the segment's entries out of memory, as an inline seal does.
//! Jobs run in the order they were queued, so entries leave memory front
//! first, as the entries' spill requires. Whoever needs every queued file
//! written (a checkpoint, `sync`, `verify`, a close) waits with
//! [`Core::wait_for_seals`], holding no index lock: the sealer takes the
//! index's write lock, never the writer's mutex. The thread ends once the
//! core's sender is taken ([`Sealer::stop`]) and every job queued before
//! is done; a seal after that is written inline.

use std::sync::{Arc, Weak};

use super::Core;
use super::index::sealed::SealedFile;
use crate::store::error::StoreError;
use crate::store::lock::lock;

/// What the sealer is asked to do.
pub(crate) enum Job {
    /// Write these sealed indexes, then take their entries out of memory.
    Seal(Vec<SealedFile>),
    /// Say so once every job queued before this one is done.
    Drained(flume::Sender<()>),
}

/// The running sealer thread.
#[derive(Debug)]
pub(crate) struct Sealer {
    thread: std::thread::JoinHandle<()>,
}

impl Sealer {
    /// Starts the thread for a writable segment store that seals in the
    /// background; `None` otherwise (sealing then stays inline, or there
    /// is none).
    pub(crate) fn start(core: &Arc<Core>) -> Result<Option<Self>, StoreError> {
        if !core.writable || !core.engine.seals() || !core.config.seal_in_background {
            return Ok(None);
        }
        let (jobs, queue) = flume::unbounded::<Job>();
        let weak: Weak<Core> = Arc::downgrade(core);
        let thread = std::thread::Builder::new()
            .name("batpak-sealer".to_owned())
            .spawn(move || {
                // Until every sender is gone and the queue is empty.
                for job in queue.iter() {
                    match job {
                        Job::Seal(files) => {
                            if let Some(core) = weak.upgrade() {
                                core.write_sealed(files);
                            }
                        }
                        // The waiter may have given up; nothing to tell.
                        Job::Drained(done) => drop(done.send(())),
                    }
                }
            })
            .map_err(|e| StoreError::io("spawn sealer thread", &core.config.dir, e))?;
        // Appenders queue through the core.
        *lock(&core.sealer) = Some(jobs);
        Ok(Some(Self { thread }))
    }

    /// Lets the thread write what is queued, and waits for it to end.
    pub(crate) fn stop(self, core: &Core) {
        lock(&core.sealer).take();
        // The thread only writes cache files; a panic there has nothing
        // to report.
        let _ = self.thread.join();
    }
}

impl Core {
    /// Queues `files` for the sealer; writes them here when there is no
    /// sealer (sealing inline, or the thread has ended).
    pub(super) fn seal_in_background(&self, files: Vec<SealedFile>) {
        let Some(jobs) = lock(&self.sealer).clone() else {
            return self.write_sealed(files);
        };
        if let Err(flume::SendError(Job::Seal(files))) = jobs.send(Job::Seal(files)) {
            self.write_sealed(files);
        }
    }

    /// Returns once every sealed index queued so far is written and its
    /// entries are out of memory (at once without a sealer). Never call it
    /// holding the index lock: the sealer takes it.
    pub(crate) fn wait_for_seals(&self) {
        let Some(jobs) = lock(&self.sealer).clone() else {
            return;
        };
        let (done, wait) = flume::bounded(1);
        let sent = jobs.send(Job::Drained(done)).is_ok();
        drop(jobs);
        if sent {
            // An error: the thread ended, and with it every job.
            let _ = wait.recv();
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io;
    use std::path::Path;
    use std::sync::{Arc, Condvar, Mutex};

    use crate::coordinate::Coordinate;
    use crate::event::EventKind;
    use crate::store::fs::{FileSystem, FsFile, StdFs};
    use crate::store::{Store, StoreConfig, SyncPolicy};

    /// The real file system, but a sealed index file is written only once
    /// the gate is open: what the sealer does meanwhile is held still. A
    /// write still held after 10 s goes ahead and is counted as forced (an
    /// append that waited for it would otherwise hang the test).
    #[derive(Debug, Default)]
    struct GatedFs {
        open: Mutex<bool>,
        opened: Condvar,
        forced: std::sync::atomic::AtomicBool,
    }

    impl GatedFs {
        fn open_gate(&self) {
            *self
                .open
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = true;
            self.opened.notify_all();
        }
    }

    impl FileSystem for GatedFs {
        fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
            StdFs.list(dir)
        }
        fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
            StdFs.read(path)
        }
        fn read_into(&self, path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
            StdFs.read_into(path, buf)
        }
        fn len(&self, path: &Path) -> io::Result<u64> {
            StdFs.len(path)
        }
        fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            StdFs.create_new(path)
        }
        fn open_write(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            StdFs.open_write(path)
        }
        fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
            StdFs.open_read(path)
        }
        fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
            StdFs.truncate(path, len)
        }
        fn remove(&self, path: &Path) -> io::Result<()> {
            StdFs.remove(path)
        }
        fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            if path.to_string_lossy().ends_with(".idx.tmp") {
                let open = self
                    .open
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let limit = std::time::Duration::from_secs(10);
                let (_open, waited) = self
                    .opened
                    .wait_timeout_while(open, limit, |open| !*open)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if waited.timed_out() {
                    self.forced.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            }
            StdFs.write_synced(path, bytes)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            StdFs.rename(from, to)
        }
        fn sync_dir(&self, dir: &Path) -> io::Result<()> {
            StdFs.sync_dir(dir)
        }
    }

    /// Appends that rotate return while their sealed indexes cannot be
    /// written (the gate is shut), the full segments' entries stay in
    /// memory meanwhile, and `sync` returns only once the files are
    /// written and the entries out of memory.
    #[test]
    fn rotating_appends_do_not_wait_for_the_sealed_index_and_sync_does() {
        let dir = tempfile::tempdir().unwrap();
        let fs = Arc::new(GatedFs::default());
        let config = StoreConfig::new(dir.path())
            .segment_max_bytes(2_000)
            .sync_policy(SyncPolicy::Manual)
            .checkpoint_every_bytes(0);
        let store =
            Store::open_with_fs(config, true, Arc::clone(&fs) as Arc<dyn FileSystem>).unwrap();
        let coordinate = Coordinate::new("e", "s").unwrap();
        let kind = EventKind::new(7, 1);
        for i in 0..200u32 {
            store.append(&coordinate, kind, &i).unwrap();
        }
        // Here with the gate shut: no append waited for a sealed index.
        assert!(
            !fs.forced.load(std::sync::atomic::Ordering::SeqCst),
            "an append waited"
        );
        let held = store.stats();
        assert!(held.segments > 5, "{held:?}");
        assert_eq!(held.entries_in_memory, 200, "nothing sealed yet: {held:?}");
        let sealed = |n: u64| dir.path().join(format!("{n:010}.idx")).exists();
        assert!(!sealed(1));
        std::thread::scope(|s| {
            let synced = s.spawn(|| {
                store.sync().unwrap();
                // Returned: every full segment's file is there.
                (1..held.segments).all(sealed)
            });
            // A chance for a sync that does not wait to return early.
            std::thread::sleep(std::time::Duration::from_millis(50));
            fs.open_gate();
            assert!(
                synced.join().unwrap_or(false),
                "sync returned before the seals"
            );
        });
        let after = store.stats();
        assert!(after.entries_in_memory < 200 / 5, "{after:?}");
        store.close().unwrap();
    }
}
