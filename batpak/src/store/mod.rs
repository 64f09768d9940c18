//! PERSIST: the embedded event store.
//!
//! Two layers. The **core** (this module and `index.rs`) owns every rule:
//! validation, idempotency then expected-version checks, sequence, position
//! and id assignment, the hash chain, the in-memory index. The **log engine**
//! (behind the internal `LogEngine` trait; the segment engine by default)
//! only stores frame bodies in position order and gives them back.
//!
//! Append path: the calling thread encodes and hashes under the writer
//! mutex, hands the frames to the engine, updates the index, releases the
//! mutex, then waits for durability by group commit: one thread fdatasyncs
//! on behalf of every frame written before its sync began, and a thread
//! whose frame is already covered returns without syncing. No thread hop.
//!
//! Invariants: positions are gapless from 0; a stream's n-th event has
//! sequence n; an event is visible to readers only once its bytes are in the
//! engine; after a failed write or sync the store is poisoned and refuses
//! appends until reopened, and nothing from the failed call is acknowledged.
//!
//! Visibility is not durability: readers (and later appends to the same
//! stream) see an event as soon as it is written, possibly before the fsync
//! that its appender waits for. If that fsync fails, the store is poisoned
//! and a reopen may not have the event (nor anything after it).

// Engine choice (redb / LMDB backends): `backend` picks the engine,
// `kv` is the shared buffered engine over a transactional key-value store.
mod backend;
mod cache;
mod config;
mod engine;
mod error;
pub(crate) mod index;
#[cfg(any(feature = "redb", feature = "lmdb"))]
mod kv;
#[cfg(feature = "lmdb")]
mod lmdb;
#[cfg(feature = "redb")]
mod redb;
mod replay;
mod seam;
pub(crate) mod segment;
// views: projections, subscriptions, cursors (hooks marked `views:` below).
mod cursor;
mod projection;
mod subscription;
pub use self::cursor::{Cursor, CursorFileProblem};
pub use self::projection::{
    DEFAULT_SUBSCRIPTION_CAPACITY, ProjectionReport, RebuildReason, projection_cache_key,
};
pub use self::subscription::{Delivery, Iter as SubscriptionIter, Subscription, SubscriptionError};

#[cfg(test)]
mod crash_model;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::hash::BuildHasherDefault;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use self::backend::{BACKEND_FILE, Backend};
pub use self::cache::{CacheKey, MemoryCache, ProjectionCache};
pub use self::config::{
    DEFAULT_MAX_PAYLOAD_BYTES, DEFAULT_SEGMENT_MAX_BYTES, MAX_IDEMPOTENCY_KEY_LEN, StoreConfig,
    SyncPolicy,
};
pub use self::error::StoreError;
pub use self::index::Damage;
#[cfg(feature = "lmdb")]
pub use self::lmdb::LmdbCache;
#[cfg(feature = "redb")]
pub use self::redb::RedbCache;
pub use self::replay::EventView;

use self::engine::{BodyBatch, Loc, LogEngine};
use self::index::{Fingerprint, IdHasher, Index, Inserted, KeyEntry, NO_CAUSE};
use self::segment::format::{
    BODY_PREFIX_LEN, MAX_BATCH_EVENTS, MAX_HEADER_BYTES, split_body, write_body_prefix,
};
use self::segment::fs::StdFs;
use crate::coordinate::Coordinate;
use crate::event::{
    Admission, EventHeader, EventId, EventKind, Hash, HeaderRef, StoredEvent, decode_header,
    decode_payload, encode_header_ref_into, encode_payload,
};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::region::{EntityFilter, Region};

/// Longest a sync leader waits for concurrent appends to join its sync
/// (a fraction of one fdatasync on any disk).
const GROUP_COMMIT_MAX_WAIT: Duration = Duration::from_micros(100);

/// Name of the lock file inside the store directory.
pub const LOCK_FILE: &str = "LOCK";

/// A stream's current version and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamHead {
    /// Number of events in the stream (0 when it does not exist).
    pub version: u64,
    /// Hash of the stream's last event, or [`Hash::ZERO`].
    pub hash: Hash,
}

/// Counters describing a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct StoreStats {
    /// Events stored (also the next global position).
    pub events: u64,
    /// Streams with at least one event.
    pub streams: u64,
    /// Segment files.
    pub segments: u64,
    /// Bytes of the log (segment files plus buffered bytes).
    pub log_bytes: u64,
    /// Events known to be durable (fsync'd) since open, as a position bound.
    pub durable_events: u64,
    /// fdatasync calls made by appends and `sync()` since open.
    pub syncs: u64,
    /// Bytes of torn tail cut at open (ignored, when read-only).
    pub truncated_bytes: u64,
    /// True when open loaded the index checkpoint instead of scanning.
    pub opened_from_checkpoint: bool,
}

/// What [`Store::verify`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Events read and checked before the first damage (or all of them).
    pub events: u64,
    /// Streams whose chains were checked.
    pub streams: u64,
    /// The first damage, if any.
    pub damage: Option<Damage>,
}

impl VerifyReport {
    /// True when nothing is damaged.
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.damage.is_none()
    }
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
}

