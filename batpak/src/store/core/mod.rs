//! The store's core: every rule of the log, above the engine seam.
//!
//! The core owns validation, idempotency then expected-version checks,
//! sequence, position and id assignment, the hash chain and the in-memory
//! index; a log engine (`super::engine`) only keeps frame bodies in position
//! order. [`Core`]'s fields are private to this folder: the façade and the
//! views use the methods below, never the fields.
//!
//! Files, in the order an event goes through them: `open.rs` (directory,
//! lock, engine, index), `write.rs` (the append path, step by step),
//! `commit.rs` (group commit and the background flusher), `seal.rs` (the
//! sealed index of each full segment) and `sealer.rs` (the thread that
//! writes it), `read.rs` (selection on the index,
//! reads checked against it), `replay.rs` (streaming reads), `verify.rs` (a
//! full re-read of the log), `index/` (the index, its checkpoint and its
//! sealed segment indexes).
//!
//! Invariants: positions are gapless from 0; a stream's n-th event has
//! sequence n; an event is visible to readers only once its bytes are in the
//! engine; after a failed write or sync the core is poisoned and refuses
//! appends until reopened, and nothing from the failed call is acknowledged.
//! Visibility is not durability: readers see an event as soon as it is
//! written, possibly before the fsync its appender waits for.

pub(crate) mod commit;
mod extent;
pub(crate) mod index;
mod open;
mod read;
pub(crate) mod replay;
mod seal;
pub(crate) mod sealer;
mod verify;
pub(crate) mod write;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use self::index::{Filing, Index, Inserted};
use super::config::StoreConfig;
use super::engine::{BodyBatch, Loc, LogEngine};
use super::error::StoreError;
use super::fs::FileSystem;
use super::lock::{lock, read_lock};
use super::report::{StoreStats, StreamHead};
use crate::coordinate::Coordinate;
use crate::event::{EventId, Hash};
use crate::pipeline::AppendReceipt;

/// Told when positions become durable: how the views learn of new events
/// without the core knowing them. Called after the group-commit sync, from
/// whichever thread led it; implementations order concurrent calls
/// themselves.
pub(crate) trait DurableHook: Send + Sync {
    /// Positions below `end` are durable; `core` reads them.
    fn durable(&self, core: &Core, end: u64);
}

/// The shared state of one open store.
pub(crate) struct Core {
    config: StoreConfig,
    /// Where the index reads sealed segments' entries (segment engines
    /// only), shared by the live index and any index rebuilt beside it so
    /// that their open files count once.
    table_files: Option<Arc<index::TableFiles>>,
    writable: bool,
    fs: Arc<dyn FileSystem>,
    engine: Box<dyn LogEngine>,
    index: RwLock<Index>,
    writer: Mutex<WriteScratch>,
    /// True while a leader is syncing.
    sync_state: Mutex<bool>,
    /// Wakes the `EveryN` flusher (set when it starts).
    flusher: std::sync::OnceLock<flume::Sender<commit::Wake>>,
    /// Queues full segments' sealed indexes for the sealer thread, while
    /// it runs.
    sealer: Mutex<Option<flume::Sender<sealer::Job>>>,
    sync_done: Condvar,
    /// Positions below this have been handed to the engine.
    appended: AtomicU64,
    /// Positions below this are durable.
    durable: AtomicU64,
    /// Threads inside an append call (appending or waiting for durability).
    in_flight: AtomicU64,
    /// Threads encoding and writing (inside the writer step).
    appending: AtomicU64,
    poisoned: AtomicBool,
    /// Set when a read or `verify` found the index disagreeing with the
    /// log: the index is then never written as a checkpoint.
    index_disagreed: AtomicBool,
    syncs: AtomicU64,
    /// Segments before this one are covered by the latest checkpoint
    /// (written or loaded); a rotation checkpoints again once the segments
    /// after it hold `checkpoint_every_bytes` of log.
    checkpointed_before: AtomicU32,
    /// Bytes of the latest checkpoint written and of the positions file it
    /// names (0 before the first): paces checkpoints at rotation.
    checkpoint_bytes: AtomicU64,
    /// Checkpoints written at rotation since open.
    checkpoints_at_rotation: AtomicU64,
    /// False once a checkpoint wrote a positions file the index does not
    /// read (a close, or a checkpoint at rotation that failed after it),
    /// until the index adopts one.
    positions_in_place: AtomicBool,
    truncated_bytes: u64,
    from_checkpoint: bool,
    /// Set when open found the checkpoint disagreeing with the log and
    /// rebuilt the index from the log instead.
    checkpoint_discarded: AtomicBool,
    /// Events the extent record promised that the log no longer holds
    /// (accepted in repair mode).
    lost_events: u64,
    /// What the open loaded, wrote and scanned.
    counts: OpenCounts,
    on_durable: Arc<dyn DurableHook>,
    _lock: File,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("dir", &self.config.dir)
            .field("writable", &self.writable)
            .finish_non_exhaustive()
    }
}

