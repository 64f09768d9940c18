//! Views over the shared log: projections cached in the `projections`
//! table, cursors that resume from a position saved in the `cursors` table,
//! and subscriptions fed by a polling thread.
//!
//! All three read "the events after position *n*", which is exact here
//! because positions are assigned in commit order (see the module docs of
//! `postgres`): whatever a reader has seen, every lower position was
//! already committed, so resuming after it never skips an event. Readers in
//! other processes learn of new events by polling, at most
//! [`PgConfig::poll_interval`](super::PgConfig::poll_interval) late.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::conn::{Value, int8, server_error};
use super::facade::PgStore;
use super::read::READ_CHUNK;
use super::read::{select_window, select_window_encoded};
use super::write::next_position;
use crate::event::{EventId, StoredEvent, decode_payload, decode_stored, encode_payload};
use crate::projection::Projection;
use crate::region::Region;
use crate::store::config::DEFAULT_SUBSCRIPTION_CAPACITY;
use crate::store::error::StoreError;
use crate::store::views::projection::{
    ProjectionReport, RebuildReason, projection_cache_key, region_fingerprint,
};
use crate::store::views::subscription::{Delivery, SubscriptionError};

// Projection cache value: version (u32), next position (u64), id of the
// last event folded (u128), all little-endian, then the state.
const VERSION_AT: usize = 0;
const NEXT_AT: usize = 4;
const ID_AT: usize = 12;
const STATE_AT: usize = 28;

impl PgStore {
    /// Folds the events of `region` into projection `P`, starting from the
    /// state cached in the `projections` table (shared by every process)
    /// and applying only newer events.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`]; [`StoreError::Codec`] when a selected
    /// event does not decode as `P::Event`; [`StoreError::Postgres`].
    pub fn project<P: Projection>(&self, region: &Region) -> Result<P, StoreError> {
        self.project_with_report(region).map(|(state, _)| state)
    }

    /// As [`PgStore::project`], and says what it did.
    ///
    /// # Errors
    /// As [`PgStore::project`].
    pub fn project_with_report<P: Projection>(
        &self,
        region: &Region,
    ) -> Result<(P, ProjectionReport), StoreError> {
        region.check()?;
        let key = projection_cache_key::<P>(region);
        let sql = &self.shared.sql;
        let conn = self.shared.pool.get()?;
        let mut report = ProjectionReport::default();
        // Every committed position below `end` is visible: fold up to it.
        let end = next_position(&conn, sql)?;
        let cached = conn.exec("project", &sql.projection_get, &[Value::Bytes(&key.0)])?;
        let (mut state, mut next) = match cached.bytes(0, 0) {
            None => (P::default(), 0),
            Some(bytes) => match self.decode_entry::<P>(bytes) {
                Ok((state, next)) => {
                    report.from_cache = true;
                    (state, next)
                }
                Err(reason) => {
                    conn.exec("project", &sql.projection_remove, &[Value::Bytes(&key.0)])?;
                    report.rebuilt = Some(reason);
                    (P::default(), 0)
                }
            },
        };
        drop(conn);
        let kinds = P::kinds();
        let keep = |h: &crate::event::EventHeader| {
            h.position < end && kinds.is_none_or(|k| k.contains(&h.kind))
        };
        while next < end {
            let window = select_window::<P::Event>(&self.shared, region, &keep, next, READ_CHUNK)?;
            for event in &window.events {
                state.apply(event);
                report.applied += 1;
            }
            if !window.full || window.end <= next {
                break;
            }
            next = window.end;
        }
        next = end;
        if report.applied > 0 || !report.from_cache {
            let last = if next > 0 {
                self.id_at(next - 1)?
            } else {
                None
            };
            let mut value = Vec::with_capacity(STATE_AT + 64);
            value.extend_from_slice(&P::VERSION.to_le_bytes());
            value.extend_from_slice(&next.to_le_bytes());
            value.extend_from_slice(&last.map_or(0, EventId::as_u128).to_le_bytes());
            value.extend_from_slice(&encode_payload(&state)?);
            let conn = self.shared.pool.get()?;
            conn.exec(
                "project",
                &sql.projection_put,
                &[Value::Bytes(&key.0), Value::Bytes(&value)],
            )?;
        }
        report.position = next;
        report.cached_position = next;
        Ok((state, report))
    }

