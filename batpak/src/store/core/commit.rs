//! Group commit and the background flusher: when appended events become
//! durable, and who pays for the fdatasync.
//!
//! One thread at a time syncs (the leader); its sync covers everything
//! handed to the engine before it began. Waiters sleep on a condvar; when a
//! sync ends, those it covered return without syncing and one of the rest
//! leads the next. After a sync the views are told (`DurableHook`), so
//! everything they see is durable.

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Core;
use crate::store::config::SyncPolicy;
use crate::store::error::StoreError;
use crate::store::lock::{lock, wait};

/// Longest a sync leader waits for concurrent appends to join its sync
/// (a fraction of one fdatasync on any disk).
const GROUP_COMMIT_MAX_WAIT: Duration = Duration::from_micros(100);

impl Core {
    /// Applies the sync policy after an append whose events end at `end`.
    ///
    /// After a failed write or sync nothing is acknowledged that is not
    /// durable, under any policy: the OS may have dropped the pages of every
    /// event not yet synced, so the caller must treat them as not stored.
    pub(crate) fn after_append(&self, end: u64) -> Result<(), StoreError> {
        if self.durable.load(Ordering::SeqCst) >= end {
            return Ok(());
        }
        if self.poisoned.load(Ordering::SeqCst) {
            return Err(StoreError::Poisoned);
        }
        match self.config.sync_policy {
            SyncPolicy::Always => self.wait_durable(end),
            SyncPolicy::EveryN { events, .. } => {
                let most = u64::from(events.max(1));
                let unsynced = end.saturating_sub(self.durable.load(Ordering::SeqCst));
                if unsynced < sync_ahead_at(most) {
                    return Ok(());
                }
                // From half of `most` on, the flusher syncs in the background
                // (a wake already pending does as well), so that by the time
                // `most` events wait, most of them are durable: an appender
                // waits only when returning would leave more than `most`
                // acknowledged events unsynced.
                let woken = self.flusher.get().map(|f| f.try_send(Wake::Sync));
                match woken {
                    Some(Ok(()) | Err(flume::TrySendError::Full(_))) if unsynced > most => {
                        self.wait_durable(end - most)
                    }
                    Some(Ok(()) | Err(flume::TrySendError::Full(_))) => Ok(()),
                    // No flusher (any more): this appender syncs, at `most`.
                    _ if unsynced >= most => self.wait_durable(end),
                    _ => Ok(()),
                }
            }
            SyncPolicy::Manual => Ok(()),
        }
    }

    /// Returns once positions below `end` are durable, leading a sync when
    /// no other thread is.
    pub(crate) fn wait_durable(&self, end: u64) -> Result<(), StoreError> {
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
            syncing = wait(&self.sync_done, syncing);
        }
        *syncing = true;
        drop(syncing);
        self.gather_joiners();
        // Everything handed to the engine before this load is covered by the
        // sync below (the engine flushes its buffer first).
        let target = self.appended.load(Ordering::SeqCst);
        self.syncs.fetch_add(1, Ordering::Relaxed);
        let _span = crate::trace::span!(
            DEBUG,
            "sync",
            events = target.saturating_sub(self.durable.load(Ordering::SeqCst)),
        );
        let result = self.engine.sync();
        crate::trace::record!(_span, outcome = crate::trace::outcome(&result));
        match &result {
            Ok(()) => {
                self.durable.fetch_max(target, Ordering::SeqCst);
            }
            Err(_) => self.poisoned.store(true, Ordering::SeqCst),
        }
        *lock(&self.sync_state) = false;
        self.sync_done.notify_all();
        // Told after leaving the leader role, so the next group commit is
        // not delayed by the views.
        if result.is_ok() {
            self.on_durable.durable(self, target);
        }
        result
    }

    /// Lets the other appenders in flight land in this sync (typically the
    /// ones the last sync just released, which are still waking up): yield
    /// until every thread in flight has an unsynced event and nobody is
    /// mid-append, for a short while at most. Waiting for the log to stop
    /// growing instead ends too early when released threads have not been
    /// scheduled yet (8 threads on 2 cores: ~5 events per fsync instead of
    /// ~7.7). A lone appender never yields.
    fn gather_joiners(&self) {
        if self.in_flight.load(Ordering::SeqCst) <= 1 {
            return;
        }
        let deadline = Instant::now() + GROUP_COMMIT_MAX_WAIT;
        let durable = self.durable.load(Ordering::SeqCst);
        while Instant::now() < deadline {
            std::thread::yield_now();
            let pending = self.appended.load(Ordering::SeqCst).saturating_sub(durable);
            if pending >= self.in_flight.load(Ordering::SeqCst)
                && self.appending.load(Ordering::SeqCst) == 0
            {
                break;
            }
        }
    }
}

