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
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::hub::{LagState, Published, Registry};
use crate::event::{CodecError, StoredEvent, decode_stored};
use crate::region::Region;
use crate::store::error::StoreError;
use crate::store::facade::Store;
use crate::store::lock::lock;

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

/// How long a receive may block.
enum Block {
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
        self.next(Block::Forever)?.ok_or(SubscriptionError::Closed)
    }

    /// Waits at most `timeout`; `Ok(None)` when nothing came.
    ///
    /// # Errors
    /// As [`Subscription::recv`].
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<Delivery<P>>, SubscriptionError> {
        self.next(Block::Until(Instant::now() + timeout))
    }

    /// Never blocks; `Ok(None)` when nothing is ready.
    ///
    /// # Errors
    /// As [`Subscription::recv`].
    pub fn try_recv(&self) -> Result<Option<Delivery<P>>, SubscriptionError> {
        self.next(Block::No)
    }

    /// A blocking iterator over deliveries; ends when the store is closed.
    pub fn iter(&self) -> Iter<'_, P> {
        Iter { sub: self }
    }

    fn next(&self, block: Block) -> Result<Option<Delivery<P>>, SubscriptionError> {
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
            let got = match block {
                Block::No => return Ok(None),
                Block::Forever => self.rx.recv().ok(),
                Block::Until(deadline) => match self.rx.recv_deadline(deadline) {
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
    let payload = decode_stored(
        event.header.kind,
        event.header.payload_version,
        &event.payload,
    )
    .map_err(|source| SubscriptionError::Decode {
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
            lock(&registry).remove(self.id);
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
        let capacity = self.hub.capacity();
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
        let r = self.hub.register(region, capacity);
        Ok(Subscription {
            id: r.id,
            start: r.start,
            rx: r.rx,
            lag: r.lag,
            registry: r.registry,
            _payload: PhantomData,
        })
    }

    /// Subscriptions currently registered (dropped ones are removed).
    #[must_use]
    pub fn subscriber_count(&self) -> usize {
        self.hub.subscriber_count()
    }
}
