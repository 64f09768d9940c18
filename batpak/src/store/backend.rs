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

use std::fmt;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use super::config::StoreConfig;
use super::engine::{FrameVisitor, LogEngine, OpenReport};
use super::error::StoreError;
use super::segment::SegmentEngine;
use super::segment::format::parse_segment_file_name;
use super::segment::fs::SegmentFs;

/// Name of the marker file that records the engine of a store directory.
pub const BACKEND_FILE: &str = "BACKEND";
const BACKEND_TMP: &str = "BACKEND.tmp";
/// First word of the marker; the engine name follows.
const MARKER_PREFIX: &str = "batpak-backend v1 ";

/// The storage engine that holds a store's log.
///
/// Every variant exists in every build so that a directory's marker can
/// always be named in an error; opening with `Redb` or `Lmdb` needs the
/// `redb` or `lmdb` feature, else [`StoreError::BackendUnavailable`].
/// `TUNING.md` ("Choosing a backend") has the measured trade-offs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Backend {
    /// batpak's own append-only segment files (the default).
    #[default]
    Segment,
    /// One redb database file, `log.redb` (feature `redb`).
    Redb,
    /// One LMDB environment, directory `log.lmdb` (feature `lmdb`).
    Lmdb,
}

impl Backend {
    /// The name written in the marker file and shown in messages.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Segment => "segment",
            Self::Redb => "redb",
            Self::Lmdb => "lmdb",
        }
    }

    /// Whether this build can open the backend (its feature is enabled).
    #[must_use]
    pub fn is_available(self) -> bool {
        match self {
            Self::Segment => true,
            Self::Redb => cfg!(feature = "redb"),
            Self::Lmdb => cfg!(feature = "lmdb"),
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "segment" => Some(Self::Segment),
            "redb" => Some(Self::Redb),
            "lmdb" => Some(Self::Lmdb),
            _ => None,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Reads the marker, or recognises a marker-less directory by its files.
fn found_backend(dir: &Path) -> Result<Option<Backend>, StoreError> {
    let path = dir.join(BACKEND_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let name = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|s| s.strip_prefix(MARKER_PREFIX))
                .map(str::trim_end);
            return match name.and_then(Backend::from_name) {
                Some(b) => Ok(Some(b)),
                None => Err(StoreError::corrupt(
                    0,
                    0,
                    format!("backend marker {} is unreadable", path.display()),
                )),
            };
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io("read", &path, e)),
    }
    let entries = std::fs::read_dir(dir).map_err(|e| StoreError::io("list", dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StoreError::io("list", dir, e))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
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

fn write_marker(dir: &Path, backend: Backend) -> Result<(), StoreError> {
    let tmp = dir.join(BACKEND_TMP);
    let path = dir.join(BACKEND_FILE);
    let mut file = File::create(&tmp).map_err(|e| StoreError::io("create", &tmp, e))?;
    file.write_all(format!("{MARKER_PREFIX}{}\n", backend.name()).as_bytes())
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| StoreError::io("rename", &path, e))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Refuses a directory that belongs to another backend (or to one this
/// build lacks). Returns true when the directory has no store yet, so the
/// marker must be written once the engine has opened.
fn check_marker(config: &StoreConfig) -> Result<bool, StoreError> {
    let requested = config.backend;
    let found = found_backend(&config.dir)?;
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

/// An opened engine and what its open found.
pub(crate) type Opened = (Box<dyn LogEngine>, OpenReport);

/// Checks the directory's backend, opens the engine `config` chooses (same
/// contract as [`SegmentEngine::open`]) and, for a new store, writes the
/// marker. Runs with the directory lock held.
pub(crate) fn open_engine(
    fs: Arc<dyn SegmentFs>,
    config: &StoreConfig,
    writable: bool,
    try_checkpoint: &mut dyn FnMut(&[u8], &[u64]) -> bool,
    visit: &mut FrameVisitor<'_>,
) -> Result<Opened, StoreError> {
    let fresh = check_marker(config)?;
    let opened = open_chosen(fs, config, writable, try_checkpoint, visit)?;
    // Only a new store gets a marker, and only after its engine opened: a
    // refused or failed open leaves the directory as it was, and a store
    // from before markers is recognised by its files instead.
    if fresh && writable {
        write_marker(&config.dir, config.backend)?;
    }
    Ok(opened)
}

fn open_chosen(
    fs: Arc<dyn SegmentFs>,
    config: &StoreConfig,
    writable: bool,
    try_checkpoint: &mut dyn FnMut(&[u8], &[u64]) -> bool,
    visit: &mut FrameVisitor<'_>,
) -> Result<Opened, StoreError> {
    match config.backend {
        Backend::Segment => {
            let (engine, report) =
                SegmentEngine::open(fs, config, writable, try_checkpoint, visit)?;
            Ok((Box::new(engine), report))
        }
        // A read-only open of a directory without the engine's files is an
        // empty store, as it is for segments.
        #[cfg(any(feature = "redb", feature = "lmdb"))]
        Backend::Redb | Backend::Lmdb
            if !writable && !config.dir.join(engine_path(config.backend)).exists() =>
        {
            let (engine, report) =
                super::kv::KvEngine::open(super::kv::EmptyLog, false, try_checkpoint, visit)?;
            Ok((Box::new(engine), report))
        }
        #[cfg(feature = "redb")]
        Backend::Redb => {
            let log = super::redb::RedbLog::open(&config.dir.join(REDB_FILE), writable)?;
            let (engine, report) = super::kv::KvEngine::open(log, writable, try_checkpoint, visit)?;
            Ok((Box::new(engine), report))
        }
        #[cfg(feature = "lmdb")]
        Backend::Lmdb => {
            let log = super::lmdb::LmdbLog::open(&config.dir.join(LMDB_DIR), writable)?;
            let (engine, report) = super::kv::KvEngine::open(log, writable, try_checkpoint, visit)?;
            Ok((Box::new(engine), report))
        }
        #[allow(unreachable_patterns)]
        other => Err(StoreError::BackendUnavailable { backend: other }),
    }
}
