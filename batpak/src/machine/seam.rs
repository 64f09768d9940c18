//! The storage seam of the machine layer: what the runtime needs from a
//! store ([`MachineStore`]) and the state projection a store may cache
//! ([`MachineProjection`]).
//!
//! Written against traits only, so the machine layer never imports the
//! store; the embedded store implements the seam in `store/seam.rs`. A
//! projection that meets an event it cannot fold marks where and stops: it
//! must never skip an event or guess a state.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::definition::StateMachine;
use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent};
use crate::pipeline::CommitTarget;
use crate::projection::Projection;

/// What a machine needs from a store beyond committing: read a stream back
/// and recognise a version conflict in its own error type.
pub trait MachineStore: CommitTarget {
    /// Every event of `coordinate`'s stream, in sequence order, decoded as `P`.
    ///
    /// # Errors
    /// The store's error (I/O, a payload that does not decode as `P`).
    fn read_stream<P: DeserializeOwned>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, Self::Error>;

    /// The stream's version (number of events) and the hash of its last event.
    ///
    /// # Errors
    /// The store's error.
    fn stream_version(&self, coordinate: &Coordinate) -> Result<(u64, Hash), Self::Error>;

    /// The stream's actual version when `error` is a version mismatch.
    fn version_conflict(error: &Self::Error) -> Option<u64>;

    /// The machine's current state as a projection. The default folds the
    /// whole stream; a store with a projection cache folds only the events
    /// appended since its last call.
    ///
    /// # Errors
    /// The store's error (I/O, a payload that does not decode as `M`).
    fn project_machine<M: StateMachine>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<MachineProjection<M>, Self::Error> {
        let mut projection = MachineProjection::default();
        for event in &self.read_stream::<M>(coordinate)? {
            projection.apply(event);
        }
        Ok(projection)
    }
}

/// The current state of one machine stream, kept as an incremental
/// projection: what [`StateMachine`]'s generated `state_of` reads.
///
/// Folding stops at the first event that does not fit (a gap in sequences,
/// a kind that disagrees with its payload, an illegal step). It also
/// records the first event appended directly (admitted by neither gates
/// nor a bypass) and folds on: whether that is a break is the machine's
/// policy ([`StateMachine::ACCEPTS_DIRECT_APPENDS`]), applied when the
/// projection is read ([`MachineProjection::is_intact`]), so a machine that
/// changes its policy needs no rebuild. `state_of` replays a stream that is
/// not intact to report exactly what is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct MachineProjection<M: StateMachine> {
    state: M::State,
    version: u64,
    broken_at: Option<u64>,
    first_direct: Option<u64>,
}

impl<M: StateMachine> MachineProjection<M> {
    /// The state after the last event folded.
    #[must_use]
    pub fn state(&self) -> M::State {
        self.state
    }

    /// Number of events folded (the stream's version when not broken).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Sequence of the first event that did not fit the machine, if any.
    #[must_use]
    pub fn broken_at(&self) -> Option<u64> {
        self.broken_at
    }

    /// Sequence of the first event folded that was appended directly
    /// (neither gates nor a bypass admitted it), if any.
    #[must_use]
    pub fn first_direct(&self) -> Option<u64> {
        self.first_direct
    }

    /// True when every event folded fits the machine: none broke the fold,
    /// and none was appended directly unless the machine accepts that.
    #[must_use]
    pub fn is_intact(&self) -> bool {
        self.broken_at.is_none() && (M::ACCEPTS_DIRECT_APPENDS || self.first_direct.is_none())
    }
}

impl<M: StateMachine> Default for MachineProjection<M> {
    fn default() -> Self {
        Self {
            state: M::INITIAL,
            version: 0,
            broken_at: None,
            first_direct: None,
        }
    }
}

impl<M: StateMachine> Projection for MachineProjection<M> {
    type Event = M;
    const NAME: &'static str = M::NAME;
    /// 2: the first direct append is recorded.
    const VERSION: u32 = 2;

    fn apply(&mut self, event: &StoredEvent<M>) {
        if self.broken_at.is_some() {
            return;
        }
        let sequence = event.sequence();
        if event.header.admission.is_direct() && self.first_direct.is_none() {
            self.first_direct = Some(sequence);
        }
        let fits = sequence == self.version + 1 && event.header.kind == event.payload.kind();
        match M::apply(self.state, &event.payload) {
            Ok(next) if fits => {
                self.state = next;
                self.version = sequence;
            }
            _ => self.broken_at = Some(sequence),
        }
    }
}