struct Shared {
    config: StoreConfig,
    writable: bool,
    engine: Box<dyn LogEngine>,
    index: RwLock<Index>,
    writer: Mutex<WriteScratch>,
    /// True while a leader is syncing.
    sync_state: Mutex<bool>,
    sync_done: std::sync::Condvar,
    /// Positions below this have been handed to the engine.
    appended: AtomicU64,
    /// Positions below this are durable.
    durable: AtomicU64,
    /// Threads inside `append`/`append_batch` (appending or waiting).
    in_flight: AtomicU64,
    /// Threads inside `append_events` (encoding and writing).
    appending: AtomicU64,
    poisoned: AtomicBool,
    syncs: AtomicU64,
    truncated_bytes: u64,
    from_checkpoint: bool,
    // views: where projection states are cached.
    cache: Arc<dyn ProjectionCache>,
    // views: subscribers and the durable watermark cursors wait on.
    hub: subscription::Hub,
    _lock: File,
}

/// The event store. Cheap to share: every method takes `&self` except
/// [`Store::close`]; `Store` is `Send + Sync`.
///
/// ```
/// use batpak::{Coordinate, EventKind, Store, StoreConfig};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let coord = Coordinate::new("order:1", "shop:acme")?;
/// let receipt = store.append(&coord, EventKind::custom(7, 1)?, &"placed")?;
/// assert_eq!((receipt.sequence, receipt.position), (1, 0));
/// let events = store.stream::<String>(&coord)?;
/// assert_eq!(events[0].payload, "placed");
/// store.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Store {
    shared: Arc<Shared>,
    flusher: Option<Flusher>,
}

/// The `EveryN` background syncer: dropping the sender stops it.
struct Flusher {
    stop: flume::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Flusher {
    fn stop(self) {
        drop(self.stop);
        // The thread only syncs; a panic there has nothing to report.
        let _ = self.thread.join();
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.shared.config.dir)
            .field("writable", &self.shared.writable)
            .finish_non_exhaustive()
    }
}

/// A submitted append; [`Ticket::wait`] returns once it is as durable as
/// the store's policy promises.
#[derive(Debug)]
#[must_use = "a ticket must be waited on to learn whether the append is durable"]
pub struct Ticket {
    shared: Arc<Shared>,
    receipt: AppendReceipt,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Ticket {
    /// Waits until the append is durable under the store's policy.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or an I/O error when the sync failed: then
    /// the event must be treated as not stored.
    pub fn wait(self) -> Result<AppendReceipt, StoreError> {
        self.shared.after_append(self.receipt.position + 1)?;
        Ok(self.receipt)
    }

    /// The receipt, before durability is known.
    #[must_use]
    pub fn receipt(&self) -> &AppendReceipt {
        &self.receipt
    }
}

/// Keeps only the first receipt (a single append needs no `Vec`).
struct FirstReceipt(Option<AppendReceipt>);

impl Extend<AppendReceipt> for FirstReceipt {
    fn extend<I: IntoIterator<Item = AppendReceipt>>(&mut self, receipts: I) {
        if self.0.is_none() {
            self.0 = receipts.into_iter().next();
        }
    }
}

/// Counts a thread in a section (appending, waiting) for as long as it lives.
struct InFlight<'a>(&'a AtomicU64);

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

fn read_lock<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write_lock<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Time since the Unix epoch (zero if the clock is before it).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn damage_to_error(d: Damage) -> StoreError {
    let mut reason = d.reason;
    if let (Some(c), Some(s)) = (&d.coordinate, d.sequence) {
        reason = format!("{reason} (stream {c}, sequence {s})");
    }
    StoreError::Corrupt {
        segment: d.segment,
        offset: d.offset,
        reason,
    }
}

fn prepare_dir(config: &StoreConfig, writable: bool) -> Result<File, StoreError> {
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
    let path = dir.join(LOCK_FILE);
    let file = if writable {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
    } else {
        File::open(&path).or_else(|_| File::open(dir))
    }
    .map_err(|e| StoreError::io("open lock file", &path, e))?;
    let locked = if writable {
        file.try_lock()
    } else {
        file.try_lock_shared()
    };
    match locked {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::StoreLocked { dir: dir.clone() }),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::io("lock", &path, e)),
    }
}

