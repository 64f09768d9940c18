//! Opening a store: the directory and its lock, the engine, the index.
//!
//! The index comes from the engine's checkpoint when the engine accepts it
//! (it describes exactly the log present), else from a scan in which every
//! frame is checked by [`Index::apply_frame`]. Damage found by that check
//! is reported where it is; nothing is repaired here beyond what the engine
//! does to a torn tail.

use std::fs::File;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use super::extent;
use super::index::sealed::SealedPlace;
use super::index::{Index, TableFiles};
use super::seal::OpenSealer;
use super::{Core, DurableHook, OpenCounts, WriteScratch};
use crate::store::config::StoreConfig;
use crate::store::engine::choose::open_engine;
use crate::store::engine::{OpenVisitors, place_of};
use crate::store::error::{Place, StoreError};
use crate::store::fs::FileSystem;
use crate::store::lock::write_lock;

/// Opens the store in `config.dir`: locks the directory, opens the engine
/// with the index built from it, and (with `verify_on_open`) checks a
/// checkpointed index against the whole log.
pub(super) fn open(
    config: StoreConfig,
    writable: bool,
    fs: Arc<dyn FileSystem>,
    on_durable: Arc<dyn DurableHook>,
) -> Result<Arc<Core>, StoreError> {
    let _span = crate::trace::span!(
        INFO,
        "open",
        dir = %config.dir.display(),
        writable,
        events = ::tracing::field::Empty,
        from_checkpoint = ::tracing::field::Empty,
        truncated_bytes = ::tracing::field::Empty,
        lost_events = ::tracing::field::Empty,
    );
    let opened = match recover(
        config.clone(),
        writable,
        Arc::clone(&fs),
        Arc::clone(&on_durable),
        Derived::Use,
    ) {
        // The scan after the checkpoint or the sealed indexes found the log
        // disagreeing with them (one altered under a valid checksum: a
        // head, an id or a stream that the next frames contradict). The log
        // decides: open again scanning everything; damage that remains is
        // real.
        Err(Refused::AfterDerived(_)) => recover(config, writable, fs, on_durable, Derived::Ignore),
        other => other,
    }
    .map_err(Refused::into_error);
    crate::trace::record!(_span, outcome = crate::trace::outcome(&opened));
    #[cfg(feature = "tracing")]
    if let Ok(core) = &opened {
        crate::trace::record!(
            _span,
            events = core.appended.load(Ordering::SeqCst),
            from_checkpoint = core.from_checkpoint,
            truncated_bytes = core.truncated_bytes,
            lost_events = core.lost_events,
        );
    }
    opened
}

/// Whether an open may load the files derived from the log: the
/// checkpoint and the sealed segment indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Derived {
    Use,
    Ignore,
}

/// Why [`recover`] failed.
enum Refused {
    /// The log's damage or disagreement was found after a checkpoint or
    /// sealed indexes were loaded, so they may be what is wrong.
    AfterDerived(StoreError),
    /// Any other failure.
    Other(StoreError),
}

impl Refused {
    fn into_error(self) -> StoreError {
        match self {
            Self::AfterDerived(e) | Self::Other(e) => e,
        }
    }
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Self::Other(e)
    }
}

