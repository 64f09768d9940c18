//! The checked schema history: a machine's [`MachineSchema`] compared with
//! the history file committed beside the user's code
//! (`schemas/<machine>.json`), from an ordinary `#[test]`.
//!
//! Each entry of the file is the schema at one point of the machine's life.
//! A change that stored events cannot survive (a kind that moved, a stored
//! variant or state removed, a required field added, a field retyped
//! without an upcaster, a payload version that went back) fails with the
//! exact fix; a compatible change fails too until it is recorded, like a
//! snapshot: run the test with `BATPAK_SCHEMA_UPDATE=1` and review the new
//! entry in the diff. Only the newest entry is compared: every entry was
//! checked against the one before it when it was recorded. This module
//! reads and writes that one file and nothing else; it never touches a
//! store.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::machine::{MachineSchema, StateMachine};

/// The environment variable that records a compatible change as a new
/// history entry (set it to `1`), as `INSTA_UPDATE` does for snapshots.
pub const UPDATE_ENV: &str = "BATPAK_SCHEMA_UPDATE";

/// What a passing check did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Checked {
    /// The schema is the history's newest entry.
    Unchanged,
    /// The schema changed compatibly (or the history was new) and was
    /// recorded as a new entry.
    Recorded,
}

/// Why a schema check failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SchemaError {
    /// The schema changed in ways stored events cannot survive.
    #[error(
        "machine `{machine}` changed in ways its stored events cannot survive:\n{}",
        bullets(problems)
    )]
    Incompatible {
        /// The machine's name.
        machine: String,
        /// Each problem, with its fix.
        problems: Vec<Problem>,
    },
    /// The schema changed compatibly, but the change is not recorded yet.
    #[error(
        "machine `{machine}` changed compatibly; review and record it with \
         `{UPDATE_ENV}=1 cargo test` (it appends an entry to {}):\n{}",
        path.display(),
        bullets(changes)
    )]
    Unrecorded {
        /// The machine's name.
        machine: String,
        /// The history file.
        path: PathBuf,
        /// What changed.
        changes: Vec<String>,
    },
    /// There is no history file yet.
    #[error(
        "machine `{machine}` has no schema history at {}; create it with \
         `{UPDATE_ENV}=1 cargo test` and commit it (if the enum was renamed, move its history \
         file to the new name and pin the old category, `#[machine(.., category = N)]`)",
        path.display()
    )]
    Missing {
        /// The machine's name.
        machine: String,
        /// Where the file was looked for.
        path: PathBuf,
    },
    /// The history file could not be read or written.
    #[error("schema history {}: {source}", path.display())]
    Io {
        /// The history file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The history file is not a schema history.
    #[error("schema history {} is not valid: {source}", path.display())]
    Invalid {
        /// The history file.
        path: PathBuf,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// One change that stored events cannot survive, with its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The machine's category moved (the enum was renamed, or its pin
    /// removed).
    CategoryMoved {
        /// The recorded category.
        recorded: u16,
        /// The category now.
        now: u16,
    },
    /// A variant's code moved (its pin removed or changed).
    KindMoved {
        /// The variant.
        variant: String,
        /// The recorded code.
        recorded: u16,
        /// The code now.
        now: u16,
    },
    /// A recorded variant (and so, perhaps, stored events of its kind) is
    /// gone; `renamed_to` is a new variant with the same fields.
    VariantRemoved {
        /// The recorded variant.
        variant: String,
        /// Its recorded code.
        code: u16,
        /// A new variant with the same fields, if any.
        renamed_to: Option<String>,
    },
    /// A field without a default was added to a variant whose payload
    /// version did not move: stored events lack it.
    RequiredFieldAdded {
        /// The variant.
        variant: String,
        /// Its payload version, recorded and current.
        version: u8,
        /// The field.
        field: String,
        /// A recorded field that is gone, if any (a rename?).
        was: Option<String>,
    },
    /// A field's type changed without a new payload version.
    FieldRetyped {
        /// The variant.
        variant: String,
        /// Its payload version, recorded and current.
        version: u8,
        /// The field.
        field: String,
        /// The recorded type.
        recorded: String,
        /// The type now.
        now: String,
    },
    /// A variant's payload version went back.
    VersionWentBack {
        /// The variant.
        variant: String,
        /// The recorded version.
        recorded: u8,
        /// The version now.
        now: u8,
    },
    /// A recorded state is gone: stored events may have led to it.
    StateRemoved {
        /// The state.
        state: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::CategoryMoved { recorded, now } => write!(
                f,
                "the category moved from {recorded} to {now} (a renamed enum?); fix: pin it with \
                 `#[machine(.., category = {recorded})]`"
            ),
            Self::KindMoved {
                variant,
                recorded,
                now,
            } => write!(
                f,
                "the code of `{variant}` moved from {recorded} to {now}; fix: pin it with \
                 `#[transition(.., kind = {recorded})]` on `{variant}`"
            ),
            Self::VariantRemoved {
                variant,
                code,
                renamed_to: Some(new),
            } => write!(
                f,
                "variant `{variant}` (code {code}) is gone and `{new}` is new; if it was renamed, \
                 fix: pin `{new}` to the old code with `#[transition(.., kind = {code})]` and \
                 keep its stored name with `#[serde(rename = \"{variant}\")]`"
            ),
            Self::VariantRemoved { variant, code, .. } => write!(
                f,
                "variant `{variant}` (code {code}) is gone, but stored events may have it; fix: \
                 keep the variant (stored events of its kind must decode)"
            ),
            Self::RequiredFieldAdded {
                variant,
                version,
                field,
                was,
            } => {
                let rename = was.as_ref().map_or_else(String::new, |old| {
                    format!(
                        " (if `{old}` was renamed, `#[serde(alias = \"{old}\")]` on `{field}` \
                         reads stored events)"
                    )
                });
                write!(
                    f,
                    "`{variant}` has a new field `{field}` that stored events lack; fix: add \
                     `#[serde(default)]` (or make it an `Option`), or write an upcaster from the \
                     stored version, `#[upcast(from = {version}, with = ..)]` on `{variant}`{rename}"
                )
            }
            Self::FieldRetyped {
                variant,
                version,
                field,
                recorded,
                now,
            } => write!(
                f,
                "field `{field}` of `{variant}` changed type from `{recorded}` to `{now}`; fix: \
                 write an upcaster from the stored version, `#[upcast(from = {version}, with = \
                 ..)]` on `{variant}`"
            ),
            Self::VersionWentBack {
                variant,
                recorded,
                now,
            } => write!(
                f,
                "the payload version of `{variant}` went back from {recorded} to {now}; fix: \
                 restore its upcasters (stored version-{recorded} events need them)"
            ),
            Self::StateRemoved { state } => write!(
                f,
                "state `{state}` is gone, but stored events may have led to it; fix: name the \
                 state it became with `#[machine(.., state_aliases({state} = NewName))]`, or \
                 keep it"
            ),
        }
    }
}

