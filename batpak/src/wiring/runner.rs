//! The reactor runner: feeds one [`Reactor`] every committed event of its
//! source machine, from a durable cursor, and commits each reaction exactly
//! once.
//!
//! Exactly once, across crashes and restarts, rests on the log alone:
//!
//! - A reaction's step commits with the idempotency key
//!   `react/<reactor>/<cause id>` and the cause's id as its causation.
//! - Before reacting to an event, the runner looks for an event caused by
//!   it under that key (or a parked record of it): found, the event is
//!   already handled and is passed over. So an event seen again after a
//!   crash (the cursor is saved only now and then) is never reacted to
//!   twice, and the store's key would refuse a second copy anyway.
//! - A step that is refused (gate, table, a stream that keeps moving, a
//!   broken stream) is parked with its reason and the runner moves on: it
//!   never blocks the events behind it and is never retried by itself;
//!   [`ReactorRunner::retry`] takes it again.
//!
//! Backpressure: the runner pulls. Its cursor holds at most one window of
//! decoded events, so a slow reactor never buffers the log and never slows
//! writers; it falls behind, and [`ReactorRunner::lag`] says by how much.
//! A store error stops the runner with the event unhandled (it is retried
//! after a restart); nothing is skipped.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use super::error::WiringError;
use super::parked::{Handled, ParkReason, Parked, handled, park};
use super::reactor::{Reaction, Reactor, reaction_key};
use crate::event::StoredEvent;
use crate::machine::{Cause, MachineError, MachineTypes, StateMachine, submit_caused};
use crate::region::Region;
use crate::store::{Cursor, Store, StoreError};

/// How often a reaction whose target stream moved under it is decided
/// again before it is parked: a conflict means another writer got in
/// between, which a second try almost always gets past; a stream that
/// moves on every try is contended enough to deserve a look.
const CONFLICT_RETRIES: u32 = 3;

/// Events handled between two saves of the cursor. The cursor is only a
/// shortcut (every event is checked against the log before reacting), so
/// saving rarely costs only some re-checking after a crash; each save is
/// two fsyncs.
const SAVE_EVERY: u64 = 1024;

/// What the runner did with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reacted {
    /// The event is not one the reactor reacts to, or it decided
    /// [`Reaction::Nothing`].
    Ignored,
    /// The reaction's step was committed now, at this position.
    Committed {
        /// The step's global position.
        position: u64,
    },
    /// The step was refused and parked.
    Parked(ParkReason),
    /// The event had been handled before (a restart saw it again).
    AlreadyHandled,
}

/// Counts of what a runner did, and where it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunnerReport {
    /// Steps committed.
    pub committed: u64,
    /// Steps parked.
    pub parked: u64,
    /// Events passed over: not reacted to, or nothing to do.
    pub ignored: u64,
    /// Events found already handled (seen again after a restart).
    pub already_handled: u64,
    /// The cursor's position: every event below it is handled.
    pub position: u64,
    /// Durable events at or after `position` not yet looked at.
    pub lag: u64,
}

/// Runs reactor `R` on a store: [`ReactorRunner::run_pending`] handles
/// every durable event not handled yet; [`ReactorRunner::spawn`] does so on
/// a thread of its own until shut down.
///
/// ```
/// use batpak::prelude::*;
/// use batpak::{Reaction, ReactorRunner, react};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Open, Paid), initial = Open)]
/// enum Order {
///     #[transition(Open -> Paid)]
///     Paid,
/// }
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Waiting, Sent), initial = Waiting)]
/// enum Parcel {
///     #[transition(Waiting -> Sent)]
///     Sent,
/// }
///
/// /// Every paid order gets its parcel sent.
/// #[react(Order::Paid)]
/// fn send(_ctx: (), paid: &StoredEvent<Order>) -> Reaction<Parcel> {
///     let order = paid.header.coordinate.entity();
///     Reaction::step(Coordinate::new(format!("parcel:{order}"), "shop").unwrap(), Parcel::Sent)
/// }
///
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// Order::submit(&store, &Coordinate::new("order:1", "shop")?, Order::Paid)?;
/// let mut runner = ReactorRunner::<send>::new(&store, &())?;
/// assert_eq!(runner.run_pending()?.committed, 1);
/// assert_eq!(runner.run_pending()?.committed, 1); // nothing new
/// let parcel = Coordinate::new("parcel:order:1", "shop")?;
/// assert_eq!(Parcel::state_of(&store, &parcel)?, ParcelState::Sent);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct ReactorRunner<'s, R: Reactor> {
    store: &'s Store,
    ctx: &'s <R::Target as MachineTypes>::Context,
    cursor: Cursor<'s, R::Source>,
    cursor_file: PathBuf,
    saved_at: u64,
    report: RunnerReport,
}

