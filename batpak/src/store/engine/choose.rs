//! Which log engine holds a store, and the marker that records it.
//!
//! A store directory is written by exactly one engine for its whole life.
//! The writable open that creates a store records the engine in a small
//! marker file (`BACKEND`), written durably (temp file, fsync, rename, fsync
//! directory) before that open returns, so before any event is
//! acknowledged; every later open compares it with the requested engine and
//! refuses a mismatch with [`StoreError::BackendMismatch`], touching
//! nothing. A directory without a marker (from before markers, or a crash
//! between the engine's first file and the marker) is recognised by the
//! engine's files. This module must never open an engine on a directory
//! that belongs to another, and never rewrite an existing marker.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use super::segment::SegmentEngine;
use super::segment::format::parse_segment_file_name;
use super::{LogEngine, OpenReport, OpenVisitors};
use crate::store::backend::Backend;
use crate::store::config::StoreConfig;
use crate::store::error::{Place, StoreError};
use crate::store::fs::{FileSystem, replace_atomically};

/// Name of the marker file that records the engine of a store directory.
pub const BACKEND_FILE: &str = "BACKEND";
/// First word of the marker; the engine name follows.
const MARKER_PREFIX: &str = "batpak-backend v1 ";

/// Reads the marker, or recognises a marker-less directory by its files.
fn found_backend(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Backend>, StoreError> {
    let path = dir.join(BACKEND_FILE);
    match fs.read(&path) {
        Ok(bytes) => {
            let name = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.strip_prefix(MARKER_PREFIX))
                .map(str::trim_end);
            return match name.and_then(Backend::from_name) {
                Some(b) => Ok(Some(b)),
                None => Err(StoreError::corrupt(
                    Place::File { path },
                    "the backend marker is unreadable",
                )),
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("read", &path, e)),
    }
    let names = fs.list(dir).map_err(|e| StoreError::io("list", dir, e))?;
    for name in &names {
        if parse_segment_file_name(name).is_some() || name == super::segment::CHECKPOINT_FILE {
            return Ok(Some(Backend::Segment));
        }
        if name == REDB_FILE {
            return Ok(Some(Backend::Redb));
        }
        if name == LMDB_DIR {
            return Ok(Some(Backend::Lmdb));
        }
    }
    Ok(None)
}

/// Where a key-value backend keeps its log inside a store directory.
#[cfg(any(feature = "redb", feature = "lmdb"))]
fn engine_path(backend: Backend) -> &'static str {
    match backend {
        Backend::Lmdb => LMDB_DIR,
        _ => REDB_FILE,
    }
}

/// File name of the redb log database inside a store directory.
pub(crate) const REDB_FILE: &str = "log.redb";
/// Directory name of the LMDB log environment inside a store directory.
pub(crate) const LMDB_DIR: &str = "log.lmdb";

fn write_marker(fs: &dyn FileSystem, dir: &Path, backend: Backend) -> Result<(), StoreError> {
    let marker = format!("{MARKER_PREFIX}{}\n", backend.name());
    replace_atomically(fs, &dir.join(BACKEND_FILE), marker.as_bytes())
}

/// Refuses a directory that belongs to another backend (or to one this
/// build lacks). Returns true when the directory has no store yet, so the
/// marker must be written once the engine has opened.
fn check_marker(fs: &dyn FileSystem, config: &StoreConfig) -> Result<bool, StoreError> {
    let requested = config.backend;
    let found = found_backend(fs, &config.dir)?;
    if let Some(found) = found
        && found != requested
    {
        return Err(StoreError::BackendMismatch { found, requested });
    }
    if !requested.is_available() {
        return Err(StoreError::BackendUnavailable { backend: requested });
    }
    Ok(found.is_none())
}

/// An opened engine and what its open found; `Break` when the frame visitor
/// refused a frame (the caller knows why).
pub(crate) type Opened = ControlFlow<(), (Box<dyn LogEngine>, OpenReport)>;

/// Checks the directory's backend, opens the engine `config` chooses (same
/// contract as [`SegmentEngine::open`]) and, for a new store, writes the
/// marker. Runs with the directory lock held.
pub(crate) fn open_engine(
    fs: Arc<dyn FileSystem>,
    config: &StoreConfig,
    writable: bool,
    visitors: OpenVisitors<'_>,
) -> Result<Opened, StoreError> {
    let fresh = check_marker(&*fs, config)?;
    let opened = open_chosen(Arc::clone(&fs), config, writable, visitors)?;
    // Only a new store gets a marker, and only after its engine opened: a
    // refused or failed open leaves the directory as it was, and a store
    // from before markers is recognised by its files instead.
    if fresh && writable && opened.is_continue() {
        write_marker(&*fs, &config.dir, config.backend)?;
    }
    Ok(opened)
}

/// An opened engine behind the seam's trait object.
fn boxed<E: LogEngine + 'static>(opened: ControlFlow<(), (E, OpenReport)>) -> Opened {
    opened.map_continue(|(engine, report)| (Box::new(engine) as Box<dyn LogEngine>, report))
}

fn open_chosen(
    fs: Arc<dyn FileSystem>,
    config: &StoreConfig,
    writable: bool,
    visitors: OpenVisitors<'_>,
) -> Result<Opened, StoreError> {
    // Key-value engines have no sealed segments, nor prefix checkpoints:
    // they take the checkpoint and frame visitors only.
    match config.backend {
        Backend::Segment => Ok(boxed(SegmentEngine::open(fs, config, writable, visitors)?)),
        // A read-only open of a directory without the engine's files is an
        // empty store, as it is for segments.
        #[cfg(any(feature = "redb", feature = "lmdb"))]
        Backend::Redb | Backend::Lmdb
            if !writable && !config.dir.join(engine_path(config.backend)).exists() =>
        {
            let opened = super::kv::KvEngine::open(
                super::kv::EmptyLog,
                config.backend,
                false,
                visitors.try_checkpoint,
                visitors.visit,
            )?;
            Ok(boxed(opened))
        }
        #[cfg(feature = "redb")]
        Backend::Redb => {
            let log = super::redb::RedbLog::open(&config.dir.join(REDB_FILE), writable)?;
            let opened = super::kv::KvEngine::open(
                log,
                Backend::Redb,
                writable,
                visitors.try_checkpoint,
                visitors.visit,
            )?;
            Ok(boxed(opened))
        }
        #[cfg(feature = "lmdb")]
        Backend::Lmdb => {
            let log = super::lmdb::LmdbLog::open(&config.dir.join(LMDB_DIR), writable)?;
            let opened = super::kv::KvEngine::open(
                log,
                Backend::Lmdb,
                writable,
                visitors.try_checkpoint,
                visitors.visit,
            )?;
            Ok(boxed(opened))
        }
        #[allow(unreachable_patterns)]
        other => Err(StoreError::BackendUnavailable { backend: other }),
    }
}