    /// The id of the event at `position`, if there is one.
    fn id_at(&self, position: u64) -> Result<Option<EventId>, StoreError> {
        let conn = self.shared.pool.get()?;
        let rows = conn.exec("project", &self.shared.sql.id_at, &[int8(position)])?;
        Ok(rows
            .bytes(0, 0)
            .and_then(|b| <[u8; 16]>::try_from(b).ok())
            .map(|b| EventId::from_u128(u128::from_be_bytes(b))))
    }

    /// Checks and decodes a cached entry: the state and the next position.
    fn decode_entry<P: Projection>(&self, bytes: &[u8]) -> Result<(P, u64), RebuildReason> {
        let field = |at: usize, len: usize| bytes.get(at..at + len).unwrap_or_default();
        if bytes.len() < STATE_AT {
            return Err(RebuildReason::Truncated { len: bytes.len() });
        }
        let version = u32::from_le_bytes(field(VERSION_AT, 4).try_into().unwrap_or_default());
        if version != P::VERSION {
            return Err(RebuildReason::Version { found: version });
        }
        let next = u64::from_le_bytes(field(NEXT_AT, 8).try_into().unwrap_or_default());
        let last = u128::from_le_bytes(field(ID_AT, 16).try_into().unwrap_or_default());
        if next > 0 {
            let found = self.id_at(next - 1).ok().flatten();
            if found.map(EventId::as_u128) != Some(last) {
                return Err(RebuildReason::LogMismatch { position: next });
            }
        }
        let state = decode_payload::<P>(&bytes[STATE_AT..]).map_err(|_| RebuildReason::Decode)?;
        Ok((state, next))
    }

    /// A cursor over `region` starting at position `from`.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`].
    pub fn cursor<P: DeserializeOwned>(
        &self,
        region: Region,
        from: u64,
    ) -> Result<PgCursor<P>, StoreError> {
        region.check()?;
        Ok(PgCursor {
            store: self.clone(),
            region,
            next: from,
            buffered: VecDeque::new(),
        })
    }

    /// The cursor saved under `name` by [`PgCursor::save`] (from any
    /// process), or a new one at position 0.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`]; [`StoreError::Postgres`], also when
    /// the saved cursor was made for another region.
    pub fn named_cursor<P: DeserializeOwned>(
        &self,
        name: &str,
        region: Region,
    ) -> Result<PgCursor<P>, StoreError> {
        region.check()?;
        let conn = self.shared.pool.get()?;
        let rows = conn.exec("cursor", &self.shared.sql.cursor_get, &[Value::Text(name)])?;
        let from = if rows.is_empty() {
            0
        } else {
            if rows.bytes(0, 0) != Some(region_fingerprint(&region).as_slice()) {
                return Err(server_error(
                    "cursor",
                    None,
                    format!("cursor {name:?} was saved for another region"),
                ));
            }
            rows.u64(0, 1).unwrap_or(0)
        };
        drop(conn);
        self.cursor(region, from)
    }

