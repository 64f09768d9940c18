//! Connections to the server: a small pool of libpq connections, typed
//! parameters and rows in binary format, and errors that keep the server's
//! SQLSTATE.
//!
//! Everything goes through [`Conn::exec`]: parameters are sent apart from
//! the SQL text (never spliced in) and results come back in binary, so a
//! bigint is 8 big-endian bytes and a bytea is its bytes. A connection that
//! failed, or that a panic left inside a transaction, is never returned to
//! the pool: it is dropped and a fresh one is made on the next checkout.
//! A libpq `Connection` must never be cloned (its `Clone` copies the raw
//! handle, and both copies would finish it).

use std::sync::Mutex;

use libpq::{Connection, Format, PQResult};

use crate::store::error::StoreError;
use crate::store::lock::lock;

// Type oids of the parameters we send (pg_type.dat).
const INT4: u32 = 23;
const INT8: u32 = 20;
const TEXT: u32 = 25;
const BYTEA: u32 = 17;

/// SQLSTATE of a unique-constraint violation.
pub(super) const UNIQUE_VIOLATION: &str = "23505";

/// Idle connections kept for reuse; more may be open while busy.
const MAX_IDLE: usize = 16;

/// One parameter of a statement.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    /// An `int4`.
    I32(i32),
    /// An `int8`.
    I64(i64),
    /// A `text` (must hold no NUL byte; the server refuses one).
    Text(&'a str),
    /// A `bytea`.
    Bytes(&'a [u8]),
    /// A `bytea` that is NULL.
    NullBytes,
}

impl Value<'_> {
    fn oid(&self) -> u32 {
        match self {
            Self::I32(_) => INT4,
            Self::I64(_) => INT8,
            Self::Text(_) => TEXT,
            Self::Bytes(_) | Self::NullBytes => BYTEA,
        }
    }

    fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Self::I32(v) => Some(v.to_be_bytes().to_vec()),
            Self::I64(v) => Some(v.to_be_bytes().to_vec()),
            Self::Text(s) => Some(s.as_bytes().to_vec()),
            Self::Bytes(b) => Some(b.to_vec()),
            Self::NullBytes => None,
        }
    }
}

/// A position, sequence or count as the `bigint` it is stored as.
pub(super) fn int8(v: u64) -> Value<'static> {
    Value::I64(i64::try_from(v).unwrap_or(i64::MAX))
}

/// The rows of one result, read by column index.
pub(super) struct Rows(PQResult);

impl Rows {
    /// Number of rows.
    pub(super) fn len(&self) -> usize {
        self.0.ntuples()
    }

    /// True when the statement returned no rows.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The raw bytes of a field; `None` when NULL or outside the result
    /// (libpq would print a complaint for the latter).
    pub(super) fn bytes(&self, row: usize, col: usize) -> Option<&[u8]> {
        if row >= self.len() || col >= self.0.nfields() || self.0.is_null(row, col) {
            None
        } else {
            self.0.value(row, col)
        }
    }

    /// A `bigint` field, as the unsigned value it stores (NULL and negative
    /// values are `None`).
    pub(super) fn u64(&self, row: usize, col: usize) -> Option<u64> {
        let b: [u8; 8] = self.bytes(row, col)?.try_into().ok()?;
        u64::try_from(i64::from_be_bytes(b)).ok()
    }

    /// An `integer` field.
    pub(super) fn i32(&self, row: usize, col: usize) -> Option<i32> {
        let b: [u8; 4] = self.bytes(row, col)?.try_into().ok()?;
        Some(i32::from_be_bytes(b))
    }
}

/// The error of a statement that did not succeed: its SQLSTATE and the
/// result's message (or the connection's, when the result has none).
fn failed(op: &'static str, conn: &Connection, result: &libpq::Result) -> StoreError {
    let code = result
        .error_field(libpq::result::ErrorField::Sqlstate)
        .ok()
        .flatten()
        .map(str::to_owned);
    let message = result
        .error_message()
        .ok()
        .flatten()
        .or_else(|| conn.error_message().map(str::to_owned))
        .unwrap_or_else(|| "no message".to_owned());
    server_error(op, code, message)
}

/// An error the server (or libpq) reported, with its SQLSTATE when there is one.
pub(super) fn server_error(op: &'static str, code: Option<String>, message: String) -> StoreError {
    StoreError::Postgres {
        op,
        code,
        message: message.trim_end().to_owned(),
    }
}

/// One open connection, checked out of the pool.
pub(super) struct Conn<'p> {
    conn: Option<Connection>,
    pool: &'p Pool,
}