/// [`open`] without its span: the recovery itself.
fn recover(
    config: StoreConfig,
    writable: bool,
    fs: Arc<dyn FileSystem>,
    on_durable: Arc<dyn DurableHook>,
    derived: Derived,
) -> Result<Arc<Core>, Refused> {
    let lock_file = lock_dir(&config, writable)?;
    // Only segment engines seal segments, and read sealed entries in place.
    let segmented = config.backend == crate::store::backend::Backend::Segment;
    let shared_files = Arc::new(TableFiles::new(
        Arc::clone(&fs),
        config.dir.clone(),
        config.max_open_segments,
    ));
    let table_files = || Arc::clone(&shared_files);
    let mut fresh = Index::default();
    if segmented {
        fresh.entries.set_files(table_files());
    }
    let index = std::cell::RefCell::new(fresh);
    let mut damage = None;
    let mut checkpointed = false;
    let seals = writable && segmented;
    let mut sealer = OpenSealer::new(&*fs, &config.dir, seals);
    let sealer_cell = std::cell::RefCell::new(&mut sealer);
    let visitors = OpenVisitors {
        checkpoint_extent: Index::recorded_extent,
        try_checkpoint: &mut |bytes, extent, next_loc| {
            if derived == Derived::Ignore {
                return false;
            }
            let Some(mut loaded) = Index::decode_checkpoint(bytes, extent, next_loc) else {
                return false;
            };
            // A checkpoint's tables and positions file must be there as it
            // recorded them.
            let bound = loaded.entries.tables().is_empty()
                || (segmented && loaded.entries.bind_files(table_files()));
            if !(bound && loaded.bind_positions_file(&*fs, &config.dir)) {
                return false;
            }
            if segmented && !loaded.entries.has_files() {
                loaded.entries.set_files(table_files());
            }
            // What lies past the checkpoint's extent is indexed onto it.
            *index.borrow_mut() = loaded;
            checkpointed = true;
            true
        },
        try_sealed: &mut |segment, len, bytes, next_loc| {
            if derived == Derived::Ignore {
                return None;
            }
            let place = SealedPlace {
                segment,
                len,
                next_loc,
            };
            let mut index = index.borrow_mut();
            let mut sealer = sealer_cell.borrow_mut();
            // A segment the index holds in memory (a checkpoint's last,
            // scanned to its end) is sealed before the next one loads.
            sealer.seal_before(&mut index, segment);
            let events = index.load_sealed(bytes, place)?;
            sealer.loaded_through = segment;
            Some(events)
        },
        visit: &mut |loc, body| {
            let mut index = index.borrow_mut();
            sealer_cell.borrow_mut().before_frame(&mut index, loc);
            match index.apply_frame(loc, body) {
                Ok(()) => ControlFlow::Continue(()),
                Err(d) => {
                    damage = Some(d);
                    ControlFlow::Break(())
                }
            }
        },
    };
    let opened = open_engine(Arc::clone(&fs), &config, writable, visitors)?;
    let mut index = index.into_inner();
    let loaded_derived = checkpointed || sealer.loaded_through > 0;
    let ControlFlow::Continue((engine, report)) = opened else {
        // The engine stops only when the visitor breaks, after it kept why.
        let at = damage.map(|d| {
            let place = place_of(config.backend, d.loc);
            StoreError::from(d.locate(place))
        });
        let error = at.unwrap_or_else(|| {
            StoreError::corrupt(
                Place::Index {
                    position: index.len(),
                },
                "open stopped early",
            )
        });
        return Err(if loaded_derived {
            Refused::AfterDerived(error)
        } else {
            Refused::Other(error)
        });
    };
    let segments = u32::try_from(engine.extent().len()).unwrap_or(u32::MAX);
    sealer.finish(&mut index, segments);
    let counts = OpenCounts {
        sealed_loaded: report.sealed_loaded,
        sealed_written: sealer.written,
        events_rescanned: sealer.scanned,
    };
    let events = index.len();
    let lost_events = check_extent(&*fs, &config, writable, events)?;
    let core = Arc::new(Core {
        table_files: segmented.then_some(shared_files),
        config,
        writable,
        fs,
        engine,
        index: RwLock::new(index),
        writer: Mutex::new(WriteScratch::default()),
        sync_state: Mutex::new(false),
        flusher: std::sync::OnceLock::new(),
        sealer: Mutex::new(None),
        sync_done: Condvar::new(),
        appended: AtomicU64::new(events),
        durable: AtomicU64::new(events),
        in_flight: AtomicU64::new(0),
        appending: AtomicU64::new(0),
        poisoned: AtomicBool::new(false),
        index_disagreed: AtomicBool::new(false),
        syncs: AtomicU64::new(0),
        // An open from a checkpoint counts as one (the segments it indexed
        // past it are at most one interval); any other open as none.
        positions_in_place: AtomicBool::new(true),
        checkpoint_bytes: AtomicU64::new(0),
        checkpoints_at_rotation: AtomicU64::new(0),
        checkpointed_before: AtomicU32::new(if report.from_checkpoint { segments } else { 1 }),
        truncated_bytes: report.truncated_bytes,
        from_checkpoint: report.from_checkpoint,
        checkpoint_discarded: AtomicBool::new(false),
        lost_events,
        counts,
        on_durable,
        _lock: lock_file,
    });
    if (report.from_checkpoint || report.sealed_loaded > 0) && core.config.verify_on_open {
        discard_a_checkpoint_that_disagrees(&core)?;
    }
    Ok(core)
}

