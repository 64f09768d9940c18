//! The timer scheduler: fires a machine's timed transitions
//! ([`StateMachine::TIMERS`]) when they fall due, from the log alone.
//!
//! - **Due times come from the log.** An entity's timer is due at the
//!   timestamp of the event that put it in its current state (the stream's
//!   last event; a step back into the same state starts the wait again)
//!   plus the timer's delay. The scheduler folds the machine's events from a
//!   cursor to know each entity's state, version and that timestamp; no
//!   timer is stored, so nothing is lost or doubled by a restart.
//! - **Fired once, at the version it was meant for.** A due timer commits
//!   its event through the machine's gates with compare-and-append on the
//!   version the entity entered its state at, the entering event as
//!   causation and the key `timer/<machine>/<variant>/<entering event>`.
//!   An entity that left the state (or moved on) makes it a conflict, and
//!   the timer does nothing; a timer that committed before a crash finds
//!   its entity moved on after the restart.
//! - **Refusals are parked.** A gate that denies a due timer parks it
//!   (`parked.rs`) under the name `timer/<machine>/<variant>`; it is not
//!   tried again until retried.
//! - **No polling.** [`Timers::spawn`] sleeps until the next due time or
//!   the next durable commit, whichever comes first.
//!
//! Time is microseconds since the Unix epoch, the unit of
//! `EventHeader::timestamp_us`; [`Timers::run_due`] takes it as an argument
//! so tests drive the clock.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::error::WiringError;
use super::parked::{ParkReason, Parked, park, parked};
use super::table::record;
use crate::coordinate::Coordinate;
use crate::event::{EventId, StoredEvent};
use crate::machine::{Cause, MachineError, StateMachine, Timer, submit_caused};
use crate::region::Region;
use crate::store::{Cursor, Store, StoreError};

/// One entity of the machine, as the scheduler folded it.
struct Entry<M: StateMachine> {
    state: M::State,
    version: u64,
    /// When the entity entered `state` (its last event's timestamp).
    entered_us: u64,
    /// The event that put it there: the cause of its timers.
    entered: EventId,
    /// Its stream broke the machine's rules: no timer runs for it.
    broken: bool,
    /// A timer of this state fired or found the entity moved: none waits
    /// until the fold sees the entity's next event.
    settled: bool,
}

/// A timer waiting to fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingTimer {
    /// The entity.
    pub coordinate: Coordinate,
    /// The variant the timer records.
    pub variant: &'static str,
    /// When it falls due, in microseconds since the Unix epoch.
    pub due_us: u64,
    /// The version it fires at (the entity's version now).
    pub version: u64,
    /// The event that put the entity in its state.
    pub entered: EventId,
}

/// What one [`Timers::run_due`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimerReport {
    /// Timers that committed their step.
    pub fired: u64,
    /// Due timers whose entity had left the state by the time they fired:
    /// nothing was written.
    pub left_state: u64,
    /// Timers a gate (or the stream) refused: parked.
    pub parked: u64,
}

/// The timer scheduler of machine `M` on a store: folds the machine's
/// events, lists [`Timers::pending`] timers and fires the due ones with
/// [`Timers::run_due`].
///
/// ```
/// use batpak::prelude::*;
/// use batpak::Timers;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Draft, Placed, Expired), initial = Draft, terminal(Expired))]
/// enum Order {
///     #[transition(Draft -> Placed)]
///     Placed,
///     #[transition(Placed -> Expired, after = "30m")]
///     Expired,
/// }
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let coord = Coordinate::new("order:1", "shop")?;
/// Order::submit(&store, &coord, Order::Placed)?;
/// let mut timers = Timers::<Order>::new(&store)?;
/// let due = timers.pending()[0].due_us;
/// assert_eq!(timers.run_due(&(), due - 1)?.fired, 0); // not yet
/// assert_eq!(timers.run_due(&(), due)?.fired, 1);
/// assert_eq!(Order::state_of(&store, &coord)?, OrderState::Expired);
/// assert!(timers.pending().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Timers<'s, M: StateMachine> {
    store: &'s Store,
    cursor: Cursor<'s, M>,
    entities: HashMap<Coordinate, Entry<M>>,
    /// Entering events whose timer is parked.
    parked: BTreeSet<EventId>,
}

