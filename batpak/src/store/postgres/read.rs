//! Reads: rows back into [`StoredEvent`]s, region selection, causation
//! walks, and the full check of the log.
//!
//! Every row read goes through [`event_row`]: its header must decode and
//! name the position it was stored at, or the read is `Corrupt` at that
//! row. Selection narrows in SQL by entity, scope, position and sequence;
//! [`Region::matches`] then decides on the decoded header, so kinds and
//! admissions select exactly as in the embedded store.

use std::collections::HashMap;

use serde::de::DeserializeOwned;

use super::conn::{Rows, Value, int8};
use super::log::Shared;
use crate::coordinate::Coordinate;
use crate::event::{EventHeader, EventId, Hash, StoredEvent, decode_header, decode_stored};
use crate::region::{EntityFilter, Region};
use crate::store::error::{Place, StoreError};
use crate::store::report::{Damage, VerifyReport};

/// Rows read per round trip by `verify` and by waiting readers.
pub(super) const READ_CHUNK: u64 = 1024;

/// Row `row` of a result selecting `EVENT_COLUMNS`, decoded.
pub(super) fn event_row<P: DeserializeOwned>(
    rows: &Rows,
    row: usize,
) -> Result<StoredEvent<P>, StoreError> {
    let (header, hash) = header_row(rows, row)?;
    let payload = decode_stored(
        header.kind,
        header.payload_version,
        rows.bytes(row, 2).unwrap_or_default(),
    )?;
    Ok(StoredEvent {
        header,
        payload,
        hash,
    })
}

/// The header and hash of row `row`; the header must name the position
/// the row is stored at.
fn header_row(rows: &Rows, row: usize) -> Result<(EventHeader, Hash), StoreError> {
    let position = rows.u64(row, 0).unwrap_or(0);
    let corrupt = |reason: &str| StoreError::corrupt(Place::Row { position }, reason);
    let header = rows.bytes(row, 1).ok_or_else(|| corrupt("no header"))?;
    let header = decode_header(header).map_err(|e| corrupt(&e.to_string()))?;
    if header.position != position {
        return Err(corrupt(&format!(
            "the header says position {}",
            header.position
        )));
    }
    let hash: [u8; 32] = rows
        .bytes(row, 3)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| corrupt("the hash is not 32 bytes"))?;
    Ok((header, Hash::from_bytes(hash)))
}

/// Every row of a result, decoded, keeping those `region` matches. A
/// payload is decoded only when its header matched, so an event of another
/// type outside the region never fails the read.
fn matching<P: DeserializeOwned>(
    rows: &Rows,
    keep: &dyn Fn(&EventHeader) -> bool,
) -> Result<Vec<StoredEvent<P>>, StoreError> {
    matching_as(rows, keep, &|header, bytes| {
        Ok(decode_stored(header.kind, header.payload_version, bytes)?)
    })
}

/// As [`matching`], with the payload made by `payload` from its bytes.
fn matching_as<T>(
    rows: &Rows,
    keep: &dyn Fn(&EventHeader) -> bool,
    payload: &MakePayload<T>,
) -> Result<Vec<StoredEvent<T>>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in 0..rows.len() {
        let (header, hash) = header_row(rows, row)?;
        if keep(&header) {
            let payload = payload(&header, rows.bytes(row, 2).unwrap_or_default())?;
            out.push(StoredEvent {
                header,
                payload,
                hash,
            });
        }
    }
    Ok(out)
}

/// Every event of `region`, in position order.
pub(super) fn select<P: DeserializeOwned>(
    shared: &Shared,
    region: &Region,
) -> Result<Vec<StoredEvent<P>>, StoreError> {
    let (text, params) = region_sql(shared, region, 0, None);
    let conn = shared.pool.get()?;
    let values: Vec<Value<'_>> = params.iter().map(Param::value).collect();
    let rows = conn.exec("read", &text, &values)?;
    matching(&rows, &|h| region.matches(h))
}