impl Conn<'_> {
    fn raw(&self) -> Result<&Connection, StoreError> {
        self.conn
            .as_ref()
            .ok_or_else(|| server_error("connection", None, "connection was dropped".into()))
    }

    /// Runs `sql` with `params` (binary in, binary out).
    ///
    /// # Errors
    /// [`StoreError::Postgres`] with the server's SQLSTATE and message.
    pub(super) fn exec(
        &self,
        op: &'static str,
        sql: &str,
        params: &[Value<'_>],
    ) -> Result<Rows, StoreError> {
        let conn = self.raw()?;
        let types: Vec<u32> = params.iter().map(Value::oid).collect();
        let owned: Vec<Option<Vec<u8>>> = params.iter().map(Value::bytes).collect();
        let values: Vec<Option<&[u8]>> = owned.iter().map(Option::as_deref).collect();
        let formats = vec![Format::Binary; params.len()];
        let result = conn.exec_params(sql, &types, &values, &formats, Format::Binary);
        match result.status() {
            libpq::Status::CommandOk | libpq::Status::TuplesOk => Ok(Rows(result)),
            _ => Err(failed(op, conn, &result)),
        }
    }

    /// Runs `sql` (no parameters; may hold several statements).
    ///
    /// # Errors
    /// As [`Conn::exec`].
    pub(super) fn batch(&self, op: &'static str, sql: &str) -> Result<(), StoreError> {
        let conn = self.raw()?;
        let result = conn.exec(sql);
        match result.status() {
            libpq::Status::CommandOk | libpq::Status::TuplesOk => Ok(()),
            _ => Err(failed(op, conn, &result)),
        }
    }

    /// Runs `body` inside a transaction begun by `begin` (`BEGIN`, maybe
    /// followed by more statements without parameters, all in one round
    /// trip): commits when `body` returns `Ok`, rolls back when it returns
    /// an error.
    ///
    /// # Errors
    /// `body`'s error, or the server's on `BEGIN`/`COMMIT`. An error on
    /// `COMMIT` itself (a lost connection) leaves the outcome unknown: the
    /// transaction may have committed. Retry with an idempotency key.
    pub(super) fn transaction<T>(
        &self,
        begin: &str,
        body: impl FnOnce(&Self) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        if let Err(error) = self.batch("begin", begin) {
            let _ = self.batch("rollback", "ROLLBACK");
            return Err(error);
        }
        match body(self) {
            Ok(value) => {
                self.batch("commit", "COMMIT")?;
                Ok(value)
            }
            Err(error) => {
                // The rollback's own failure would only hide the cause; a
                // connection left in a transaction is not pooled (Drop).
                let _ = self.batch("rollback", "ROLLBACK");
                Err(error)
            }
        }
    }
}

impl Drop for Conn<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            let healthy = conn.status() == libpq::connection::Status::Ok
                && conn.transaction_status() == libpq::transaction::Status::Idle;
            if healthy {
                let mut idle = lock(&self.pool.idle);
                if idle.len() < MAX_IDLE {
                    idle.push(conn);
                }
            }
        }
    }
}

/// Connections to one server, reused across calls and threads.
pub(super) struct Pool {
    url: String,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool").finish_non_exhaustive()
    }
}

impl Pool {
    /// A pool for `url` (a libpq connection string or `postgresql://` URL).
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the URL holds a NUL byte.
    pub(super) fn new(url: &str) -> Result<Self, StoreError> {
        if url.contains('\0') {
            return Err(server_error(
                "connect",
                None,
                "the connection URL holds a NUL byte".into(),
            ));
        }
        Ok(Self {
            url: url.to_owned(),
            idle: Mutex::new(Vec::new()),
        })
    }

    /// An idle connection, or a new one.
    ///
    /// # Errors
    /// [`StoreError::Postgres`] when the server cannot be reached or refuses.
    pub(super) fn get(&self) -> Result<Conn<'_>, StoreError> {
        let reused = lock(&self.idle).pop();
        let conn = match reused {
            Some(conn) => conn,
            None => self.connect()?,
        };
        Ok(Conn {
            conn: Some(conn),
            pool: self,
        })
    }

    fn connect(&self) -> Result<Connection, StoreError> {
        let conn =
            Connection::new(&self.url).map_err(|e| server_error("connect", None, e.to_string()))?;
        if conn.status() != libpq::connection::Status::Ok {
            let message = conn.error_message().unwrap_or("connection refused");
            return Err(server_error("connect", None, message.to_owned()));
        }
        // Notices (e.g. `DROP SCHEMA ... CASCADE` listing what it dropped)
        // would go to stderr; warnings and errors still arrive.
        let quiet = conn.exec("SET client_min_messages TO warning");
        if quiet.status() != libpq::Status::CommandOk {
            let message = conn
                .error_message()
                .unwrap_or("cannot configure the session");
            return Err(server_error("connect", None, message.to_owned()));
        }
        Ok(conn)
    }
}