impl<'s, M: StateMachine> Timers<'s, M> {
    /// A scheduler that has folded every durable event of `M`. Records
    /// `M`'s timer table in the store (once per distinct table; not on a
    /// store opened read-only), so `batpak timers` can list its timers.
    ///
    /// # Errors
    /// The store's errors (a payload of `M`'s category that is not an `M`).
    pub fn new(store: &'s Store) -> Result<Self, WiringError> {
        record::<M>(store)?;
        let cursor = store.cursor(Region::all().category(M::CATEGORY), 0)?;
        let mut parked_causes = BTreeSet::new();
        for timer in M::TIMERS {
            parked_causes.extend(parked(store, &timer_name(timer))?.iter().map(|p| p.cause));
        }
        let mut timers = Self {
            store,
            cursor,
            entities: HashMap::new(),
            parked: parked_causes,
        };
        timers.refresh()?;
        Ok(timers)
    }

    /// Folds the events of `M` made durable since the last call.
    ///
    /// # Errors
    /// The store's errors; the events before the one that failed stay
    /// folded.
    pub fn refresh(&mut self) -> Result<(), StoreError> {
        while let Some(event) = self.cursor.try_next()? {
            self.fold(&event);
        }
        Ok(())
    }

    /// Every timer waiting to fire, soonest first.
    #[must_use]
    pub fn pending(&self) -> Vec<PendingTimer> {
        let mut pending: Vec<PendingTimer> = self
            .entities
            .iter()
            .filter_map(|(coordinate, entry)| self.next_timer(coordinate, entry))
            .collect();
        pending.sort_by(|a, b| (a.due_us, &a.coordinate).cmp(&(b.due_us, &b.coordinate)));
        pending
    }

    /// When the soonest timer falls due, if any waits.
    #[must_use]
    pub fn next_due(&self) -> Option<u64> {
        self.entities
            .iter()
            .filter_map(|(coordinate, entry)| self.next_timer(coordinate, entry))
            .map(|pending| pending.due_us)
            .min()
    }

    /// Folds what is new, then fires every timer due at `now_us`
    /// (microseconds since the Unix epoch) through `M`'s gates, reading
    /// `ctx`.
    ///
    /// # Errors
    /// A [`WiringError`]: the timers not fired yet stay pending.
    pub fn run_due(&mut self, ctx: &M::Context, now_us: u64) -> Result<TimerReport, WiringError> {
        self.refresh()?;
        let due: Vec<PendingTimer> = self
            .pending()
            .into_iter()
            .take_while(|pending| pending.due_us <= now_us)
            .collect();
        let mut report = TimerReport::default();
        for pending in due {
            self.fire(ctx, &pending, &mut report)?;
        }
        Ok(report)
    }

    /// Takes a parked timer's step again (after fixing what refused it),
    /// at the version it was meant for: commits it, finds its entity moved
    /// on (nothing is written), or parks it once more with the next
    /// attempt number.
    ///
    /// # Errors
    /// A [`WiringError`].
    pub fn retry(&mut self, ctx: &M::Context, parked: &Parked) -> Result<TimerReport, WiringError> {
        let mut report = TimerReport::default();
        let Some(timer) = M::TIMERS.iter().find(|t| timer_name(t) == parked.name) else {
            return Ok(report);
        };
        let cause = Cause {
            event: parked.cause,
            key: parked.key.clone(),
            at_version: parked.at_version,
        };
        self.parked.remove(&parked.cause);
        self.attempt(
            ctx,
            timer,
            &parked.target,
            &cause,
            parked.attempt + 1,
            &mut report,
        )?;
        Ok(report)
    }