impl Core {
    /// The store directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// True when opened for writing.
    pub(crate) fn is_writable(&self) -> bool {
        self.writable
    }

    /// The file system the store writes through (views write cursor files).
    pub(crate) fn fs(&self) -> &dyn FileSystem {
        &*self.fs
    }

    /// Events indexed so far (also the next global position).
    pub(crate) fn len(&self) -> u64 {
        read_lock(&self.index).len()
    }

    /// Positions below this are durable.
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::SeqCst)
    }

    /// A stream's version and head hash.
    pub(crate) fn head(&self, coord: &Coordinate) -> StreamHead {
        read_lock(&self.index)
            .stream(coord)
            .map_or(StreamHead::EMPTY, |s| StreamHead {
                version: s.version(),
                hash: s.head,
            })
    }

    /// Counters: events, streams, segments, bytes, syncs, recovery.
    pub(crate) fn stats(&self) -> StoreStats {
        let (events, streams, index_memory_bytes, entries_in_memory) = {
            let index = read_lock(&self.index);
            (
                index.len(),
                index.streams.len() as u64,
                index.heap_bytes() as u64,
                index.entries.tail().len() as u64,
            )
        };
        let (segments, log_bytes) = self.engine.size();
        StoreStats {
            events,
            streams,
            segments,
            log_bytes,
            durable_events: self.durable(),
            syncs: self.syncs.load(Ordering::SeqCst),
            truncated_bytes: self.truncated_bytes,
            opened_from_checkpoint: self.from_checkpoint,
            checkpoint_discarded: self.checkpoint_discarded.load(Ordering::SeqCst),
            lost_events: self.lost_events,
            sealed_indexes_loaded: self.counts.sealed_loaded,
            sealed_indexes_written: self.counts.sealed_written,
            events_rescanned: self.counts.events_rescanned,
            checkpoints_at_rotation: self.checkpoints_at_rotation.load(Ordering::SeqCst),
            index_memory_bytes,
            entries_in_memory,
        }
    }

    /// Makes every event appended so far durable (one fdatasync, shared
    /// with concurrent callers), and waits for the sealed indexes of the
    /// segments filled so far.
    pub(crate) fn sync(&self) -> Result<(), StoreError> {
        if !self.writable {
            return Ok(());
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let end = self.appended.load(Ordering::SeqCst);
        self.wait_durable(end)?;
        self.wait_for_seals();
        Ok(())
    }

    /// Syncs and writes the index checkpoint, so the next open need not scan
    /// — unless the index was seen disagreeing with the log: then no
    /// checkpoint is written and the next open rebuilds the index from the
    /// log.
    pub(crate) fn close(&self) -> Result<(), StoreError> {
        if !self.writable {
            return Ok(());
        }
        self.sync()?;
        let _writer = lock(&self.writer);
        // The checkpoint records the segments' lengths: they must end at
        // their last frames for the next open to match it exactly.
        self.engine.give_back_reserve()?;
        // The checkpoint names the sealed files; nothing is queued after
        // this, as the writer's mutex is held.
        self.wait_for_seals();
        let index = read_lock(&self.index);
        if self.index_disagreed.load(Ordering::SeqCst) {
            self.engine.remove_checkpoint()?;
        } else {
            self.write_checkpoint(&index, &self.engine.extent())?;
        }
        extent::write(&*self.fs, &self.config.dir, index.len())
    }

    /// Writes `index` as the checkpoint of the log up to `extent`, after
    /// the positions file it names when that changes; returns how the
    /// streams' positions were filed. (An index seen disagreeing with the
    /// log is never written: the callers check.)
    fn write_checkpoint(&self, index: &Index, extent: &[u64]) -> Result<Filing, StoreError> {
        let in_place = self.positions_in_place.load(Ordering::SeqCst);
        let filing = match index.file_positions(in_place) {
            Ok(filing) => filing,
            Err(e) => {
                // The positions the checkpoint names do not read back.
                self.engine.remove_checkpoint()?;
                return Err(e);
            }
        };
        if let Some(file) = &filing.file {
            // The checkpoint on disk names the positions file about to be
            // replaced: it goes first, so a crash in between leaves none
            // rather than one naming the wrong file.
            self.engine.remove_checkpoint()?;
            self.positions_in_place.store(false, Ordering::SeqCst);
            self.engine.write_positions_file(file)?;
        }
        let bytes = index.encode_checkpoint(extent, &filing);
        self.engine.write_checkpoint(&bytes)?;
        let written = filing.file_len() + bytes.len() as u64;
        self.checkpoint_bytes.store(written, Ordering::SeqCst);
        Ok(filing)
    }

    /// Records that the index disagrees with the log: it is never written
    /// as a checkpoint, and the close removes the checkpoint on disk. (Not
    /// removed here: this runs inside reads, where a key-value engine may
    /// hold a read transaction. A crash before the close leaves it, and the
    /// reads it misleads fail again, as here.)
    pub(crate) fn distrust_index(&self) {
        self.index_disagreed.store(true, Ordering::SeqCst);
    }

    /// Closes on drop, where an error has no one to go to: a healthy store
    /// closes as [`Core::close`] does (sync, checkpoint, extent record); a
    /// poisoned one, or one dropped during a panic (its index may be half
    /// updated, and a checkpoint of it would be trusted by the next open),
    /// only hands buffered frames to the OS, and the next open rescans.
    pub(crate) fn close_on_drop(&self) {
        if !self.writable || self.poisoned.load(Ordering::SeqCst) {
            return;
        }
        if std::thread::panicking() {
            self.flush_on_drop();
            return;
        }
        if self.close().is_err() {
            // A failed sync poisoned the store and nothing was written; a
            // failed checkpoint or extent write left the previous files,
            // which the next open checks against the log. Hand over what
            // is still buffered either way.
            self.flush_on_drop();
        }
    }

    /// Hands buffered frames to the OS so that the process exit keeps them,
    /// without syncing or checkpointing. A failed flush poisons the engine,
    /// and reopen recovers; there is no one to tell.
    pub(crate) fn flush_on_drop(&self) {
        if self.writable && !self.poisoned.load(Ordering::SeqCst) {
            let _ = self.engine.flush();
        }
    }
}

