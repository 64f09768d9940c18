//! The wiring layer's one error: what stops a reactor runner or a timer
//! scheduler. A refused step is not an error here (it is parked, see
//! `parked.rs`); only what no retry of that step could get past is.

use crate::coordinate::CoordinateError;
use crate::event::EventId;
use crate::machine::MachineError;
use crate::store::StoreError;

/// Why a reactor runner or a timer scheduler stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WiringError {
    /// The store failed (I/O, a payload that does not decode, a poisoned
    /// writer): the cause is left unhandled and is retried after a restart.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A step for `cause` failed in a way parking cannot record (the
    /// machine runtime reported something other than a refusal).
    #[error("{name}: the step for event {cause} failed: {error}")]
    Step {
        /// The reactor or timer.
        name: String,
        /// The causing event.
        cause: EventId,
        /// What the machine runtime said.
        error: Box<MachineError>,
    },
    /// A reactor or timer name does not fit in a coordinate (too long, or
    /// holding a control character).
    #[error("name `{name}` cannot name a stream of parked steps: {error}")]
    Name {
        /// The name.
        name: String,
        /// What the coordinate rules say.
        error: CoordinateError,
    },
    /// The runner's thread panicked (in a reactor function or a gate).
    #[error("the {name} thread panicked")]
    Panicked {
        /// The reactor or timer.
        name: String,
    },
}
