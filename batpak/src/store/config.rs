//! How a store is opened: its directory, durability policy and limits.
//!
//! Every knob has a default that is safe (durable on return) and a doc line
//! saying what it trades; `TUNING.md` has the measured figures. A config is
//! plain data: nothing here touches the file system.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::backend::Backend;
use super::cache::{MemoryCache, ProjectionCache};

/// Default size at which the active segment is closed and a new one begun.
pub const DEFAULT_SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// Default of [`StoreConfig::checkpoint_every_bytes`]: four default
/// segments of log between checkpoints written at rotation.
pub const DEFAULT_CHECKPOINT_EVERY_BYTES: u64 = 4 * DEFAULT_SEGMENT_MAX_BYTES;

/// Default limit on one event's encoded payload (16 MiB): large enough for
/// documents, small enough that one frame never threatens memory.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 16 * 1024 * 1024;

/// Longest idempotency key accepted, in bytes. Keys are stored in every
/// keyed frame and held in memory, so they stay small.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 256;

/// Hard cap on [`StoreConfig::max_payload_bytes`] (1 GiB): a frame's length
/// field and every reader's buffer stay far from `u32::MAX`.
pub(crate) const MAX_PAYLOAD_CAP: usize = 1024 * 1024 * 1024;

/// Default of [`StoreConfig::max_open_segments`]: far below the usual
/// descriptor limit (1024), and more segments than most stores have.
pub(crate) const DEFAULT_MAX_OPEN_SEGMENTS: usize = 64;

/// Smallest [`StoreConfig::max_open_segments`]: the active segment and one
/// other being read.
pub(crate) const MIN_OPEN_SEGMENTS: usize = 2;

/// Default bound of one subscription's channel, in events.
pub const DEFAULT_SUBSCRIPTION_CAPACITY: usize = 1024;

/// When an acknowledged event is on disk (survives a power loss).
///
/// | policy | `append` returns after | a power loss can take | a process crash can take |
/// |---|---|---|---|
/// | `Always` | the event's fdatasync | nothing acknowledged | nothing acknowledged |
/// | `EveryN` | the bytes are buffered | every event acknowledged since the last completed sync: at most `events` events, and at most `max_delay_ms` of appends | the same (buffered bytes live in the process) |
/// | `Manual` | the bytes are buffered | every event acknowledged since the last `sync()`/`close()` | the same |
///
/// Under every policy a crash never leaves a partial event or a partial
/// batch visible after reopen, and never a gap in positions. The table holds
/// for every [`Backend`] (redb and LMDB buffer in memory and commit durable
/// transactions; `TUNING.md`, "Choosing a backend").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SyncPolicy {
    /// `append` returns only after its event is fsync'd. Concurrent appenders
    /// share fsyncs (group commit).
    #[default]
    Always,
    /// Buffer; a background thread syncs once half of `events` events are
    /// unsynced, and otherwise about `max_delay_ms` after an event was
    /// appended at the latest (it checks every `max_delay_ms / 2`). An
    /// append waits for a sync only when returning would leave more than
    /// `events` acknowledged events unsynced, so appends go on while the
    /// sync runs.
    EveryN {
        /// The most acknowledged events left unsynced (0 behaves as 1); a
        /// sync starts at half of it.
        events: u32,
        /// Longest time an acknowledged event stays unsynced, in ms.
        max_delay_ms: u64,
    },
    /// Buffer; fsync only on [`Store::sync`](crate::Store::sync) and
    /// [`Store::close`](crate::Store::close).
    Manual,
}