impl Store {
    /// Opens (creating if needed) the store in `config.dir()` for reading
    /// and writing. Recovers a torn tail (see [`StoreStats::truncated_bytes`]),
    /// loads the index checkpoint when it matches the log, else rebuilds the
    /// index by scanning every segment and checking every frame, position and
    /// hash chain.
    ///
    /// # Errors
    /// [`StoreError::StoreLocked`] when another store holds the directory,
    /// [`StoreError::NotADirectory`], [`StoreError::Corrupt`] for damage
    /// other than a torn tail, [`StoreError::UnsupportedFormat`], I/O errors.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_inner(config, true)
    }

    /// Opens an existing store for reading only. Shares the directory with
    /// other read-only stores but not with a writer. A torn tail is ignored
    /// (not cut); appends fail with [`StoreError::ReadOnly`].
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_read_only(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_inner(config, false)
    }

    fn open_inner(config: StoreConfig, writable: bool) -> Result<Self, StoreError> {
        Self::open_with_fs(config, writable, Arc::new(StdFs))
    }

    /// Opens with segment files on `fs` (tests substitute a crash model).
    pub(crate) fn open_with_fs(
        config: StoreConfig,
        writable: bool,
        fs: Arc<dyn segment::fs::SegmentFs>,
    ) -> Result<Self, StoreError> {
        let lock_file = prepare_dir(&config, writable)?;
        let mut index = Index::default();
        let mut from_checkpoint = None;
        let mut damage = None;
        // Backend choice: refuses a directory made by another engine, then
        // opens the chosen one (segment by default, on `fs`).
        let opened = backend::open_engine(
            fs,
            &config,
            writable,
            &mut |bytes, extent| {
                from_checkpoint = Index::decode_checkpoint(bytes, extent);
                from_checkpoint.is_some()
            },
            &mut |loc, body| {
                index.apply_frame(loc, body).map_err(|d| {
                    damage = Some(d);
                    StoreError::Poisoned
                })
            },
        );
        let (engine, report) = match (opened, damage) {
            (Ok(v), _) => v,
            (Err(_), Some(d)) => return Err(damage_to_error(d)),
            (Err(e), None) => return Err(e),
        };
        if let Some(loaded) = from_checkpoint {
            index = loaded;
        }
        let events = index.len();
        let cache = config.views.open_cache(); // views
        let hub = subscription::Hub::new(config.views.subscription_capacity, events); // views
        let shared = Arc::new(Shared {
            config,
            writable,
            engine,
            index: RwLock::new(index),
            writer: Mutex::new(WriteScratch::default()),
            sync_state: Mutex::new(false),
            sync_done: std::sync::Condvar::new(),
            appended: AtomicU64::new(events),
            durable: AtomicU64::new(events),
            in_flight: AtomicU64::new(0),
            appending: AtomicU64::new(0),
            poisoned: AtomicBool::new(false),
            syncs: AtomicU64::new(0),
            truncated_bytes: report.truncated_bytes,
            from_checkpoint: report.from_checkpoint,
            cache, // views
            hub,   // views
            _lock: lock_file,
        });
        if report.from_checkpoint && shared.config.verify_on_open {
            let verified = shared.verify()?;
            if let Some(d) = verified.damage {
                return Err(damage_to_error(d));
            }
        }
        let flusher = match (writable, shared.config.sync_policy) {
            (true, SyncPolicy::EveryN { max_delay_ms, .. }) => {
                Some(spawn_flusher(Arc::downgrade(&shared), max_delay_ms)?)
            }
            _ => None,
        };
        Ok(Self { shared, flusher })
    }

    /// Appends one event at any version. With the default policy it is
    /// durable when this returns.
    ///
    /// # Errors
    /// [`StoreError::ReservedKind`], [`StoreError::PayloadTooLarge`],
    /// [`StoreError::Codec`], [`StoreError::Poisoned`], I/O errors.
    pub fn append<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
    ) -> Result<AppendReceipt, StoreError> {
        self.append_with(coord, kind, payload, AppendOptions::default())
    }

    /// Appends one event with an expected version, idempotency key,
    /// causation or correlation. The idempotency key is checked first: a
    /// retry with the same key and content returns the original receipt.
    ///
    /// # Errors
    /// As [`Store::append`], plus [`StoreError::VersionMismatch`],
    /// [`StoreError::IdempotencyConflict`], [`StoreError::IdempotencyKeyTooLong`].
    pub fn append_with<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
        options: AppendOptions,
    ) -> Result<AppendReceipt, StoreError> {
        let payload = encode_payload(payload)?;
        self.commit_one(coord, kind, payload, options, Admission::Direct, false)
            .map(|t| t.receipt)
    }

    /// Appends several events to one stream atomically: after any crash
    /// either all of them are stored or none. `options` apply to the batch
    /// (expected version before the first event; one idempotency key).
    ///
    /// # Errors
    /// As [`Store::append_with`], plus [`StoreError::BatchSize`].
    pub fn append_batch<P: Serialize>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, P)],
        options: AppendOptions,
    ) -> Result<Vec<AppendReceipt>, StoreError> {
        let mut encoded = Vec::with_capacity(events.len());
        for (kind, payload) in events {
            encoded.push((*kind, encode_payload(payload)?));
        }
        let _in_flight = InFlight::enter(&self.shared.in_flight);
        let mut receipts = Vec::with_capacity(encoded.len());
        let end = self.shared.append_events(
            coord,
            &encoded,
            &options,
            &Admission::Direct,
            false,
            &mut receipts,
        )?;
        self.shared.after_append(end)?;
        Ok(receipts)
    }

    /// Appends without waiting for durability; [`Ticket::wait`] waits. One
    /// thread can submit many events and wait once (the last ticket covers
    /// all earlier ones of this store).
    ///
    /// # Errors
    /// As [`Store::append_with`] (durability errors come from `wait`).
    pub fn submit<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
        options: AppendOptions,
    ) -> Result<Ticket, StoreError> {
        let payload = encode_payload(payload)?;
        self.commit_one(coord, kind, payload, options, Admission::Direct, true)
    }

    fn commit_one(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: Vec<u8>,
        options: AppendOptions,
        admission: Admission,
        submit: bool,
    ) -> Result<Ticket, StoreError> {
        let _in_flight = InFlight::enter(&self.shared.in_flight);
        let events = [(kind, payload)];
        let mut first = FirstReceipt(None);
        let end = self
            .shared
            .append_events(coord, &events, &options, &admission, submit, &mut first)?;
        let receipt = first.0.ok_or(StoreError::BatchSize { len: 0, max: 1 })?;
        if !submit {
            self.shared.after_append(end)?;
        }
        Ok(Ticket {
            shared: Arc::clone(&self.shared),
            receipt,
        })
    }

    /// The event with this id, decoded into `P`.
    ///
    /// # Errors
    /// [`StoreError::Codec`] when the payload does not fit `P`;
    /// [`StoreError::Corrupt`] when the stored frame is damaged.
    pub fn get<P: DeserializeOwned>(
        &self,
        id: EventId,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        let found = {
            let index = read_lock(&self.shared.index);
            index
                .by_id
                .get(id, &index.entries)
                .and_then(|p| index.entries.get(p as usize).map(|e| (p, e.loc())))
        };
        let Some((position, loc)) = found else {
            return Ok(None);
        };
        let mut buf = Vec::new();
        self.shared.engine.read(loc, &mut buf)?;
        decode_event(loc, position, &buf, true).map(Some)
    }

    /// Every event of one stream, in sequence order, decoded into `P`.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn stream<P: DeserializeOwned>(
        &self,
        coord: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let positions = read_lock(&self.shared.index)
            .stream(coord)
            .map(|s| s.positions.clone())
            .unwrap_or_default();
        self.shared.read_events(&positions)
    }

    /// A stream's version and head hash.
    #[must_use]
    pub fn head(&self, coord: &Coordinate) -> StreamHead {
        read_lock(&self.shared.index).stream(coord).map_or(
            StreamHead {
                version: 0,
                hash: Hash::ZERO,
            },
            |s| StreamHead {
                version: s.positions.len() as u64,
                hash: s.head,
            },
        )
    }

    /// Every event inside `region`, in global position order, decoded into
    /// `P`. Selection uses the in-memory index; only selected events are read.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`], then as [`Store::get`].
    pub fn query<P: DeserializeOwned>(
        &self,
        region: &Region,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        region.check()?;
        let positions = self.shared.select(region);
        self.shared.read_events(&positions)
    }

    /// The headers of every event inside `region`, in global position order.
    ///
    /// # Errors
    /// As [`Store::query`].
    pub fn query_headers(&self, region: &Region) -> Result<Vec<EventHeader>, StoreError> {
        region.check()?;
        let positions = self.shared.select(region);
        self.shared.read_headers(&positions)
    }

    /// The event `id` and every event caused by it, directly or through
    /// others (following causation ids), in global position order. Empty
    /// when `id` is unknown.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn walk_causation(&self, id: EventId) -> Result<Vec<EventHeader>, StoreError> {
        let positions = {
            let index = read_lock(&self.shared.index);
            let Some(root) = index.by_id.get(id, &index.entries) else {
                return Ok(Vec::new());
            };
            let mut found = vec![root];
            let mut i = 0;
            while let Some(&p) = found.get(i) {
                if let Some(children) = index.children.get(&p) {
                    found.extend_from_slice(children);
                }
                i += 1;
            }
            found.sort_unstable();
            found.dedup();
            found
        };
        self.shared.read_headers(&positions)
    }

    /// Re-reads the whole log from disk and checks every frame's length and
    /// CRC, every global position, sequence and hash chain link, and that
    /// each stream's last event hashes to the head hash the index holds.
    ///
    /// The head check is what catches a stream's *last* event rewritten in
    /// place with a valid CRC (no later link covers it): the index's head
    /// comes from the checkpoint written by [`Store::close`], or from the
    /// scan at open, and then from this store's own appends. Its limit: after
    /// an open that scanned the log (a crash, no checkpoint, or a checkpoint
    /// that did not match), the heads were computed from the same bytes, so
    /// such a rewrite made before that open is undetectable. Keep a
    /// [`StreamHead`] hash (or an [`AppendReceipt`] hash) elsewhere to anchor
    /// a stream against that.
    ///
    /// # Errors
    /// I/O errors only; damage is reported in the [`VerifyReport`].
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.shared.verify()
    }

    /// Makes every event appended so far durable (one fdatasync, shared
    /// with concurrent callers).
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or I/O errors.
    pub fn sync(&self) -> Result<(), StoreError> {
        if !self.shared.writable {
            return Ok(());
        }
        if self.shared.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let end = self.shared.appended.load(Ordering::SeqCst);
        self.shared.wait_durable(end)
    }

    /// Counters: events, streams, segments, bytes, syncs, recovery.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let (events, streams) = {
            let index = read_lock(&self.shared.index);
            (index.len(), index.streams.len() as u64)
        };
        let (segments, log_bytes) = self.shared.engine.size();
        StoreStats {
            events,
            streams,
            segments,
            log_bytes,
            durable_events: self.shared.durable.load(Ordering::SeqCst),
            syncs: self.shared.syncs.load(Ordering::SeqCst),
            truncated_bytes: self.shared.truncated_bytes,
            opened_from_checkpoint: self.shared.from_checkpoint,
        }
    }

    /// Syncs, writes the index checkpoint (so the next open need not scan),
    /// and releases the directory.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or I/O errors; the directory is released
    /// either way (once no [`Ticket`] of this store is alive).
    pub fn close(mut self) -> Result<(), StoreError> {
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
        if !self.shared.writable {
            return Ok(());
        }
        self.sync()?;
        let _writer = lock(&self.shared.writer);
        let index = read_lock(&self.shared.index);
        let bytes = index.encode_checkpoint(&self.shared.engine.extent());
        self.shared.engine.write_checkpoint(&bytes)
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
        // Best effort: hand buffered frames to the OS so a clean process exit
        // keeps them. Errors cannot be reported from drop; a failed flush
        // poisons the engine, and reopen recovers.
        if self.shared.writable && !self.shared.poisoned.load(Ordering::SeqCst) {
            let _ = self.shared.engine.flush();
        }
    }
}

