//! Parked steps: a step a reactor or a timer could not take (a gate denied
//! it, the table forbids it, its stream kept moving or broke) is recorded
//! in the store with the reason, instead of being retried forever or
//! holding up the steps behind it. A parked step is found by
//! [`parked`] and taken again by a retry; it counts as handled until then.
//!
//! Both outcomes of a cause are found the same way: they are events caused
//! by it (their causation is the cause's id) under a key derived from who
//! handled it ([`handled`]). Parked records live on one stream per reactor
//! or timer (`parked:<name>` in scope [`WIRING_SCOPE`]), as system records
//! ([`PARKED_KIND`]): they are the runtime's notes, not any machine's events. This file never
//! decides whether to park; the runner and the scheduler do.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::WiringError;
use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind};
use crate::guard::AppendOptions;
use crate::machine::MachineError;
use crate::pipeline::AppendReceipt;
use crate::region::Region;
use crate::store::{Store, StoreError};

/// The scope of the streams the wiring runtime writes its notes to.
pub const WIRING_SCOPE: &str = "batpak.wiring";

/// The kind of a parked record: a system record (category
/// [`EventKind::SYSTEM_CATEGORY`], which no user event can take), so a
/// machine's kinds never meet it and regions without a kind filter leave it
/// out.
pub const PARKED_KIND: EventKind = EventKind::new(EventKind::SYSTEM_CATEGORY, 2);

/// One step that was not taken, and why: the payload of a parked record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parked {
    /// The reactor or timer (`timer/Order/Expired`) that tried.
    pub name: String,
    /// The event whose step was not taken.
    pub cause: EventId,
    /// The key the step commits under once it is taken.
    pub key: String,
    /// The stream the step was for.
    pub target: Coordinate,
    /// The version the step had to find (timers), if any.
    pub at_version: Option<u64>,
    /// Why it was not taken.
    pub reason: ParkReason,
    /// 1 for the first try, one more for each retry that parked again.
    pub attempt: u32,
}

/// Why a step was parked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ParkReason {
    /// A gate of the target machine refused the step.
    Denied {
        /// The gate's name.
        gate: String,
        /// The denial's code.
        code: String,
        /// The denial's message.
        message: String,
    },
    /// The target's transition table has no such step from its state.
    Forbidden {
        /// The target's state.
        state: String,
        /// The event's variant.
        event: String,
    },
    /// The target stream kept moving while the step was decided.
    Conflict {
        /// The version the step was decided at.
        expected: u64,
        /// The version the stream had.
        actual: u64,
    },
    /// The target stream breaks its machine's rules.
    Corrupt {
        /// What replay reported.
        detail: String,
    },
}

impl ParkReason {
    /// The reason for a refused step, or `None` for an error no retry of
    /// the step could get past or around (a store failure): those stop the
    /// runner instead.
    pub(crate) fn of(error: &MachineError) -> Option<Self> {
        Some(match error {
            MachineError::Denied(denial) => Self::Denied {
                gate: denial.gate().to_owned(),
                code: denial.code().to_owned(),
                message: denial.message().to_owned(),
            },
            MachineError::InvalidTransition(illegal) => Self::Forbidden {
                state: illegal.state.clone(),
                event: illegal.event.to_owned(),
            },
            MachineError::Conflict { expected, actual } => Self::Conflict {
                expected: *expected,
                actual: *actual,
            },
            MachineError::CorruptStream { .. } => Self::Corrupt {
                detail: error.to_string(),
            },
            _ => return None,
        })
    }
}

impl std::fmt::Display for ParkReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Denied {
                gate,
                code,
                message,
            } => write!(f, "denied by gate `{gate}` ({code}): {message}"),
            Self::Forbidden { state, event } => {
                write!(f, "event `{event}` is not allowed in state `{state}`")
            }
            Self::Conflict { expected, actual } => write!(
                f,
                "the stream moved while the step was decided (expected version {expected}, found {actual})"
            ),
            Self::Corrupt { detail } => f.write_str(detail),
        }
    }
}

