//! The append transaction: check input → lock appends → idempotency key →
//! expected version → positions, ids and correlation → encode and chain →
//! insert → commit.
//!
//! The advisory lock taken first is held until commit, so appends to one
//! log run one at a time across every process: the next position is read
//! and used under it (positions are gapless and follow commit order) and a
//! stream's version cannot move between its check and the insert. The
//! unique `(entity, scope, sequence)` constraint backs the version check:
//! even a writer that skipped the lock could not append a sequence twice.
//! Nothing is written when a check fails (the transaction rolls back).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::conn::{Conn, Value, int8};
use super::log::Call;
use super::read::event_row;
use super::schema::Sql;
use crate::coordinate::Coordinate;
use crate::event::{Admission, EventId, EventKind, Hash, decode_header, encode_header_ref_into};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::store::core::write::{CallHeaders, Kinds, check_call, check_header_len};
use crate::store::error::{Place, StoreError};
use crate::store::report::StreamHead;

/// Before any connection: the call is within every limit the embedded
/// store holds appends to (one rule, [`check_call`]). Returns the
/// idempotency fingerprint of the call's content when it carries a key.
pub(super) fn check_input(
    coord: &Coordinate,
    events: &[(EventKind, Vec<u8>)],
    options: &AppendOptions,
    admission: &Admission,
    max_payload: usize,
) -> Result<Option<Hash>, StoreError> {
    check_call(coord, events, options, admission, max_payload, Kinds::User)
}

/// Rows per `INSERT` statement: 10 parameters a row, far below the
/// protocol's 65,535, and large enough that a batch costs few round trips.
const ROWS_PER_INSERT: usize = 512;

/// One event, encoded and chained, ready to insert.
struct Row {
    id: [u8; 16],
    kind: i32,
    header: Vec<u8>,
    hash: Hash,
}

/// The body of one call in the append transaction (the append lock is
/// already held).
pub(super) fn append_in(
    c: &Conn<'_>,
    sql: &Sql,
    call: &Call,
) -> Result<Vec<AppendReceipt>, StoreError> {
    let Call {
        coord,
        events,
        options,
        admission,
        fingerprint,
    } = call;
    let fingerprint = *fingerprint;
    if let (Some(key), Some(fp)) = (&options.idempotency_key, fingerprint)
        && let Some(receipts) = replay_key(c, sql, key, fp)?
    {
        return Ok(receipts);
    }
    let (head, first_position) = place(c, sql, coord)?;
    if !options.expected_version.allows(head.version) {
        return Err(StoreError::VersionMismatch {
            coordinate: coord.clone(),
            expected: options.expected_version,
            actual: head.version,
        });
    }
    let correlation = match (options.correlation, options.causation) {
        (Some(id), _) => Some(id),
        (None, Some(cause)) => correlation_of(c, sql, cause)?,
        (None, None) => None,
    };
    let now = since_epoch();
    let timestamp_us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
    let mut prev = head.hash;
    let mut rows = Vec::with_capacity(events.len());
    let call = CallHeaders {
        coordinate: coord,
        options,
        admission,
        correlation,
        timestamp_us,
        version: head.version,
        first_position,
    };
    for (i, (kind, payload)) in events.iter().enumerate() {
        let id = EventId::generate_at(now);
        let mut header = Vec::with_capacity(256);
        encode_header_ref_into(&call.header(i, id, *kind, prev), &mut header);
        check_header_len(header.len())?;
        prev = Hash::chain(&prev, &header, payload);
        rows.push(Row {
            id: id.as_u128().to_be_bytes(),
            kind: i32::from_be_bytes(kind.to_u32().to_be_bytes()),
            header,
            hash: prev,
        });
    }
    insert_rows(
        c,
        sql,
        coord,
        events,
        options,
        &rows,
        head.version,
        first_position,
    )?;
    if let (Some(key), Some(fp)) = (&options.idempotency_key, fingerprint) {
        c.exec(
            "append",
            &sql.insert_key,
            &[
                Value::Text(key),
                Value::Bytes(fp.as_bytes()),
                int8(first_position),
                Value::I32(i32::try_from(events.len()).unwrap_or(i32::MAX)),
            ],
        )?;
    }
    Ok(rows
        .iter()
        .enumerate()
        .map(|(i, row)| AppendReceipt {
            event_id: EventId::from_u128(u128::from_be_bytes(row.id)),
            sequence: head.version + 1 + i as u64,
            position: first_position + i as u64,
            hash: row.hash,
        })
        .collect())
}