    /// Commits `pending`'s step, or finds its entity moved on, or parks it.
    fn fire(
        &mut self,
        ctx: &M::Context,
        pending: &PendingTimer,
        report: &mut TimerReport,
    ) -> Result<(), WiringError> {
        let Some(timer) = M::TIMERS.iter().find(|t| t.variant() == pending.variant) else {
            return Ok(());
        };
        let cause = Cause {
            event: pending.entered,
            key: format!("{}/{}", timer_name(timer), pending.entered),
            at_version: Some(pending.version),
        };
        self.attempt(ctx, timer, &pending.coordinate, &cause, 1, report)
    }

    /// Takes `timer`'s step on `coordinate` for `cause`, counting the
    /// outcome in `report`; a refusal is parked as attempt `attempt`.
    fn attempt(
        &mut self,
        ctx: &M::Context,
        timer: &Timer<M>,
        coordinate: &Coordinate,
        cause: &Cause,
        attempt: u32,
        report: &mut TimerReport,
    ) -> Result<(), WiringError> {
        let name = timer_name(timer);
        let error = match submit_caused::<M, _>(self.store, ctx, coordinate, timer.event(), cause) {
            Ok(_) => {
                report.fired += 1;
                self.moved(coordinate);
                return Ok(());
            }
            Err(MachineError::Conflict { .. } | MachineError::InvalidTransition(_)) => {
                report.left_state += 1;
                self.moved(coordinate);
                return Ok(());
            }
            Err(error) => error,
        };
        let Some(reason) = ParkReason::of(&error) else {
            return Err(WiringError::Step {
                name,
                cause: cause.event,
                error: Box::new(error),
            });
        };
        park(
            self.store,
            &Parked {
                name,
                cause: cause.event,
                key: cause.key.clone(),
                target: coordinate.clone(),
                at_version: cause.at_version,
                reason,
                attempt,
            },
        )?;
        self.parked.insert(cause.event);
        report.parked += 1;
        Ok(())
    }

    /// The entity at `coordinate` moved past its timer: none waits until
    /// the fold sees where it went.
    fn moved(&mut self, coordinate: &Coordinate) {
        if let Some(entry) = self.entities.get_mut(coordinate) {
            entry.settled = true;
        }
    }

    /// The soonest timer of `entry`'s state, unless parked or broken.
    fn next_timer(&self, coordinate: &Coordinate, entry: &Entry<M>) -> Option<PendingTimer> {
        if entry.broken || entry.settled || self.parked.contains(&entry.entered) {
            return None;
        }
        M::TIMERS
            .iter()
            .filter(|timer| timer.waits_in(entry.state))
            .map(|timer| PendingTimer {
                coordinate: coordinate.clone(),
                variant: timer.variant(),
                due_us: entry.entered_us.saturating_add(micros(timer.after())),
                version: entry.version,
                entered: entry.entered,
            })
            .min_by_key(|pending| pending.due_us)
    }

    /// Folds one event of `M` into its entity.
    fn fold(&mut self, event: &StoredEvent<M>) {
        let entry = self
            .entities
            .entry(event.header.coordinate.clone())
            .or_insert_with(|| Entry {
                state: M::INITIAL,
                version: 0,
                entered_us: 0,
                entered: event.header.id,
                broken: false,
                settled: false,
            });
        if entry.broken {
            return;
        }
        match M::apply(entry.state, &event.payload) {
            Ok(next) if event.sequence() == entry.version + 1 => {
                entry.state = next;
                entry.version = event.sequence();
                entry.entered_us = event.header.timestamp_us;
                entry.entered = event.header.id;
                entry.settled = false;
            }
            _ => entry.broken = true,
        }
    }
}

/// The name timer `timer` of `M` parks under and derives its keys from.
fn timer_name<M: StateMachine>(timer: &Timer<M>) -> String {
    format!("timer/{}/{}", M::NAME, timer.variant())
}

