//! The LMDB backend (via heed): the event log in one LMDB environment, and
//! a persistent projection cache.
//!
//! [`LmdbLog`] is the engine-specific half of the key-value engine in
//! `kv.rs`: databases `events` (8-byte big-endian position → CRC ‖ body,
//! appended with `MDB_APPEND`) and `meta`. The environment is opened with
//! LMDB's default flags, so every commit fsyncs before it returns (no
//! `NO_SYNC`/`NO_META_SYNC`: those trade integrity after a power loss). The
//! buffering that makes `SyncPolicy::EveryN`/`Manual` fast lives in
//! `kv.rs`.
//!
//! This is the one module where `unsafe` is allowed: heed marks opening an
//! environment (and setting its flags) `unsafe` because the memory map is
//! undefined behaviour if the file is changed behind LMDB's back. Every
//! `unsafe` block says why that cannot happen here. It must never open an
//! environment with unsafe flags (`NO_LOCK`, `NO_SYNC`, `WRITE_MAP`), never
//! modify LMDB files except through LMDB, and never hold a transaction
//! across calls.
#![allow(unsafe_code)]

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, PutFlags, WithoutTls};

use std::ops::ControlFlow;

use super::kv::{KvLog, RangeVisitor, RecordVisitor};
use crate::store::backend::Backend;
use crate::store::cache::{CacheKey, ProjectionCache};
use crate::store::error::{Place, StoreError};
use crate::store::lock::lock;

/// Address space reserved for the map. LMDB never grows a file beyond its
/// data; this is only the ceiling a log can reach (1 TiB, virtual memory on
/// a 64-bit machine) before commits fail with `MDB_MAP_FULL`.
const LOG_MAP_SIZE: usize = 1 << 40;
/// Ceiling for a projection cache (64 GiB of address space).
const CACHE_MAP_SIZE: usize = 64 << 30;

type Table = Database<Bytes, Bytes>;

fn engine_err(op: &'static str, e: heed::Error) -> StoreError {
    StoreError::Engine {
        backend: Backend::Lmdb,
        op,
        source: Box::new(e),
    }
}

/// Opens the environment in directory `path` (created when `writable`).
fn open_env(path: &Path, writable: bool, map_size: usize) -> Result<Env<WithoutTls>, StoreError> {
    if writable {
        std::fs::create_dir_all(path).map_err(|e| StoreError::io("create directory", path, e))?;
    }
    // Read transactions are not tied to a thread slot, so any thread may
    // read while another holds a read transaction (no MDB_BAD_RSLOT).
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_dbs(2);
    if !writable {
        // SAFETY: READ_ONLY only stops this handle from writing; it is not
        // one of the flags heed's `flags` warns about (NO_SYNC,
        // NO_META_SYNC, NO_LOCK) and keeps LMDB's locking intact.
        unsafe {
            options.flags(EnvFlags::READ_ONLY);
        }
    }
    // SAFETY: the map is undefined behaviour only if the files are changed
    // behind LMDB's back or the environment is opened twice in one process.
    // The log environment lives inside a store directory whose lock file
    // (`Store::open`) admits one writer, and heed itself refuses a second
    // open of the same path in this process (`EnvAlreadyOpened`); batpak
    // changes these files only through LMDB, with LMDB's own lock file
    // active (no NO_LOCK), so other processes are coordinated by LMDB.
    // Read-only stores of one process share one handle (`READERS`).
    unsafe { options.open(path) }.map_err(|e| engine_err("open", e))
}

/// The event log in an LMDB environment.
pub(crate) struct LmdbLog {
    env: Env<WithoutTls>,
    events: Table,
    meta: Table,
    path: PathBuf,
    /// Keeps this process's shared read-only handle alive (read-only opens).
    _reader: Option<Arc<Reader>>,
}

/// A read-only log environment shared by every read-only store of this
/// process on one directory (LMDB allows one handle per process and path).
struct Reader {
    env: Env<WithoutTls>,
    events: Table,
    meta: Table,
}

