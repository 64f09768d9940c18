//! `batpak`: look inside a store directory from the command line.
//!
//! Every command opens the store with [`Store::open_read_only`], so it never
//! writes a byte (no torn tail is cut, no checkpoint removed) and it refuses
//! to run beside a writer, which holds the directory's lock exclusively.
//!
//! Payloads are shown without knowing their Rust type: they are decoded into
//! [`Dynamic`], a msgpack value tree, and printed as JSON-like text.
//!
//! Exit status: 0 ok, 1 damage found, 2 usage error or the store cannot be
//! opened. Output goes to stdout; errors go to stderr. The tool never
//! panics on input: every failure becomes a message and an exit status.

use std::ffi::OsString;
use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use batpak::{
    Admission, EventHeader, EventKind, Region, Store, StoreConfig, StoreError, StoredEvent,
    VerifyReport,
};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The help text, printed by `batpak help` and after every usage error.
const USAGE: &str = "\
batpak: look inside a batpak store directory (read-only)

usage:
  batpak verify <dir>           check every frame, position and hash chain
  batpak stats <dir>            print the store's counters, one per line
  batpak dump <dir> [options]   print events in global order, one per line
  batpak help                   print this text (also -h, --help)

dump options (combined with AND; --kind may repeat, kinds combine with OR):
  --entity E        only entity E (in every scope unless --scope is given)
  --prefix P        only entities whose name starts with P
  --scope S         only scope S
  --kind CAT:CODE   only this kind; CAT alone selects the whole category
  --from POS        start at global position POS (positions start at 0)
  --limit N         print at most N events
  --bypassed        only events committed through a gate bypass

dump line: position entity@scope seq=N kind=CAT:CODE id=HEX admission payload
  admission is `direct`, `gates=[a,b]` or `bypass by=\"who\" why=\"reason\"`;
  the payload is msgpack shown as JSON-like text (bytes as h'00ff').

Every command opens the store read-only and never changes a byte of it. It
cannot run while a writer has the store open.

exit status: 0 ok, 1 damage found, 2 usage error or the store cannot be opened
";

/// Events read from the store per query in `dump`: bounds memory on large
/// stores and lets `--limit` stop early, while keeping per-query overhead
/// (one index walk) small next to the reads.
const DUMP_CHUNK: u64 = 4096;

/// Exit status when the command found nothing wrong.
const EXIT_OK: u8 = 0;
/// Exit status when the store's bytes are damaged.
const EXIT_DAMAGE: u8 = 1;
/// Exit status for a usage error or a store that cannot be opened.
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let code = match parse(&args) {
        Ok(Command::Help) => print_out(USAGE),
        Ok(Command::Verify { dir }) => run(&dir, Damage::ToStdout, verify),
        Ok(Command::Stats { dir }) => run(&dir, Damage::ToStderr, stats),
        Ok(Command::Dump { dir, options }) => run(&dir, Damage::ToStderr, |store, out| {
            dump(store, &options, out)
        }),
        Err(message) => {
            eprintln!("batpak: {message}\n\n{USAGE}");
            EXIT_USAGE
        }
    };
    ExitCode::from(code)
}

/// What the command line asked for.
#[derive(Debug)]
enum Command {
    /// Print the usage text.
    Help,
    /// Check the whole log.
    Verify {
        /// The store directory.
        dir: PathBuf,
    },
    /// Print the store's counters.
    Stats {
        /// The store directory.
        dir: PathBuf,
    },
    /// Print events.
    Dump {
        /// The store directory.
        dir: PathBuf,
        /// Which events, and how many.
        options: DumpOptions,
    },
}

/// The `dump` filters, already turned into a checked [`Region`].
#[derive(Debug)]
struct DumpOptions {
    /// The events selected; its position range is `--from` onwards.
    region: Region,
    /// First global position to read.
    from: u64,
    /// Most events to print.
    limit: Option<u64>,
}

