//! A log engine over a transactional key-value store (redb, LMDB).
//!
//! The key-value store keeps one record per global position (key: the
//! position, big-endian; value: CRC-32 of position and body, then the body)
//! and a small meta table (format version, index checkpoint). Appends are
//! buffered in memory, whole calls at a time, and committed together in one
//! durable transaction by `sync`, `flush`, or when the buffer passes
//! [`COMMIT_THRESHOLD`]. Every commit is durable, so the store's
//! [`SyncPolicy`](crate::SyncPolicy) table holds exactly as for segments:
//! what a power loss or a process crash can take is the buffer, never a
//! committed transaction, and never part of an `append` call (a call is
//! never split across transactions).
//!
//! Group commit: a commit takes the whole buffer out (it becomes
//! `inflight`), releases the lock and commits, so appenders keep buffering
//! during the fsync and the next commit covers all of them at once.
//!
//! Invariants: keys are gapless from 0 (checked at open); positions below
//! `committed` are in the store; the rest are in `inflight` or `pending`
//! (in that order, contiguous); a reader that finds a position in neither
//! reads the store (a commit moved it). Commits are serialized by
//! `commit_lock`. After a failed commit the engine is poisoned and refuses
//! appends and syncs; nothing of the failed batch is acknowledged durable. This module
//! never interprets a body (all event semantics stay in the core).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{BodyBatch, BodyVisitor, CheckpointVisitor, FrameVisitor, Loc, LogEngine, OpenReport};
use crate::store::backend::Backend;
use crate::store::error::{Place, StoreError};
use crate::store::lock::lock;

/// Buffered bytes at which `append` commits without waiting for a sync
/// (bounds memory under `SyncPolicy::Manual`; 4 MiB is ~16k typical events).
pub(crate) const COMMIT_THRESHOLD: usize = 4 * 1024 * 1024;
/// Bytes before a body in a stored value: CRC-32 (little-endian).
const CRC_LEN: usize = 4;
/// Format of the records and meta keys below; a newer one is refused.
const KV_FORMAT_VERSION: u16 = 2;
/// Meta key of the format version (u16, little-endian).
pub(crate) const META_FORMAT: &str = "format";
/// Meta key of the index checkpoint.
pub(crate) const META_CHECKPOINT: &str = "checkpoint";

/// Called with (position, stored value) in ascending position order; a
/// break stops the scan.
pub(crate) type RecordVisitor<'a> =
    dyn FnMut(u64, &[u8]) -> Result<ControlFlow<()>, StoreError> + 'a;
/// Called with (index of the range, position, stored value) in the order
/// of the ranges, ascending within each; a break stops the read.
pub(crate) type RangeVisitor<'a> =
    dyn FnMut(usize, u64, &[u8]) -> Result<ControlFlow<()>, StoreError> + 'a;