/// `duration` in whole microseconds, saturating.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The wall clock in microseconds since the Unix epoch (0 before it).
#[must_use]
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, micros)
}

impl<M: StateMachine> Timers<'_, M>
where
    M::Context: Send + Sync,
{
    /// Runs `M`'s timers on a thread of its own until
    /// [`TimerThread::shutdown`], on the wall clock: fires what is due,
    /// then sleeps until the next due time or the next durable commit.
    ///
    /// # Errors
    /// As [`Timers::new`], before the thread starts.
    pub fn spawn(store: Arc<Store>, ctx: Arc<M::Context>) -> Result<TimerThread, WiringError> {
        Self::spawn_with_clock(store, ctx, now_us)
    }

    /// [`Timers::spawn`] on the clock `clock` (microseconds since the Unix
    /// epoch); the sleep until the next due time is measured on the
    /// monotonic clock from `clock`'s reading.
    ///
    /// # Errors
    /// As [`Timers::new`], before the thread starts.
    pub fn spawn_with_clock(
        store: Arc<Store>,
        ctx: Arc<M::Context>,
        clock: fn() -> u64,
    ) -> Result<TimerThread, WiringError> {
        drop(Timers::<M>::new(&store)?);
        let stop = Arc::new(AtomicBool::new(false));
        let totals = Arc::new(Mutex::new(TimerReport::default()));
        let dir = store.dir().to_path_buf();
        let join = {
            let (store, stop, totals) =
                (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&totals));
            std::thread::Builder::new()
                .name(format!("batpak-timers-{}", M::NAME))
                .spawn(move || fire_until_stopped::<M>(&store, &ctx, clock, &stop, &totals))
                .map_err(|e| StoreError::io("spawn timer thread", dir, e))?
        };
        Ok(TimerThread {
            name: M::NAME,
            store,
            stop,
            totals,
            join,
        })
    }
}

/// The body of a timer thread.
fn fire_until_stopped<M: StateMachine>(
    store: &Store,
    ctx: &M::Context,
    clock: fn() -> u64,
    stop: &AtomicBool,
    totals: &Mutex<TimerReport>,
) -> Result<TimerReport, WiringError> {
    let mut timers = Timers::<M>::new(store)?;
    while !stop.load(Ordering::Acquire) {
        let now = clock();
        let run = timers.run_due(ctx, now)?;
        {
            let mut total = totals.lock().unwrap_or_else(PoisonError::into_inner);
            total.fired += run.fired;
            total.left_state += run.left_state;
            total.parked += run.parked;
        }
        let deadline = timers
            .next_due()
            .map(|due| Instant::now() + Duration::from_micros(due.saturating_sub(now)));
        timers.cursor.wait_unless(deadline, stop);
    }
    Ok(*totals.lock().unwrap_or_else(PoisonError::into_inner))
}

/// A timer scheduler running on its own thread ([`Timers::spawn`]).
#[derive(Debug)]
#[must_use = "a timer thread runs until shut down; dropping the handle detaches it"]
pub struct TimerThread {
    name: &'static str,
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    totals: Arc<Mutex<TimerReport>>,
    join: JoinHandle<Result<TimerReport, WiringError>>,
}

impl TimerThread {
    /// What the thread fired so far.
    #[must_use]
    pub fn report(&self) -> TimerReport {
        *self.totals.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Stops the scheduler and returns its totals.
    ///
    /// # Errors
    /// The error that stopped the thread, if one did;
    /// [`WiringError::Panicked`] if a gate panicked.
    pub fn shutdown(self) -> Result<TimerReport, WiringError> {
        self.stop.store(true, Ordering::Release);
        self.store.wake_cursors();
        self.join.join().unwrap_or_else(|_| {
            Err(WiringError::Panicked {
                name: self.name.to_owned(),
            })
        })
    }
}
