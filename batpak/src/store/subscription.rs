//! Subscriptions: durable events pushed to live consumers over bounded
//! flume channels, and the commit notification cursors block on.
//!
//! The store publishes from one place: right after the durable watermark
//! advances (in the group-commit sync). Publishes are serialized by the
//! registry lock and its own watermark, so they never interleave.
//! Each newly durable event is read once, matched against every
//! subscriber's [`Region`] with [`Region::matches`], and offered to the
//! matching subscribers in global position order.
//!
//! Invariants:
//! - Nothing is delivered before it is durable under the store's
//!   [`SyncPolicy`](crate::SyncPolicy): with `Manual`, nothing before `sync()`.
//! - A subscriber is never blocked on and never silently skipped. When its
//!   channel is full it is marked *lagged*: later events for it are counted,
//!   not queued. Once it has drained what was queued, its next receive
//!   yields [`Delivery::Lagged`] with the exact number missed and the first
//!   missed position (resume there with a [`Cursor`](crate::Cursor)); then
//!   delivery continues with new events.
//! - Queues are bounded (capacity set in the config or per subscription).
//! - A dropped [`Subscription`] unregisters itself; a subscriber whose
//!   receiver vanished is dropped at the next publish.
//! - A subscription holds no reference to the store: when the store is
//!   closed or dropped, receivers drain what was queued and then see
//!   [`SubscriptionError::Closed`].

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::error::StoreError;
use super::index::{FLAG_BYPASS, Index};
use super::segment::format::split_body;
use super::{Shared, Store, lock, read_lock};
use crate::event::{CodecError, EventHeader, Hash, StoredEvent, decode_header, decode_payload};
use crate::region::Region;

/// Newly durable events read per batch while publishing.
const PUBLISH_CHUNK: usize = 256;

/// One durable event as published: header, raw payload, chain hash. Shared
/// by every subscriber it is sent to; each decodes the payload itself.
#[derive(Debug)]
struct Published {
    header: EventHeader,
    payload: Vec<u8>,
    hash: Hash,
}

/// A subscriber's lag record, shared by the publisher and the receiver.
#[derive(Debug, Default)]
struct LagState {
    /// `Some((missed, resume_from))` once the channel overflowed.
    lagged: Option<(u64, u64)>,
}

#[derive(Debug)]
struct Subscriber {
    id: u64,
    region: Region,
    tx: flume::Sender<Arc<Published>>,
    lag: Arc<Mutex<LagState>>,
}

impl Subscriber {
    /// Offers one event. False when the receiver is gone (drop it).
    fn offer(&self, event: &Arc<Published>) -> bool {
        let mut lag = lock(&self.lag);
        if let Some((missed, _)) = lag.lagged.as_mut() {
            *missed += 1;
            return true;
        }
        match self.tx.try_send(Arc::clone(event)) {
            Ok(()) => true,
            Err(flume::TrySendError::Full(_)) => {
                lag.lagged = Some((1, event.header.position));
                true
            }
            Err(flume::TrySendError::Disconnected(_)) => false,
        }
    }

    /// Records `missed` events from `from` that could not be read.
    fn miss(&self, from: u64, missed: u64) {
        if missed == 0 {
            return;
        }
        let mut lag = lock(&self.lag);
        match lag.lagged.as_mut() {
            Some((m, _)) => *m += missed,
            None => lag.lagged = Some((missed, from)),
        }
    }
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// Every position below this has been offered to the subscribers.
    published: u64,
    subscribers: Vec<Subscriber>,
}

/// The store's fan-out point: subscribers and the durable watermark that
/// cursors wait on.
#[derive(Debug)]
pub(crate) struct Hub {
    capacity: usize,
    registry: Arc<Mutex<Registry>>,
    /// The durable watermark as last published (cursors wait on it).
    watermark: Mutex<u64>,
    advanced: Condvar,
}

impl Hub {
    /// A hub for a store whose first `durable` positions are durable.
    pub(crate) fn new(capacity: usize, durable: u64) -> Self {
        Self {
            capacity: capacity.max(1),
            registry: Arc::new(Mutex::new(Registry {
                published: durable,
                ..Registry::default()
            })),
            watermark: Mutex::new(durable),
            advanced: Condvar::new(),
        }
    }

    /// The published durable watermark.
    pub(crate) fn watermark(&self) -> u64 {
        *lock(&self.watermark)
    }