/// What an engine-specific store must provide: durable transactions over
/// `position → value` and a small string-keyed meta table.
pub(crate) trait KvLog: Send + Sync {
    /// Writes every record in one transaction and returns only once the
    /// transaction is durable (fsync'd).
    fn commit(&self, records: &mut dyn Iterator<Item = (u64, &[u8])>) -> Result<(), StoreError>;
    /// Copies the value stored at `position` into `out`; false when absent.
    fn get(&self, position: u64, out: &mut Vec<u8>) -> Result<bool, StoreError>;
    /// Visits the records stored in each inclusive range of positions, in
    /// one read transaction (absent positions are simply not visited).
    fn read_ranges(
        &self,
        ranges: &[(u64, u64)],
        visit: &mut RangeVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError>;
    /// Visits every record in position order, in one read transaction.
    fn scan(&self, visit: &mut RecordVisitor<'_>) -> Result<ControlFlow<()>, StoreError>;
    /// Number of records, and the first and last key.
    fn bounds(&self) -> Result<(u64, Option<(u64, u64)>), StoreError>;
    /// A meta value.
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Durably replaces a meta value.
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Bytes the store occupies on disk.
    fn disk_bytes(&self) -> u64;
}

/// The log of a store that has no engine files yet, opened read-only: it
/// holds nothing and refuses writes (as an empty segment directory does).
#[derive(Debug)]
pub(crate) struct EmptyLog;

impl KvLog for EmptyLog {
    fn commit(&self, _: &mut dyn Iterator<Item = (u64, &[u8])>) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly)
    }
    fn get(&self, _: u64, _: &mut Vec<u8>) -> Result<bool, StoreError> {
        Ok(false)
    }
    fn read_ranges(
        &self,
        _: &[(u64, u64)],
        _: &mut RangeVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        Ok(ControlFlow::Continue(()))
    }
    fn scan(&self, _: &mut RecordVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        Ok(ControlFlow::Continue(()))
    }
    fn bounds(&self) -> Result<(u64, Option<(u64, u64)>), StoreError> {
        Ok((0, None))
    }
    fn meta_get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(None)
    }
    fn meta_put(&self, _: &str, _: &[u8]) -> Result<(), StoreError> {
        Err(StoreError::ReadOnly)
    }
    fn disk_bytes(&self) -> u64 {
        0
    }
}

fn crc(position: u64, body: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&position.to_be_bytes());
    h.update(body);
    h.finalize()
}

/// Splits positions into runs of consecutive ascending ones: `(first index,
/// first position, last position)` per run. The one place that decides how
/// a read becomes range scans, for every key-value engine.
fn consecutive_runs(positions: &[u64]) -> Vec<(usize, u64, u64)> {
    let mut runs: Vec<(usize, u64, u64)> = Vec::new();
    for (i, &p) in positions.iter().enumerate() {
        match runs.last_mut() {
            Some((_, _, last)) if last.checked_add(1) == Some(p) => *last = p,
            _ => runs.push((i, p, p)),
        }
    }
    runs
}

/// Calls not yet committed: stored values (CRC ‖ body) back to back.
#[derive(Debug, Default)]
struct Pending {
    /// Position of the first buffered record.
    first: u64,
    buf: Vec<u8>,
    ends: Vec<usize>,
}

impl Pending {
    fn value(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = match i.checked_sub(1) {
            Some(prev) => *self.ends.get(prev)?,
            None => 0,
        };
        self.buf.get(start..end)
    }

    fn end(&self) -> u64 {
        self.first + self.ends.len() as u64
    }
}

/// What is not yet committed: the calls being committed, then the rest.
#[derive(Debug, Default)]
struct Buffers {
    inflight: Option<Arc<Pending>>,
    pending: Pending,
}

impl Buffers {
    /// The stored value at `position`, if buffered.
    fn value(&self, position: u64) -> Option<&[u8]> {
        fn from(p: &Pending, position: u64) -> Option<&[u8]> {
            let i = usize::try_from(position.checked_sub(p.first)?).ok()?;
            p.value(i)
        }
        self.inflight
            .as_deref()
            .and_then(|p| from(p, position))
            .or_else(|| from(&self.pending, position))
    }
}

/// The buffered log engine over a [`KvLog`].
#[derive(Debug)]
pub(crate) struct KvEngine<K> {
    kv: K,
    backend: Backend,
    writable: bool,
    buffers: Mutex<Buffers>,
    commit_lock: Mutex<()>,
    /// Positions below this are committed.
    committed: AtomicU64,
    poisoned: AtomicBool,
}