/// Parses the arguments after the program name; `Err` holds a one-line
/// message for a usage error.
fn parse(args: &[OsString]) -> Result<Command, String> {
    let mut args = args.iter();
    let Some(name) = args.next() else {
        return Err("no command given".to_owned());
    };
    let name = utf8(name, "command")?;
    let command = match name {
        "help" | "-h" | "--help" => return Ok(Command::Help),
        "verify" | "stats" | "dump" => name,
        other => return Err(format!("unknown command `{other}`")),
    };
    let mut dir = None;
    let mut filters = DumpArgs::default();
    while let Some(arg) = args.next() {
        if arg == "-h" {
            return Ok(Command::Help);
        }
        let Some(text) = arg.to_str().filter(|t| t.starts_with("--")) else {
            if dir.is_some() {
                return Err(format!(
                    "unexpected argument `{}` (the store directory is already given)",
                    arg.to_string_lossy()
                ));
            }
            dir = Some(PathBuf::from(arg));
            continue;
        };
        if text == "--help" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (text, None),
        };
        if command != "dump" {
            return Err(format!("`{command}` takes no option `{flag}`"));
        }
        if flag == "--bypassed" {
            if inline.is_some() {
                return Err("--bypassed takes no value".to_owned());
            }
            filters.bypassed = true;
            continue;
        }
        let value = match inline {
            Some(v) => v,
            None => args
                .next()
                .ok_or_else(|| format!("{flag} needs a value"))
                .and_then(|v| utf8(v, flag).map(str::to_owned))?,
        };
        filters.set(flag, &value)?;
    }
    let Some(dir) = dir else {
        return Err(format!("`{command}` needs a store directory"));
    };
    Ok(match command {
        "verify" => Command::Verify { dir },
        "stats" => Command::Stats { dir },
        _ => Command::Dump {
            dir,
            options: filters.into_options()?,
        },
    })
}

/// The `dump` options as given, before they become a [`Region`].
#[derive(Debug, Default)]
struct DumpArgs {
    /// `--entity`.
    entity: Option<String>,
    /// `--prefix`.
    prefix: Option<String>,
    /// `--scope`.
    scope: Option<String>,
    /// Every `--kind`, in order.
    kinds: Vec<KindArg>,
    /// `--from`.
    from: Option<u64>,
    /// `--limit`.
    limit: Option<u64>,
    /// `--bypassed`.
    bypassed: bool,
}

impl DumpArgs {
    /// Records one `--flag value`.
    fn set(&mut self, flag: &str, value: &str) -> Result<(), String> {
        match flag {
            "--entity" => set_once(&mut self.entity, flag, value.to_owned()),
            "--prefix" => set_once(&mut self.prefix, flag, value.to_owned()),
            "--scope" => set_once(&mut self.scope, flag, value.to_owned()),
            "--kind" => {
                self.kinds.push(parse_kind(value)?);
                Ok(())
            }
            "--from" => set_once(&mut self.from, flag, parse_u64(flag, value)?),
            "--limit" => set_once(&mut self.limit, flag, parse_u64(flag, value)?),
            other => Err(format!("unknown option `{other}`")),
        }
    }

    /// Builds the region with [`Region`]'s own builders and checks it.
    fn into_options(self) -> Result<DumpOptions, String> {
        let mut region = match (self.entity, self.prefix) {
            (Some(_), Some(_)) => {
                return Err("--entity and --prefix cannot be combined".to_owned());
            }
            (Some(e), None) => Region::entity(e),
            (None, Some(p)) => Region::entity_prefix(p),
            (None, None) => Region::all(),
        };
        if let Some(s) = self.scope {
            region = region.scope(s);
        }
        for kind in self.kinds {
            region = match kind {
                KindArg::Exact(k) => region.kind(k),
                KindArg::Category(c) => region.category(c),
            };
        }
        if self.bypassed {
            region = region.bypassed();
        }
        let from = self.from.unwrap_or(0);
        region = region.from_position(from);
        region.check().map_err(|e| e.to_string())?;
        Ok(DumpOptions {
            region,
            from,
            limit: self.limit,
        })
    }
}

/// A `--kind` value.
#[derive(Debug, Clone, Copy)]
enum KindArg {
    /// `CAT:CODE`.
    Exact(EventKind),
    /// `CAT`: every kind of the category.
    Category(u16),
}