    /// Blocks until the watermark exceeds `position` or `deadline` passes;
    /// returns the watermark. Woken by the commit path, never by polling.
    pub(crate) fn wait_beyond(&self, position: u64, deadline: Option<Instant>) -> u64 {
        let mut mark = lock(&self.watermark);
        while *mark <= position {
            match deadline {
                None => {
                    mark = self
                        .advanced
                        .wait(mark)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    mark = self
                        .advanced
                        .wait_timeout(mark, d - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0;
                }
            }
        }
        *mark
    }

    /// Subscribers currently registered.
    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.registry).subscribers.len()
    }
}

/// True when the event at `p` falls inside `region`, judged from the index
/// alone (the same predicate as [`Region::matches`], on indexed fields).
fn index_matches(index: &Index, region: &Region, p: u64) -> bool {
    let Some(e) = usize::try_from(p).ok().and_then(|i| index.entries.get(i)) else {
        return false;
    };
    let Some(stream) = index.streams.get(e.stream as usize) else {
        return false;
    };
    let in_range = |r: Option<(u64, u64)>, v: u64| r.is_none_or(|(a, b)| (a..=b).contains(&v));
    region.matches_coordinate(&stream.coordinate)
        && region.matches_kind(e.kind)
        && in_range(region.sequence_range(), e.sequence)
        && in_range(region.position_range(), p)
        && (!region.is_bypassed_only() || e.flags & FLAG_BYPASS != 0)
}

impl Shared {
    /// The commit hook: positions below `target` just became durable. Wakes
    /// cursors and offers the new events to subscribers. Safe to call from
    /// concurrent syncs: the registry lock and its `published` watermark
    /// make each position go out once, in order, whatever the call order.
    pub(crate) fn publish_durable(&self, target: u64) {
        {
            let mut mark = lock(&self.hub.watermark);
            if target > *mark {
                *mark = target;
                self.hub.advanced.notify_all();
            }
        }
        let mut registry = lock(&self.hub.registry);
        let from = registry.published;
        if target <= from {
            return;
        }
        registry.published = target;
        if registry.subscribers.is_empty() {
            return;
        }
        let mut start = from;
        while start < target {
            let end = target.min(start + PUBLISH_CHUNK as u64);
            if let Err(failed_at) = self.publish_range(&mut registry, start, end) {
                // Reading failed: every subscriber is told exactly what it
                // missed (judged from the index) and can resume by cursor.
                let index = read_lock(&self.index);
                for sub in &registry.subscribers {
                    let missed = (failed_at..target)
                        .filter(|&p| index_matches(&index, &sub.region, p))
                        .count() as u64;
                    let first = (failed_at..target)
                        .find(|&p| index_matches(&index, &sub.region, p))
                        .unwrap_or(failed_at);
                    sub.miss(first, missed);
                }
                return;
            }
            start = end;
        }
    }

    /// Offers positions `[start, end)`; on a read failure returns the first
    /// position not offered.
    fn publish_range(&self, registry: &mut Registry, start: u64, end: u64) -> Result<(), u64> {
        let positions: Vec<u64> = {
            let index = read_lock(&self.index);
            (start..end)
                .filter(|&p| {
                    registry
                        .subscribers
                        .iter()
                        .any(|s| index_matches(&index, &s.region, p))
                })
                .collect()
        };
        let locs = self.locs(&positions);
        let mut done = 0usize;
        let mut gone: Vec<u64> = Vec::new();
        let read = self.engine.read_many(&locs, &mut |i, body| {
            let (Some(&loc), Some(&position)) = (locs.get(i), positions.get(i)) else {
                return Ok(());
            };
            let parts = split_body(body).ok_or_else(|| {
                StoreError::corrupt(loc.segment, loc.offset, "frame body is malformed")
            })?;
            let header = decode_header(parts.header)?;
            if header.position != position {
                return Err(StoreError::corrupt(
                    loc.segment,
                    loc.offset,
                    "frame position does not match the index",
                ));
            }
            let hash = Hash::chain(&header.prev_hash, parts.header, parts.payload);
            let event = Arc::new(Published {
                header,
                payload: parts.payload.to_vec(),
                hash,
            });
            for sub in &registry.subscribers {
                if sub.region.matches(&event.header) && !sub.offer(&event) {
                    gone.push(sub.id);
                }
            }
            done = i + 1;
            Ok(())
        });
        registry.subscribers.retain(|s| !gone.contains(&s.id));
        match read {
            Ok(()) => Ok(()),
            Err(_) => Err(positions.get(done).copied().unwrap_or(end)),
        }
    }
}

