//! The scratch store scenarios run on: one store per thread, in a fresh
//! directory (on `/dev/shm` when it exists), opened once and shared by every
//! scenario the thread runs, each on an entity of its own.
//!
//! Opening a store per scenario would cost a directory, a lock and a marker
//! file each time; a fresh entity in a shared store isolates a scenario just
//! as well (every read a scenario makes is of its own stream), so thousands
//! of scenarios cost thousands of appends, not thousands of opens (a thread
//! moves to a fresh store every `ENTITIES_PER_STORE` entities). The
//! store syncs only when closed ([`SyncPolicy::Manual`]): its contents are
//! thrown away. The directory is removed when the thread ends; this file
//! must never touch any other directory.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::coordinate::Coordinate;
use crate::store::{Store, StoreConfig, SyncPolicy};

/// A store in a directory of its own, removed on drop.
pub(crate) struct Scratch {
    store: Option<Store>,
    dir: PathBuf,
    next_entity: Cell<u64>,
}

impl Scratch {
    /// Opens a store in a new directory.
    fn open() -> Self {
        let dir = fresh_dir();
        let config = StoreConfig::new(&dir).sync_policy(SyncPolicy::Manual);
        let store = Store::open(config).unwrap_or_else(|e| {
            panic!(
                "batpak testkit: cannot open a scratch store in {}: {e}",
                dir.display()
            )
        });
        Self {
            store: Some(store),
            dir,
            next_entity: Cell::new(0),
        }
    }

    /// The store.
    pub(crate) fn store(&self) -> &Store {
        self.store
            .as_ref()
            .unwrap_or_else(|| unreachable!("the store is taken only on drop"))
    }

    /// A coordinate no earlier scenario of this store used.
    pub(crate) fn fresh_entity(&self, machine: &str) -> Coordinate {
        let n = self.next_entity.get();
        self.next_entity.set(n + 1);
        let entity = format!("{}:{n}", machine.to_lowercase());
        Coordinate::new(entity, "testkit").unwrap_or_else(|e| {
            panic!("batpak testkit: machine name {machine:?} makes no coordinate: {e}")
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(store) = self.store.take() {
            // Scratch contents: a failed close loses nothing anyone needs.
            let _ = store.close();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Entities one scratch store serves before the thread opens a fresh one.
/// Some store reads (a stream's projection, a coordinate's region) still
/// cost time in proportion to the streams the store holds, so a scenario on
/// a store of 20,000 entities is several times slower than on a new one;
/// a fresh store costs a few milliseconds, once per this many scenarios
/// (TUNING.md, "Test kit").
const ENTITIES_PER_STORE: u64 = 1_000;

thread_local! {
    static SCRATCH: RefCell<Rc<Scratch>> = RefCell::new(Rc::new(Scratch::open()));
}

/// This thread's scratch store (opened on first use, replaced by a fresh
/// one after [`ENTITIES_PER_STORE`] entities; a scenario still holding the
/// old one keeps it open until it ends).
pub(crate) fn thread_scratch() -> Rc<Scratch> {
    SCRATCH.with(|cell| {
        if cell.borrow().next_entity.get() >= ENTITIES_PER_STORE {
            *cell.borrow_mut() = Rc::new(Scratch::open());
        }
        Rc::clone(&cell.borrow())
    })
}

/// A new, empty directory for one scratch store.
fn fresh_dir() -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = base.join(format!("batpak-testkit-{}-{n}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| {
        panic!(
            "batpak testkit: cannot create a scratch directory {}: {e}",
            dir.display()
        )
    });
    dir
}
