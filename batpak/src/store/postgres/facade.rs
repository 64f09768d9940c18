//! `PgStore`: the public API of the PostgreSQL log. Every method is thin:
//! it checks its arguments and calls `write.rs` or `read.rs`; the views
//! (`views.rs`) and the machine seam (`seam.rs`) add their methods beside.

use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::conn::Pool;
use super::log::{Group, PgConfig, Shared};
use super::schema::{self, Sql};
use super::{group, read, write};
use crate::coordinate::Coordinate;
use crate::event::{Admission, EventHeader, EventId, EventKind, StoredEvent, encode_payload};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::region::Region;
use crate::store::error::StoreError;
use crate::store::report::{StreamHead, VerifyReport};

/// An event log in a PostgreSQL schema, shared by every process and host
/// that connects to it. Cheap to clone and `Send + Sync`: a clone shares
/// the connection pool.
///
/// The API follows [`Store`](crate::Store): appends, reads, queries,
/// projections, cursors and subscriptions take the same arguments and
/// return the same types and errors, and machines, gates and bypasses run
/// on it unchanged through [`MachineStore`](crate::MachineStore), so moving
/// an application from the embedded store to PostgreSQL changes the
/// constructor.
///
/// ```no_run
/// use batpak::{Coordinate, EventKind, PgConfig, PgStore};
/// let store = PgStore::connect(PgConfig::new("postgresql://app@db:5432/events"))?;
/// let coord = Coordinate::new("order:1", "shop:acme")?;
/// let receipt = store.append(&coord, EventKind::custom(7, 1)?, &"placed")?;
/// assert_eq!(receipt.sequence, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct PgStore {
    pub(super) shared: Arc<Shared>,
}

impl PgStore {
    /// Connects and creates the schema and its tables when missing (safe
    /// for many processes at once).
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the schema name is not allowed, the
    /// server cannot be reached, or it refuses.
    pub fn connect(config: PgConfig) -> Result<Self, StoreError> {
        let sql = Sql::new(&config.schema)?;
        let pool = Pool::new(&config.url)?;
        schema::create(&pool.get()?, &sql)?;
        Ok(Self {
            shared: Arc::new(Shared {
                pool,
                sql,
                config,
                group: Group::default(),
            }),
        })
    }

    /// The schema this log lives in.
    #[must_use]
    pub fn schema(&self) -> &str {
        &self.shared.config.schema
    }

    /// Appends one event at any version; durable when it returns.
    ///
    /// # Errors
    /// [`StoreError::ReservedKind`], [`StoreError::PayloadTooLarge`],
    /// [`StoreError::Codec`], [`StoreError::Postgres`].
    pub fn append<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
    ) -> Result<AppendReceipt, StoreError> {
        self.append_with(coord, kind, payload, AppendOptions::default())
    }

    /// Appends one event with an expected version, idempotency key,
    /// causation or correlation (see [`Store::append_with`](crate::Store::append_with)).
    ///
    /// # Errors
    /// As [`PgStore::append`], plus [`StoreError::VersionMismatch`],
    /// [`StoreError::IdempotencyConflict`], [`StoreError::IdempotencyKeyTooLong`].
    pub fn append_with<P: Serialize + ?Sized>(
        &self,
        coord: &Coordinate,
        kind: EventKind,
        payload: &P,
        options: AppendOptions,
    ) -> Result<AppendReceipt, StoreError> {
        let events = [(kind, encode_payload(payload)?)];
        let receipts = group::commit(
            &self.shared,
            coord,
            events.into(),
            options,
            Admission::Direct,
        )?;
        receipts
            .into_iter()
            .next()
            .ok_or(StoreError::BatchSize { len: 0, max: 1 })
    }

    /// Appends several events to one stream in one transaction: all or none.
    ///
    /// # Errors
    /// As [`PgStore::append_with`], plus [`StoreError::BatchSize`].
    pub fn append_batch<P: Serialize>(
        &self,
        coord: &Coordinate,
        events: &[(EventKind, P)],
        options: AppendOptions,
    ) -> Result<Vec<AppendReceipt>, StoreError> {
        let mut encoded = Vec::with_capacity(events.len());
        for (kind, payload) in events {
            encoded.push((*kind, encode_payload(payload)?));
        }
        group::commit(&self.shared, coord, encoded, options, Admission::Direct)
    }

    /// The event with this id, decoded into `P`.
    ///
    /// # Errors
    /// [`StoreError::Codec`] when the payload does not fit `P`;
    /// [`StoreError::Corrupt`] when the row disagrees with its header;
    /// [`StoreError::Postgres`].
    pub fn get<P: DeserializeOwned>(
        &self,
        id: EventId,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        Ok(read::by_id(&self.shared, id)?.pop())
    }

    /// Every event of one stream, in sequence order, decoded into `P`.
    ///
    /// # Errors
    /// As [`PgStore::get`].
    pub fn stream<P: DeserializeOwned>(
        &self,
        coord: &Coordinate,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        self.query(&Region::coordinate(coord))
    }

    /// A stream's version and head hash.
    ///
    /// # Errors
    /// [`StoreError::Postgres`]; [`StoreError::Corrupt`] for a malformed row.
    pub fn head(&self, coord: &Coordinate) -> Result<StreamHead, StoreError> {
        let conn = self.shared.pool.get()?;
        write::stream_head(&conn, &self.shared.sql, coord)
    }

    /// Every event inside `region`, in global position order, decoded into `P`.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`], then as [`PgStore::get`].
    pub fn query<P: DeserializeOwned>(
        &self,
        region: &Region,
    ) -> Result<Vec<StoredEvent<P>>, StoreError> {
        region.check()?;
        read::select(&self.shared, region)
    }

    /// The headers of every event inside `region`, in global position order.
    ///
    /// # Errors
    /// As [`PgStore::query`].
    pub fn query_headers(&self, region: &Region) -> Result<Vec<EventHeader>, StoreError> {
        let events = self.query::<serde::de::IgnoredAny>(region)?;
        Ok(events.into_iter().map(|e| e.header).collect())
    }

    /// The event `id` and every event caused by it, directly or through
    /// others, in global position order. Empty when `id` is unknown.
    ///
    /// # Errors
    /// As [`PgStore::get`].
    pub fn walk_causation(&self, id: EventId) -> Result<Vec<EventHeader>, StoreError> {
        read::causation(&self.shared, id)
    }

    /// Number of events in the log (also the next global position).
    ///
    /// # Errors
    /// [`StoreError::Postgres`].
    pub fn event_count(&self) -> Result<u64, StoreError> {
        let conn = self.shared.pool.get()?;
        write::next_position(&conn, &self.shared.sql)
    }

    /// Re-reads the whole log and checks every row: its header decodes and
    /// agrees with its columns, positions are gapless from 0, every
    /// stream's sequences are gapless and its chain links and hashes hold.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] only; damage is reported in the [`VerifyReport`].
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        read::verify(&self.shared)
    }

    /// Removes the schema and everything in it. For tests and tools: the
    /// log is gone for every process.
    ///
    /// # Errors
    /// [`StoreError::Postgres`].
    pub fn drop_schema(self) -> Result<(), StoreError> {
        let conn = self.shared.pool.get()?;
        conn.batch("drop schema", &self.shared.sql.drop_schema)
    }
}