    /// A live feed of the events of `region` committed from now on, by any
    /// process, in position order. A thread polls for them every
    /// [`PgConfig::poll_interval`](super::PgConfig::poll_interval) and
    /// waits when the subscriber's queue is full (it never drops an
    /// event; a slow subscriber only delays its own feed).
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`]; [`StoreError::Postgres`].
    pub fn subscribe<P: DeserializeOwned + Send + 'static>(
        &self,
        region: Region,
    ) -> Result<PgSubscription<P>, StoreError> {
        region.check()?;
        let start = self.event_count()?;
        let (tx, rx) = flume::bounded(DEFAULT_SUBSCRIPTION_CAPACITY);
        let stop = Arc::new(AtomicBool::new(false));
        let feed = Feed {
            store: self.clone(),
            region,
            next: start,
            tx,
            stop: Arc::clone(&stop),
        };
        std::thread::Builder::new()
            .name("batpak-pg-subscription".into())
            .spawn(move || feed.run())
            .map_err(|e| server_error("subscribe", None, e.to_string()))?;
        Ok(PgSubscription {
            start,
            rx,
            stop,
            _payload: PhantomData,
        })
    }
}

/// The polling side of a [`PgSubscription`], on its own thread.
struct Feed<P> {
    store: PgStore,
    region: Region,
    next: u64,
    tx: flume::Sender<Result<Delivery<P>, SubscriptionError>>,
    stop: Arc<AtomicBool>,
}

impl<P: DeserializeOwned> Feed<P> {
    /// Polls until the subscription is dropped. Each event is decoded on
    /// its own: one that is not a `P` is delivered as
    /// [`SubscriptionError::Decode`] with its position, and the feed goes
    /// on. A server that is away is polled again; damage ends the feed (the
    /// receiver then sees `Closed`, and `verify` says where).
    fn run(mut self) {
        let interval = self.store.shared.config.poll_interval;
        while !self.stop.load(Ordering::SeqCst) {
            let window = match select_window_encoded(
                &self.store.shared,
                &self.region,
                self.next,
                READ_CHUNK,
            ) {
                Ok(window) => window,
                Err(StoreError::Postgres { .. }) => {
                    std::thread::sleep(interval);
                    continue;
                }
                Err(_) => return,
            };
            if window.events.is_empty() {
                std::thread::sleep(interval);
            }
            for event in window.events {
                let position = event.position();
                let header = &event.header;
                let stored =
                    decode_stored::<P>(header.kind, header.payload_version, &event.payload);
                let delivery = match stored {
                    Ok(payload) => Ok(Delivery::Event(event.map(|_| payload))),
                    Err(source) => Err(SubscriptionError::Decode { position, source }),
                };
                if self.tx.send(delivery).is_err() {
                    return; // the subscription was dropped
                }
            }
            self.next = window.end;
        }
    }
}

/// Pulls the events of a [`Region`] in global position order, from any
/// process's appends, decoded into `P`. Save its position with
/// [`PgCursor::save`] and resume with [`PgStore::named_cursor`]
/// (at-least-once: save after handling).
#[derive(Debug)]
pub struct PgCursor<P> {
    store: PgStore,
    region: Region,
    next: u64,
    buffered: VecDeque<StoredEvent<P>>,
}

impl<P: DeserializeOwned> PgCursor<P> {
    /// The position after the last event returned (or scanned past).
    #[must_use]
    pub fn position(&self) -> u64 {
        self.buffered.front().map_or(self.next, |e| e.position())
    }

    /// The next event, or `None` when there is none yet.
    ///
    /// # Errors
    /// [`StoreError::Codec`], [`StoreError::Corrupt`], [`StoreError::Postgres`].
    pub fn try_next(&mut self) -> Result<Option<StoredEvent<P>>, StoreError> {
        if self.buffered.is_empty() {
            let window = select_window::<P>(
                &self.store.shared,
                &self.region,
                &|_| true,
                self.next,
                READ_CHUNK,
            )?;
            self.next = window.end;
            self.buffered = window.events.into();
        }
        Ok(self.buffered.pop_front())
    }

    /// The next event, waiting up to `timeout` for one to be committed.
    ///
    /// # Errors
    /// As [`PgCursor::try_next`].
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.try_next()? {
                return Ok(Some(event));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            std::thread::sleep(self.store.shared.config.poll_interval.min(deadline - now));
        }
    }

    /// Saves the position under `name` in the `cursors` table, for this or
    /// any other process to resume from.
    ///
    /// # Errors
    /// [`StoreError::Postgres`].
    pub fn save(&self, name: &str) -> Result<(), StoreError> {
        let conn = self.store.shared.pool.get()?;
        let fingerprint = region_fingerprint(&self.region);
        conn.exec(
            "cursor",
            &self.store.shared.sql.cursor_put,
            &[
                Value::Text(name),
                Value::Bytes(&fingerprint),
                int8(self.position()),
            ],
        )?;
        Ok(())
    }
}

/// A live feed of committed events; see [`PgStore::subscribe`]. Dropping
/// it stops its polling thread.
#[derive(Debug)]
pub struct PgSubscription<P> {
    start: u64,
    rx: flume::Receiver<Result<Delivery<P>, SubscriptionError>>,
    stop: Arc<AtomicBool>,
    _payload: PhantomData<fn() -> P>,
}

impl<P> PgSubscription<P> {
    /// The first position this subscription can deliver.
    #[must_use]
    pub fn start_position(&self) -> u64 {
        self.start
    }

    /// The next delivery, waiting up to `timeout`; `None` when none came.
    ///
    /// # Errors
    /// [`SubscriptionError::Decode`] with the position of an event that
    /// does not decode as `P` (the feed goes on after it);
    /// [`SubscriptionError::Closed`] once the feed has ended on damage.
    pub fn recv_timeout(
        &self,
        timeout: Duration,
    ) -> Result<Option<Delivery<P>>, SubscriptionError> {
        match self.rx.recv_timeout(timeout) {
            Ok(delivery) => delivery.map(Some),
            Err(flume::RecvTimeoutError::Timeout) => Ok(None),
            Err(flume::RecvTimeoutError::Disconnected) => Err(SubscriptionError::Closed),
        }
    }
}

impl<P> Drop for PgSubscription<P> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