/// Unsynced events at which `EveryN { events: most }` starts a sync in the
/// background: half of `most`, so that a sync (one fdatasync) runs while
/// the other half is appended.
fn sync_ahead_at(most: u64) -> u64 {
    most.div_ceil(2)
}

/// The `EveryN` background syncer: stopping it (or the store's end, which
/// it sees at its next check) ends the thread.
#[derive(Debug)]
pub(crate) struct Flusher {
    wake: flume::Sender<Wake>,
    thread: std::thread::JoinHandle<()>,
}

/// What wakes the flusher before its next check.
#[derive(Debug)]
pub(crate) enum Wake {
    /// An appender found `events` events unsynced: sync them now.
    Sync,
    /// The store is closing.
    Stop,
}

impl Flusher {
    /// Starts the syncer when the policy is `EveryN` and the store writable.
    pub(crate) fn start(core: &std::sync::Arc<Core>) -> Result<Option<Self>, StoreError> {
        match (core.writable, core.config.sync_policy) {
            (
                true,
                SyncPolicy::EveryN {
                    events,
                    max_delay_ms,
                },
            ) => spawn(core, u64::from(events.max(1)), max_delay_ms).map(Some),
            _ => Ok(None),
        }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        // Queued behind at most one `Sync`; fails only if the thread ended.
        let _ = self.wake.send(Wake::Stop);
        // The thread only syncs; a panic there has nothing to report.
        let _ = self.thread.join();
    }
}

fn spawn(
    owner: &std::sync::Arc<Core>,
    most: u64,
    max_delay_ms: u64,
) -> Result<Flusher, StoreError> {
    // One pending wake at most: an appender never blocks on it.
    let (wake, rx) = flume::bounded::<Wake>(1);
    // Appenders wake it through the core (set once: one flusher a store).
    let _ = owner.flusher.set(wake.clone());
    let core: Weak<Core> = std::sync::Arc::downgrade(owner);
    // Checking twice per `max_delay_ms` keeps every event's unsynced time
    // under `max_delay_ms` (plus the sync itself).
    let delay = Duration::from_micros((max_delay_ms.saturating_mul(1_000) / 2).max(500));
    let dir = owner.config.dir.clone();
    let thread = std::thread::Builder::new()
        .name("batpak-flusher".to_owned())
        .spawn(move || {
            // Ends when told to, or at the first check after the store is gone.
            loop {
                let woken = match rx.recv_timeout(delay) {
                    Ok(Wake::Sync) => true,
                    Err(flume::RecvTimeoutError::Timeout) => false,
                    Ok(Wake::Stop) | Err(flume::RecvTimeoutError::Disconnected) => return,
                };
                let Some(core) = core.upgrade() else {
                    return;
                };
                let end = core.appended.load(Ordering::SeqCst);
                let unsynced = end.saturating_sub(core.durable.load(Ordering::SeqCst));
                // A wake queued while the last sync ran may find less than
                // it was sent for: left to the next wake or check, so that
                // each sync covers at least half of `events`. A check syncs
                // whatever waits (`max_delay_ms`).
                let due = if woken {
                    unsynced >= sync_ahead_at(most)
                } else {
                    unsynced > 0
                };
                if due {
                    // A failure poisons the store; appenders will see it.
                    let _ = core.wait_durable(end);
                }
            }
        })
        .map_err(|e| StoreError::io("spawn flusher thread", dir, e))?;
    Ok(Flusher { wake, thread })
}