/// What a subscription receives.
// `Event` is the common variant and moved once per receive; boxing it would
// cost an allocation per event to shrink the rare `Lagged`.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery<P> {
    /// The next durable event inside the region.
    Event(StoredEvent<P>),
    /// The channel overflowed: `missed` events inside the region, the first
    /// at `resume_from`, were not queued. Read them with
    /// [`Store::cursor`](crate::Store::cursor) from `resume_from`; delivery of
    /// newer events continues on this subscription (so the two may overlap).
    Lagged {
        /// Events inside the region that were not delivered.
        missed: u64,
        /// Position of the first one.
        resume_from: u64,
    },
}

/// Why a subscription could not deliver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SubscriptionError {
    /// The store was closed or dropped and everything queued was received.
    #[error("the store behind this subscription is closed")]
    Closed,
    /// The event's payload does not decode into the subscription's type.
    #[error("event at position {position}: {source}")]
    Decode {
        /// Global position of the event.
        position: u64,
        /// The decoder's error.
        source: CodecError,
    },
}

/// A live feed of the durable events inside a [`Region`], decoded into `P`.
///
/// Delivery: each event once, in global position order, only after it is
/// durable under the store's sync policy (with `Manual`, after `sync()`).
///
/// Slow consumers: the channel is bounded. When it is full the store neither
/// blocks nor drops silently: the subscription is marked lagged and later
/// events for it are only counted. After the queued events, the next
/// receive yields [`Delivery::Lagged`] with the exact number missed and the
/// first missed position; read those with a [`Cursor`](crate::Cursor), while
/// this subscription goes on with newer events.
///
/// Dropping a subscription unregisters it. When the store is closed or
/// dropped, receives drain the queue and then return
/// [`SubscriptionError::Closed`].
///
/// ```
/// use batpak::{Coordinate, Delivery, EventKind, Region, Store, StoreConfig, Subscription};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let sub: Subscription<String> = store.subscribe(Region::entity("order:1"))?;
/// let coord = Coordinate::new("order:1", "shop:acme")?;
/// store.append(&coord, EventKind::custom(7, 1)?, &"placed")?;
/// let Delivery::Event(event) = sub.recv()? else {
///     return Err("one event cannot overflow the channel".into());
/// };
/// assert_eq!(event.payload, "placed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Subscription<P> {
    id: u64,
    start: u64,
    rx: flume::Receiver<Arc<Published>>,
    lag: Arc<Mutex<LagState>>,
    registry: Weak<Mutex<Registry>>,
    _payload: PhantomData<fn() -> P>,
}

enum Wait {
    No,
    Forever,
    Until(Instant),
}

impl<P: DeserializeOwned> Subscription<P> {
    /// The first position this subscription can deliver: every durable
    /// event inside the region at or after it is delivered (or counted in a
    /// [`Delivery::Lagged`]). Events before it: use a cursor.
    #[must_use]
    pub fn start_position(&self) -> u64 {
        self.start
    }

    /// Blocks until the next delivery.
    ///
    /// # Errors
    /// [`SubscriptionError::Closed`] once the store is gone and the queue is
    /// empty; [`SubscriptionError::Decode`] for a payload that is not a `P`
    /// (the subscription stays usable).
    pub fn recv(&self) -> Result<Delivery<P>, SubscriptionError> {
        self.next(Wait::Forever)?.ok_or(SubscriptionError::Closed)
    }

    /// Waits at most `timeout`; `Ok(None)` when nothing came.
    ///
    /// # Errors
    /// As [`Subscription::recv`].
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<Delivery<P>>, SubscriptionError> {
        self.next(Wait::Until(Instant::now() + timeout))
    }

    /// Never blocks; `Ok(None)` when nothing is ready.
    ///
    /// # Errors
    /// As [`Subscription::recv`].
    pub fn try_recv(&self) -> Result<Option<Delivery<P>>, SubscriptionError> {
        self.next(Wait::No)
    }