impl<'s, R: Reactor> ReactorRunner<'s, R> {
    /// A runner resuming from its cursor file in the store's directory
    /// (`wiring/<reactor>.cursor`), or from the first event.
    ///
    /// # Errors
    /// The store's errors ([`StoreError::CursorFile`] for a damaged file).
    pub fn new(
        store: &'s Store,
        ctx: &'s <R::Target as MachineTypes>::Context,
    ) -> Result<Self, WiringError> {
        let dir = store.dir().join("wiring");
        std::fs::create_dir_all(&dir)
            .map_err(|e| StoreError::io("create wiring directory", &dir, e))?;
        Self::with_cursor_file(store, ctx, dir.join(format!("{}.cursor", R::NAME)))
    }

    /// A runner resuming from the cursor saved at `cursor_file`.
    ///
    /// # Errors
    /// As [`ReactorRunner::new`].
    pub fn with_cursor_file(
        store: &'s Store,
        ctx: &'s <R::Target as MachineTypes>::Context,
        cursor_file: PathBuf,
    ) -> Result<Self, WiringError> {
        let region = Region::all().category(R::Source::CATEGORY);
        let cursor = Cursor::resume(store, region, &cursor_file)?;
        let saved_at = cursor.position();
        Ok(Self {
            store,
            ctx,
            cursor,
            cursor_file,
            saved_at,
            report: RunnerReport {
                position: saved_at,
                ..RunnerReport::default()
            },
        })
    }

    /// Handles every durable event not handled yet, saves the cursor, and
    /// returns the counts so far.
    ///
    /// # Errors
    /// A [`WiringError`]: the event it met is left unhandled, and the next
    /// call starts with it.
    pub fn run_pending(&mut self) -> Result<RunnerReport, WiringError> {
        while let Some(event) = self.cursor.try_next()? {
            self.handle(&event)?;
            if self.cursor.position() - self.saved_at >= SAVE_EVERY {
                self.save()?;
            }
        }
        self.save()?;
        Ok(self.report())
    }

    /// What the runner did so far, its position and its lag.
    #[must_use]
    pub fn report(&self) -> RunnerReport {
        RunnerReport {
            position: self.cursor.position(),
            lag: self.lag(),
            ..self.report
        }
    }

    /// Durable events at or after the cursor not yet looked at.
    #[must_use]
    pub fn lag(&self) -> u64 {
        self.cursor.behind()
    }

    /// Reacts to `event` unless it was handled before: commits the
    /// reaction's step, or parks it.
    ///
    /// # Errors
    /// A [`WiringError`]: the event stays unhandled.
    pub fn react_to(&mut self, event: &StoredEvent<R::Source>) -> Result<Reacted, WiringError> {
        let reacted = self.decide(event)?;
        match &reacted {
            Reacted::Ignored => self.report.ignored += 1,
            Reacted::Committed { .. } => self.report.committed += 1,
            Reacted::Parked(_) => self.report.parked += 1,
            Reacted::AlreadyHandled => self.report.already_handled += 1,
        }
        Ok(reacted)
    }

    /// Takes a parked step of this reactor again (after fixing what refused
    /// it): commits it, or parks it once more with the next attempt number.
    ///
    /// # Errors
    /// A [`WiringError`]; [`StoreError::Codec`] when the cause is not an
    /// event of the source machine.
    pub fn retry(&mut self, parked: &Parked) -> Result<Reacted, WiringError> {
        let Some(event) = self.store.get::<R::Source>(parked.cause)? else {
            return Ok(Reacted::Ignored);
        };
        match handled(self.store, R::NAME, parked.cause, &parked.key)? {
            Some(Handled::Taken { .. }) => Ok(Reacted::AlreadyHandled),
            Some(Handled::Parked { attempt }) => self.attempt(&event, attempt + 1),
            None => self.attempt(&event, 1),
        }
    }

    /// Reacts to the event the cursor just yielded; on an error, puts the
    /// cursor back before it, so no later save can skip it.
    fn handle(&mut self, event: &StoredEvent<R::Source>) -> Result<(), WiringError> {
        match self.react_to(event) {
            Ok(_) => Ok(()),
            Err(error) => {
                let region = self.cursor.region().clone();
                self.cursor = self.store.cursor(region, event.position())?;
                Err(error)
            }
        }
    }

    /// [`ReactorRunner::react_to`] without the counting.
    fn decide(&self, event: &StoredEvent<R::Source>) -> Result<Reacted, WiringError> {
        if !R::applies(&event.payload) {
            return Ok(Reacted::Ignored);
        }
        let key = reaction_key(R::NAME, event.header.id);
        if handled(self.store, R::NAME, event.header.id, &key)?.is_some() {
            return Ok(Reacted::AlreadyHandled);
        }
        self.attempt(event, 1)
    }

