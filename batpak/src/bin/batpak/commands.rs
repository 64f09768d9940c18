//! The commands that read a store: `verify`, `stats`, `dump`, `export`,
//! `machines`, and `tail` (which reads segment files through a
//! [`Follower`] instead); what they return is in `failure.rs`.
//!
//! Each writes its answer to the `out` it is given and never opens, locks or
//! changes the store itself; `main` does that, read-only.

use std::fmt::Write as _;
use std::io::Write;

use std::time::Duration;

use batpak::{EventHeader, Follower, Region, Store, StoreError, StoredEvent, VerifyReport};

use crate::args::{DumpOptions, Format};
use crate::catalog::{Catalog, NamedKind, counts};
use crate::failure::{EXIT_DAMAGE, EXIT_OK, Failure};
use crate::json;
use crate::render::{Dynamic, Quoted, render_header};

/// Events read from the store per query in `dump`: bounds memory on large
/// stores and lets `--limit` stop early, while keeping per-query overhead
/// (one index walk) small next to the reads.
const DUMP_CHUNK: u64 = 4096;

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
    let options = &resolved(store, options)?;
    each_event(store, options, out, |event, line| match event {
        Ok(event) => {
            render_header(&event.header, line);
            let _ = write!(line, "{}", event.payload);
        }
        Err((header, reason)) => {
            render_header(header, line);
            let _ = write!(line, "<undecodable payload: {}>", Quoted(reason));
        }
    })
}

/// `batpak export --ndjson`: the events `dump` would select, one JSON
/// object per line (see `json.rs`); a payload that does not decode is
/// `"payload":null,"undecodable":true`, and the exit status is 1.
pub(crate) fn export(
    store: &Store,
    options: &DumpOptions,
    format: Format,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let options = &resolved(store, options)?;
    match format {
        Format::Ndjson => each_event(store, options, out, |event, line| match event {
            Ok(event) => json::event(&event.header, Some(&event.payload), line),
            Err((header, _)) => json::event(header, None, line),
        }),
    }
}

/// `options` with its `--kind` names resolved against the store's catalog.
fn resolved(store: &Store, options: &DumpOptions) -> Result<DumpOptions, Failure> {
    let mut region = options.region.clone();
    if !options.named_kinds.is_empty() {
        let catalog = Catalog::read(store)?;
        for name in &options.named_kinds {
            region = match catalog.resolve(name).map_err(Failure::Usage)? {
                NamedKind::Exact(kind) => region.kind(kind),
                NamedKind::Category(category) => region.category(category),
            };
        }
    }
    Ok(DumpOptions {
        region,
        from: options.from,
        limit: options.limit,
        named_kinds: Vec::new(),
    })
}

/// `batpak machines`: each machine of the catalog, its gates, and how many
/// entities are in each of its states.
pub(crate) fn machines(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
    let catalog = Catalog::read(store)?;
    let machines = catalog.machines();
    if machines.is_empty() {
        writeln!(
            out,
            "no machine has written to this store (its catalog is empty)"
        )?;
    }
    for machine in machines {
        let entities = Catalog::entities(store, machine)?;
        let gates = if machine.gates.is_empty() {
            "no gates".to_owned()
        } else {
            format!("gates {}", machine.gates.join(", "))
        };
        writeln!(
            out,
            "{} (category {}, {} variants, {gates}): {} entities",
            machine.name,
            machine.category,
            machine.variants.len(),
            entities.len()
        )?;
        for (state, n) in counts(machine, &entities) {
            writeln!(out, "  {state:<16} {n}")?;
        }
    }
    Ok(EXIT_OK)
}

/// How long `tail` waits before looking for new frames again: short enough
/// to feel live, long enough that an idle tail costs nothing measurable.
const TAIL_POLL: Duration = Duration::from_millis(100);

/// `batpak tail`: follows the log with a [`Follower`] (no lock, no store
/// opened), printing each selected event as `dump` (or `export --ndjson`)
/// would, flushed as it comes, until `--limit` events were printed (or
/// forever).
pub(crate) fn tail(
    dir: &std::path::Path,
    options: &DumpOptions,
    ndjson: bool,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    if let Some(name) = options.named_kinds.first() {
        return Err(Failure::Usage(format!(
            "tail takes --kind as CAT:CODE, not by name ({name:?}): it opens no store to read              the catalog from; `batpak machines` or `dump --kind {name} --limit 1` show the number"
        )));
    }
    let mut follower = Follower::open(dir)?;
    follower.skip_to(options.from)?;
    let mut left = options.limit.unwrap_or(u64::MAX);
    let mut line = String::new();
    while left > 0 {
        let events = follower.poll::<Dynamic>()?;
        for event in events.iter().filter(|e| options.region.matches(&e.header)) {
            line.clear();
            if ndjson {
                json::event(&event.header, Some(&event.payload), &mut line);
            } else {
                render_header(&event.header, &mut line);
                let _ = write!(line, "{}", event.payload);
            }
            writeln!(out, "{line}")?;
            left -= 1;
            if left == 0 {
                break;
            }
        }
        out.flush()?;
        if events.is_empty() {
            std::thread::sleep(TAIL_POLL);
        }
    }
    Ok(EXIT_OK)
}

/// Writes one line per selected event, rendered by `render`, reading the
/// log in chunks of positions so memory stays bounded and `--limit` stops
/// early. Returns 1 when a payload did not decode.
fn each_event(
    store: &Store,
    options: &DumpOptions,
    out: &mut dyn Write,
    render: impl Fn(&DumpItem, &mut String),
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
            if event.is_err() {
                undecodable += 1;
            }
            render(event, &mut line);
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