/// What became of a cause: its step was taken, or parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The step is stored: the event at this position.
    Taken {
        /// The step's global position.
        position: u64,
    },
    /// The step was parked, this many times.
    Parked {
        /// The latest attempt.
        attempt: u32,
    },
}

/// The stream holding `name`'s parked records.
fn parked_stream(name: &str) -> Result<Coordinate, WiringError> {
    Coordinate::new(format!("parked:{name}"), WIRING_SCOPE).map_err(|error| WiringError::Name {
        name: name.to_owned(),
        error,
    })
}

/// The key of the `attempt`-th parked record of `name` for `cause`.
fn park_key(name: &str, cause: EventId, attempt: u32) -> String {
    format!("park/{name}/{cause}/{attempt}")
}

/// What became of `cause` at the hands of `name`, whose step commits under
/// `key`: the step, if stored (it wins over any parking), else the latest
/// parking, else `None` (not handled yet).
///
/// # Errors
/// The store's read errors.
pub(crate) fn handled(
    store: &Store,
    name: &str,
    cause: EventId,
    key: &str,
) -> Result<Option<Handled>, StoreError> {
    let parked_prefix = format!("park/{name}/{cause}/");
    let mut found = None;
    for header in store.walk_causation(cause)? {
        if header.causation != Some(cause) {
            continue;
        }
        let Some(header_key) = header.idempotency_key.as_deref() else {
            continue;
        };
        if header_key == key {
            return Ok(Some(Handled::Taken {
                position: header.position,
            }));
        }
        if let Some(attempt) = header_key
            .strip_prefix(&parked_prefix)
            .and_then(|n| n.parse::<u32>().ok())
        {
            found = Some(found.map_or(attempt, |a: u32| a.max(attempt)));
        }
    }
    Ok(found.map(|attempt| Handled::Parked { attempt }))
}

/// Records `record` (its own key makes a repeated record a no-op),
/// caused by the event whose step it parks.
///
/// # Errors
/// The store's errors; nothing is recorded then.
pub(crate) fn park(store: &Store, record: &Parked) -> Result<AppendReceipt, WiringError> {
    let options = AppendOptions::new()
        .caused_by(record.cause)
        .idempotency_key(park_key(&record.name, record.cause, record.attempt));
    let stream = parked_stream(&record.name)?;
    Ok(store.append_system_record(&stream, PARKED_KIND, record, options)?)
}

/// The steps of reactor or timer `name` that are parked now: for each
/// cause, its latest record, unless its step has been taken since, or it
/// was pinned to a version its stream has moved past (a timer whose entity
/// left the state: no retry could take it). In the order they were first
/// parked.
///
/// ```
/// use batpak::{Store, StoreConfig, parked};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// assert!(parked(&store, "ship")?.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`WiringError::Name`] for a name no stream can carry; the store's read
/// errors.
pub fn parked(store: &Store, name: &str) -> Result<Vec<Parked>, WiringError> {
    let region = Region::coordinate(&parked_stream(name)?).kind(PARKED_KIND);
    let records = store.query::<Parked>(&region)?;
    let mut latest: BTreeMap<EventId, (u64, Parked)> = BTreeMap::new();
    for event in records {
        let first = event.position();
        latest
            .entry(event.payload.cause)
            .and_modify(|(_, kept)| {
                if event.payload.attempt > kept.attempt {
                    *kept = event.payload.clone();
                }
            })
            .or_insert((first, event.payload));
    }
    let mut open = Vec::new();
    for (first, record) in latest.into_values() {
        if record
            .at_version
            .is_some_and(|version| store.head(&record.target).version != version)
        {
            continue;
        }
        if !matches!(
            handled(store, name, record.cause, &record.key)?,
            Some(Handled::Taken { .. })
        ) {
            open.push((first, record));
        }
    }
    open.sort_by_key(|(first, _)| *first);
    Ok(open.into_iter().map(|(_, record)| record).collect())
}
