//! The storage seam of the machine layer: what the runtime needs from a
//! store ([`MachineStore`]) and the projection of a machine's state and data
//! a store may cache ([`MachineProjection`]).
//!
//! Written against traits only, so the machine layer never imports the
//! store; the embedded store implements the seam in `store/seam.rs`. A
//! projection that meets an event it cannot fold marks where and stops: it
//! must never skip an event or guess a state.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::definition::{MachineData, StateMachine};
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

    /// Records machine `M` in the store's catalog (a [`CatalogEntry`](super::CatalogEntry)
    /// system record) unless the store already holds its current entry.
    /// The runtime calls it before every commit of a machine event; a store
    /// remembers which machines it recorded, so only the first costs a
    /// read. The default records nothing (a store without a catalog).
    ///
    /// # Errors
    /// The store's error.
    fn record_machine<M: StateMachine>(&self) -> Result<(), Self::Error> {
        Ok(())
    }

    /// The machine's current state, data, version and head as a projection.
    /// The default folds the whole stream; a store with a projection cache
    /// folds only the events appended since its last call.
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

/// The current state and data of one machine stream, with its version and
/// the hash of its last event, kept as an incremental projection: what the
/// generated `load`, `state_of` and `submit` read.
///
/// Folding stops at the first event that does not fit (a gap in sequences,
/// a kind that disagrees with its payload, an illegal step). It also
/// records the first event appended directly (admitted by neither gates
/// nor a bypass) and folds on: whether that is a break is the machine's
/// policy ([`StateMachine::ACCEPTS_DIRECT_APPENDS`]), applied when the
/// projection is read ([`MachineProjection::is_intact`]), so a machine that
/// changes its policy needs no rebuild. The runtime replays a stream that is
/// not intact to report exactly what is wrong.
#[derive(Serialize, Deserialize)]
#[serde(bound(serialize = "", deserialize = ""))]
pub struct MachineProjection<M: StateMachine> {
    state: M::State,
    data: M::Data,
    version: u64,
    head: Hash,
    broken_at: Option<u64>,
    first_direct: Option<u64>,
}

impl<M: StateMachine> MachineProjection<M> {
    /// The state after the last event folded.
    #[must_use]
    pub fn state(&self) -> M::State {
        self.state
    }

    /// The data folded from every event up to the last one folded.
    #[must_use]
    pub fn data(&self) -> &M::Data {
        &self.data
    }

    /// The data, taken out of the projection.
    #[must_use]
    pub fn into_data(self) -> M::Data {
        self.data
    }

    /// Hash of the last event folded ([`Hash::ZERO`] before the first).
    #[must_use]
    pub fn head(&self) -> Hash {
        self.head
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
            data: M::Data::default(),
            version: 0,
            head: Hash::ZERO,
            broken_at: None,
            first_direct: None,
        }
    }
}

impl<M: StateMachine> fmt::Debug for MachineProjection<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MachineProjection")
            .field("machine", &M::NAME)
            .field("state", &self.state)
            .field("version", &self.version)
            .field("head", &self.head)
            .field("broken_at", &self.broken_at)
            .field("first_direct", &self.first_direct)
            .finish_non_exhaustive()
    }
}

/// The state a stored event led to as its header records it: `None` when
/// it records none (an event not written by a machine step, or appended
/// directly, which the table judges), else the state its code names
/// today, or the unknown code. Recorded history is trusted, not judged
/// again by today's table, so a table may change without making old
/// streams unreadable.
pub(crate) fn recorded_state<M: StateMachine, P>(
    event: &StoredEvent<P>,
) -> Option<Result<M::State, u16>> {
    let code = event.header.state_code;
    if code == 0 || event.header.admission.is_direct() {
        return None;
    }
    let state = M::SCHEMA
        .state_of_code(code)
        .and_then(|found| M::SCHEMA.states.iter().position(|s| s.name == found.name))
        .and_then(|index| M::STATES.get(index).copied());
    Some(state.ok_or(code))
}

/// The stable code of `state` (0 for a state the schema does not list,
/// which the derive never produces).
pub(crate) fn state_code_of<M: StateMachine>(state: M::State) -> u16 {
    M::STATES
        .iter()
        .position(|s| *s == state)
        .and_then(|index| M::SCHEMA.states.get(index))
        .map_or(0, |schema| schema.code)
}

/// The projection's own layout version: 2 recorded the first direct append,
/// 3 added the data and the head hash, 4 trusts recorded state codes.
const LAYOUT_VERSION: u32 = 4;

impl<M: StateMachine> Projection for MachineProjection<M> {
    type Event = M;
    const NAME: &'static str = M::NAME;
    /// The machine's schema fingerprint (category, kinds, payload versions,
    /// states, transition table, data type: [`MachineSchema::fingerprint`](crate::MachineSchema::fingerprint)),
    /// mixed with the data's [`MachineData::VERSION`] and the layout
    /// version: a change to any of them refolds the cached projection from
    /// the machine's events, so a cache can never hold a fold made under
    /// another table.
    const VERSION: u32 = M::SCHEMA.fingerprint
        ^ (<M::Data as MachineData<M>>::VERSION).wrapping_mul(0x9E37_79B9)
        ^ LAYOUT_VERSION;

    fn apply(&mut self, event: &StoredEvent<M>) {
        if self.broken_at.is_some() {
            return;
        }
        let sequence = event.sequence();
        if event.header.admission.is_direct() && self.first_direct.is_none() {
            self.first_direct = Some(sequence);
        }
        let fits = sequence == self.version + 1 && event.header.kind == event.payload.kind();
        let next = match recorded_state::<M, M>(event) {
            Some(recorded) => recorded.map_err(drop),
            None => M::apply(self.state, &event.payload).map_err(drop),
        };
        match next {
            Ok(next) if fits => {
                self.data.apply(&event.payload);
                self.state = next;
                self.version = sequence;
                self.head = event.hash;
            }
            _ => self.broken_at = Some(sequence),
        }
    }
}
