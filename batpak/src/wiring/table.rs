//! A machine's timers as data, so tools that do not know the machine's
//! Rust types (the `batpak timers` command) can list its pending timers.
//!
//! A scheduler records its machine's [`TimerTable`] when it starts (once
//! per distinct table: the record's key is a hash of its content), on the
//! stream `timers:<machine>` in scope [`WIRING_SCOPE`]. [`pending_timers`]
//! reads the latest table of each machine and the last event of each of
//! the machine's entities: an entity whose last event is of a kind that
//! always leads into a timer's source state (`Timer::entered_by`) waits on
//! that timer, due at that event's timestamp plus the delay. A variant
//! that leads into a timed state from some states and elsewhere from
//! others is left out of `entered_by`, so such entities are not listed
//! (the scheduler itself runs the table and misses nothing). This file
//! never fires a timer.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::error::WiringError;
use super::parked::{WIRING_CATEGORY, WIRING_SCOPE, parked};
use crate::coordinate::Coordinate;
use crate::event::{EventHeader, EventId, EventKind};
use crate::guard::AppendOptions;
use crate::machine::StateMachine;
use crate::region::Region;
use crate::store::{Store, StoreError};

/// The kind of a recorded timer table.
pub const TIMER_TABLE_KIND: EventKind = EventKind::new(WIRING_CATEGORY, 2);

/// One machine's timers, as recorded by its scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerTable {
    /// The machine's name.
    pub machine: String,
    /// The category of its events.
    pub category: u16,
    /// Its timers, in declaration order.
    pub timers: Vec<TimerRow>,
}

/// One timer of a [`TimerTable`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimerRow {
    /// The variant it records.
    pub variant: String,
    /// Its delay in milliseconds.
    pub after_ms: u64,
    /// The states it waits in.
    pub from: Vec<String>,
    /// The kinds of the events that always lead into one of them.
    pub entered_by: Vec<EventKind>,
}

impl TimerTable {
    /// The table of machine `M`.
    #[must_use]
    pub fn of<M: StateMachine>() -> Self {
        Self {
            machine: M::NAME.to_owned(),
            category: M::CATEGORY,
            timers: M::TIMERS
                .iter()
                .map(|timer| TimerRow {
                    variant: timer.variant().to_owned(),
                    after_ms: u64::try_from(timer.after().as_millis()).unwrap_or(u64::MAX),
                    from: timer.from().iter().map(ToString::to_string).collect(),
                    entered_by: timer.entered_by().to_vec(),
                })
                .collect(),
        }
    }
}

/// A pending timer as [`pending_timers`] reads it from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueTimer {
    /// The machine.
    pub machine: String,
    /// The entity.
    pub coordinate: Coordinate,
    /// The variant the timer records.
    pub variant: String,
    /// When it falls due, in microseconds since the Unix epoch.
    pub due_us: u64,
    /// The entity's last event (which put it in the timed state).
    pub entered: EventId,
}

/// The stream holding `machine`'s recorded tables.
fn table_stream(machine: &str) -> Result<Coordinate, WiringError> {
    Coordinate::new(format!("timers:{machine}"), WIRING_SCOPE).map_err(|error| WiringError::Name {
        name: machine.to_owned(),
        error,
    })
}

/// Records `M`'s timer table unless this very table is recorded already.
/// A store opened read-only records nothing.
///
/// # Errors
/// The store's errors.
pub(crate) fn record<M: StateMachine>(store: &Store) -> Result<(), WiringError> {
    if M::TIMERS.is_empty() {
        return Ok(());
    }
    let table = TimerTable::of::<M>();
    let bytes = crate::event::encode_payload(&table).map_err(StoreError::from)?;
    let key = format!("timers/{}/{}", M::NAME, blake3::hash(&bytes).to_hex());
    let options = AppendOptions::new().idempotency_key(key);
    match store.append_with(&table_stream(M::NAME)?, TIMER_TABLE_KIND, &table, options) {
        Ok(_) | Err(StoreError::ReadOnly) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Every pending timer of every machine whose scheduler recorded its table
/// in this store, soonest first; parked timers are left out.
///
/// # Errors
/// The store's read errors.
pub fn pending_timers(store: &Store) -> Result<Vec<DueTimer>, WiringError> {
    let region = Region::all().scope(WIRING_SCOPE).kind(TIMER_TABLE_KIND);
    let mut tables: BTreeMap<String, TimerTable> = BTreeMap::new();
    for recorded in store.query::<TimerTable>(&region)? {
        tables.insert(recorded.payload.machine.clone(), recorded.payload);
    }
    let mut due = Vec::new();
    for table in tables.values() {
        due.extend(pending_of(store, table)?);
    }
    due.sort_by(|a, b| (a.due_us, &a.coordinate).cmp(&(b.due_us, &b.coordinate)));
    Ok(due)
}

/// The pending timers of one recorded table.
fn pending_of(store: &Store, table: &TimerTable) -> Result<Vec<DueTimer>, WiringError> {
    let mut last: BTreeMap<Coordinate, EventHeader> = BTreeMap::new();
    for header in store.query_headers(&Region::all().category(table.category))? {
        if header.coordinate.scope() != WIRING_SCOPE {
            last.insert(header.coordinate.clone(), header);
        }
    }
    let mut parked_causes = BTreeSet::new();
    for row in &table.timers {
        let name = format!("timer/{}/{}", table.machine, row.variant);
        parked_causes.extend(parked(store, &name)?.into_iter().map(|p| p.cause));
    }
    Ok(last
        .into_values()
        .filter(|header| !parked_causes.contains(&header.id))
        .filter_map(|header| {
            table
                .timers
                .iter()
                .filter(|row| row.entered_by.contains(&header.kind))
                .map(|row| DueTimer {
                    machine: table.machine.clone(),
                    coordinate: header.coordinate.clone(),
                    variant: row.variant.clone(),
                    due_us: header
                        .timestamp_us
                        .saturating_add(row.after_ms.saturating_mul(1_000)),
                    entered: header.id,
                })
                .min_by_key(|timer| timer.due_us)
        })
        .collect())
}