/// Where and how to open a store.
///
/// ```
/// use batpak::{StoreConfig, SyncPolicy};
/// let config = StoreConfig::new("/tmp/my-store")
///     .sync_policy(SyncPolicy::EveryN { events: 1_000, max_delay_ms: 10 })
///     .segment_max_bytes(64 * 1024 * 1024);
/// assert_eq!(config.dir().to_str(), Some("/tmp/my-store"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub(crate) dir: PathBuf,
    pub(crate) views: ViewsConfig,
    pub(crate) segment_max_bytes: u64,
    pub(crate) sync_policy: SyncPolicy,
    pub(crate) max_payload_bytes: usize,
    pub(crate) verify_on_open: bool,
    pub(crate) create: bool,
    pub(crate) truncate_damaged_tail: bool,
    pub(crate) backend: Backend,
    pub(crate) max_open_segments: usize,
    pub(crate) checkpoint_every_bytes: u64,
    pub(crate) seal_in_background: bool,
}

impl StoreConfig {
    /// A store in `dir` (created if missing), with the defaults: durable
    /// appends, 64 MiB segments, 16 MiB payloads, no full verify on open,
    /// at most 64 segment files open.
    #[must_use]
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            views: ViewsConfig::default(),
            segment_max_bytes: DEFAULT_SEGMENT_MAX_BYTES,
            sync_policy: SyncPolicy::Always,
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            verify_on_open: false,
            create: true,
            truncate_damaged_tail: false,
            backend: Backend::Segment,
            max_open_segments: DEFAULT_MAX_OPEN_SEGMENTS,
            checkpoint_every_bytes: DEFAULT_CHECKPOINT_EVERY_BYTES,
            seal_in_background: true,
        }
    }

    /// Segment size at which a new segment is begun. Smaller segments rotate
    /// more often (one extra fsync of file and directory each).
    #[must_use]
    pub fn segment_max_bytes(mut self, bytes: u64) -> Self {
        self.segment_max_bytes = bytes;
        self
    }

    /// Most segment files the segment engine keeps open at once, the active
    /// one included (default 64, minimum 2; smaller values count as 2).
    /// The active segment stays open; the others are opened when read and
    /// kept in a least-recently-used cache (`n - 1` handles beside the
    /// active one, `n` in a read-only store), so a store of any number of
    /// segments needs a bounded number of descriptors (plus one per read in
    /// flight on a segment just evicted). A bound below the segments a
    /// workload reads in turn costs an `open` and a `close` per read of an
    /// evicted segment; see `TUNING.md`. The sealed index files that full
    /// segments' index entries are read from are held open too, at most
    /// `n` of them (so up to `2n` descriptors in all). Other backends
    /// ignore it.
    #[must_use]
    pub fn max_open_segments(mut self, n: usize) -> Self {
        self.max_open_segments = n.max(MIN_OPEN_SEGMENTS);
        self
    }

    /// How much log (in bytes of sealed segments) a writable segment store
    /// appends between the checkpoints it writes at rotation (default 256
    /// MiB; 0: only at close). Each such checkpoint also moves the streams'
    /// positions of sealed events from memory to the positions file, so a
    /// long-running store holds at most this much history's positions in
    /// memory, and an open after a kill starts from it: it indexes at most
    /// this much log plus the active segment. It costs a write of the
    /// checkpoint and the positions file (~5 bytes per event of the whole
    /// history, plus ~100 per stream) while appends wait, so the interval
    /// grows to at least 8 times what the last checkpoint wrote (past ~5M
    /// events of the bench's workload, at the default); see `TUNING.md`. Other backends
    /// ignore it.
    #[must_use]
    pub fn checkpoint_every_bytes(mut self, bytes: u64) -> Self {
        self.checkpoint_every_bytes = bytes;
        self
    }

    /// Whether a writable segment store writes each full segment's sealed
    /// index on a thread of its own (the default) or on the append that
    /// rotated into the next segment. The file is ~20% of the segment's
    /// size (53 bytes an event); written inline, that append waits for it
    /// (~50 ms for a 64 MiB segment on the bench's disk). In the background
    /// the segment's entries stay in memory until it is written, and
    /// [`Store::sync`](crate::Store::sync), `verify` and a close wait for
    /// it. `false` keeps every write on the appending thread. Other backends
    /// ignore it.
    #[must_use]
    pub fn seal_in_background(mut self, background: bool) -> Self {
        self.seal_in_background = background;
        self
    }

    /// When an append is durable; see [`SyncPolicy`].
    #[must_use]
    pub fn sync_policy(mut self, policy: SyncPolicy) -> Self {
        self.sync_policy = policy;
        self
    }

    /// Largest encoded payload accepted (capped at 1 GiB).
    #[must_use]
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes.min(MAX_PAYLOAD_CAP);
        self
    }

    /// Whether open also runs a full [`Store::verify`](crate::Store::verify)
    /// when it loads a checkpoint (a rescan always checks everything).
    #[must_use]
    pub fn verify_on_open(mut self, verify: bool) -> Self {
        self.verify_on_open = verify;
        self
    }

    /// Whether open may create a missing directory (default `true`).
    #[must_use]
    pub fn create_if_missing(mut self, create: bool) -> Self {
        self.create = create;
        self
    }

    /// Repair mode (default `false`): at open, cut the last segment at its
    /// first damaged frame even when valid frames follow, instead of failing
    /// with [`StoreError::Corrupt`](crate::StoreError::Corrupt). Use it to
    /// recover a store that open refuses, for example after a power loss
    /// that persisted unsynced pages out of order; it discards every frame
    /// after the damage (reported in
    /// [`StoreStats::truncated_bytes`](crate::StoreStats::truncated_bytes)).
    /// Damage in earlier segments is still an error.
    #[must_use]
    pub fn truncate_damaged_tail(mut self, truncate: bool) -> Self {
        self.truncate_damaged_tail = truncate;
        self
    }

    /// The engine that holds the log (default [`Backend::Segment`]). A
    /// directory keeps the backend that created it: opening it with another
    /// is [`StoreError::BackendMismatch`](crate::StoreError::BackendMismatch).
    /// `segment_max_bytes` applies to the segment backend only.
    #[must_use]
    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// The store directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where projection states are cached between calls (default: a
    /// [`MemoryCache`], empty at every open). A persistent cache makes the
    /// first projection after a restart incremental too.
    #[must_use]
    pub fn projection_cache(mut self, cache: impl ProjectionCache + 'static) -> Self {
        self.views.cache = Some(Arc::new(cache));
        self
    }

    /// Bound of each subscription's channel, in events (default
    /// [`DEFAULT_SUBSCRIPTION_CAPACITY`]; 0 behaves as 1). A subscriber that
    /// falls this far behind is marked lagged; see
    /// [`Subscription`](crate::Subscription).
    #[must_use]
    pub fn subscription_capacity(mut self, capacity: usize) -> Self {
        self.views.subscription_capacity = capacity.max(1);
        self
    }
}

