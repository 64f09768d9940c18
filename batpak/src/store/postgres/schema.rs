//! The tables of one log and the SQL text that reads and writes them.
//!
//! One schema holds one log: `events` (one row per event: its place as
//! columns, its header and payload as the exact encoded bytes, its chain
//! hash), `idempotency_keys`, `projections` (the projection cache) and
//! `cursors` (named durable cursor positions). Statements are built once
//! per store with the schema name, which is checked to be a plain
//! identifier first, so nothing a caller passes at run time is ever spliced
//! into SQL text.

use super::conn::{Conn, server_error};
use crate::store::error::StoreError;

/// Second key of the advisory lock every append holds until it commits
/// (the first is derived from the schema name).
const APPEND_LOCK: i32 = 1;
/// Second key of the advisory lock that serializes schema creation.
const DDL_LOCK: i32 = 0;

/// The unique constraint on `(entity, scope, sequence)`: a stream never
/// holds two events with one sequence, whoever writes.
pub(super) const STREAM_SEQUENCE: &str = "events_stream_sequence";

/// Longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER_LEN: usize = 63;

/// The SQL text of one log, with its schema name in place.
#[derive(Debug)]
pub(super) struct Sql {
    /// First key of this log's advisory locks.
    pub(super) lock_key: i32,
    pub(super) create: String,
    pub(super) drop_schema: String,
    /// Begins an append: the transaction and its append lock, one round trip.
    pub(super) begin_append: String,
    /// The stream's head and the next position, one round trip.
    pub(super) place: String,
    schema: String,
    pub(super) head: String,
    pub(super) next_position: String,
    pub(super) key_lookup: String,
    pub(super) insert_key: String,
    pub(super) receipts_between: String,
    pub(super) header_by_id: String,
    pub(super) select: String,
    pub(super) by_id: String,
    pub(super) causation: String,
    pub(super) verify_chunk: String,
    pub(super) projection_get: String,
    pub(super) projection_put: String,
    pub(super) projection_remove: String,
    pub(super) id_at: String,
    pub(super) cursor_get: String,
    pub(super) cursor_put: String,
}

/// The columns every event read selects, in this order.
pub(super) const EVENT_COLUMNS: &str = "position, header, payload, hash";