impl<K: KvLog> KvEngine<K> {
    /// Opens the engine over `kv`: checks the format and that positions are
    /// gapless, then either hands the stored checkpoint to `try_checkpoint`
    /// (extent: the record count) or visits every record in order.
    pub(crate) fn open(
        kv: K,
        backend: Backend,
        writable: bool,
        try_checkpoint: &mut CheckpointVisitor<'_>,
        visit: &mut FrameVisitor<'_>,
    ) -> Result<ControlFlow<(), (Self, OpenReport)>, StoreError> {
        let record = |position| Place::Record { backend, position };
        match kv.meta_get(META_FORMAT)? {
            Some(v) => {
                let found = v
                    .get(..2)
                    .map_or(u16::MAX, |b| u16::from_le_bytes([b[0], b[1]]));
                if found != KV_FORMAT_VERSION {
                    return Err(StoreError::UnsupportedFormat {
                        found,
                        supported: KV_FORMAT_VERSION,
                    });
                }
            }
            None if writable => kv.meta_put(META_FORMAT, &KV_FORMAT_VERSION.to_le_bytes())?,
            None => {}
        }
        let (count, keys) = kv.bounds()?;
        if let Some((first, last)) = keys
            && (first != 0 || last + 1 != count)
        {
            return Err(StoreError::corrupt(
                record(first),
                format!("positions are not gapless: {count} records with keys {first}..={last}"),
            ));
        }
        let mut report = OpenReport::default();
        // A checkpoint is written only after everything is committed, and
        // records below the count never change: a matching count means the
        // checkpoint describes exactly this log.
        if let Some(bytes) = kv.meta_get(META_CHECKPOINT)?
            && try_checkpoint(&bytes, &[count], next_loc)
        {
            report.from_checkpoint = true;
        } else if scan_records(&kv, backend, visit)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
        let engine = Self {
            kv,
            backend,
            writable,
            buffers: Mutex::new(Buffers {
                inflight: None,
                pending: Pending {
                    first: count,
                    ..Pending::default()
                },
            }),
            commit_lock: Mutex::new(()),
            committed: AtomicU64::new(count),
            poisoned: AtomicBool::new(false),
        };
        Ok(ControlFlow::Continue((engine, report)))
    }

    /// The place of the record at `position`, for errors.
    fn record(&self, position: u64) -> Place {
        Place::Record {
            backend: self.backend,
            position,
        }
    }

    /// A buffered body must be as long as the index says.
    fn check_len(&self, loc: Loc, len: usize) -> Result<(), StoreError> {
        if len == loc.len as usize {
            return Ok(());
        }
        Err(StoreError::corrupt(
            self.record(loc.offset),
            format!("record holds {len} bytes, index expects {}", loc.len),
        ))
    }

    fn buffers(&self) -> MutexGuard<'_, Buffers> {
        // Every change under this lock is completed before any call that
        // could panic, so a poisoned lock still holds whole calls.
        lock(&self.buffers)
    }

    /// Commits everything buffered before this call in one durable
    /// transaction; appenders keep buffering meanwhile.
    fn commit(&self) -> Result<(), StoreError> {
        let _commit = lock(&self.commit_lock);
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let batch = {
            let mut buffers = self.buffers();
            if buffers.pending.ends.is_empty() {
                return Ok(());
            }
            let next = Pending {
                first: buffers.pending.end(),
                ..Pending::default()
            };
            let batch = Arc::new(std::mem::replace(&mut buffers.pending, next));
            buffers.inflight = Some(Arc::clone(&batch));
            batch
        };
        let first = batch.first;
        let mut records =
            (0..batch.ends.len()).filter_map(|i| batch.value(i).map(|v| (first + i as u64, v)));
        if let Err(e) = self.kv.commit(&mut records) {
            // The batch stays readable in `inflight`; nothing more commits.
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let mut buffers = self.buffers();
        self.committed.store(batch.end(), Ordering::SeqCst);
        buffers.inflight = None;
        Ok(())
    }

    /// The body at `position` if it is still buffered.
    fn read_buffered(&self, position: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        let buffers = self.buffers();
        let Some(value) = buffers.value(position) else {
            return Ok(false);
        };
        let body = checked(self.backend, position, value, None)?;
        out.clear();
        out.extend_from_slice(body);
        Ok(true)
    }
}