    /// Decides and commits the reaction to `event`, deciding again after a
    /// conflict, parking it as attempt `attempt` when refused.
    fn attempt(
        &self,
        event: &StoredEvent<R::Source>,
        attempt: u32,
    ) -> Result<Reacted, WiringError> {
        let cause = Cause {
            event: event.header.id,
            key: reaction_key(R::NAME, event.header.id),
            at_version: None,
        };
        let mut tries = 0;
        loop {
            let Reaction::Step {
                coordinate,
                event: step,
            } = R::react(self.ctx, event)
            else {
                return Ok(Reacted::Ignored);
            };
            let error = match submit_caused::<R::Target, _>(
                self.store,
                self.ctx,
                &coordinate,
                step,
                &cause,
            ) {
                Ok(step) => {
                    return Ok(Reacted::Committed {
                        position: step.receipt.position,
                    });
                }
                Err(MachineError::Conflict { .. }) if tries < CONFLICT_RETRIES => {
                    tries += 1;
                    continue;
                }
                Err(error) => error,
            };
            let Some(reason) = ParkReason::of(&error) else {
                return Err(WiringError::Step {
                    name: R::NAME.to_owned(),
                    cause: cause.event,
                    error: Box::new(error),
                });
            };
            park(
                self.store,
                &Parked {
                    name: R::NAME.to_owned(),
                    cause: cause.event,
                    key: cause.key,
                    target: coordinate,
                    at_version: None,
                    reason: reason.clone(),
                    attempt,
                },
            )?;
            return Ok(Reacted::Parked(reason));
        }
    }

    /// Saves the cursor if it moved since the last save.
    fn save(&mut self) -> Result<(), WiringError> {
        if self.cursor.position() != self.saved_at {
            self.cursor.commit_to(&self.cursor_file)?;
            self.saved_at = self.cursor.position();
        }
        Ok(())
    }
}

impl<R: Reactor> ReactorRunner<'_, R>
where
    <R::Target as MachineTypes>::Context: Send + Sync,
{
    /// Runs reactor `R` on a thread of its own until
    /// [`RunnerThread::shutdown`]: handles what is pending, then sleeps
    /// until the next durable commit (no polling), and so on.
    ///
    /// # Errors
    /// As [`ReactorRunner::new`], before the thread starts.
    pub fn spawn(
        store: Arc<Store>,
        ctx: Arc<<R::Target as MachineTypes>::Context>,
    ) -> Result<RunnerThread, WiringError> {
        // Opened here so a bad cursor file is reported to the caller.
        drop(ReactorRunner::<R>::new(&store, &ctx)?);
        let stop = Arc::new(AtomicBool::new(false));
        let status = Arc::new(Mutex::new(RunnerReport::default()));
        let dir = store.dir().to_path_buf();
        let join = {
            let (store, stop, status) =
                (Arc::clone(&store), Arc::clone(&stop), Arc::clone(&status));
            std::thread::Builder::new()
                .name(format!("batpak-react-{}", R::NAME))
                .spawn(move || run_until_stopped::<R>(&store, &ctx, &stop, &status))
                .map_err(|e| StoreError::io("spawn reactor thread", dir, e))?
        };
        Ok(RunnerThread {
            name: R::NAME,
            store,
            stop,
            status,
            join,
        })
    }
}

/// The body of a runner thread.
fn run_until_stopped<R: Reactor>(
    store: &Store,
    ctx: &<R::Target as MachineTypes>::Context,
    stop: &AtomicBool,
    status: &Mutex<RunnerReport>,
) -> Result<RunnerReport, WiringError> {
    let mut runner = ReactorRunner::<R>::new(store, ctx)?;
    while !stop.load(Ordering::Acquire) {
        while let Some(event) = runner.cursor.try_next()? {
            runner.handle(&event)?;
            *status.lock().unwrap_or_else(PoisonError::into_inner) = runner.report();
            if stop.load(Ordering::Acquire) {
                break;
            }
        }
        runner.save()?;
        *status.lock().unwrap_or_else(PoisonError::into_inner) = runner.report();
        runner.cursor.wait_unless(None, stop);
    }
    runner.save()?;
    Ok(runner.report())
}

/// A reactor running on its own thread ([`ReactorRunner::spawn`]).
#[derive(Debug)]
#[must_use = "a runner thread runs until shut down; dropping the handle detaches it"]
pub struct RunnerThread {
    name: &'static str,
    store: Arc<Store>,
    stop: Arc<AtomicBool>,
    status: Arc<Mutex<RunnerReport>>,
    join: JoinHandle<Result<RunnerReport, WiringError>>,
}

impl RunnerThread {
    /// What the runner did so far and how far behind it is (as of the
    /// last event it handled; the lag is counted then).
    #[must_use]
    pub fn report(&self) -> RunnerReport {
        *self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the thread stopped by itself (on an error: see
    /// [`RunnerThread::shutdown`]).
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.join.is_finished()
    }

    /// Stops the runner after the event it is handling, saves its cursor,
    /// and returns its counts.
    ///
    /// # Errors
    /// The error that stopped the thread, if one did;
    /// [`WiringError::Panicked`] if a reactor or gate panicked.
    pub fn shutdown(self) -> Result<RunnerReport, WiringError> {
        self.stop.store(true, Ordering::Release);
        self.store.wake_cursors();
        self.join.join().unwrap_or_else(|_| {
            Err(WiringError::Panicked {
                name: self.name.to_owned(),
            })
        })
    }
}