fn spawn_flusher(shared: Weak<Shared>, max_delay_ms: u64) -> Result<Flusher, StoreError> {
    let (stop, rx) = flume::bounded::<()>(1);
    // Checking twice per `max_delay_ms` keeps every event's unsynced time
    // under `max_delay_ms` (plus the sync itself).
    let delay = Duration::from_micros((max_delay_ms.saturating_mul(1_000) / 2).max(500));
    let dir = shared
        .upgrade()
        .map(|s| s.config.dir.clone())
        .unwrap_or_default();
    let thread = std::thread::Builder::new()
        .name("batpak-flusher".to_owned())
        .spawn(move || {
            // Ends when the store drops its sender (close or drop).
            while let Err(flume::RecvTimeoutError::Timeout) = rx.recv_timeout(delay) {
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let end = shared.appended.load(Ordering::SeqCst);
                if end > shared.durable.load(Ordering::SeqCst) {
                    // A failure poisons the store; appenders will see it.
                    let _ = shared.wait_durable(end);
                }
            }
        })
        .map_err(|e| StoreError::io("spawn flusher thread", dir, e))?;
    Ok(Flusher { stop, thread })
}

/// Where a read event's chain hash comes from (see `Shared::read_events`).
#[derive(Debug, Clone, Copy)]
enum HashFrom {
    /// The `prev_hash` of the same stream's next event, read in the same call.
    Successor,
    /// The stream's head (captured with the plan): the event is its last.
    Head,
    /// Neither is known: hash the stored bytes.
    Compute,
}

