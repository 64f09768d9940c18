//! The `Store` façade: the public API of the embedded store.
//!
//! Every method here is thin: it checks its arguments, then calls the core
//! (`core/`) for the log and the views (`views/`) for projections,
//! subscriptions and cursors. What a method promises is documented here;
//! how it is kept is documented where the work happens.

use std::ops::ControlFlow;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::cache::ProjectionCache;
use super::config::StoreConfig;
use super::core::Core;
use super::core::commit::Flusher;
use super::core::replay::EventView;
use super::core::sealer::Sealer;
use super::core::write::AppendMode;
use super::error::StoreError;
use super::fs::{FileSystem, StdFs};
use super::report::{StoreStats, StreamHead, VerifyReport};
use super::views::hub::Hub;
use crate::coordinate::Coordinate;
use crate::event::{Admission, EventHeader, EventId, EventKind, StoredEvent, encode_payload};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::region::Region;

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
    pub(crate) core: Arc<Core>,
    /// Subscribers and the durable watermark cursors wait on.
    pub(crate) hub: Arc<Hub>,
    /// Where projection states are cached.
    pub(crate) cache: Arc<dyn ProjectionCache>,
    /// The machine types whose current catalog entry this store has seen
    /// or written since it opened (see `seam.rs`).
    pub(crate) catalogued: std::sync::RwLock<std::collections::BTreeSet<std::any::TypeId>>,
    flusher: Option<Flusher>,
    /// Writes full segments' sealed indexes off the append path.
    sealer: Option<Sealer>,
    /// Set once `close` or `exit_without_checkpoint` has released the
    /// store, so that `Drop` does not release it a second time.
    released: bool,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.core.dir())
            .field("writable", &self.core.is_writable())
            .finish_non_exhaustive()
    }
}

/// An append made with [`Store::append_pipelined`]; [`Ticket::wait`] returns
/// once it is as durable as the store's policy promises.
#[derive(Debug)]
#[must_use = "a ticket must be waited on to learn whether the append is durable"]
pub struct Ticket {
    core: Arc<Core>,
    receipt: AppendReceipt,
}

impl Ticket {
    /// Waits until the append is durable under the store's policy.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or an I/O error when the sync failed: then
    /// the event must be treated as not stored.
    pub fn wait(self) -> Result<AppendReceipt, StoreError> {
        self.core.after_append(self.receipt.position + 1)?;
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

impl Store {
    /// Opens (creating if needed) the store in `config.dir()` for reading
    /// and writing. Recovers a torn tail (see [`StoreStats::truncated_bytes`]),
    /// loads the index checkpoint when the log holds the extent it records
    /// and indexes only what lies past it (after a crash: the segments
    /// sealed since, from their sealed indexes, and a scan of the last),
    /// else rebuilds the index from the sealed indexes and a scan that
    /// checks every frame, position and hash chain.
    ///
    /// # Errors
    /// [`StoreError::StoreLocked`] when another store holds the directory,
    /// [`StoreError::NotADirectory`], [`StoreError::Corrupt`] for damage
    /// other than a torn tail, [`StoreError::UnsupportedFormat`], I/O errors.
    pub fn open(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_fs(config, true, Arc::new(StdFs))
    }

    /// Opens an existing store for reading only. Shares the directory with
    /// other read-only stores but not with a writer. A torn tail is ignored
    /// (not cut); appends fail with [`StoreError::ReadOnly`].
    ///
    /// # Errors
    /// As [`Store::open`].
    pub fn open_read_only(config: StoreConfig) -> Result<Self, StoreError> {
        Self::open_with_fs(config, false, Arc::new(StdFs))
    }

    /// Opens with every file on `fs` (tests substitute a crash model).
    pub(crate) fn open_with_fs(
        config: StoreConfig,
        writable: bool,
        fs: Arc<dyn FileSystem>,
    ) -> Result<Self, StoreError> {
        let hub = Arc::new(Hub::new(config.views.subscription_capacity));
        let cache = config.views.open_cache();
        let core = Core::open(config, writable, fs, Arc::clone(&hub) as _)?;
        hub.start_at(core.durable());
        let flusher = Flusher::start(&core)?;
        let sealer = Sealer::start(&core)?;
        Ok(Self {
            core,
            hub,
            cache,
            catalogued: std::sync::RwLock::default(),
            flusher,
            sealer,
            released: false,
        })
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
        self.commit_one(
            coord,
            kind,
            payload,
            options,
            Admission::Direct,
            AppendMode::Wait,
        )
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
        let _in_flight = self.core.enter_append();
        let mut receipts = Vec::with_capacity(encoded.len());
        let end = self.core.append(
            coord,
            &encoded,
            &options,
            &Admission::Direct,
            AppendMode::Wait,
            &mut receipts,
        )?;
        self.core.after_append(end)?;
        Ok(receipts)
    }

    /// Appends without waiting for durability; [`Ticket::wait`] waits. One
    /// thread can pipeline many appends and wait once (the last ticket
    /// covers all earlier ones of this store).
    ///
    /// # Errors
    /// As [`Store::append_with`] (durability errors come from `wait`).
    pub fn append_pipelined<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
        options: AppendOptions,
    ) -> Result<Ticket, StoreError> {
        let payload = encode_payload(payload)?;
        self.commit_one(
            coord,
            kind,
            payload,
            options,
            Admission::Direct,
            AppendMode::Pipelined,
        )
    }

    /// One event through the core, with the admission the caller decided.
    pub(crate) fn commit_one(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: Vec<u8>,
        options: AppendOptions,
        admission: Admission,
        mode: AppendMode,
    ) -> Result<Ticket, StoreError> {
        let _in_flight = self.core.enter_append();
        let events = [(kind, payload)];
        let mut first = FirstReceipt(None);
        let end = self
            .core
            .append(coord, &events, &options, &admission, mode, &mut first)?;
        let receipt = first.0.ok_or(StoreError::BatchSize { len: 0, max: 1 })?;
        if mode == AppendMode::Wait {
            self.core.after_append(end)?;
        }
        Ok(Ticket {
            core: Arc::clone(&self.core),
            receipt,
        })
    }

    /// Appends one record the runtime writes itself (the machine catalog,
    /// the wiring's parked steps and timer tables): a kind of the reserved
    /// system category, which user appends are refused and regions without
    /// a kind filter leave out. Durable when this returns.
    pub(crate) fn append_system_record<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
        options: AppendOptions,
    ) -> Result<AppendReceipt, StoreError> {
        let _in_flight = self.core.enter_append();
        let events = [(kind, encode_payload(payload)?)];
        let mut first = FirstReceipt(None);
        let end = self
            .core
            .append_system(coord, &events, &options, &mut first)?;
        let receipt = first.0.ok_or(StoreError::BatchSize { len: 0, max: 1 })?;
        self.core.after_append(end)?;
        Ok(receipt)
    }