impl Sql {
    /// The statements for schema `schema`.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] naming the schema when it is not a plain
    /// lowercase identifier.
    pub(super) fn new(schema: &str) -> Result<Self, StoreError> {
        check_identifier(schema)?;
        let s = schema;
        let lock_key = {
            let digest = blake3::hash(s.as_bytes());
            let b = digest.as_bytes();
            i32::from_be_bytes([b[0], b[1], b[2], b[3]])
        };
        Ok(Self {
            lock_key,
            create: format!(
                "CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {s}.events (
                     position bigint PRIMARY KEY CHECK (position >= 0),
                     entity text COLLATE \"C\" NOT NULL,
                     scope text COLLATE \"C\" NOT NULL,
                     sequence bigint NOT NULL CHECK (sequence >= 1),
                     event_id bytea NOT NULL UNIQUE,
                     kind integer NOT NULL,
                     causation bytea,
                     header bytea NOT NULL,
                     payload bytea NOT NULL,
                     hash bytea NOT NULL,
                     CONSTRAINT {STREAM_SEQUENCE} UNIQUE (entity, scope, sequence)
                 );
                 CREATE INDEX IF NOT EXISTS events_causation ON {s}.events (causation)
                     WHERE causation IS NOT NULL;
                 CREATE TABLE IF NOT EXISTS {s}.idempotency_keys (
                     key text PRIMARY KEY,
                     fingerprint bytea NOT NULL,
                     first_position bigint NOT NULL,
                     count integer NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS {s}.projections (
                     key bytea PRIMARY KEY,
                     value bytea NOT NULL
                 );
                 CREATE TABLE IF NOT EXISTS {s}.cursors (
                     name text PRIMARY KEY,
                     region bytea NOT NULL,
                     position bigint NOT NULL
                 );"
            ),
            drop_schema: format!("DROP SCHEMA IF EXISTS {s} CASCADE"),
            begin_append: format!("BEGIN; SELECT pg_advisory_xact_lock({lock_key}, {APPEND_LOCK})"),
            place: format!(
                "SELECT (SELECT coalesce(max(position) + 1, 0) FROM {s}.events),
                        h.sequence, h.hash, h.position
                 FROM (SELECT 1) AS one LEFT JOIN LATERAL (
                     SELECT sequence, hash, position FROM {s}.events
                     WHERE entity = $1 AND scope = $2 ORDER BY sequence DESC LIMIT 1
                 ) AS h ON true"
            ),
            schema: s.to_owned(),
            head: format!(
                "SELECT sequence, hash, position FROM {s}.events WHERE entity = $1 AND scope = $2
                 ORDER BY sequence DESC LIMIT 1"
            ),
            next_position: format!("SELECT coalesce(max(position) + 1, 0) FROM {s}.events"),
            key_lookup: format!(
                "SELECT fingerprint, first_position, count FROM {s}.idempotency_keys WHERE key = $1"
            ),
            insert_key: format!(
                "INSERT INTO {s}.idempotency_keys (key, fingerprint, first_position, count)
                 VALUES ($1, $2, $3, $4)"
            ),
            receipts_between: format!(
                "SELECT {EVENT_COLUMNS} FROM {s}.events WHERE position >= $1 AND position < $2
                 ORDER BY position"
            ),
            header_by_id: format!("SELECT header FROM {s}.events WHERE event_id = $1"),
            select: format!("SELECT {EVENT_COLUMNS} FROM {s}.events WHERE position >= $1"),
            by_id: format!("SELECT {EVENT_COLUMNS} FROM {s}.events WHERE event_id = $1"),
            causation: format!(
                "WITH RECURSIVE walk(id) AS (
                     SELECT event_id FROM {s}.events WHERE event_id = $1
                     UNION
                     SELECT e.event_id FROM {s}.events e JOIN walk w ON e.causation = w.id
                 )
                 SELECT {EVENT_COLUMNS} FROM {s}.events
                 WHERE event_id IN (SELECT id FROM walk) ORDER BY position"
            ),
            verify_chunk: format!(
                "SELECT {EVENT_COLUMNS}, entity, scope, sequence, event_id, kind FROM {s}.events
                 WHERE position >= $1 ORDER BY position LIMIT $2"
            ),
            projection_get: format!("SELECT value FROM {s}.projections WHERE key = $1"),
            projection_put: format!(
                "INSERT INTO {s}.projections (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            ),
            projection_remove: format!("DELETE FROM {s}.projections WHERE key = $1"),
            id_at: format!("SELECT event_id FROM {s}.events WHERE position = $1"),
            cursor_get: format!("SELECT region, position FROM {s}.cursors WHERE name = $1"),
            cursor_put: format!(
                "INSERT INTO {s}.cursors (name, region, position) VALUES ($1, $2, $3)
                 ON CONFLICT (name) DO UPDATE SET region = excluded.region,
                     position = excluded.position"
            ),
        })
    }
}

impl Sql {
    /// An `INSERT` of `rows` events, ten parameters a row.
    pub(super) fn insert_events(&self, rows: usize) -> String {
        let mut text = format!(
            "INSERT INTO {}.events
                 (position, entity, scope, sequence, event_id, kind, causation, header, payload, hash)
             VALUES ",
            self.schema
        );
        for row in 0..rows {
            let p = row * 10;
            if row > 0 {
                text.push_str(", ");
            }
            text.push('(');
            for col in 1..=10 {
                if col > 1 {
                    text.push_str(", ");
                }
                text.push_str(&format!("${}", p + col));
            }
            text.push(')');
        }
        text
    }
}

/// A schema name is spliced into SQL text, so only plain identifiers pass.
fn check_identifier(name: &str) -> Result<(), StoreError> {
    let starts_well = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if starts_well && plain && name.len() <= MAX_IDENTIFIER_LEN {
        Ok(())
    } else {
        Err(server_error(
            "schema",
            None,
            format!(
                "schema name {name:?} is not allowed: use 1 to {MAX_IDENTIFIER_LEN} lowercase \
                 ASCII letters, digits or `_`, starting with a letter or `_`"
            ),
        ))
    }
}

/// Creates the schema and tables when missing. Concurrent `CREATE ... IF
/// NOT EXISTS` can still collide in the catalog, so creators take an
/// advisory lock first.
pub(super) fn create(conn: &Conn<'_>, sql: &Sql) -> Result<(), StoreError> {
    let begin = format!(
        "BEGIN; SELECT pg_advisory_xact_lock({}, {DDL_LOCK})",
        sql.lock_key
    );
    conn.transaction(&begin, |c| c.batch("create schema", &sql.create))
}