/// Decodes one body; the hash is computed only when `compute` (otherwise
/// the caller fills it in).
fn decode_event<P: DeserializeOwned>(
    loc: Loc,
    position: u64,
    body: &[u8],
    compute: bool,
) -> Result<StoredEvent<P>, StoreError> {
    let parts = split_body(body)
        .ok_or_else(|| StoreError::corrupt(loc.segment, loc.offset, "frame body is malformed"))?;
    let header = decode_header(parts.header)?;
    if header.position != position {
        return Err(StoreError::corrupt(
            loc.segment,
            loc.offset,
            format!(
                "frame holds position {}, index expects {position}",
                header.position
            ),
        ));
    }
    let payload = decode_payload(parts.payload)?;
    let hash = if compute {
        Hash::chain(&header.prev_hash, parts.header, parts.payload)
    } else {
        Hash::ZERO
    };
    Ok(StoredEvent {
        header,
        payload,
        hash,
    })
}

impl Shared {
    /// Validates, checks key and version, assigns places, encodes, hashes and
    /// hands the frames to the engine. Puts the receipts into `out` and
    /// returns the position after the last event (for the durability wait).
    fn append_events<R: Extend<AppendReceipt>>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, Vec<u8>)],
        options: &AppendOptions,
        admission: &Admission,
        submit: bool,
        out: &mut R,
    ) -> Result<u64, StoreError> {
        let _appending = InFlight::enter(&self.appending);
        if !self.writable {
            return Err(StoreError::ReadOnly);
        }
        if events.is_empty() || events.len() > MAX_BATCH_EVENTS {
            return Err(StoreError::BatchSize {
                len: events.len(),
                max: MAX_BATCH_EVENTS,
            });
        }
        let max = self.config.max_payload_bytes;
        for (kind, payload) in events {
            if kind.is_system() {
                return Err(StoreError::ReservedKind { kind: *kind });
            }
            if payload.len() > max {
                return Err(StoreError::PayloadTooLarge {
                    len: payload.len(),
                    max,
                });
            }
        }
        let fingerprint = match &options.idempotency_key {
            Some(key) if key.len() > MAX_IDEMPOTENCY_KEY_LEN => {
                return Err(StoreError::IdempotencyKeyTooLong {
                    len: key.len(),
                    max: MAX_IDEMPOTENCY_KEY_LEN,
                });
            }
            Some(_) => {
                let mut f = Fingerprint::new(coord);
                for (kind, payload) in events {
                    f.add(*kind, payload);
                }
                Some(f.finish())
            }
            None => None,
        };

        let mut scratch = lock(&self.writer);
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        let scratch = &mut *scratch;
        let first_position;
        let stream_id;
        {
            let index = read_lock(&self.index);
            if let (Some(key), Some(fp)) = (&options.idempotency_key, fingerprint)
                && let Some(KeyEntry {
                    fingerprint,
                    receipts,
                }) = index.keys.get(key)
            {
                if *fingerprint == fp {
                    let end = receipts.last().map_or(0, |r| r.position + 1);
                    out.extend(receipts.iter().copied());
                    return Ok(end);
                }
                return Err(StoreError::IdempotencyConflict {
                    key: key.clone(),
                    position: receipts.first().map_or(0, |r| r.position),
                });
            }
            stream_id = index.by_coordinate.get(coord).copied();
            let (version, mut prev) = stream_id
                .and_then(|s| index.streams.get(s as usize))
                .map_or((0, Hash::ZERO), |s| (s.positions.len() as u64, s.head));
            if !options.expected_version.allows(version) {
                return Err(StoreError::VersionMismatch {
                    coordinate: coord.clone(),
                    expected: options.expected_version,
                    actual: version,
                });
            }
            first_position = index.len();
            let correlation = match (options.correlation, options.causation) {
                (Some(c), _) => Some(c),
                (None, Some(cause)) => self.correlation_of(&index, cause),
                (None, None) => None,
            };
            // Ids from this process never repeat (a counter); an id from an
            // earlier run could, if the clock stepped back and the random
            // process tag matched, so check (cheap: an id above every indexed
            // id is new). A duplicate id would make the log unopenable.
            // One clock read serves the ids and the timestamp.
            let now = since_epoch();
            scratch.ids.clear();
            for _ in 0..events.len() {
                let mut id = EventId::generate_at(now);
                while index.by_id.get(id, &index.entries).is_some() {
                    id = EventId::generate();
                }
                scratch.ids.push(id);
            }
            drop(index);

            scratch.batch.clear();
            scratch.events.clear();
            scratch.hashes.clear();
            let timestamp_us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
            let last = events.len() - 1;
            let admission_is_bypass = admission.is_bypass();
            for (i, ((kind, payload), &id)) in events.iter().zip(&scratch.ids).enumerate() {
                let sequence = version + 1 + i as u64;
                let header = HeaderRef {
                    id,
                    correlation: correlation.unwrap_or(id),
                    causation: options.causation,
                    timestamp_us,
                    sequence,
                    position: first_position + i as u64,
                    kind: *kind,
                    coordinate: coord,
                    prev_hash: prev,
                    idempotency_key: if i == 0 {
                        options.idempotency_key.as_deref()
                    } else {
                        None
                    },
                    admission,
                };
                let buf = &mut scratch.batch.buf;
                let start = buf.len();
                buf.extend_from_slice(&[0u8; BODY_PREFIX_LEN]);
                encode_header_ref_into(&header, buf)?;
                let header_len = buf.len() - start - BODY_PREFIX_LEN;
                if header_len > MAX_HEADER_BYTES {
                    return Err(StoreError::HeaderTooLarge {
                        len: header_len,
                        max: MAX_HEADER_BYTES,
                    });
                }
                buf.extend_from_slice(payload);
                let rest = u32::try_from(last - i).unwrap_or(u32::MAX);
                write_body_prefix(
                    &mut buf[start..],
                    u32::try_from(header_len).unwrap_or(u32::MAX),
                    rest,
                );
                let header_bytes =
                    &buf[start + BODY_PREFIX_LEN..start + BODY_PREFIX_LEN + header_len];
                prev = Hash::chain(&prev, header_bytes, payload);
                scratch.batch.ends.push(buf.len());
                scratch.hashes.push(prev);
                scratch.events.push(Inserted {
                    id,
                    sequence,
                    kind: *kind,
                    causation: options.causation,
                    bypass: admission_is_bypass,
                });
            }
        }

        // Always-policy appends reach the OS now (their caller syncs next);
        // submits and buffered policies leave the bytes in the buffer.
        let flush = matches!(self.config.sync_policy, SyncPolicy::Always) && !submit;
        scratch.locs.clear();
        if let Err(e) = self
            .engine
            .append(first_position, &scratch.batch, flush, &mut scratch.locs)
        {
            self.poisoned.store(true, Ordering::SeqCst);
            return Err(e);
        }
        let receipts = &mut scratch.receipts;
        receipts.clear();
        {
            let mut index = write_lock(&self.index);
            let mut known = stream_id;
            for (i, ((event, hash), loc)) in scratch
                .events
                .iter()
                .zip(&scratch.hashes)
                .zip(&scratch.locs)
                .enumerate()
            {
                index.insert_parts(known, coord, event, *loc, *hash);
                // A batch's first event may have created the stream.
                known = index.entries.last().map(|e| e.stream);
                receipts.push(AppendReceipt {
                    event_id: event.id,
                    sequence: event.sequence,
                    position: first_position + i as u64,
                    hash: *hash,
                });
            }
            if let (Some(key), Some(fingerprint)) = (&options.idempotency_key, fingerprint) {
                index.keys.insert(
                    key.clone(),
                    KeyEntry {
                        fingerprint,
                        receipts: receipts.clone(),
                    },
                );
            }
        }
        out.extend(receipts.iter().copied());
        let end = first_position + events.len() as u64;
        self.appended.store(end, Ordering::SeqCst);
        Ok(end)
    }

    /// The correlation of the causing event, read from its header.
    fn correlation_of(&self, index: &Index, cause: EventId) -> Option<EventId> {
        let entry = index
            .by_id
            .get(cause, &index.entries)
            .and_then(|p| index.entries.get(p as usize))?;
        let mut buf = Vec::new();
        self.engine.read(entry.loc(), &mut buf).ok()?;
        let parts = split_body(&buf)?;
        decode_header(parts.header).ok().map(|h| h.correlation)
    }

    /// Applies the sync policy after an append whose events end at `end`.
    fn after_append(&self, end: u64) -> Result<(), StoreError> {
        match self.config.sync_policy {
            SyncPolicy::Always => self.wait_durable(end),
            SyncPolicy::EveryN { events, .. } => {
                let unsynced = end.saturating_sub(self.durable.load(Ordering::SeqCst));
                if unsynced >= u64::from(events.max(1)) {
                    self.wait_durable(end)
                } else {
                    Ok(())
                }
            }
            SyncPolicy::Manual => Ok(()),
        }
    }

    /// Group commit: returns once positions below `end` are durable.
    ///
    /// One thread at a time syncs (the leader); it covers everything handed
    /// to the engine before its sync began. Waiters sleep on a condvar and,
    /// when a sync ends, those it covered return without syncing; one of
    /// the rest leads the next sync.
    fn wait_durable(&self, end: u64) -> Result<(), StoreError> {
        if self.durable.load(Ordering::SeqCst) >= end {
            return Ok(());
        }
        let mut syncing = lock(&self.sync_state);
        loop {
            if self.durable.load(Ordering::SeqCst) >= end {
                return Ok(());
            }
            if self.poisoned.load(Ordering::SeqCst) {
                return Err(StoreError::Poisoned);
            }
            if !*syncing {
                break;
            }
            syncing = self
                .sync_done
                .wait(syncing)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *syncing = true;
        drop(syncing);
        // Let the other appenders in flight land in this sync (typically the
        // ones the last sync just released, which are still waking up): yield
        // until every thread in flight has an unsynced event and nobody is
        // mid-append, for a short while at most. Waiting for the log to stop
        // growing instead ends too early when released threads have not been
        // scheduled yet (8 threads on 2 cores: ~5 events per fsync instead of
        // ~7.7). A lone appender never yields.
        if self.in_flight.load(Ordering::SeqCst) > 1 {
            let deadline = std::time::Instant::now() + GROUP_COMMIT_MAX_WAIT;
            let durable = self.durable.load(Ordering::SeqCst);
            while std::time::Instant::now() < deadline {
                std::thread::yield_now();
                let pending = self.appended.load(Ordering::SeqCst).saturating_sub(durable);
                if pending >= self.in_flight.load(Ordering::SeqCst)
                    && self.appending.load(Ordering::SeqCst) == 0
                {
                    break;
                }
            }
        }
        // Everything handed to the engine before this load is covered by the
        // sync below (the engine flushes its buffer first).
        let target = self.appended.load(Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let result = self.engine.sync();
        match &result {
            Ok(()) => {
                self.durable.fetch_max(target, Ordering::SeqCst);
            }
            Err(_) => self.poisoned.store(true, Ordering::SeqCst),
        }
        *lock(&self.sync_state) = false;
        self.sync_done.notify_all();
        // views: wake cursors and fan newly durable events out to subscribers
        // (after leaving the leader role, so the next group commit is not
        // delayed; publish_durable orders concurrent calls itself).
        if result.is_ok() {
            self.publish_durable(target);
        }
        result
    }

    /// Positions selected by `region`, ascending, using only the index.
    fn select(&self, region: &Region) -> Vec<u64> {
        let index = read_lock(&self.index);
        let (lo, hi) = region.position_range().unwrap_or((0, u64::MAX));
        let hi = hi.min(index.len().saturating_sub(1));
        if index.len() == 0 || lo > hi {
            return Vec::new();
        }
        let seq = region.sequence_range();
        let bypassed = region.is_bypassed_only();
        let keep = |p: u64| -> bool {
            let Some(e) = index.entries.get(p as usize) else {
                return false;
            };
            region.matches_kind(e.kind)
                && seq.is_none_or(|(a, b)| (a..=b).contains(&e.sequence))
                && (!bypassed || e.flags & index::FLAG_BYPASS != 0)
        };
        let whole_log =
            matches!(region.entity_filter(), EntityFilter::Any) && region.scope_filter().is_none();
        if whole_log {
            return (lo..=hi).filter(|&p| keep(p)).collect();
        }
        let mut out = Vec::new();
        for stream in &index.streams {
            if !region.matches_coordinate(&stream.coordinate) {
                continue;
            }
            let from = stream.positions.partition_point(|&p| p < lo);
            out.extend(
                stream.positions[from..]
                    .iter()
                    .copied()
                    .take_while(|&p| p <= hi)
                    .filter(|&p| keep(p)),
            );
        }
        out.sort_unstable();
        out
    }

    fn locs(&self, positions: &[u64]) -> Vec<Loc> {
        let index = read_lock(&self.index);
        positions
            .iter()
            .filter_map(|&p| index.entries.get(p as usize).map(index::Entry::loc))
            .collect()
    }

    /// Reads and decodes the events at `positions` (ascending).
    ///
    /// Chain hashes are not recomputed when the index already knows them: an
    /// event's hash is its stream successor's `prev_hash` (when that
    /// successor is read too) or the stream's head (when it is the last
    /// event); only the others are hashed. Every link was checked when the
    /// index was built.
    fn read_events<P: DeserializeOwned>(
        &self,
        positions: &[u64],
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let n = positions.len();
        let mut locs = Vec::with_capacity(n);
        let mut plan = vec![HashFrom::Compute; n];
        let mut streams = Vec::with_capacity(n);
        let mut heads: HashMap<u32, Hash, BuildHasherDefault<IdHasher>> = HashMap::default();
        {
            let index = read_lock(&self.index);
            let mut next_seq: HashMap<u32, u64, BuildHasherDefault<IdHasher>> = HashMap::default();
            // Captured now: a later append would move the head.
            for (i, &p) in positions.iter().enumerate().rev() {
                let entry = index
                    .entries
                    .get(p as usize)
                    .ok_or_else(|| StoreError::corrupt(0, 0, "index position out of range"))?;
                if let Some(stream) = index.streams.get(entry.stream as usize) {
                    plan[i] = if next_seq.get(&entry.stream) == Some(&(entry.sequence + 1)) {
                        HashFrom::Successor
                    } else if entry.sequence == stream.positions.len() as u64 {
                        heads.insert(entry.stream, stream.head);
                        HashFrom::Head
                    } else {
                        HashFrom::Compute
                    };
                }
                next_seq.insert(entry.stream, entry.sequence);
            }
            for &p in positions {
                if let Some(e) = index.entries.get(p as usize) {
                    locs.push(e.loc());
                    streams.push(e.stream);
                }
            }
        }
        let mut out: Vec<StoredEvent<P>> = Vec::with_capacity(n);
        self.engine.read_many(&locs, &mut |i, body| {
            let position = positions.get(i).copied().unwrap_or(NO_CAUSE);
            let compute = matches!(plan.get(i), Some(HashFrom::Compute));
            out.push(decode_event(locs[i], position, body, compute)?);
            Ok(())
        })?;
        let mut successor_prev: HashMap<u32, Hash, BuildHasherDefault<IdHasher>> =
            HashMap::default();
        for i in (0..out.len()).rev() {
            let stream = streams[i];
            match plan[i] {
                HashFrom::Compute => {}
                HashFrom::Head => {
                    if let Some(hash) = heads.get(&stream) {
                        out[i].hash = *hash;
                    }
                }
                HashFrom::Successor => {
                    if let Some(hash) = successor_prev.get(&stream) {
                        out[i].hash = *hash;
                    }
                }
            }
            successor_prev.insert(stream, out[i].header.prev_hash);
        }
        Ok(out)
    }

    fn read_headers(&self, positions: &[u64]) -> Result<Vec<EventHeader>, StoreError> {
        let locs = self.locs(positions);
        let mut out = Vec::with_capacity(locs.len());
        self.engine.read_many(&locs, &mut |i, body| {
            let loc = locs[i];
            let parts = split_body(body).ok_or_else(|| {
                StoreError::corrupt(loc.segment, loc.offset, "frame body is malformed")
            })?;
            let header = decode_header(parts.header)?;
            if Some(header.position) != positions.get(i).copied() {
                return Err(StoreError::corrupt(
                    loc.segment,
                    loc.offset,
                    "frame position does not match the index",
                ));
            }
            out.push(header);
            Ok(())
        })?;
        Ok(out)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        // Events indexed before the scan starts must all be found by it
        // (appends racing with the scan may add more). Each stream's head
        // hash, as the index holds it now (from the checkpoint or the open
        // scan, then appends), is the hash its event at that position must
        // have: the only check that catches a rewritten last event, which no
        // later link covers. Sorted by position to be met in scan order.
        let (live, heads) = {
            let index = read_lock(&self.index);
            let mut heads: Vec<(u64, Hash)> = index
                .streams
                .iter()
                .filter_map(|s| s.positions.last().map(|&p| (p, s.head)))
                .collect();
            heads.sort_unstable_by_key(|&(p, _)| p);
            (index.len(), heads)
        };
        let mut heads = heads.into_iter().peekable();
        let mut fresh = Index::default();
        let mut damage = None;
        let scanned = self.engine.scan(&mut |loc, body| {
            let checked = fresh.apply_frame(loc, body).and_then(|()| {
                let position = fresh.len() - 1;
                match heads.next_if(|&(p, _)| p == position) {
                    Some((_, want)) => fresh.check_head(loc, want),
                    None => Ok(()),
                }
            });
            checked.map_err(|d| {
                damage = Some(d);
                StoreError::Poisoned
            })
        });
        let damage = match (scanned, damage) {
            (_, Some(d)) => Some(d),
            (Ok(()), None) => None,
            (
                Err(StoreError::Corrupt {
                    segment,
                    offset,
                    reason,
                }),
                None,
            ) => Some(Damage {
                segment,
                offset,
                coordinate: None,
                sequence: None,
                reason,
            }),
            (Err(e), None) => return Err(e),
        };
        let damage = damage.or_else(|| {
            (fresh.len() < live).then(|| Damage {
                segment: 0,
                offset: 0,
                coordinate: None,
                sequence: None,
                reason: format!("log holds {} events, the index {live}", fresh.len()),
            })
        });
        Ok(VerifyReport {
            events: fresh.len(),
            streams: fresh.streams.len() as u64,
            damage,
        })
    }
}

/// The store directory's path (for messages and tests).
impl Store {
    /// The directory this store lives in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.shared.config.dir
    }

    /// The path of segment file `n` (1-based), for tools and tests.
    #[must_use]
    pub fn segment_path(&self, n: u32) -> PathBuf {
        self.shared
            .config
            .dir
            .join(segment::format::segment_file_name(n))
    }
}