/// Live read-only handles by canonical path. A writable open never shares:
/// the store's lock file keeps writers and readers of one directory apart.
static READERS: Mutex<Vec<(PathBuf, Weak<Reader>)>> = Mutex::new(Vec::new());

impl fmt::Debug for LmdbLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LmdbLog {
    /// Opens (creating when `writable`) the environment in directory `path`.
    /// Read-only opens in one process share one handle.
    pub(crate) fn open(path: &Path, writable: bool) -> Result<Self, StoreError> {
        if !writable {
            return Self::open_shared_reader(path);
        }
        let env = open_env(path, true, LOG_MAP_SIZE)?;
        // Reader slots left by a crashed process would pin old pages and
        // make the file grow; LMDB frees them only when asked.
        env.clear_stale_readers()
            .map_err(|e| engine_err("clear stale readers", e))?;
        let mut txn = env.write_txn().map_err(|e| engine_err("begin write", e))?;
        let events: Table = env
            .create_database(&mut txn, Some("events"))
            .map_err(|e| engine_err("create database", e))?;
        let meta: Table = env
            .create_database(&mut txn, Some("meta"))
            .map_err(|e| engine_err("create database", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))?;
        Ok(Self {
            env,
            events,
            meta,
            path: path.to_path_buf(),
            _reader: None,
        })
    }

    fn open_shared_reader(path: &Path) -> Result<Self, StoreError> {
        let canonical = path
            .canonicalize()
            .map_err(|e| StoreError::io("open", path, e))?;
        // Held across the open so two readers cannot both open the path.
        let mut readers = lock(&READERS);
        readers.retain(|(_, weak)| weak.strong_count() > 0);
        let live = readers
            .iter()
            .find(|(p, _)| *p == canonical)
            .and_then(|(_, weak)| weak.upgrade());
        let reader = match live {
            Some(reader) => reader,
            None => {
                let env = open_env(path, false, LOG_MAP_SIZE)?;
                let txn = env.read_txn().map_err(|e| engine_err("begin read", e))?;
                let missing = || {
                    StoreError::corrupt(
                        Place::Database {
                            backend: Backend::Lmdb,
                        },
                        "environment has no events database",
                    )
                };
                let events: Table = env
                    .open_database(&txn, Some("events"))
                    .map_err(|e| engine_err("open database", e))?
                    .ok_or_else(missing)?;
                let meta: Table = env
                    .open_database(&txn, Some("meta"))
                    .map_err(|e| engine_err("open database", e))?
                    .ok_or_else(missing)?;
                txn.commit().map_err(|e| engine_err("commit", e))?;
                let reader = Arc::new(Reader { env, events, meta });
                readers.push((canonical, Arc::downgrade(&reader)));
                reader
            }
        };
        Ok(Self {
            env: reader.env.clone(),
            events: reader.events,
            meta: reader.meta,
            path: path.to_path_buf(),
            _reader: Some(reader),
        })
    }
}

fn key_position(key: &[u8]) -> u64 {
    let mut be = [0u8; 8];
    if let Some(k) = key.get(..8) {
        be.copy_from_slice(k);
    }
    u64::from_be_bytes(be)
}