/// What an open did to build the index, beyond the checkpoint.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct OpenCounts {
    /// Full segments indexed from their sealed index.
    sealed_loaded: u64,
    /// Sealed indexes written for full segments the open scanned.
    sealed_written: u64,
    /// Frames the open scanned.
    events_rescanned: u64,
}

/// The writer's scratch, reused across appends (guarded by the writer mutex).
#[derive(Default)]
struct WriteScratch {
    batch: BodyBatch,
    locs: Vec<Loc>,
    events: Vec<Inserted>,
    receipts: Vec<AppendReceipt>,
    ids: Vec<EventId>,
    hashes: Vec<Hash>,
    /// The engine segment the last call was written to, once known.
    segment: Option<u32>,
}

/// Counts a thread in a section (appending, waiting) for as long as it lives.
pub(crate) struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Core {
    /// Counts the calling thread as appending or waiting until the guard
    /// drops (group commit waits for such threads to join a sync).
    pub(crate) fn enter_append(&self) -> InFlight<'_> {
        InFlight::enter(&self.in_flight)
    }

    /// Opens a core; see [`open::open`].
    pub(crate) fn open(
        config: StoreConfig,
        writable: bool,
        fs: Arc<dyn FileSystem>,
        on_durable: Arc<dyn DurableHook>,
    ) -> Result<Arc<Self>, StoreError> {
        open::open(config, writable, fs, on_durable)
    }
}