/// One window of a scan: the events of `region` that `keep` also
/// accepts, among the next `limit` rows of `region` from position
/// `from`. Returns them with the position after the last row examined
/// (`from` when none) and whether the window was full (more may follow).
pub(super) fn select_window<P: DeserializeOwned>(
    shared: &Shared,
    region: &Region,
    keep: &dyn Fn(&EventHeader) -> bool,
    from: u64,
    limit: u64,
) -> Result<Window<P>, StoreError> {
    select_window_as(shared, region, keep, from, limit, &|header, bytes| {
        Ok(decode_stored(header.kind, header.payload_version, bytes)?)
    })
}

/// As [`select_window`], with each payload left as its stored bytes (for a
/// reader that decodes event by event).
pub(super) fn select_window_encoded(
    shared: &Shared,
    region: &Region,
    from: u64,
    limit: u64,
) -> Result<Window<Vec<u8>>, StoreError> {
    select_window_as(shared, region, &|_| true, from, limit, &|_, bytes| {
        Ok(bytes.to_vec())
    })
}

fn select_window_as<T>(
    shared: &Shared,
    region: &Region,
    keep: &dyn Fn(&EventHeader) -> bool,
    from: u64,
    limit: u64,
    payload: &MakePayload<T>,
) -> Result<Window<T>, StoreError> {
    let (text, params) = region_sql(shared, region, from, Some(limit));
    let conn = shared.pool.get()?;
    let values: Vec<Value<'_>> = params.iter().map(Param::value).collect();
    let rows = conn.exec("read", &text, &values)?;
    let end = (0..rows.len())
        .filter_map(|r| rows.u64(r, 0))
        .max()
        .map_or(from, |p| p + 1);
    Ok(Window {
        events: matching_as(&rows, &|h| region.matches(h) && keep(h), payload)?,
        end,
        full: rows.len() as u64 >= limit,
    })
}

/// The SQL narrowing `region` (its remaining filters apply in Rust).
fn region_sql(
    shared: &Shared,
    region: &Region,
    from: u64,
    limit: Option<u64>,
) -> (String, Vec<Param>) {
    let mut text = shared.sql.select.clone();
    let mut params = vec![Param::U64(from)];
    let mut add = |text: &mut String, clause: &str, param: Param| {
        params.push(param);
        text.push_str(&clause.replace('?', &format!("${}", params.len())));
    };
    match region.entity_filter() {
        EntityFilter::Any => {}
        EntityFilter::Exact(e) => add(&mut text, " AND entity = ?", Param::Text(e.clone())),
        // `entity` has the "C" collation, so a LIKE prefix can use the
        // index that leads with it.
        EntityFilter::Prefix(p) => {
            add(&mut text, " AND entity LIKE ?", Param::Text(like_prefix(p)))
        }
    }
    if let Some(scope) = region.scope_filter() {
        add(&mut text, " AND scope = ?", Param::Text(scope.to_owned()));
    }
    if let Some((lo, hi)) = region.position_range() {
        add(&mut text, " AND position >= ?", Param::U64(lo));
        add(&mut text, " AND position <= ?", Param::U64(hi));
    }
    if let Some((lo, hi)) = region.sequence_range() {
        add(&mut text, " AND sequence >= ?", Param::U64(lo));
        add(&mut text, " AND sequence <= ?", Param::U64(hi));
    }
    text.push_str(" ORDER BY position");
    if let Some(limit) = limit {
        add(&mut text, " LIMIT ?", Param::U64(limit));
    }
    (text, params)
}

/// The event with id `id`, if any.
pub(super) fn by_id<P: DeserializeOwned>(
    shared: &Shared,
    id: EventId,
) -> Result<Vec<StoredEvent<P>>, StoreError> {
    let conn = shared.pool.get()?;
    let id = id.as_u128().to_be_bytes();
    let rows = conn.exec("read", &shared.sql.by_id, &[Value::Bytes(&id)])?;
    matching(&rows, &|_| true)
}

/// The headers of `id` and everything it caused.
pub(super) fn causation(shared: &Shared, id: EventId) -> Result<Vec<EventHeader>, StoreError> {
    let conn = shared.pool.get()?;
    let id = id.as_u128().to_be_bytes();
    let rows = conn.exec("read", &shared.sql.causation, &[Value::Bytes(&id)])?;
    let events = matching::<serde::de::IgnoredAny>(&rows, &|_| true)?;
    Ok(events.into_iter().map(|e| e.header).collect())
}