impl KvLog for LmdbLog {
    fn commit(&self, records: &mut dyn Iterator<Item = (u64, &[u8])>) -> Result<(), StoreError> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| engine_err("begin write", e))?;
        for (position, value) in records {
            // Keys only grow: APPEND skips the B-tree search and fails
            // (MDB_KEYEXIST) rather than overwrite an existing position.
            self.events
                .put_with_flags(&mut txn, PutFlags::APPEND, &position.to_be_bytes(), value)
                .map_err(|e| engine_err("put", e))?;
        }
        // Default flags: commit returns after LMDB's fsync of data and meta.
        txn.commit().map_err(|e| engine_err("commit", e))
    }

    fn get(&self, position: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        let value = self
            .events
            .get(&txn, &position.to_be_bytes())
            .map_err(|e| engine_err("read", e))?;
        let Some(value) = value else {
            return Ok(false);
        };
        out.clear();
        out.extend_from_slice(value);
        Ok(true)
    }

    fn read_ranges(
        &self,
        ranges: &[(u64, u64)],
        visit: &mut RangeVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        for (run, &(first, last)) in ranges.iter().enumerate() {
            let lo = first.to_be_bytes();
            let hi = last.to_be_bytes();
            let range = (
                std::ops::Bound::Included(&lo[..]),
                std::ops::Bound::Included(&hi[..]),
            );
            for row in self
                .events
                .range(&txn, &range)
                .map_err(|e| engine_err("read", e))?
            {
                let (key, value) = row.map_err(|e| engine_err("read", e))?;
                if visit(run, key_position(key), value)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn scan(&self, visit: &mut RecordVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        for row in self.events.iter(&txn).map_err(|e| engine_err("read", e))? {
            let (key, value) = row.map_err(|e| engine_err("read", e))?;
            if key.len() != 8 {
                return Err(StoreError::corrupt(
                    Place::Database {
                        backend: Backend::Lmdb,
                    },
                    "event key is not 8 bytes",
                ));
            }
            if visit(key_position(key), value)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn bounds(&self) -> Result<(u64, Option<(u64, u64)>), StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        let count = self.events.len(&txn).map_err(|e| engine_err("read", e))?;
        let first = self.events.first(&txn).map_err(|e| engine_err("read", e))?;
        let last = self.events.last(&txn).map_err(|e| engine_err("read", e))?;
        Ok((
            count,
            first
                .zip(last)
                .map(|(f, l)| (key_position(f.0), key_position(l.0))),
        ))
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        let value = self
            .meta
            .get(&txn, key.as_bytes())
            .map_err(|e| engine_err("read", e))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| engine_err("begin write", e))?;
        self.meta
            .put(&mut txn, key.as_bytes(), value)
            .map_err(|e| engine_err("put", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(self.path.join("data.mdb")).map_or(0, |m| m.len())
    }
}

/// A projection cache in an LMDB environment (a directory): survives
/// restarts; every `put`/`remove` is durable when it returns.
///
/// ```
/// use batpak::{CacheKey, LmdbCache, ProjectionCache};
/// let dir = tempfile::tempdir()?;
/// let cache = LmdbCache::open(dir.path().join("projections.lmdb"))?;
/// cache.put(&CacheKey([1; 32]), b"state")?;
/// assert_eq!(cache.get(&CacheKey([1; 32]))?, Some(b"state".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct LmdbCache {
    env: Env<WithoutTls>,
    table: Table,
    path: PathBuf,
}

impl fmt::Debug for LmdbCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LmdbCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LmdbCache {
    /// Opens (creating if missing) the cache environment in directory
    /// `path`. Other processes may open the same cache (LMDB coordinates
    /// them); a second open in this process is refused.
    ///
    /// # Errors
    /// [`StoreError::Io`] when the directory cannot be created,
    /// [`StoreError::Engine`] when LMDB cannot open it (also when this
    /// process already has it open).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let env = open_env(path, true, CACHE_MAP_SIZE)?;
        let mut txn = env.write_txn().map_err(|e| engine_err("begin write", e))?;
        let table: Table = env
            .create_database(&mut txn, Some("projections"))
            .map_err(|e| engine_err("create database", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))?;
        Ok(Self {
            env,
            table,
            path: path.to_path_buf(),
        })
    }
}

impl ProjectionCache for LmdbCache {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self
            .env
            .read_txn()
            .map_err(|e| engine_err("begin read", e))?;
        let value = self
            .table
            .get(&txn, &key.0)
            .map_err(|e| engine_err("read cache", e))?;
        Ok(value.map(<[u8]>::to_vec))
    }

    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| engine_err("begin write", e))?;
        self.table
            .put(&mut txn, &key.0, value)
            .map_err(|e| engine_err("write cache", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))
    }

    fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        let mut txn = self
            .env
            .write_txn()
            .map_err(|e| engine_err("begin write", e))?;
        self.table
            .delete(&mut txn, &key.0)
            .map_err(|e| engine_err("write cache", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))
    }
}
