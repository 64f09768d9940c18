//! The three commands that read a store: `verify`, `stats` and `dump`, and
//! what they return (an exit status, or the [`Failure`] that stopped them).
//!
//! Each writes its answer to the `out` it is given and never opens, locks or
//! changes the store itself; `main` does that, read-only.

use std::fmt::Write as _;
use std::io::{self, Write};

use batpak::{EventHeader, Region, Store, StoreError, StoredEvent, VerifyReport};

use crate::args::DumpOptions;
use crate::render::{Dynamic, Quoted, render_header};

/// Events read from the store per query in `dump`: bounds memory on large
/// stores and lets `--limit` stop early, while keeping per-query overhead
/// (one index walk) small next to the reads.
const DUMP_CHUNK: u64 = 4096;

/// Exit status when the command found nothing wrong.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit status when the store's bytes are damaged.
pub(crate) const EXIT_DAMAGE: u8 = 1;
/// Exit status for a usage error or a store that cannot be opened.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Why a command stopped early.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The store said no or broke; mapped to a message and exit status.
    Store(StoreError),
    /// Writing to stdout failed (a closed pipe ends the output quietly).
    Output(io::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<io::Error> for Failure {
    fn from(e: io::Error) -> Self {
        Self::Output(e)
    }
}

/// `batpak verify`: one line when the log is whole, the first damage when not.
pub(crate) fn verify(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
    let report: VerifyReport = store.verify()?;
    let segments = store.stats().segments;
    match &report.damage {
        None => {
            writeln!(
                out,
                "ok: {} events, {} streams, {segments} segments",
                report.events, report.streams
            )?;
            Ok(EXIT_OK)
        }
        Some(d) => {
            let stream = d
                .coordinate
                .as_ref()
                .map_or_else(|| "unknown".to_owned(), ToString::to_string);
            let sequence = d
                .sequence
                .map_or_else(|| "unknown".to_owned(), |s| s.to_string());
            writeln!(
                out,
                "damage: {}: {} (entity {stream}, sequence {sequence})",
                d.at, d.reason
            )?;
            Ok(EXIT_DAMAGE)
        }
    }
}

/// `batpak stats`: every [`batpak::StoreStats`] field as `name: value`.
pub(crate) fn stats(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
    let s = store.stats();
    writeln!(out, "events: {}", s.events)?;
    writeln!(out, "streams: {}", s.streams)?;
    writeln!(out, "segments: {}", s.segments)?;
    writeln!(out, "log_bytes: {}", s.log_bytes)?;
    writeln!(out, "durable_events: {}", s.durable_events)?;
    writeln!(out, "syncs: {}", s.syncs)?;
    writeln!(out, "truncated_bytes: {}", s.truncated_bytes)?;
    writeln!(out, "opened_from_checkpoint: {}", s.opened_from_checkpoint)?;
    writeln!(out, "checkpoint_discarded: {}", s.checkpoint_discarded)?;
    writeln!(out, "lost_events: {}", s.lost_events)?;
    writeln!(out, "sealed_indexes_loaded: {}", s.sealed_indexes_loaded)?;
    writeln!(out, "sealed_indexes_written: {}", s.sealed_indexes_written)?;
    writeln!(out, "events_rescanned: {}", s.events_rescanned)?;
    Ok(EXIT_OK)
}

/// `batpak dump`: the selected events in global order, read in chunks of
/// positions so memory stays bounded and `--limit` stops early.
///
/// A payload that is not msgpack at all (the store only writes msgpack, so
/// its bytes were changed, or it nests deeper than the decoder allows) does
/// not hide the other events: its line says why it cannot be shown, and the
/// exit status is 1.
pub(crate) fn dump(
    store: &Store,
    options: &DumpOptions,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let end = store.stats().events;
    let mut left = options.limit.unwrap_or(u64::MAX);
    let mut start = options.from;
    let mut undecodable = 0u64;
    let mut line = String::new();
    while start < end && left > 0 {
        let last = start.saturating_add(DUMP_CHUNK - 1).min(end - 1);
        let region = options.region.clone().positions(start..=last);
        let events = match store.query::<Dynamic>(&region) {
            Ok(events) => events.into_iter().map(Ok).collect(),
            Err(StoreError::Codec(_)) => one_by_one(store, &region)?,
            Err(e) => return Err(e.into()),
        };
        for event in events
            .iter()
            .take(usize::try_from(left).unwrap_or(usize::MAX))
        {
            line.clear();
            match event {
                Ok(event) => {
                    render_header(&event.header, &mut line);
                    let _ = write!(line, "{}", event.payload);
                }
                Err((header, reason)) => {
                    undecodable += 1;
                    render_header(header, &mut line);
                    let _ = write!(line, "<undecodable payload: {}>", Quoted(reason));
                }
            }
            writeln!(out, "{line}")?;
            left -= 1;
        }
        start = last + 1;
    }
    if undecodable > 0 {
        let (noun, verb) = if undecodable == 1 {
            ("payload", "is")
        } else {
            ("payloads", "are")
        };
        eprintln!(
            "batpak: {undecodable} {noun} {verb} not a msgpack value (damaged, or nested \
             deeper than the decoder allows)"
        );
        return Ok(EXIT_DAMAGE);
    }
    Ok(EXIT_OK)
}

/// An event to print, or the header of one whose payload does not decode
/// and the reason.
type DumpItem = Result<StoredEvent<Dynamic>, (EventHeader, String)>;

/// Reads `region` one event at a time, after a chunk failed to decode, so
/// the payloads that do decode are still shown.
fn one_by_one(store: &Store, region: &Region) -> Result<Vec<DumpItem>, StoreError> {
    let headers = store.query_headers(region)?;
    let mut items = Vec::with_capacity(headers.len());
    for header in headers {
        let p = header.position;
        match store.query::<Dynamic>(&region.clone().positions(p..=p)) {
            Ok(events) => items.extend(events.into_iter().map(Ok)),
            Err(StoreError::Codec(e)) => items.push(Err((header, e.to_string()))),
            Err(e) => return Err(e),
        }
    }
    Ok(items)
}