fn parse_kind(text: &str) -> Result<KindArg, String> {
    let number = |part: &str| {
        part.parse::<u16>().map_err(|_| {
            format!("--kind `{text}` is not CAT:CODE or CAT (numbers from 0 to 65535)")
        })
    };
    match text.split_once(':') {
        Some((cat, code)) => Ok(KindArg::Exact(EventKind::new(number(cat)?, number(code)?))),
        None => number(text).map(KindArg::Category),
    }
}

fn parse_u64(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{flag} `{text}` is not a non-negative whole number"))
}

fn set_once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn utf8<'a>(arg: &'a OsString, what: &str) -> Result<&'a str, String> {
    arg.to_str()
        .ok_or_else(|| format!("{what} `{}` is not valid UTF-8", arg.to_string_lossy()))
}

/// Why a command stopped early.
#[derive(Debug)]
enum Failure {
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

/// Where a command reports damage that stops it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Damage {
    /// Damage is the answer (`verify`): on stdout, like a clean summary.
    ToStdout,
    /// Damage interrupts the answer (`stats`, `dump`): on stderr.
    ToStderr,
}

/// Opens `dir` read-only, runs `command` with buffered stdout, and turns
/// the outcome into an exit status.
fn run(
    dir: &std::path::Path,
    damage: Damage,
    command: impl FnOnce(&Store, &mut dyn Write) -> Result<u8, Failure>,
) -> u8 {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let config = StoreConfig::new(dir).create_if_missing(false);
    let result = Store::open_read_only(config)
        .map_err(Failure::Store)
        .and_then(|store| command(&store, &mut out));
    // Damage found while opening (the log was scanned, no checkpoint) is
    // the same finding `verify` reports on a store that opened.
    let result = match result {
        Err(Failure::Store(StoreError::Corrupt {
            segment,
            offset,
            reason,
        })) if damage == Damage::ToStdout => writeln!(
            out,
            "damage: segment {segment} offset {offset}: {reason} (found while opening)"
        )
        .map(|()| EXIT_DAMAGE)
        .map_err(Failure::Output),
        other => other,
    };
    let flushed = out.flush();
    match (result, flushed) {
        (Ok(code), Ok(())) => code,
        (Err(Failure::Store(e)), _) => report_store_error(dir, &e),
        (Ok(code), Err(e)) => output_failed(&e, code),
        (Err(Failure::Output(e)), _) => output_failed(&e, EXIT_OK),
    }
}

/// The exit status after stdout failed: a closed pipe (`batpak dump .. |
/// head`) is the reader having what it wanted, so the command's own status
/// stands; any other write error is reported.
fn output_failed(e: &io::Error, status: u8) -> u8 {
    if e.kind() == io::ErrorKind::BrokenPipe {
        status
    } else {
        eprintln!("batpak: cannot write output: {e}");
        EXIT_USAGE
    }
}

/// Prints a store error to stderr and picks its exit status: damage is 1,
/// everything else (locked, missing, unreadable) is 2.
fn report_store_error(dir: &std::path::Path, e: &StoreError) -> u8 {
    match e {
        StoreError::StoreLocked { .. } => {
            eprintln!(
                "batpak: store {} is locked: a writer has it open; read-only tools cannot \
                 share it with a writer (stop the writing process, or run on a copy)",
                dir.display()
            );
            EXIT_USAGE
        }
        StoreError::Corrupt {
            segment,
            offset,
            reason,
        } => {
            eprintln!("damage: segment {segment} offset {offset}: {reason}");
            EXIT_DAMAGE
        }
        other => {
            eprintln!("batpak: cannot read store {}: {other}", dir.display());
            EXIT_USAGE
        }
    }
}

/// Prints `text` to stdout (the help).
fn print_out(text: &str) -> u8 {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => output_failed(&e, EXIT_OK),
    }
}

/// `batpak verify`: one line when the log is whole, the first damage when not.
fn verify(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
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
                "damage: segment {} offset {}: {} (entity {stream}, sequence {sequence})",
                d.segment, d.offset, d.reason
            )?;
            Ok(EXIT_DAMAGE)
        }
    }
}

