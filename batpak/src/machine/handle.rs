//! The typed handle: [`Machine<M, S>`] is one stream of machine `M` known
//! to be in state `S`.
//!
//! The derive generates one trait per source state (`OrderDraftTransitions`
//! for `Machine<Order, order::Draft>`) with a method per legal transition,
//! implemented only for that state's handle, so an illegal step is a missing
//! method, i.e. a compile error. Transitions consume the handle, so a handle
//! cannot be used twice; a refused transition hands it back inside its
//! `StepError`.
//!
//! Both constructors compare the handle's state type with the state replay
//! or the transition table produced: [`Machine::checked`] makes a handle,
//! `advance` turns a handle into the next after a committed step (moving its
//! data on). So a handle's type never claims a state its stream is not in.
//! Nothing outside the machine layer may build or take apart a handle.

use std::fmt;
use std::marker::PhantomData;

use super::definition::{MachineData, MachineTypes, State, StateMachine};
use crate::coordinate::Coordinate;
use crate::event::Hash;

/// A typed handle on one stream of machine `M`, known to be in state `S`.
///
/// Holds the stream's coordinate, its version (number of events), the hash
/// of its last event and the machine's data folded from those events
/// ([`Machine::data`]). Transition methods (generated, one trait per source
/// state) consume the handle and commit with compare-and-append on
/// `version`, so a stale handle cannot write; a refused step returns the
/// handle inside its [`StepError`](crate::StepError).
pub struct Machine<M: MachineTypes, S> {
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
    /// `S`; otherwise the coordinate back.
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

    /// The handle in state `T` after a step that committed `event` as the
    /// stream's event `version` (hash `head`), if `target`, the state the
    /// table gives after it, is `T`; otherwise `self` back. Folds `event`
    /// into the data, which moves to the new handle.
    pub(super) fn advance<T: State<Machine = M>>(
        self,
        version: u64,
        head: Hash,
        target: M::State,
        event: &M,
    ) -> Result<Machine<M, T>, Self> {
        if target != T::VALUE {
            return Err(self);
        }
        let Self {
            coordinate,
            mut data,
            ..
        } = self;
        data.apply(event);
        Ok(Machine {
            coordinate,
            version,
            head,
            data,
            marker: PhantomData,
        })
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
