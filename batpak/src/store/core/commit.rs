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

/// The `EveryN` background syncer: stopping (or dropping the store's
/// handle to it) ends the thread.
#[derive(Debug)]
pub(crate) struct Flusher {
    stop: flume::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl Flusher {
    /// Starts the syncer when the policy is `EveryN` and the store writable.
    pub(crate) fn start(core: &std::sync::Arc<Core>) -> Result<Option<Self>, StoreError> {
        match (core.writable, core.config.sync_policy) {
            (true, SyncPolicy::EveryN { max_delay_ms, .. }) => {
                spawn(std::sync::Arc::downgrade(core), max_delay_ms).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(self) {
        drop(self.stop);
        // The thread only syncs; a panic there has nothing to report.
        let _ = self.thread.join();
    }
}

fn spawn(core: Weak<Core>, max_delay_ms: u64) -> Result<Flusher, StoreError> {
    let (stop, rx) = flume::bounded::<()>(1);
    // Checking twice per `max_delay_ms` keeps every event's unsynced time
    // under `max_delay_ms` (plus the sync itself).
    let delay = Duration::from_micros((max_delay_ms.saturating_mul(1_000) / 2).max(500));
    let dir = core
        .upgrade()
        .map(|c| c.config.dir.clone())
        .unwrap_or_default();
    let thread = std::thread::Builder::new()
        .name("batpak-flusher".to_owned())
        .spawn(move || {
            // Ends when the store drops its sender (close or drop).
            while let Err(flume::RecvTimeoutError::Timeout) = rx.recv_timeout(delay) {
                let Some(core) = core.upgrade() else {
                    return;
                };
                let end = core.appended.load(Ordering::SeqCst);
                if end > core.durable.load(Ordering::SeqCst) {
                    // A failure poisons the store; appenders will see it.
                    let _ = core.wait_durable(end);
                }
            }
        })
        .map_err(|e| StoreError::io("spawn flusher thread", dir, e))?;
    Ok(Flusher { stop, thread })
}