/// Inserts the encoded rows, [`ROWS_PER_INSERT`] to a statement.
#[allow(clippy::too_many_arguments)]
fn insert_rows(
    c: &Conn<'_>,
    sql: &Sql,
    coord: &Coordinate,
    events: &[(EventKind, Vec<u8>)],
    options: &AppendOptions,
    rows: &[Row],
    version: u64,
    first_position: u64,
) -> Result<(), StoreError> {
    let causation = options.causation.map(|c| c.as_u128().to_be_bytes());
    let causation = causation
        .as_ref()
        .map_or(Value::NullBytes, |c| Value::Bytes(c));
    for (chunk, start) in rows
        .chunks(ROWS_PER_INSERT)
        .zip((0..).step_by(ROWS_PER_INSERT))
    {
        let mut params = Vec::with_capacity(chunk.len() * 10);
        for (j, row) in chunk.iter().enumerate() {
            let i = start + j;
            params.extend([
                int8(first_position + i as u64),
                Value::Text(coord.entity()),
                Value::Text(coord.scope()),
                int8(version + 1 + i as u64),
                Value::Bytes(&row.id),
                Value::I32(row.kind),
                causation,
                Value::Bytes(&row.header),
                Value::Bytes(&events[i].1),
                Value::Bytes(row.hash.as_bytes()),
            ]);
        }
        c.exec("append", &sql.insert_events(chunk.len()), &params)?;
    }
    Ok(())
}

/// A key used before: the original receipts when the content is the same
/// (nothing is written), a conflict when it is not, `None` when unused.
fn replay_key(
    c: &Conn<'_>,
    sql: &Sql,
    key: &str,
    fp: Hash,
) -> Result<Option<Vec<AppendReceipt>>, StoreError> {
    let rows = c.exec("append", &sql.key_lookup, &[Value::Text(key)])?;
    if rows.is_empty() {
        return Ok(None);
    }
    let first = rows.u64(0, 1).unwrap_or(0);
    if rows.bytes(0, 0) != Some(fp.as_bytes().as_slice()) {
        return Err(StoreError::IdempotencyConflict {
            key: key.to_owned(),
            position: first,
        });
    }
    let count = u64::try_from(rows.i32(0, 2).unwrap_or(0)).unwrap_or(0);
    let events = c.exec(
        "append",
        &sql.receipts_between,
        &[int8(first), int8(first + count)],
    )?;
    let mut receipts = Vec::with_capacity(events.len());
    for row in 0..events.len() {
        let event = event_row::<serde::de::IgnoredAny>(&events, row)?;
        receipts.push(AppendReceipt {
            event_id: event.header.id,
            sequence: event.header.sequence,
            position: event.header.position,
            hash: event.hash,
        });
    }
    Ok(Some(receipts))
}

/// A stream's version and the hash of its last event.
pub(super) fn stream_head(
    c: &Conn<'_>,
    sql: &Sql,
    coord: &Coordinate,
) -> Result<StreamHead, StoreError> {
    let rows = c.exec(
        "read",
        &sql.head,
        &[Value::Text(coord.entity()), Value::Text(coord.scope())],
    )?;
    if rows.is_empty() {
        return Ok(StreamHead {
            version: 0,
            hash: Hash::ZERO,
        });
    }
    let version = rows.u64(0, 0).unwrap_or(0);
    let hash: [u8; 32] = rows
        .bytes(0, 1)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            StoreError::corrupt(
                Place::Row {
                    position: rows.u64(0, 2).unwrap_or(0),
                },
                format!("stream {coord} has a head hash that is not 32 bytes"),
            )
        })?;
    Ok(StreamHead {
        version,
        hash: Hash::from_bytes(hash),
    })
}

/// The stream's head and the next global position, in one round trip.
fn place(c: &Conn<'_>, sql: &Sql, coord: &Coordinate) -> Result<(StreamHead, u64), StoreError> {
    let rows = c.exec(
        "append",
        &sql.place,
        &[Value::Text(coord.entity()), Value::Text(coord.scope())],
    )?;
    let next = rows.u64(0, 0).unwrap_or(0);
    let Some(version) = rows.u64(0, 1) else {
        return Ok((
            StreamHead {
                version: 0,
                hash: Hash::ZERO,
            },
            next,
        ));
    };
    let hash: [u8; 32] = rows
        .bytes(0, 2)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            StoreError::corrupt(
                Place::Row {
                    position: rows.u64(0, 3).unwrap_or(0),
                },
                format!("stream {coord} has a head hash that is not 32 bytes"),
            )
        })?;
    Ok((
        StreamHead {
            version,
            hash: Hash::from_bytes(hash),
        },
        next,
    ))
}

/// The next global position: one past the highest committed.
pub(super) fn next_position(c: &Conn<'_>, sql: &Sql) -> Result<u64, StoreError> {
    let rows = c.exec("read", &sql.next_position, &[])?;
    Ok(rows.u64(0, 0).unwrap_or(0))
}

/// The correlation of the causing event, read from its stored header.
fn correlation_of(c: &Conn<'_>, sql: &Sql, cause: EventId) -> Result<Option<EventId>, StoreError> {
    let id = cause.as_u128().to_be_bytes();
    let rows = c.exec("append", &sql.header_by_id, &[Value::Bytes(&id)])?;
    Ok(rows
        .bytes(0, 0)
        .and_then(|b| decode_header(b).ok())
        .map(|h| h.correlation))
}

/// Time since the Unix epoch (zero if the clock is before it).
fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
