//! The typed handle: [`Machine<M, S>`] is one stream of machine `M` known
//! to be in state `S`.
//!
//! The derive generates one trait per source state (`OrderDraftTransitions`
//! for `Machine<Order, order::Draft>`) with a method per legal transition,
//! implemented only for that state's handle, so an illegal step is a missing
//! method, i.e. a compile error. Transitions consume the handle, so a handle
//! cannot be used twice.
//!
//! The one constructor, [`Machine::checked`], compares the handle's state
//! type with the state replay or the transition table produced, so a
//! handle's type never claims a state its stream is not in. Nothing outside
//! the machine layer may build or take apart a handle.

use std::fmt;
use std::marker::PhantomData;

use super::definition::{State, StateMachine};
use crate::coordinate::Coordinate;
use crate::event::Hash;

/// A typed handle on one stream of machine `M`, known to be in state `S`.
///
/// Holds the stream's coordinate, its version (number of events), the hash
/// of its last event and the machine's data folded from those events
/// ([`Machine::data`]). Transition methods (generated, one trait per source
/// state) consume the handle and commit with compare-and-append on
/// `version`, so a stale handle cannot write.
pub struct Machine<M: StateMachine, S> {
    coordinate: Coordinate,
    version: u64,
    head: Hash,
    data: M::Data,
    marker: PhantomData<fn() -> (M, S)>,
}

impl<M: StateMachine, S: State<Machine = M>> Machine<M, S> {
    /// The stream's coordinate.
    #[must_use]
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    /// Number of events in the stream when this handle was made.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Hash of the stream's last event ([`Hash::ZERO`] when empty).
    #[must_use]
    pub fn head(&self) -> Hash {
        self.head
    }

    /// The state this handle is in, as a runtime value.
    #[must_use]
    pub fn state(&self) -> M::State {
        S::VALUE
    }

    /// The machine's data (`#[machine(data = T)]`) folded from the stream's
    /// events up to this handle's version; `&()` for a machine without data.
    #[must_use]
    pub fn data(&self) -> &M::Data {
        &self.data
    }

    /// A handle on `coordinate` at `version` (last hash `head`, `data`
    /// folded up to it), if `state`, the stream's state at that version, is
    /// `S`; otherwise the coordinate back. The only way to make a handle.
    pub(super) fn checked(
        coordinate: Coordinate,
        version: u64,
        head: Hash,
        state: M::State,
        data: M::Data,
    ) -> Result<Self, Coordinate> {
        if state != S::VALUE {
            return Err(coordinate);
        }
        Ok(Self {
            coordinate,
            version,
            head,
            data,
            marker: PhantomData,
        })
    }

    /// Takes the handle apart, for a step that consumes it.
    pub(super) fn into_parts(self) -> (Coordinate, u64, Hash, M::Data) {
        (self.coordinate, self.version, self.head, self.data)
    }
}

impl<M: StateMachine, S: State<Machine = M>> fmt::Debug for Machine<M, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Machine")
            .field("machine", &M::NAME)
            .field("state", &S::VALUE)
            .field("coordinate", &self.coordinate)
            .field("version", &self.version)
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}
