//! Group commit: the appends that threads of one process make at the same
//! time share one transaction, so they share its one WAL flush.
//!
//! Appends to a log are serialized by the append lock (see `write.rs`),
//! each holding it until its commit is flushed; without grouping, eight
//! threads would wait for eight flushes in turn. Here a caller queues its
//! call; the first caller that finds no leader becomes the leader and runs
//! every queued call in one transaction, each inside a savepoint (a call
//! that fails — a version mismatch, an idempotency conflict — rolls back
//! alone and gets its own error), commits once, and answers every caller;
//! it leads again while calls are queued. A call sees the calls before it
//! in its group exactly as if they had committed just before it. When the
//! commit itself fails, every call of the group that had succeeded gets
//! that error: nothing of the group is acknowledged.

use super::conn::{Conn, UNIQUE_VIOLATION, server_error};
use super::log::{Call, Reply, Shared};
use super::schema::{STREAM_SEQUENCE, Sql};
use super::write::{append_in, check_input, stream_head};
use crate::coordinate::Coordinate;
use crate::event::{Admission, EventKind};
use crate::guard::AppendOptions;
use crate::pipeline::AppendReceipt;
use crate::store::error::StoreError;
use crate::store::lock::lock;

/// Commits one call (one event or an atomic batch) with `admission`, in
/// the next group of this process.
pub(super) fn commit(
    shared: &Shared,
    coord: &Coordinate,
    events: Vec<(EventKind, Vec<u8>)>,
    options: AppendOptions,
    admission: Admission,
) -> Result<Vec<AppendReceipt>, StoreError> {
    let fingerprint = check_input(
        coord,
        &events,
        &options,
        &admission,
        shared.config.max_payload_bytes,
    )?;
    join(
        shared,
        Call {
            coord: coord.clone(),
            events,
            options,
            admission,
            fingerprint,
        },
    )
}

/// Runs `call` in the next group and returns its receipts.
fn join(shared: &Shared, call: Call) -> Reply {
    let (tx, rx) = flume::bounded(1);
    let lead = {
        let mut state = lock(&shared.group.state);
        state.queue.push((call, tx));
        !std::mem::replace(&mut state.leading, true)
    };
    if lead {
        let _leader = Leader(shared);
        while let Some(calls) = take_queue(shared) {
            run(shared, calls);
        }
    }
    rx.recv()
        .map_err(|_| server_error("append", None, "the group leader stopped".into()))?
}

/// The queued calls, or `None` (and leadership given up) when none are.
fn take_queue(shared: &Shared) -> Option<Vec<(Call, flume::Sender<Reply>)>> {
    let mut state = lock(&shared.group.state);
    if state.queue.is_empty() {
        state.leading = false;
        return None;
    }
    Some(std::mem::take(&mut state.queue))
}

/// Gives up leadership if the leader unwinds, failing the calls still
/// queued (their senders are dropped, so their callers get an error).
struct Leader<'a>(&'a Shared);

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut state = lock(&self.0.group.state);
        if state.leading && std::thread::panicking() {
            state.queue.clear();
            state.leading = false;
        }
    }
}

/// One group: one transaction, one commit, one reply per call.
fn run(shared: &Shared, calls: Vec<(Call, flume::Sender<Reply>)>) {
    let sql = &shared.sql;
    let conn = match shared.pool.get() {
        Ok(conn) => conn,
        Err(error) => {
            for (_, reply) in calls {
                let _ = reply.send(Err(copy(&error)));
            }
            return;
        }
    };
    if let [(call, reply)] = calls.as_slice() {
        // Alone: no savepoint needed; a failure rolls the transaction back.
        let result = conn.transaction(&sql.begin_append, |c| append_in(c, sql, call));
        let _ = reply.send(result.map_err(|e| conflict(&conn, sql, call, e)));
        return;
    }
    let mut replies = Vec::with_capacity(calls.len());
    let outcome = conn.transaction(&sql.begin_append, |c| {
        for (call, _) in &calls {
            c.batch("append", "SAVEPOINT call")?;
            match append_in(c, sql, call) {
                Ok(receipts) => {
                    c.batch("append", "RELEASE SAVEPOINT call")?;
                    replies.push(Ok(receipts));
                }
                Err(error) => {
                    c.batch("append", "ROLLBACK TO SAVEPOINT call")?;
                    replies.push(Err(conflict(c, sql, call, error)));
                }
            }
        }
        Ok(())
    });
    match outcome {
        Ok(()) => {
            for ((_, reply), result) in calls.iter().zip(replies) {
                let _ = reply.send(result);
            }
        }
        Err(error) => {
            let mut replies = replies.into_iter();
            for (_, reply) in &calls {
                let result = match replies.next() {
                    Some(Err(own)) => Err(own),
                    _ => Err(copy(&error)),
                };
                let _ = reply.send(result);
            }
        }
    }
}

/// A unique violation of the stream's sequence can only come from a
/// writer that bypassed the lock: report it as the version mismatch it is.
fn conflict(c: &Conn<'_>, sql: &Sql, call: &Call, error: StoreError) -> StoreError {
    match error {
        StoreError::Postgres {
            code: Some(ref code),
            ref message,
            ..
        } if code == UNIQUE_VIOLATION && message.contains(STREAM_SEQUENCE) => {
            match stream_head(c, sql, &call.coord) {
                Ok(head) => StoreError::VersionMismatch {
                    coordinate: call.coord.clone(),
                    expected: call.options.expected_version,
                    actual: head.version,
                },
                Err(_) => error,
            }
        }
        other => other,
    }
}

/// The same server error for another caller of the group.
fn copy(error: &StoreError) -> StoreError {
    match error {
        StoreError::Postgres { op, code, message } => StoreError::Postgres {
            op,
            code: code.clone(),
            message: message.clone(),
        },
        other => server_error("append", None, other.to_string()),
    }
}
