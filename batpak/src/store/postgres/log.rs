//! What every handle to one PostgreSQL log holds: its config, its
//! connection pool, its SQL text and its queue of appends for the group
//! commit (`group.rs`). The lowest layer of `postgres/` above
//! the connection and schema files; it must never run a statement itself.

use std::sync::Mutex;
use std::time::Duration;

use super::conn::Pool;
use super::schema::Sql;
use crate::coordinate::Coordinate;
use crate::event::{Admission, EventKind, Hash};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::store::config::DEFAULT_MAX_PAYLOAD_BYTES;
use crate::store::error::StoreError;

/// The schema used when none is given.
pub const DEFAULT_PG_SCHEMA: &str = "batpak";

/// How often a cursor or subscription asks the server for new events while
/// it waits, unless configured: the bound on how late a waiting reader
/// sees an event committed by another process.
pub const DEFAULT_PG_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How to reach the server and where the log lives in it.
#[derive(Debug, Clone)]
pub struct PgConfig {
    pub(super) url: String,
    pub(super) schema: String,
    pub(super) max_payload_bytes: usize,
    pub(super) poll_interval: Duration,
}

impl PgConfig {
    /// A config for the server at `url`: a libpq connection string or a
    /// `postgresql://user@host:port/db` URL. Schema [`DEFAULT_PG_SCHEMA`].
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: DEFAULT_PG_SCHEMA.to_owned(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            poll_interval: DEFAULT_PG_POLL_INTERVAL,
        }
    }

    /// The schema holding the log's tables: one schema is one log (so a
    /// database can hold several, e.g. one per tenant). Lowercase ASCII
    /// letters, digits and `_`, starting with a letter or `_`, at most 63
    /// bytes; anything else is refused by [`PgStore::connect`](crate::PgStore::connect).
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// Largest encoded payload accepted ([`DEFAULT_MAX_PAYLOAD_BYTES`]).
    #[must_use]
    pub fn max_payload_bytes(mut self, bytes: usize) -> Self {
        self.max_payload_bytes = bytes;
        self
    }

    /// How often waiting cursors and subscriptions poll for new events
    /// ([`DEFAULT_PG_POLL_INTERVAL`]).
    #[must_use]
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }
}

/// What every handle to one log shares.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) pool: Pool,
    pub(super) sql: Sql,
    pub(super) config: PgConfig,
    /// This process's appends waiting for, or in, a group commit.
    pub(super) group: Group,
}

/// One append call, checked and owned, as the group commit runs it.
#[derive(Debug)]
pub(super) struct Call {
    pub(super) coord: Coordinate,
    pub(super) events: Vec<(EventKind, Vec<u8>)>,
    pub(super) options: AppendOptions,
    pub(super) admission: Admission,
    /// The idempotency fingerprint, when the call carries a key.
    pub(super) fingerprint: Option<Hash>,
}

/// What one call gets back.
pub(super) type Reply = Result<Vec<AppendReceipt>, StoreError>;

/// This process's appends waiting for a group commit (`group.rs`): the
/// calls waiting for a leader, and whether one is running.
#[derive(Debug, Default)]
pub(super) struct Group {
    pub(super) state: Mutex<GroupState>,
}

#[derive(Debug, Default)]
pub(super) struct GroupState {
    pub(super) queue: Vec<(Call, flume::Sender<Reply>)>,
    pub(super) leading: bool,
}