/// Records are keyed by global position: the frame at `position` is record
/// `position`, whatever came before it.
fn next_loc(_previous: Option<Loc>, _segment: u32, position: u64, len: u32) -> Loc {
    Loc {
        segment: 0,
        len,
        offset: position,
    }
}

/// Checks a stored value (its CRC, and its length against `want` when the
/// index knows it) and returns its body.
fn checked(
    backend: Backend,
    position: u64,
    value: &[u8],
    want: Option<u32>,
) -> Result<&[u8], StoreError> {
    let at = Place::Record { backend, position };
    let (sum, body) = value
        .split_at_checked(CRC_LEN)
        .ok_or_else(|| StoreError::corrupt(at.clone(), "record shorter than its checksum"))?;
    let mut stored = [0u8; CRC_LEN];
    stored.copy_from_slice(sum);
    if u32::from_le_bytes(stored) != crc(position, body) {
        return Err(StoreError::corrupt(at, "record checksum mismatch"));
    }
    match want {
        Some(len) if body.len() != len as usize => Err(StoreError::corrupt(
            at,
            format!("record holds {} bytes, index expects {len}", body.len()),
        )),
        _ => Ok(body),
    }
}

fn scan_records<K: KvLog>(
    kv: &K,
    backend: Backend,
    visit: &mut FrameVisitor<'_>,
) -> Result<ControlFlow<()>, StoreError> {
    let mut expected = 0u64;
    kv.scan(&mut |position, value| {
        if position != expected {
            return Err(StoreError::corrupt(
                Place::Record {
                    backend,
                    position: expected,
                },
                format!("record is missing (the next one is {position})"),
            ));
        }
        expected += 1;
        let body = checked(backend, position, value, None)?;
        let len = u32::try_from(body.len()).map_err(|_| {
            StoreError::corrupt(
                Place::Record { backend, position },
                "record longer than 4 GiB",
            )
        })?;
        Ok(visit(next_loc(None, 0, position, len), body))
    })
}

impl<K: KvLog> LogEngine for KvEngine<K> {
    /// Buffers the call's bodies (never split across transactions); the
    /// commit happens in `sync`/`flush`, or here once the buffer is large.
    /// `flush` is not needed: a commit is what makes bytes durable, and
    /// leaving it to `sync` lets concurrent appenders share one commit.
    fn append(
        &self,
        first_position: u64,
        bodies: &BodyBatch,
        _flush: bool,
        locs: &mut Vec<Loc>,
    ) -> Result<(), StoreError> {
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let mut buffers = self.buffers();
        let pending = &mut buffers.pending;
        if pending.end() != first_position {
            return Err(StoreError::corrupt(
                self.record(first_position),
                format!(
                    "append at position {first_position}, log ends at {}",
                    pending.end()
                ),
            ));
        }
        // Check the whole call first: the buffer only ever holds whole calls.
        if bodies.bodies().any(|b| u32::try_from(b.len()).is_err()) {
            return Err(StoreError::corrupt(
                self.record(first_position),
                "body longer than 4 GiB",
            ));
        }
        for (position, body) in (first_position..).zip(bodies.bodies()) {
            let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
            pending
                .buf
                .extend_from_slice(&crc(position, body).to_le_bytes());
            pending.buf.extend_from_slice(body);
            let end = pending.buf.len();
            pending.ends.push(end);
            locs.push(next_loc(None, 0, position, len));
        }
        let full = pending.buf.len() >= COMMIT_THRESHOLD;
        drop(buffers);
        if full {
            self.commit()?;
        }
        Ok(())
    }

    fn sync(&self) -> Result<(), StoreError> {
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        self.commit()
    }

    /// Commits the buffer (durably: these engines have no "in the OS but
    /// not synced" state worth keeping apart).
    fn flush(&self) -> Result<(), StoreError> {
        self.sync()
    }