/// Holds the log to the extent recorded at the last clean close: a shorter
/// log is an error, or, in repair mode, a reported loss (and the new extent
/// is recorded). Returns the events lost.
fn check_extent(
    fs: &dyn FileSystem,
    config: &StoreConfig,
    writable: bool,
    events: u64,
) -> Result<u64, StoreError> {
    let Some(recorded) = extent::read(fs, &config.dir)? else {
        return Ok(0);
    };
    if events >= recorded {
        return Ok(0);
    }
    if !config.truncate_damaged_tail {
        return Err(StoreError::LogShorterThanRecorded {
            recorded,
            found: events,
        });
    }
    if writable {
        extent::write(fs, &config.dir, events)?;
    }
    Ok(recorded - events)
}

/// `verify_on_open` after a checkpoint or sealed indexes were loaded: damage
/// in the log is an error; an index that merely disagrees with an intact log
/// (a damaged or altered checkpoint or sealed index) is replaced by the index
/// rebuilt from the log, and the open says so in
/// `StoreStats::checkpoint_discarded`. (The verification itself rewrote
/// every sealed index that disagreed with its segment.)
fn discard_a_checkpoint_that_disagrees(core: &Core) -> Result<(), StoreError> {
    let verified = core.verify_against_log()?;
    if verified.only_the_index_is_wrong() {
        if core.writable {
            // Not to be trusted by a later open either.
            core.engine.remove_checkpoint()?;
        }
        *write_lock(&core.index) = verified.rebuilt;
        core.index_disagreed.store(false, Ordering::SeqCst);
        core.checkpoint_discarded.store(true, Ordering::SeqCst);
        return Ok(());
    }
    match verified.report.damage {
        Some(d) => Err(d.into()),
        None => Ok(()),
    }
}

/// Checks the store path, creates the directory when allowed, and locks the
/// directory itself: exclusively for a writer, shared for readers.
///
/// The lock is an `flock` on the directory's own descriptor, not on a file
/// inside it: files can be removed or replaced while a writer runs (and a
/// second writer would then lock the new file and open the same log), the
/// directory a writer holds open cannot. Renaming the directory moves the
/// lock with it.
fn lock_dir(config: &StoreConfig, writable: bool) -> Result<File, StoreError> {
    let dir = &config.dir;
    match std::fs::metadata(dir) {
        // `metadata` follows symlinks: a symlink to a directory is used as
        // that directory (documented in FORMAT.md).
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => return Err(StoreError::NotADirectory { path: dir.clone() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && writable && config.create => {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io("create directory", dir, e))?;
        }
        Err(e) => return Err(StoreError::io("open directory", dir, e)),
    }
    let handle = File::open(dir).map_err(|e| StoreError::io("open directory", dir, e))?;
    let locked = if writable {
        handle.try_lock()
    } else {
        handle.try_lock_shared()
    };
    match locked {
        Ok(()) => Ok(handle),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::StoreLocked { dir: dir.clone() }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("lock directory", dir, e)),
    }
}