    /// A blocking iterator over deliveries; ends when the store is closed.
    pub fn iter(&self) -> Iter<'_, P> {
        Iter { sub: self }
    }

    fn next(&self, wait: Wait) -> Result<Option<Delivery<P>>, SubscriptionError> {
        loop {
            {
                // Under the lag lock the publisher cannot send, so "queue
                // empty and lagged" means every queued event was received and
                // the notice comes after them, in position order.
                let mut lag = lock(&self.lag);
                match self.rx.try_recv() {
                    Ok(event) => return decode(&event).map(Some),
                    Err(e) => {
                        if let Some((missed, resume_from)) = lag.lagged.take() {
                            return Ok(Some(Delivery::Lagged {
                                missed,
                                resume_from,
                            }));
                        }
                        if matches!(e, flume::TryRecvError::Disconnected) {
                            return Err(SubscriptionError::Closed);
                        }
                    }
                }
            }
            // Queue empty, not lagged: an overflow now needs a full queue,
            // so a blocking receive cannot miss a lag notice.
            let got = match wait {
                Wait::No => return Ok(None),
                Wait::Forever => self.rx.recv().ok(),
                Wait::Until(deadline) => match self.rx.recv_deadline(deadline) {
                    Ok(event) => Some(event),
                    Err(flume::RecvTimeoutError::Timeout) => return Ok(None),
                    Err(flume::RecvTimeoutError::Disconnected) => None,
                },
            };
            if let Some(event) = got {
                return decode(&event).map(Some);
            }
            // Disconnected: loop once more to report a pending lag first.
        }
    }
}

fn decode<P: DeserializeOwned>(event: &Published) -> Result<Delivery<P>, SubscriptionError> {
    let payload = decode_payload(&event.payload).map_err(|source| SubscriptionError::Decode {
        position: event.header.position,
        source,
    })?;
    Ok(Delivery::Event(StoredEvent {
        header: event.header.clone(),
        payload,
        hash: event.hash,
    }))
}

impl<P> Drop for Subscription<P> {
    fn drop(&mut self) {
        if let Some(registry) = self.registry.upgrade() {
            lock(&registry).subscribers.retain(|s| s.id != self.id);
        }
    }
}

/// Blocking iterator over a subscription's deliveries (see
/// [`Subscription::iter`]); yields decode errors and ends at `Closed`.
#[derive(Debug)]
pub struct Iter<'a, P> {
    sub: &'a Subscription<P>,
}

impl<P: DeserializeOwned> Iterator for Iter<'_, P> {
    type Item = Result<Delivery<P>, SubscriptionError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.sub.recv() {
            Err(SubscriptionError::Closed) => None,
            other => Some(other),
        }
    }
}

impl<'a, P: DeserializeOwned> IntoIterator for &'a Subscription<P> {
    type Item = Result<Delivery<P>, SubscriptionError>;
    type IntoIter = Iter<'a, P>;

    fn into_iter(self) -> Iter<'a, P> {
        self.iter()
    }
}

impl Store {
    /// Subscribes to the durable events inside `region`, from now on, with
    /// the configured channel capacity
    /// ([`StoreConfig::subscription_capacity`](crate::StoreConfig::subscription_capacity)).
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`] for a region that can never match.
    pub fn subscribe<P: DeserializeOwned>(
        &self,
        region: Region,
    ) -> Result<Subscription<P>, StoreError> {
        let capacity = self.shared.hub.capacity;
        self.subscribe_with_capacity(region, capacity)
    }

    /// As [`Store::subscribe`] with this channel capacity (0 behaves as 1).
    ///
    /// # Errors
    /// As [`Store::subscribe`].
    pub fn subscribe_with_capacity<P: DeserializeOwned>(
        &self,
        region: Region,
        capacity: usize,
    ) -> Result<Subscription<P>, StoreError> {
        region.check()?;
        let (tx, rx) = flume::bounded(capacity.max(1));
        let lag = Arc::new(Mutex::new(LagState::default()));
        let hub = &self.shared.hub;
        let mut registry = lock(&hub.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        let start = registry.published;
        registry.subscribers.push(Subscriber {
            id,
            region,
            tx,
            lag: Arc::clone(&lag),
        });
        Ok(Subscription {
            id,
            start,
            rx,
            lag,
            registry: Arc::downgrade(&hub.registry),
            _payload: PhantomData,
        })
    }

    /// Subscriptions currently registered (dropped ones are removed).
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.shared.hub.subscriber_count()
    }
}