    fn read(&self, loc: Loc, out: &mut Vec<u8>) -> Result<(), StoreError> {
        let position = loc.offset;
        if position >= self.committed.load(Ordering::SeqCst) && self.read_buffered(position, out)? {
            return self.check_len(loc, out.len());
        }
        let mut value = Vec::new();
        if !self.kv.get(position, &mut value)? {
            return Err(StoreError::corrupt(
                self.record(position),
                "record is missing",
            ));
        }
        let body = checked(self.backend, position, &value, Some(loc.len))?;
        out.clear();
        out.extend_from_slice(body);
        Ok(())
    }

    /// Committed records are read with one range scan per run of
    /// consecutive positions (one read transaction); buffered ones from the
    /// buffer. A record missing from a range is damage, never skipped.
    fn read_many(
        &self,
        locs: &[Loc],
        visit: &mut BodyVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let committed = self.committed.load(Ordering::SeqCst);
        let split = locs.partition_point(|l| l.offset < committed);
        let (stored, rest) = if locs[..split].iter().all(|l| l.offset < committed) {
            locs.split_at(split)
        } else {
            (&locs[..0], locs)
        };
        let positions: Vec<u64> = stored.iter().map(|l| l.offset).collect();
        let runs = consecutive_runs(&positions);
        let ranges: Vec<(u64, u64)> = runs.iter().map(|&(_, a, b)| (a, b)).collect();
        // The next position each run expects: a record skipped is missing.
        let mut next: Vec<u64> = ranges.iter().map(|&(a, _)| a).collect();
        let flow = self.kv.read_ranges(&ranges, &mut |run, position, value| {
            let (Some(&(first_index, first, _)), Some(want)) = (runs.get(run), next.get_mut(run))
            else {
                return Err(StoreError::corrupt(
                    self.record(position),
                    "engine returned a record from no requested range",
                ));
            };
            if position != *want {
                return Err(StoreError::corrupt(self.record(*want), "record is missing"));
            }
            *want += 1;
            let i = first_index + usize::try_from(position - first).unwrap_or(usize::MAX);
            let loc = stored.get(i).copied().unwrap_or(Loc {
                segment: 0,
                len: 0,
                offset: position,
            });
            visit(i, checked(self.backend, position, value, Some(loc.len))?)
        })?;
        if flow.is_break() {
            return Ok(flow);
        }
        for (&(_, _, last), &want) in runs.iter().zip(&next) {
            if want <= last {
                return Err(StoreError::corrupt(self.record(want), "record is missing"));
            }
        }
        let mut buf = Vec::new();
        for (j, loc) in rest.iter().enumerate() {
            self.read(*loc, &mut buf)?;
            if visit(stored.len() + j, &buf)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }

    fn scan(&self, visit: &mut FrameVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        // Everything appended so far must be readable from the store.
        if self.writable && !self.poisoned.load(Ordering::SeqCst) {
            self.sync()?;
        }
        scan_records(&self.kv, self.backend, visit)
    }

    fn extent(&self) -> Vec<u64> {
        vec![self.buffers().pending.end()]
    }

    fn write_checkpoint(&self, bytes: &[u8]) -> Result<(), StoreError> {
        self.kv.meta_put(META_CHECKPOINT, bytes)
    }

    fn remove_checkpoint(&self) -> Result<(), StoreError> {
        // No checkpoint decodes from no bytes: the next open rescans.
        self.kv.meta_put(META_CHECKPOINT, &[])
    }

    fn size(&self) -> (u64, u64) {
        let buffers = self.buffers();
        let buffered =
            buffers.pending.buf.len() + buffers.inflight.as_ref().map_or(0, |p| p.buf.len());
        let buffered = buffered as u64;
        (1, self.kv.disk_bytes() + buffered)
    }
}

#[cfg(test)]
mod tests;
