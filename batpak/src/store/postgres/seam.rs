//! How the PostgreSQL store serves the layers above it: the pipeline
//! commits through [`CommitTarget`], the machine runtime reads through
//! [`MachineStore`], exactly as for the embedded store, so every generated
//! machine, gate and bypass runs on it unchanged.

use serde::de::DeserializeOwned;

use super::facade::PgStore;
use super::group;
use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent};
use crate::machine::{MachineProjection, MachineStore, StateMachine};
use crate::pipeline::{AppendReceipt, CommitTarget, RawAppend, RawAppendParts};
use crate::region::Region;
use crate::store::error::StoreError;

/// Appends go through the one append transaction, with the admission the
/// pipeline decided.
impl CommitTarget for PgStore {
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
        let receipts = group::commit(
            &self.shared,
            &coordinate,
            vec![(kind, payload)],
            options,
            admission,
        )?;
        receipts
            .into_iter()
            .next()
            .ok_or(StoreError::BatchSize { len: 0, max: 1 })
    }
}

/// Streams are read back whole; a conflict is [`StoreError::VersionMismatch`];
/// machine projections use the projection table.
impl MachineStore for PgStore {
    fn read_stream<P: DeserializeOwned>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.stream(coordinate)
    }

    fn stream_version(&self, coordinate: &Coordinate) -> Result<(u64, Hash), StoreError> {
        let head = self.head(coordinate)?;
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
