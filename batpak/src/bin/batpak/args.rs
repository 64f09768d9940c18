//! The command line: the usage text, and parsing the arguments into a
//! [`Command`] whose `dump` filters are already a checked [`Region`].
//!
//! Parsing never touches the file system and never exits: a usage error is
//! an `Err` holding a one-line message, which `main` prints with the usage.

use std::ffi::OsString;
use std::path::PathBuf;

use batpak::{EventKind, Region};

use crate::render::Quoted;

/// The help text, printed by `batpak help` and after every usage error.
pub(crate) const USAGE: &str = "\
batpak: look inside a batpak store directory (read-only)

usage:
  batpak verify <dir>           check every frame, position and hash chain
  batpak stats <dir>            print the store's counters, one per line
  batpak dump <dir> [options]   print events in global order, one per line
  batpak export <dir> --ndjson [options]
                                the same events as JSON, one object per line
  batpak tail <dir> [--ndjson] [options]
                                follow the store while a writer appends (no lock):
                                print events as they are written, until --limit
  batpak machines <dir>         each machine in the store's catalog, with its
                                count of entities per state
  batpak timers <dir>           pending timers, soonest first: due time (µs since
                                the Unix epoch), machine, variant, entity, the
                                event that started the wait, time left; lists the
                                machines whose scheduler (`Timers`) ran on the
                                store (it records their timer table), not parked ones
  batpak explain <dir> <entity> [--scope S]
                                the entity's timeline (time, event and fields,
                                gates or bypass, resulting state) and its
                                machine's diagram with the current state marked
  batpak report <dir> -o <file.html>
                                one self-contained HTML page: verify result,
                                each machine's diagram with entities per state,
                                recent events, every bypass
  batpak help                   print this text (also -h, --help)

