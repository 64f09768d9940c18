//! The redb backend: the event log in one redb file, and a persistent
//! projection cache.
//!
//! [`RedbLog`] is the engine-specific half of the key-value engine in
//! `kv.rs`: tables `events` (u64 position → CRC ‖ body) and `meta`. Every
//! write transaction commits with [`redb::Durability::Immediate`], so it is
//! on disk when `commit` returns (redb's own promise); the buffering that
//! makes `SyncPolicy::EveryN`/`Manual` fast lives in `kv.rs`, never in redb
//! non-durable commits. redb refuses a second open of the same file; the
//! store's lock file already keeps one writer per directory.
//!
//! [`RedbCache`] stores projection states under their [`CacheKey`]; each
//! `put` and `remove` is one durable transaction. It never interprets or
//! checks a value (the projection layer frames and checks its bytes).
//!
//! Must never: hold a write transaction across calls, or report success
//! for a commit that failed.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{
    Database, ReadOnlyDatabase, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition,
};

use std::ops::ControlFlow;

use super::kv::{KvLog, RangeVisitor, RecordVisitor};
use crate::store::backend::Backend;
use crate::store::cache::{CacheKey, ProjectionCache};
use crate::store::error::StoreError;

const EVENTS: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");
const CACHE: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("projections");

fn engine_err(op: &'static str, e: impl Into<redb::Error>) -> StoreError {
    let e: redb::Error = e.into();
    StoreError::Engine {
        backend: Backend::Redb,
        op,
        source: Box::new(e),
    }
}

/// A writable or read-only redb database.
enum Db {
    Rw(Database),
    Ro(ReadOnlyDatabase),
}

impl Db {
    fn begin_read(&self) -> Result<redb::ReadTransaction, StoreError> {
        match self {
            Self::Rw(db) => db.begin_read(),
            Self::Ro(db) => db.begin_read(),
        }
        .map_err(|e| engine_err("begin read", e))
    }

    fn writer(&self) -> Result<&Database, StoreError> {
        match self {
            Self::Rw(db) => Ok(db),
            Self::Ro(_) => Err(StoreError::ReadOnly),
        }
    }
}

/// The event log in a redb database file.
pub(crate) struct RedbLog {
    db: Db,
    path: PathBuf,
}

impl fmt::Debug for RedbLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbLog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbLog {
    /// Opens (creating when `writable`) the database at `path`. A writable
    /// open creates both tables in one durable transaction, so readers
    /// never meet a missing table.
    pub(crate) fn open(path: &Path, writable: bool) -> Result<Self, StoreError> {
        let db = if writable {
            let db = Database::create(path).map_err(|e| engine_err("open", e))?;
            // Create the tables once (a durable commit); a reopen only reads,
            // so a clean reopen costs no fsync.
            let read = db.begin_read().map_err(|e| engine_err("begin read", e))?;
            let exists = read.open_table(EVENTS).is_ok() && read.open_table(META).is_ok();
            drop(read);
            if !exists {
                let txn = db.begin_write().map_err(|e| engine_err("begin write", e))?;
                txn.open_table(EVENTS)
                    .map_err(|e| engine_err("open table", e))?;
                txn.open_table(META)
                    .map_err(|e| engine_err("open table", e))?;
                txn.commit().map_err(|e| engine_err("commit", e))?;
            }
            Db::Rw(db)
        } else {
            Db::Ro(ReadOnlyDatabase::open(path).map_err(|e| engine_err("open", e))?)
        };
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn events(&self) -> Result<redb::ReadOnlyTable<u64, &'static [u8]>, StoreError> {
        self.db
            .begin_read()?
            .open_table(EVENTS)
            .map_err(|e| engine_err("open table", e))
    }
}

impl KvLog for RedbLog {
    fn commit(&self, records: &mut dyn Iterator<Item = (u64, &[u8])>) -> Result<(), StoreError> {
        let db = self.db.writer()?;
        let mut txn = db.begin_write().map_err(|e| engine_err("begin write", e))?;
        // Immediate is redb's default; set it so the promise is explicit.
        txn.set_durability(redb::Durability::Immediate)
            .map_err(|e| engine_err("set durability", e))?;
        {
            let mut table = txn
                .open_table(EVENTS)
                .map_err(|e| engine_err("open table", e))?;
            for (position, value) in records {
                table
                    .insert(position, value)
                    .map_err(|e| engine_err("insert", e))?;
            }
        }
        txn.commit().map_err(|e| engine_err("commit", e))
    }

