//! How the embedded store serves the layers above it: the pipeline commits
//! through [`CommitTarget`], the machine runtime reads through
//! [`MachineStore`]. Another store core implements the same two traits.

use serde::de::DeserializeOwned;

use super::core::write::AppendMode;
use super::error::StoreError;
use super::facade::Store;
use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent};
use crate::machine::{MachineProjection, MachineStore, StateMachine};
use crate::pipeline::{AppendReceipt, CommitTarget, RawAppend, RawAppendParts};
use crate::region::Region;

/// Appends go through the store's one write path, with the admission the
/// pipeline decided. A gate name or bypass text holding a control or format
/// character is refused there ([`StoreError::UnprintableAdmission`]).
impl CommitTarget for Store {
    type Error = StoreError;

    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, StoreError> {
        let RawAppendParts {
            coordinate,
            kind,
            payload,
            options,
            admission,
            ..
        } = append.into_parts();
        self.commit_one(
            &coordinate,
            kind,
            payload,
            options,
            admission,
            AppendMode::Wait,
        )
        .map(|t| *t.receipt())
    }
}

/// The segment store: streams are read back whole, a conflict is
/// [`StoreError::VersionMismatch`].
impl MachineStore for Store {
    fn read_stream<P: DeserializeOwned>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.stream(coordinate)
    }

    fn stream_version(&self, coordinate: &Coordinate) -> Result<(u64, Hash), StoreError> {
        let head = self.head(coordinate);
        Ok((head.version, head.hash))
    }

    fn version_conflict(error: &StoreError) -> Option<u64> {
        match error {
            StoreError::VersionMismatch { actual, .. } => Some(*actual),
            _ => None,
        }
    }

    fn project_machine<M: StateMachine>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<MachineProjection<M>, StoreError> {
        self.project(&Region::coordinate(coordinate))
    }
}
