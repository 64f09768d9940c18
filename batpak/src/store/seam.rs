//! How the embedded store serves the layers above it: the pipeline commits
//! through [`CommitTarget`], the machine runtime reads through
//! [`MachineStore`]. Another store core implements the same two traits.

use serde::de::DeserializeOwned;

use super::core::write::AppendMode;
use super::error::StoreError;
use super::facade::Store;
use super::lock::{read_lock, write_lock};
use crate::coordinate::Coordinate;
use crate::event::{Hash, StoredEvent, encode_payload};
use crate::guard::{AppendOptions, ExpectedVersion};
use crate::machine::{
    CATALOG_KIND, CatalogEntry, MachineProjection, MachineStore, StateMachine, catalog_coordinate,
};
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

    /// The first call for `M` since the store opened reads the machine's
    /// catalog stream and appends [`CatalogEntry::of`] when the last entry
    /// differs (or there is none), under the write lock so two threads
    /// never both append; later calls only look the type up under the read
    /// lock, so concurrent commits do not queue behind each other here.
    fn record_machine<M: StateMachine>(&self) -> Result<(), StoreError> {
        let machine = std::any::TypeId::of::<M>();
        if read_lock(&self.catalogued).contains(&machine) {
            return Ok(());
        }
        let mut catalogued = write_lock(&self.catalogued);
        if catalogued.contains(&machine) {
            return Ok(());
        }
        let entry = CatalogEntry::of::<M>();
        // A derived name is a Rust identifier, always a valid entity; a
        // hand-written name that is not one is left out of the catalog
        // rather than failing the machine's writes.
        let Ok(coordinate) = catalog_coordinate(M::NAME) else {
            return Ok(());
        };
        let recorded: Vec<StoredEvent<CatalogEntry>> = self.stream(&coordinate)?;
        if recorded.last().map(|e| &e.payload) != Some(&entry) {
            let options = AppendOptions {
                expected_version: ExpectedVersion::Exact(recorded.len() as u64),
                ..AppendOptions::default()
            };
            let end = self.core.append_system(
                &coordinate,
                &[(CATALOG_KIND, encode_payload(&entry)?)],
                &options,
            )?;
            self.core.after_append(end)?;
        }
        catalogued.insert(machine);
        Ok(())
    }

    fn project_machine<M: StateMachine>(
        &self,
        coordinate: &Coordinate,
    ) -> Result<MachineProjection<M>, StoreError> {
        self.project(&Region::coordinate(coordinate))
    }
}