/// `batpak stats`: every [`batpak::StoreStats`] field as `name: value`.
fn stats(store: &Store, out: &mut dyn Write) -> Result<u8, Failure> {
    let s = store.stats();
    writeln!(out, "events: {}", s.events)?;
    writeln!(out, "streams: {}", s.streams)?;
    writeln!(out, "segments: {}", s.segments)?;
    writeln!(out, "log_bytes: {}", s.log_bytes)?;
    writeln!(out, "durable_events: {}", s.durable_events)?;
    writeln!(out, "syncs: {}", s.syncs)?;
    writeln!(out, "truncated_bytes: {}", s.truncated_bytes)?;
    writeln!(out, "opened_from_checkpoint: {}", s.opened_from_checkpoint)?;
    Ok(EXIT_OK)
}

/// `batpak dump`: the selected events in global order, read in chunks of
/// positions so memory stays bounded and `--limit` stops early.
///
/// A payload that is not msgpack at all (the store only writes msgpack, so
/// its bytes were changed, or it nests deeper than the decoder allows) does
/// not hide the other events: its line says why it cannot be shown, and the
/// exit status is 1.
fn dump(store: &Store, options: &DumpOptions, out: &mut dyn Write) -> Result<u8, Failure> {
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
                    let _ = write!(line, "<undecodable payload: {reason}>");
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

/// The start of a dump line: everything but the payload, and a space.
fn render_header(h: &EventHeader, line: &mut String) {
    // Writing into a String cannot fail.
    let _ = write!(
        line,
        "{} {} seq={} kind={} id={} ",
        h.position, h.coordinate, h.sequence, h.kind, h.id
    );
    match &h.admission {
        Admission::Direct => line.push_str("direct"),
        Admission::Gated { gates } => {
            let _ = write!(line, "gates=[{}]", gates.join(","));
        }
        Admission::Bypassed { by, reason } => {
            line.push_str("bypass by=");
            push_json_string(line, by);
            line.push_str(" why=");
            push_json_string(line, reason);
        }
        // A newer library may record admissions this tool does not know.
        _ => line.push_str("admission=unknown"),
    }
    line.push(' ');
}

/// Any msgpack value: what a payload is when its Rust type is unknown.
#[derive(Debug, Clone, PartialEq)]
enum Dynamic {
    /// `nil` (also a unit or `None`).
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (msgpack `bin`).
    Bin(Vec<u8>),
    /// An array (also tuples, and structs stored as arrays).
    Seq(Vec<Dynamic>),
    /// A map, in stored order (structs stored with field names).
    Map(Vec<(Dynamic, Dynamic)>),
}

/// Builds a [`Dynamic`] from whatever the deserializer finds.
struct DynamicVisitor;

impl<'de> Visitor<'de> for DynamicVisitor {
    type Value = Dynamic;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any msgpack value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        Dynamic::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        Dynamic::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Dynamic, E> {
        Ok(Dynamic::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dynamic, E> {
        Ok(u64::try_from(v).map_or(Dynamic::Int(v), Dynamic::UInt))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dynamic, E> {
        Ok(Dynamic::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dynamic, E> {
        Ok(Dynamic::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dynamic, E> {
        Ok(Dynamic::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Dynamic, E> {
        Ok(Dynamic::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Dynamic, E> {
        Ok(Dynamic::Bin(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Dynamic, E> {
        Ok(Dynamic::Bin(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        // The size hint comes from the stored bytes: cap it so a crafted
        // length cannot make us reserve more than a little up front.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Dynamic::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dynamic, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Dynamic::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Dynamic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DynamicVisitor)
    }
}

/// JSON-like text: strings quoted and escaped, bytes as `h'00ff'`, maps as
/// `{key: value, ...}` in stored order.
impl fmt::Display for Dynamic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::UInt(u) => write!(f, "{u}"),
            // `{:?}` keeps a `.0` on whole numbers, so 1.0 never reads as 1.
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Str(s) => {
                let mut quoted = String::with_capacity(s.len() + 2);
                push_json_string(&mut quoted, s);
                f.write_str(&quoted)
            }
            Self::Bin(bytes) => {
                f.write_str("h'")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
            Self::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Map(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Appends `s` as a JSON string literal: one dump line stays one line
/// whatever the payload holds.
fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Decodes one stored payload's bytes for display; `dump` gets the same
/// decoding through [`Store::query`].
#[cfg(test)]
fn render_payload(bytes: &[u8]) -> Result<String, batpak::CodecError> {
    batpak::decode_payload::<Dynamic>(bytes).map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use batpak::encode_payload;
    use serde::Serialize;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
    }

    #[derive(Serialize)]
    struct Order {
        items: u32,
        total: i64,
        ratio: f64,
        note: String,
        tags: Vec<&'static str>,
        missing: Option<u8>,
        #[serde(with = "bytes")]
        raw: Vec<u8>,
        paid: bool,
    }

    mod bytes {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn payloads_render_as_json_like_text_without_their_type() {
        let order = Order {
            items: 3,
            total: -42,
            ratio: 1.0,
            note: "say \"hi\"\n".to_owned(),
            tags: vec!["a", "b"],
            missing: None,
            raw: vec![0, 0xff],
            paid: true,
        };
        let bytes = encode_payload(&order).unwrap();
        assert_eq!(
            render_payload(&bytes).unwrap(),
            r#"{"items": 3, "total": -42, "ratio": 1.0, "note": "say \"hi\"\n", "tags": ["a", "b"], "missing": null, "raw": h'00ff', "paid": true}"#
        );
    }

    #[test]
    fn unit_enum_variants_and_nested_values_render() {
        #[derive(Serialize)]
        enum Status {
            Open,
            Moved { to: (u8, u8) },
        }
        let bytes = encode_payload(&vec![Status::Open, Status::Moved { to: (1, 2) }]).unwrap();
        assert_eq!(
            render_payload(&bytes).unwrap(),
            r#"["Open", {"Moved": {"to": [1, 2]}}]"#
        );
    }

    #[test]
    fn trailing_bytes_are_an_error_not_a_value() {
        let mut bytes = encode_payload(&1u8).unwrap();
        bytes.push(0xc0);
        assert!(render_payload(&bytes).is_err());
    }

    #[test]
    fn kind_parses_exact_and_category() {
        assert!(matches!(
            parse_kind("7:1"),
            Ok(KindArg::Exact(k)) if k == EventKind::new(7, 1)
        ));
        assert!(matches!(parse_kind("7"), Ok(KindArg::Category(7))));
        assert!(parse_kind("7:").is_err());
        assert!(parse_kind("70000:1").is_err());
    }

    #[test]
    fn dump_options_build_a_checked_region() {
        let parsed = parse(&args(&[
            "dump",
            "d",
            "--prefix",
            "order:",
            "--scope=shop",
            "--kind",
            "7:1",
            "--kind",
            "8",
            "--from",
            "5",
            "--limit",
            "2",
            "--bypassed",
        ]))
        .unwrap();
        let Command::Dump { dir, options } = parsed else {
            unreachable!("dump parses as dump")
        };
        assert_eq!(dir, PathBuf::from("d"));
        let expected = Region::entity_prefix("order:")
            .scope("shop")
            .kind(EventKind::new(7, 1))
            .category(8)
            .bypassed()
            .from_position(5);
        assert_eq!(options.region, expected);
        assert_eq!((options.from, options.limit), (5, Some(2)));
    }

    #[test]
    fn usage_errors_are_refused_with_a_message() {
        for bad in [
            &[][..],
            &["frobnicate", "d"],
            &["verify"],
            &["verify", "d", "e"],
            &["verify", "d", "--limit", "1"],
            &["dump", "d", "--limit"],
            &["dump", "d", "--limit", "-1"],
            &["dump", "d", "--entity", "a", "--prefix", "b"],
            &["dump", "d", "--from", "1", "--from", "2"],
            &["dump", "d", "--colour"],
            &["dump", "d", "--bypassed=yes"],
        ] {
            assert!(parse(&args(bad)).is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(parse(&args(&["--help"])), Ok(Command::Help)));
        for help in [&["dump", "d", "--help"][..], &["verify", "-h"]] {
            assert!(matches!(parse(&args(help)), Ok(Command::Help)), "{help:?}");
        }
    }
}