/// The views' settings: where projections are cached, how far a
/// subscriber may fall behind.
#[derive(Clone)]
pub(crate) struct ViewsConfig {
    pub(crate) cache: Option<Arc<dyn ProjectionCache>>,
    pub(crate) subscription_capacity: usize,
}

impl Default for ViewsConfig {
    fn default() -> Self {
        Self {
            cache: None,
            subscription_capacity: DEFAULT_SUBSCRIPTION_CAPACITY,
        }
    }
}

impl std::fmt::Debug for ViewsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewsConfig")
            .field("cache", &self.cache)
            .field("subscription_capacity", &self.subscription_capacity)
            .finish()
    }
}

/// Two configs are equal when they share the same cache object.
impl PartialEq for ViewsConfig {
    fn eq(&self, other: &Self) -> bool {
        let same_cache = match (&self.cache, &other.cache) {
            (None, None) => true,
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        same_cache && self.subscription_capacity == other.subscription_capacity
    }
}

impl Eq for ViewsConfig {}

impl ViewsConfig {
    /// The cache the store will use: the configured one or a fresh
    /// in-memory one.
    pub(crate) fn open_cache(&self) -> Arc<dyn ProjectionCache> {
        self.cache
            .clone()
            .unwrap_or_else(|| Arc::new(MemoryCache::new()))
    }
}