/// One line per item, as a bulleted list.
fn bullets<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|item| format!("  - {item}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The file: the machine's name and its schema at each recorded point.
#[derive(Debug, Serialize, Deserialize)]
struct History {
    machine: String,
    entries: Vec<Entry>,
}

/// One recorded schema (owned mirror of [`MachineSchema`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    category: u16,
    variants: Vec<VariantEntry>,
    states: Vec<StateEntry>,
    initial: String,
    /// One line per edge: `Event: From -> To`.
    transitions: Vec<String>,
    data: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct VariantEntry {
    name: String,
    code: u16,
    version: u8,
    fields: Vec<FieldEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FieldEntry {
    name: String,
    ty: String,
    defaulted: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StateEntry {
    name: String,
    code: u16,
    aliases: Vec<String>,
}

impl Entry {
    fn of(schema: &MachineSchema) -> Self {
        Self {
            category: schema.category,
            variants: schema
                .variants
                .iter()
                .map(|v| VariantEntry {
                    name: v.name.to_owned(),
                    code: v.code,
                    version: v.version,
                    fields: v
                        .fields
                        .iter()
                        .map(|f| FieldEntry {
                            name: f.name.to_owned(),
                            ty: f.ty.to_owned(),
                            defaulted: f.defaulted,
                        })
                        .collect(),
                })
                .collect(),
            states: schema
                .states
                .iter()
                .map(|s| StateEntry {
                    name: s.name.to_owned(),
                    code: s.code,
                    aliases: s.aliases.iter().map(|a| (*a).to_owned()).collect(),
                })
                .collect(),
            initial: schema.initial.to_owned(),
            transitions: schema
                .transitions
                .iter()
                .map(|t| format!("{}: {} -> {}", t.event, t.from, t.to))
                .collect(),
            data: schema.data.map(str::to_owned),
        }
    }
}

/// The history file of machine `name` in `dir`: `dir/<name>.json`.
#[must_use]
pub fn history_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.json"))
}

/// Checks machine `M`'s schema against its history in `dir`
/// (`dir/<Name>.json`), recording a compatible change when
/// `BATPAK_SCHEMA_UPDATE=1` is set.
///
/// ```no_run
/// # use batpak::prelude::*;
/// # use serde::{Deserialize, Serialize};
/// # #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// # #[machine(states(Draft, Placed), initial = Draft)]
/// # enum Order { #[transition(Draft -> Placed)] Placed }
/// #[test]
/// fn order_schema_is_compatible_with_its_history() {
///     batpak::schema::check::<Order>("schemas").unwrap();
/// }
/// ```
///
/// # Errors
/// [`SchemaError::Incompatible`] with each problem and its fix,
/// [`SchemaError::Unrecorded`] for a compatible change not yet recorded,
/// [`SchemaError::Missing`] without a history, or the file's I/O or JSON
/// error.
pub fn check<M: StateMachine>(dir: impl AsRef<Path>) -> Result<Checked, SchemaError> {
    let update = std::env::var(UPDATE_ENV).is_ok_and(|v| v == "1");
    check_schema(&M::SCHEMA, dir.as_ref(), update)
}

/// [`check`] for a schema value, with the update decision given (so a
/// test need not set the environment).
///
/// # Errors
/// As [`check`].
pub fn check_schema(
    schema: &MachineSchema,
    dir: &Path,
    update: bool,
) -> Result<Checked, SchemaError> {
    let path = history_path(dir, schema.name);
    let now = Entry::of(schema);
    let mut history = match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice::<History>(&bytes).map_err(|source| SchemaError::Invalid {
                path: path.clone(),
                source,
            })?
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => History {
            machine: schema.name.to_owned(),
            entries: Vec::new(),
        },
        Err(source) => return Err(SchemaError::Io { path, source }),
    };
    let changes = match history.entries.last() {
        Some(recorded) if *recorded == now => return Ok(Checked::Unchanged),
        Some(recorded) => {
            let problems = problems(recorded, &now);
            if !problems.is_empty() {
                return Err(SchemaError::Incompatible {
                    machine: schema.name.to_owned(),
                    problems,
                });
            }
            changes(recorded, &now)
        }
        None if !update => {
            return Err(SchemaError::Missing {
                machine: schema.name.to_owned(),
                path,
            });
        }
        None => Vec::new(),
    };
    if !update {
        return Err(SchemaError::Unrecorded {
            machine: schema.name.to_owned(),
            path,
            changes,
        });
    }
    history.entries.push(now);
    write(&path, &history)?;
    Ok(Checked::Recorded)
}

/// Writes the history, pretty-printed with a final newline.
fn write(path: &Path, history: &History) -> Result<(), SchemaError> {
    let io = |source| SchemaError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    let mut text =
        serde_json::to_string_pretty(history).map_err(|source| SchemaError::Invalid {
            path: path.to_owned(),
            source,
        })?;
    text.push('\n');
    std::fs::write(path, text).map_err(io)
}

/// Every change from `recorded` to `now` that stored events cannot survive.
fn problems(recorded: &Entry, now: &Entry) -> Vec<Problem> {
    let mut out = Vec::new();
    if recorded.category != now.category {
        out.push(Problem::CategoryMoved {
            recorded: recorded.category,
            now: now.category,
        });
    }
    for old in &recorded.variants {
        let Some(new) = now.variants.iter().find(|v| v.name == old.name) else {
            // A pinned rename keeps the code: the stored kind still decodes.
            if now.variants.iter().any(|v| v.code == old.code) {
                continue;
            }
            let renamed_to = now
                .variants
                .iter()
                .find(|v| {
                    v.fields == old.fields && !recorded.variants.iter().any(|r| r.name == v.name)
                })
                .map(|v| v.name.clone());
            out.push(Problem::VariantRemoved {
                variant: old.name.clone(),
                code: old.code,
                renamed_to,
            });
            continue;
        };
        if old.code != new.code {
            out.push(Problem::KindMoved {
                variant: old.name.clone(),
                recorded: old.code,
                now: new.code,
            });
        }
        if new.version < old.version {
            out.push(Problem::VersionWentBack {
                variant: old.name.clone(),
                recorded: old.version,
                now: new.version,
            });
        }
        if new.version == old.version {
            out.extend(field_problems(old, new));
        }
    }
    for state in &recorded.states {
        let kept = now
            .states
            .iter()
            .any(|s| s.name == state.name || s.aliases.contains(&state.name));
        if !kept {
            out.push(Problem::StateRemoved {
                state: state.name.clone(),
            });
        }
    }
    out
}

/// Field changes of one variant at an unchanged payload version that
/// stored events cannot survive.
fn field_problems(old: &VariantEntry, new: &VariantEntry) -> Vec<Problem> {
    let mut out = Vec::new();
    let gone: Vec<&FieldEntry> = old
        .fields
        .iter()
        .filter(|f| !new.fields.iter().any(|n| n.name == f.name))
        .collect();
    for field in &new.fields {
        match old.fields.iter().find(|f| f.name == field.name) {
            Some(before) if before.ty != field.ty => out.push(Problem::FieldRetyped {
                variant: new.name.clone(),
                version: new.version,
                field: field.name.clone(),
                recorded: before.ty.clone(),
                now: field.ty.clone(),
            }),
            Some(_) => {}
            None if !field.defaulted => out.push(Problem::RequiredFieldAdded {
                variant: new.name.clone(),
                version: new.version,
                field: field.name.clone(),
                was: gone.first().map(|f| f.name.clone()),
            }),
            None => {}
        }
    }
    out
}

/// What changed compatibly, one line each, for the review message.
fn changes(recorded: &Entry, now: &Entry) -> Vec<String> {
    let mut out = Vec::new();
    let names = |vs: &[VariantEntry]| vs.iter().map(|v| v.name.clone()).collect::<Vec<_>>();
    if names(&recorded.variants) != names(&now.variants) {
        out.push(format!(
            "variants: {:?} -> {:?}",
            names(&recorded.variants),
            names(&now.variants)
        ));
    }
    for new in &now.variants {
        if let Some(old) = recorded.variants.iter().find(|v| v.name == new.name)
            && old != new
        {
            out.push(format!("variant `{}`: {:?} -> {:?}", new.name, old, new));
        }
    }
    if recorded.states != now.states {
        let states = |ss: &[StateEntry]| ss.iter().map(|s| s.name.clone()).collect::<Vec<_>>();
        out.push(format!(
            "states: {:?} -> {:?}",
            states(&recorded.states),
            states(&now.states)
        ));
    }
    if recorded.transitions != now.transitions || recorded.initial != now.initial {
        out.push("transition table changed (stored history keeps its recorded states)".to_owned());
    }
    if recorded.data != now.data {
        out.push(format!(
            "data type: {:?} -> {:?} (cached data is refolded)",
            recorded.data, now.data
        ));
    }
    out
}