dump and export options (combined with AND; --kind may repeat, kinds combine with OR):
  --entity E        only entity E (in every scope unless --scope is given)
  --prefix P        only entities whose name starts with P
  --scope S         only scope S
  --kind K          only this kind: CAT:CODE, or Machine::Variant by name (from
                    the store's catalog); CAT or Machine alone selects the
                    whole category
  --from POS        start at global position POS (positions start at 0)
  --limit N         print at most N events
  --bypassed        only events committed through a gate bypass
  --direct          only events appended directly (no gate, no bypass)
  --ungated         only events no gate admitted (direct or bypassed)

dump line: position entity@scope seq=N kind=CAT:CODE id=HEX admission payload
  admission is `direct`, `gates=[\"a\",\"b\"]` or `bypass by=\"who\" why=\"reason\"`;
  the payload is msgpack shown as JSON-like text (bytes as h'00ff').
  Text from the store is printed as a Rust string literal (\"a\\nb\", \"\\u{202e}\"),
  so a line never breaks, hides or reorders text; a coordinate part is
  written that way too when it holds a space, @, \\ or \" or needs escaping
  (\"order 1\"@shop:acme).

Every command opens the store read-only and never changes a byte of it
(report writes only its -o file). All but tail cannot run while a writer has the store open.
tail can: it reads segment files without the lock and shows whole frames
and whole batches as they are written (not necessarily synced yet), never a
torn or half-written tail; it follows segment stores only (not redb/LMDB).

exit status: 0 ok, 1 damage found, 2 usage error or the store cannot be opened
";

/// The `dump` options that take a value. An option is checked against
/// these before its value is read, so every message names a known option.
const VALUE_OPTIONS: [&str; 6] = [
    "--entity", "--prefix", "--scope", "--kind", "--from", "--limit",
];

/// What the command line asked for.
#[derive(Debug)]
pub(crate) enum Command {
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
    /// Each machine with its entities per state.
    Machines {
        /// The store directory.
        dir: PathBuf,
    },
    /// Pending timers.
    Timers {
        /// The store directory.
        dir: PathBuf,
    },
    /// One entity's story.
    Explain {
        /// The store directory.
        dir: PathBuf,
        /// The entity.
        entity: String,
        /// Only this scope.
        scope: Option<String>,
    },
    /// The HTML report.
    Report {
        /// The store directory.
        dir: PathBuf,
        /// Where to write the page.
        output: PathBuf,
    },
    /// Follow the log while a writer appends.
    Tail {
        /// The store directory.
        dir: PathBuf,
        /// Which events, and how many before stopping.
        options: DumpOptions,
        /// JSON lines instead of dump lines.
        ndjson: bool,
    },
    /// Print events as JSON lines.
    Export {
        /// The store directory.
        dir: PathBuf,
        /// Which events, and how many.
        options: DumpOptions,
        /// How to write them.
        format: Format,
    },
    /// Print events.
    Dump {
        /// The store directory.
        dir: PathBuf,
        /// Which events, and how many.
        options: DumpOptions,
    },
}

/// An output format of `export`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `--ndjson`: one JSON object per line.
    Ndjson,
}

/// The `dump` filters, already turned into a checked [`Region`].
#[derive(Debug)]
pub(crate) struct DumpOptions {
    /// The events selected; its position range is `--from` onwards.
    pub(crate) region: Region,
    /// First global position to read.
    pub(crate) from: u64,
    /// Most events to print.
    pub(crate) limit: Option<u64>,
    /// `--kind` values given by name (`Machine::Variant` or `Machine`),
    /// resolved against the store's catalog once it is open.
    pub(crate) named_kinds: Vec<String>,
}

/// Parses the arguments after the program name; `Err` holds a one-line
/// message for a usage error.
pub(crate) fn parse(args: &[OsString]) -> Result<Command, String> {
    let mut args = args.iter();
    let Some(name) = args.next() else {
        return Err("no command given".to_owned());
    };
    let name = utf8(name, "command")?;
    let command = match name {
        "help" | "-h" | "--help" => return Ok(Command::Help),
        "verify" | "stats" | "dump" | "export" | "tail" | "machines" | "timers" | "explain"
        | "report" => name,
        other => return Err(format!("unknown command {}", Quoted(other))),
    };
    let mut positional: Vec<&OsString> = Vec::new();
    let mut filters = DumpArgs::default();
    let mut format = None;
    let mut output = None;
    while let Some(arg) = args.next() {
        if arg == "-h" {
            return Ok(Command::Help);
        }
        if command == "report" && (arg == "-o" || arg == "--output") {
            let value = args.next().ok_or("-o needs a file name")?;
            set_once(&mut output, "-o", PathBuf::from(value))?;
            continue;
        }
        let Some(text) = arg.to_str().filter(|t| t.starts_with("--")) else {
            let most = if command == "explain" { 2 } else { 1 };
            if positional.len() == most {
                return Err(format!(
                    "unexpected argument {} (the store directory is already given)",
                    Quoted(&arg.to_string_lossy())
                ));
            }
            positional.push(arg);
            continue;
        };
        if text == "--help" {
            return Ok(Command::Help);
        }
        let (flag, inline) = match text.split_once('=') {
            Some((flag, value)) => (flag, Some(value.to_owned())),
            None => (text, None),
        };
        if (command == "export" || command == "tail") && flag == "--ndjson" {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            format = Some(Format::Ndjson);
            continue;
        }
        if command == "explain" && flag == "--scope" {
            let value = match inline {
                Some(v) => v,
                None => args.next().ok_or("--scope needs a value").and_then(|v| {
                    utf8(v, flag)
                        .map(str::to_owned)
                        .map_err(|_| "--scope is not valid UTF-8")
                })?,
            };
            filters.set(flag, &value)?;
            continue;
        }
        if !matches!(command, "dump" | "export" | "tail") {
            return Err(format!("`{command}` takes no option {}", Quoted(flag)));
        }
        if let Some(admission) = AdmissionArg::from_flag(flag) {
            if inline.is_some() {
                return Err(format!("{flag} takes no value"));
            }
            filters.admissions.push(admission);
            continue;
        }
        if !VALUE_OPTIONS.contains(&flag) {
            return Err(format!("unknown option {}", Quoted(flag)));
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
    let Some(dir) = positional.first().map(PathBuf::from) else {
        return Err(format!("`{command}` needs a store directory"));
    };
    Ok(match command {
        "machines" => Command::Machines { dir },
        "timers" => Command::Timers { dir },
        "explain" => Command::Explain {
            dir,
            entity: positional
                .get(1)
                .ok_or("`explain` needs an entity after the store directory")
                .and_then(|e| utf8(e, "entity").map_err(|_| "the entity is not valid UTF-8"))?
                .to_owned(),
            scope: filters.scope,
        },
        "report" => Command::Report {
            dir,
            output: output.ok_or("`report` needs -o <file.html>")?,
        },
        "verify" => Command::Verify { dir },
        "stats" => Command::Stats { dir },
        "tail" => Command::Tail {
            dir,
            options: filters.into_options()?,
            ndjson: format.is_some(),
        },
        "export" => Command::Export {
            dir,
            options: filters.into_options()?,
            format: format.ok_or("export needs a format: --ndjson")?,
        },
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
    /// Every `--bypassed`, `--direct` and `--ungated`, in order.
    admissions: Vec<AdmissionArg>,
    /// Every `--kind` given by name.
    named_kinds: Vec<String>,
}

/// An admission filter flag of `dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AdmissionArg {
    /// `--bypassed`.
    Bypassed,
    /// `--direct`.
    Direct,
    /// `--ungated`.
    Ungated,
}

impl AdmissionArg {
    fn from_flag(flag: &str) -> Option<Self> {
        match flag {
            "--bypassed" => Some(Self::Bypassed),
            "--direct" => Some(Self::Direct),
            "--ungated" => Some(Self::Ungated),
            _ => None,
        }
    }
}

impl DumpArgs {
    /// Records one `--flag value`.
    fn set(&mut self, flag: &str, value: &str) -> Result<(), String> {
        match flag {
            "--entity" => set_once(&mut self.entity, flag, value.to_owned()),
            "--prefix" => set_once(&mut self.prefix, flag, value.to_owned()),
            "--scope" => set_once(&mut self.scope, flag, value.to_owned()),
            "--kind" => {
                match parse_kind(value) {
                    Ok(kind) => self.kinds.push(kind),
                    Err(_) if is_kind_name(value) => self.named_kinds.push(value.to_owned()),
                    Err(e) => return Err(e),
                }
                Ok(())
            }
            "--from" => set_once(&mut self.from, flag, parse_u64(flag, value)?),
            "--limit" => set_once(&mut self.limit, flag, parse_u64(flag, value)?),
            other => Err(format!("unknown option {}", Quoted(other))),
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
        for admission in self.admissions {
            region = match admission {
                AdmissionArg::Bypassed => region.bypassed(),
                AdmissionArg::Direct => region.direct(),
                AdmissionArg::Ungated => region.ungated(),
            };
        }
        let from = self.from.unwrap_or(0);
        region = region.from_position(from);
        region.check().map_err(|e| e.to_string())?;
        Ok(DumpOptions {
            region,
            from,
            limit: self.limit,
            named_kinds: self.named_kinds,
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
            format!(
                "--kind {} is not CAT:CODE or CAT (numbers from 0 to 65535), nor Machine::Variant",
                Quoted(text)
            )
        })
    };
    match text.split_once(':') {
        Some((cat, code)) => Ok(KindArg::Exact(EventKind::new(number(cat)?, number(code)?))),
        None => number(text).map(KindArg::Category),
    }
}

/// `Machine` or `Machine::Variant`: Rust identifiers, resolved later.
fn is_kind_name(text: &str) -> bool {
    let ident = |part: &str| {
        let mut chars = part.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    match text.split_once("::") {
        Some((machine, variant)) => ident(machine) && ident(variant),
        None => ident(text),
    }
}

fn parse_u64(flag: &str, text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| format!("{flag} {} is not a non-negative whole number", Quoted(text)))
}

fn set_once<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.is_some() {
        return Err(format!("{flag} given twice"));
    }
    *slot = Some(value);
    Ok(())
}

fn utf8<'a>(arg: &'a OsString, what: &str) -> Result<&'a str, String> {
    arg.to_str().ok_or_else(|| {
        format!(
            "{what} {} is not valid UTF-8",
            Quoted(&arg.to_string_lossy())
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        list.iter().map(OsString::from).collect()
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
    fn admission_flags_narrow_the_region_and_disjoint_ones_are_refused() {
        let parsed = parse(&args(&["dump", "d", "--ungated"])).unwrap();
        let Command::Dump { options, .. } = parsed else {
            unreachable!("dump parses as dump")
        };
        assert_eq!(options.region, Region::all().ungated().from_position(0));
        assert!(parse(&args(&["dump", "d", "--direct", "--bypassed"])).is_err());
        assert!(parse(&args(&["dump", "d", "--direct=yes"])).is_err());
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
