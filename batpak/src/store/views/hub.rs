//! The views' fan-out point: the subscribers, the durable watermark that
//! cursors wait on, and the commit hook that feeds both.
//!
//! The core tells the hub (through `DurableHook`) right after the durable
//! watermark advances; the hub then reads the newly durable events once,
//! through the core's checked read path, and offers each to the matching
//! subscribers in position order. It never blocks on a subscriber.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Instant;

use crate::event::{EventHeader, Hash};
use crate::region::Region;
use crate::store::core::{Core, DurableHook};
use crate::store::lock::{lock, wait, wait_timeout};

/// Newly durable events read per batch while publishing.
const PUBLISH_CHUNK: usize = 256;

/// One durable event as published: header, raw payload, chain hash. Shared
/// by every subscriber it is sent to; each decodes the payload itself.
#[derive(Debug)]
pub(crate) struct Published {
    pub(crate) header: EventHeader,
    pub(crate) payload: Vec<u8>,
    pub(crate) hash: Hash,
}

/// A subscriber's lag record, shared by the publisher and the receiver.
#[derive(Debug, Default)]
pub(crate) struct LagState {
    /// `Some((missed, resume_from))` once the channel overflowed.
    pub(crate) lagged: Option<(u64, u64)>,
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

/// The subscribers, and how far publishing has gone.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    next_id: u64,
    /// Every position below this has been offered to the subscribers.
    published: u64,
    subscribers: Vec<Subscriber>,
}

impl Registry {
    /// Removes subscriber `id` (its subscription was dropped).
    pub(crate) fn remove(&mut self, id: u64) {
        self.subscribers.retain(|s| s.id != id);
    }
}

/// A new subscriber's end of the hub.
pub(crate) struct Registration {
    pub(crate) id: u64,
    /// Position from which the subscriber receives events.
    pub(crate) start: u64,
    pub(crate) rx: flume::Receiver<Arc<Published>>,
    pub(crate) lag: Arc<Mutex<LagState>>,
    pub(crate) registry: Weak<Mutex<Registry>>,
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
    /// A hub with this default channel capacity; [`Hub::start_at`] sets
    /// where publishing starts once the store is open.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            registry: Arc::new(Mutex::new(Registry::default())),
            watermark: Mutex::new(0),
            advanced: Condvar::new(),
        }
    }

    /// Positions below `durable` were durable at open: nothing to publish.
    pub(crate) fn start_at(&self, durable: u64) {
        lock(&self.registry).published = durable;
        *lock(&self.watermark) = durable;
    }

    /// The default channel capacity of a subscription.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Registers a subscriber to the events inside `region` from now on.
    pub(crate) fn register(&self, region: Region, capacity: usize) -> Registration {
        let (tx, rx) = flume::bounded(capacity.max(1));
        let lag = Arc::new(Mutex::new(LagState::default()));
        let mut registry = lock(&self.registry);
        let id = registry.next_id;
        registry.next_id += 1;
        let start = registry.published;
        registry.subscribers.push(Subscriber {
            id,
            region,
            tx,
            lag: Arc::clone(&lag),
        });
        Registration {
            id,
            start,
            rx,
            lag,
            registry: Arc::downgrade(&self.registry),
        }
    }

    /// The published durable watermark.
    pub(crate) fn watermark(&self) -> u64 {
        *lock(&self.watermark)
    }

    /// Blocks until the watermark exceeds `position` or `deadline` passes;
    /// returns the watermark. Woken by the commit path, never by polling.
    pub(crate) fn wait_beyond(&self, position: u64, deadline: Option<Instant>) -> u64 {
        static NEVER: AtomicBool = AtomicBool::new(false);
        self.wait_beyond_unless(position, deadline, &NEVER)
    }

    /// [`Hub::wait_beyond`] that also returns once `stop` is set and
    /// [`Hub::wake_all`] is called: the flag is read under the watermark's
    /// lock, so a stop raised before the wait begins is never missed.
    pub(crate) fn wait_beyond_unless(
        &self,
        position: u64,
        deadline: Option<Instant>,
        stop: &AtomicBool,
    ) -> u64 {
        let mut mark = lock(&self.watermark);
        while *mark <= position && !stop.load(Ordering::Acquire) {
            match deadline {
                None => mark = wait(&self.advanced, mark),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        break;
                    }
                    mark = wait_timeout(&self.advanced, mark, d - now);
                }
            }
        }
        *mark
    }

    /// Wakes every waiter so it can look at its stop flag (set the flag
    /// first).
    pub(crate) fn wake_all(&self) {
        let _mark = lock(&self.watermark);
        self.advanced.notify_all();
    }

    /// Subscribers currently registered.
    pub(crate) fn subscriber_count(&self) -> usize {
        lock(&self.registry).subscribers.len()
    }
}

/// The commit hook: positions below `target` just became durable. Wakes
/// cursors and offers the new events to subscribers. Safe to call from
/// concurrent syncs: the registry lock and its `published` watermark make
/// each position go out once, in order, whatever the call order.
impl DurableHook for Hub {
    fn durable(&self, core: &Core, target: u64) {
        {
            let mut mark = lock(&self.watermark);
            if target > *mark {
                *mark = target;
                self.advanced.notify_all();
            }
        }
        let mut registry = lock(&self.registry);
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
            if let Err(failed_at) = publish_range(core, &mut registry, start, end) {
                // Reading failed: every subscriber is told exactly what it
                // missed (judged from the index) and can resume by cursor.
                for sub in &registry.subscribers {
                    let missed = core.matching_any(failed_at..target, &[&sub.region]);
                    let first = missed.first().copied().unwrap_or(failed_at);
                    sub.miss(first, missed.len() as u64);
                }
                return;
            }
            start = end;
        }
    }
}

/// Offers positions `[start, end)` to the subscribers; on a read failure
/// returns the first position not offered.
fn publish_range(core: &Core, registry: &mut Registry, start: u64, end: u64) -> Result<(), u64> {
    let regions: Vec<&Region> = registry.subscribers.iter().map(|s| &s.region).collect();
    let positions = core.matching_any(start..end, &regions);
    let mut done = 0usize;
    let mut gone: Vec<u64> = Vec::new();
    let read = core.read_checked(&positions, &mut |_, frame| {
        let Some(header) = frame.header else {
            return ControlFlow::Continue(());
        };
        let hash = Hash::chain(&header.prev_hash, frame.parts.header, frame.parts.payload);
        let event = Arc::new(Published {
            header,
            payload: frame.parts.payload.to_vec(),
            hash,
        });
        for sub in &registry.subscribers {
            if sub.region.matches(&event.header) && !sub.offer(&event) {
                gone.push(sub.id);
            }
        }
        done += 1;
        ControlFlow::Continue(())
    });
    registry.subscribers.retain(|s| !gone.contains(&s.id));
    match read {
        Ok(_) => Ok(()),
        Err(_) => Err(positions.get(done).copied().unwrap_or(end)),
    }
}