    fn get(&self, position: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        let table = self.events()?;
        let Some(value) = table.get(position).map_err(|e| engine_err("read", e))? else {
            return Ok(false);
        };
        out.clear();
        out.extend_from_slice(value.value());
        Ok(true)
    }

    fn read_ranges(
        &self,
        ranges: &[(u64, u64)],
        visit: &mut RangeVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let table = self.events()?;
        for (run, &(first, last)) in ranges.iter().enumerate() {
            for row in table
                .range(first..=last)
                .map_err(|e| engine_err("read", e))?
            {
                let (key, value) = row.map_err(|e| engine_err("read", e))?;
                if visit(run, key.value(), value.value())?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn scan(&self, visit: &mut RecordVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        let table = self.events()?;
        for row in table.iter().map_err(|e| engine_err("read", e))? {
            let (key, value) = row.map_err(|e| engine_err("read", e))?;
            if visit(key.value(), value.value())?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn bounds(&self) -> Result<(u64, Option<(u64, u64)>), StoreError> {
        let table = self.events()?;
        let count = table.len().map_err(|e| engine_err("read", e))?;
        let first = table.first().map_err(|e| engine_err("read", e))?;
        let last = table.last().map_err(|e| engine_err("read", e))?;
        Ok((
            count,
            first.zip(last).map(|(f, l)| (f.0.value(), l.0.value())),
        ))
    }

    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self
            .db
            .begin_read()?
            .open_table(META)
            .map_err(|e| engine_err("open table", e))?;
        let value = table.get(key).map_err(|e| engine_err("read", e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let db = self.db.writer()?;
        let txn = db.begin_write().map_err(|e| engine_err("begin write", e))?;
        {
            let mut table = txn
                .open_table(META)
                .map_err(|e| engine_err("open table", e))?;
            table
                .insert(key, value)
                .map_err(|e| engine_err("insert", e))?;
        }
        txn.commit().map_err(|e| engine_err("commit", e))
    }

    fn disk_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }
}

/// A projection cache in a redb database file: survives restarts; every
/// `put`/`remove` is durable when it returns.
///
/// ```
/// use batpak::{CacheKey, ProjectionCache, RedbCache};
/// let dir = tempfile::tempdir()?;
/// let cache = RedbCache::open(dir.path().join("projections.redb"))?;
/// cache.put(&CacheKey([1; 32]), b"state")?;
/// assert_eq!(cache.get(&CacheKey([1; 32]))?, Some(b"state".to_vec()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedbCache {
    db: Database,
    path: PathBuf,
}

impl fmt::Debug for RedbCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedbCache")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl RedbCache {
    /// Opens (creating if missing) the cache file at `path`.
    ///
    /// # Errors
    /// [`StoreError::Engine`] when redb cannot open or create the file
    /// (also when this or another process already has it open).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref();
        let db = Database::create(path).map_err(|e| engine_err("open cache", e))?;
        let txn = db.begin_write().map_err(|e| engine_err("begin write", e))?;
        txn.open_table(CACHE)
            .map_err(|e| engine_err("open table", e))?;
        txn.commit().map_err(|e| engine_err("commit", e))?;
        Ok(Self {
            db,
            path: path.to_path_buf(),
        })
    }

    fn write(
        &self,
        change: impl FnOnce(
            &mut redb::Table<'_, &'static [u8], &'static [u8]>,
        ) -> Result<(), redb::StorageError>,
    ) -> Result<(), StoreError> {
        let txn = self
            .db
            .begin_write()
            .map_err(|e| engine_err("begin write", e))?;
        {
            let mut table = txn
                .open_table(CACHE)
                .map_err(|e| engine_err("open table", e))?;
            change(&mut table).map_err(|e| engine_err("write cache", e))?;
        }
        txn.commit().map_err(|e| engine_err("commit", e))
    }
}

impl ProjectionCache for RedbCache {
    fn get(&self, key: &CacheKey) -> Result<Option<Vec<u8>>, StoreError> {
        let table = self
            .db
            .begin_read()
            .map_err(|e| engine_err("begin read", e))?
            .open_table(CACHE)
            .map_err(|e| engine_err("open table", e))?;
        let value = table
            .get(key.0.as_slice())
            .map_err(|e| engine_err("read cache", e))?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    fn put(&self, key: &CacheKey, value: &[u8]) -> Result<(), StoreError> {
        self.write(|t| t.insert(key.0.as_slice(), value).map(drop))
    }

    fn remove(&self, key: &CacheKey) -> Result<(), StoreError> {
        self.write(|t| t.remove(key.0.as_slice()).map(drop))
    }
}