/// How a row's payload bytes become the payload a reader asked for.
type MakePayload<T> = dyn Fn(&EventHeader, &[u8]) -> Result<T, StoreError>;

/// What one [`select_window`] read.
pub(super) struct Window<P> {
    /// The events kept, in position order.
    pub(super) events: Vec<StoredEvent<P>>,
    /// The position after the last row examined.
    pub(super) end: u64,
    /// True when the window examined as many rows as allowed.
    pub(super) full: bool,
}

/// The LIKE pattern matching every text that starts with `prefix`:
/// its own `\`, `%` and `_` escaped (backslash is LIKE's escape), then `%`.
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// An owned statement parameter (the SQL is built before the values borrow).
enum Param {
    U64(u64),
    Text(String),
}

impl Param {
    fn value(&self) -> Value<'_> {
        match self {
            Self::U64(v) => int8(*v),
            Self::Text(s) => Value::Text(s),
        }
    }
}

/// Per-stream state while verifying: the last sequence and hash seen.
type Chains = HashMap<Coordinate, (u64, Hash)>;

/// Checks every row of the log in position order (see `PgStore::verify`).
pub(super) fn verify(shared: &Shared) -> Result<VerifyReport, StoreError> {
    let conn = shared.pool.get()?;
    let mut report = VerifyReport::default();
    let mut chains = Chains::new();
    loop {
        let rows = conn.exec(
            "verify",
            &shared.sql.verify_chunk,
            &[int8(report.events), int8(READ_CHUNK)],
        )?;
        for row in 0..rows.len() {
            if let Err(damage) = check_row(&rows, row, report.events, &mut chains) {
                report.damage = Some(damage);
                report.streams = chains.len() as u64;
                return Ok(report);
            }
            report.events += 1;
        }
        if (rows.len() as u64) < READ_CHUNK {
            break;
        }
    }
    report.streams = chains.len() as u64;
    Ok(report)
}

/// One row: at the expected position, header agreeing with the columns,
/// next in its stream, chained to the previous event, hash recomputed.
fn check_row(rows: &Rows, row: usize, expected: u64, chains: &mut Chains) -> Result<(), Damage> {
    let position = rows.u64(row, 0).unwrap_or(u64::MAX);
    let damage = |header: Option<&EventHeader>, reason: String| Damage {
        at: Place::Row { position },
        coordinate: header.map(|h| h.coordinate.clone()),
        sequence: header.map(|h| h.sequence),
        reason,
    };
    if position != expected {
        return Err(damage(
            None,
            format!("expected position {expected}: the log has a gap"),
        ));
    }
    let header_bytes = rows.bytes(row, 1).unwrap_or_default();
    let header = decode_header(header_bytes).map_err(|e| damage(None, e.to_string()))?;
    let h = Some(&header);
    let columns_agree = header.position == position
        && rows.bytes(row, 4) == Some(header.coordinate.entity().as_bytes())
        && rows.bytes(row, 5) == Some(header.coordinate.scope().as_bytes())
        && rows.u64(row, 6) == Some(header.sequence)
        && rows.bytes(row, 7) == Some(header.id.as_u128().to_be_bytes().as_slice())
        && rows.i32(row, 8) == Some(i32::from_be_bytes(header.kind.to_u32().to_be_bytes()));
    if !columns_agree {
        return Err(damage(
            h,
            "the row's columns disagree with its header".into(),
        ));
    }
    let (last, prev) = chains
        .get(&header.coordinate)
        .copied()
        .unwrap_or((0, Hash::ZERO));
    if header.sequence != last + 1 {
        return Err(damage(h, format!("expected sequence {}", last + 1)));
    }
    if header.prev_hash != prev {
        return Err(damage(
            h,
            "the chain link does not match the previous event".into(),
        ));
    }
    let payload = rows.bytes(row, 2).unwrap_or_default();
    let hash = Hash::chain(&prev, header_bytes, payload);
    if rows.bytes(row, 3) != Some(hash.as_bytes().as_slice()) {
        return Err(damage(
            h,
            "the stored hash does not match the event's bytes".into(),
        ));
    }
    chains.insert(header.coordinate.clone(), (header.sequence, hash));
    Ok(())
}