    /// The event with this id, decoded into `P`.
    ///
    /// # Errors
    /// [`StoreError::Codec`] when the payload does not fit `P`;
    /// [`StoreError::Corrupt`] when the stored frame is damaged or is not
    /// the event the index expects.
    pub fn get<P: DeserializeOwned>(
        &self,
        id: EventId,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        self.core.get(id)
    }

    /// Every event of one stream, in sequence order, decoded into `P`.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn stream<P: DeserializeOwned>(
        &self,
        coord: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.core.read_stream(coord)
    }

    /// A stream's version and head hash.
    #[must_use]
    pub fn head(&self, coord: &Coordinate) -> StreamHead {
        self.core.head(coord)
    }

    /// Every event inside `region`, in global position order, decoded into
    /// `P`. Selection uses the index; only selected events are read.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`], then as [`Store::get`].
    pub fn query<P: DeserializeOwned>(
        &self,
        region: &Region,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        region.check()?;
        self.core.read_selected(region)
    }

    /// The headers of every event inside `region`, in global position order.
    ///
    /// # Errors
    /// As [`Store::query`].
    pub fn query_headers(&self, region: &Region) -> Result<Vec<EventHeader>, StoreError> {
        region.check()?;
        self.core.read_selected_headers(region)
    }

    /// Visits every event inside `region`, in global position order, with
    /// its payload decoded into `P`; returns how many events were visited.
    /// The visitor stops the replay early by returning
    /// [`ControlFlow::Break`] (the event it was given counts as visited).
    ///
    /// The streaming counterpart of [`Store::query`], and much faster for
    /// large regions: no owned header per event, frames read in adjacent
    /// runs, and selection on the index before any read. Events
    /// appended after the call starts are not visited. The visitor may use
    /// the store, including appending to it.
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use batpak::{Coordinate, EventKind, Region, Store, StoreConfig};
    /// let dir = tempfile::tempdir()?;
    /// let store = Store::open(StoreConfig::new(dir.path()))?;
    /// let coord = Coordinate::new("order:1", "shop:acme")?;
    /// for total in [10u64, 20, 30] {
    ///     store.append(&coord, EventKind::custom(7, 1)?, &total)?;
    /// }
    /// let mut sum = 0;
    /// let visited = store.replay::<u64, _>(&Region::entity("order:1"), |event| {
    ///     sum += *event.payload();
    ///     if event.sequence() == 2 {
    ///         return ControlFlow::Break(());
    ///     }
    ///     ControlFlow::Continue(())
    /// })?;
    /// assert_eq!((visited, sum), (2, 30));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`]; [`StoreError::Codec`] when a payload
    /// does not decode as `P`; [`StoreError::Corrupt`] when a frame is
    /// damaged or is not the event the index expects; I/O errors. Events
    /// visited before an error stay visited.
    pub fn replay<P, F>(&self, region: &Region, visit: F) -> Result<u64, StoreError>
    where
        P: DeserializeOwned,
        F: FnMut(EventView<'_, P>) -> ControlFlow<()>,
    {
        self.core.replay(region, visit)
    }

    /// The event `id` and every event caused by it, directly or through
    /// others (following causation ids), in global position order. Empty
    /// when `id` is unknown.
    ///
    /// # Errors
    /// As [`Store::get`].
    pub fn walk_causation(&self, id: EventId) -> Result<Vec<EventHeader>, StoreError> {
        self.core.read_headers(&self.core.causation_positions(id))
    }

    /// Re-reads the whole log from disk and checks every frame's length and
    /// CRC, every global position, sequence and hash chain link, and that
    /// each stream's last event hashes to the head hash the index holds.
    /// On the segment engine it also holds each full segment's sealed index
    /// file to its segment, writing a missing or wrong one anew
    /// ([`VerifyReport::sealed_indexes_rewritten`]).
    ///
    /// The head check is what catches a stream's *last* event rewritten in
    /// place with a valid CRC (no later link covers it): the index's head
    /// comes from the checkpoint (written by [`Store::close`] or at a
    /// rotation), or from the sealed indexes or the scan at open, and then
    /// from this store's own appends. Its limit: for a stream whose last
    /// event an open read from the log (past the checkpoint, or with no
    /// checkpoint that matched), the head was computed from the same bytes,
    /// so such a rewrite made before that open is undetectable. Keep a
    /// [`StreamHead`] hash (or an [`AppendReceipt`] hash) elsewhere to anchor
    /// a stream against that.
    ///
    /// # Errors
    /// I/O errors only; damage is reported in the [`VerifyReport`].
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        self.core.verify()
    }

    /// Makes every event appended so far durable (one fdatasync, shared
    /// with concurrent callers).
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or I/O errors.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.core.sync()
    }

    /// Counters: events, streams, segments, bytes, syncs, recovery.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        self.core.stats()
    }

    /// The directory this store lives in.
    #[must_use]
    pub fn dir(&self) -> &Path {
        self.core.dir()
    }

    /// Syncs, writes the index checkpoint (so the next open need not scan),
    /// and releases the directory. Dropping the store does the same, but
    /// has no one to report an error to; `close` is how to learn that the
    /// store was shut down cleanly.
    ///
    /// # Errors
    /// [`StoreError::Poisoned`] or I/O errors; the directory is released
    /// either way (once no [`Ticket`] of this store is alive).
    pub fn close(mut self) -> Result<(), StoreError> {
        self.stop_flusher();
        self.released = true;
        let closed = self.core.close();
        self.stop_sealer();
        closed
    }

    /// Releases the store as a process killed after its last write would:
    /// buffered frames are handed to the OS, nothing is synced, and no
    /// checkpoint or extent record is written, so the next open indexes
    /// what lies past the last checkpoint from the log. A test hook for the recovery path (what `Drop` did before it
    /// learnt to checkpoint); not part of the stable API.
    #[doc(hidden)]
    pub fn exit_without_checkpoint(mut self) {
        self.stop_flusher();
        self.released = true;
        self.core.flush_on_drop();
        self.stop_sealer();
    }

    fn stop_flusher(&mut self) {
        if let Some(flusher) = self.flusher.take() {
            flusher.stop();
        }
    }

    /// After the sealed indexes queued so far are written.
    fn stop_sealer(&mut self) {
        if let Some(sealer) = self.sealer.take() {
            sealer.stop(&self.core);
        }
    }
}

/// Dropping a store closes it: it syncs and writes the checkpoint as
/// [`Store::close`] does, so the next open need not rescan, swallowing any
/// error (a failed sync poisons the store and writes nothing; a failed
/// checkpoint write leaves the previous file, which open checks against the
/// log). A poisoned store, a read-only one and a store dropped while its
/// thread panics only hand buffered frames to the OS.
impl Drop for Store {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        self.stop_flusher();
        self.core.close_on_drop();
        self.stop_sealer();
    }
}
