//! The machine catalog: what a store records about a machine the first time
//! the machine writes to it ([`CatalogEntry`]), so tools that do not know
//! the machine's Rust type (the `batpak` CLI, a report) can speak its
//! names: variants instead of `CAT:CODE`, states, the table, the gates.
//!
//! An entry is a system record (kind [`CATALOG_KIND`], in the reserved
//! category) on the stream [`catalog_coordinate`] of the machine. It is
//! built from the machine's schema ([`StateMachine::SCHEMA`], the same
//! description the schema history check reads) with its terminal states
//! and gates; a store appends a new entry when
//! the machine's description changed since the last one, so the stream is
//! the machine's history. The entry is msgpack with named fields and
//! `format` first: a reader skips fields it does not know, and a field added
//! later needs no new format. This file must never read or write a store.

use serde::{Deserialize, Serialize};

use super::definition::{MachineData, MachineTypes, StateMachine};
use super::schema::MachineSchema;
use crate::coordinate::{Coordinate, CoordinateError};
use crate::event::EventKind;

/// The kind of a catalog entry: the first system record kind.
pub const CATALOG_KIND: EventKind = EventKind::new(EventKind::SYSTEM_CATEGORY, 1);

/// The scope every catalog stream is in.
pub const CATALOG_SCOPE: &str = "batpak:catalog";

/// The stream holding machine `name`'s catalog entries: entity
/// `machine:<name>` in scope [`CATALOG_SCOPE`].
///
/// # Errors
/// When `name` makes no valid coordinate (it never does for a derived
/// machine: a Rust identifier is short and printable).
pub fn catalog_coordinate(name: &str) -> Result<Coordinate, CoordinateError> {
    Coordinate::new(format!("machine:{name}"), CATALOG_SCOPE)
}

/// What a store records about a machine: its name, category, variants and
/// their kinds, states, the transition table and gates, and the version of
/// its data fold.
///
/// ```
/// use batpak::prelude::*;
/// use batpak::CatalogEntry;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Draft, Placed), initial = Draft, terminal(Placed))]
/// enum Order {
///     #[transition(Draft -> Placed)]
///     Placed { total_cents: u64 },
/// }
///
/// let entry = CatalogEntry::of::<Order>();
/// assert_eq!(entry.name, "Order");
/// assert_eq!(entry.variant_of(Order::PLACED), Some("Placed"));
/// assert_eq!(entry.transitions[0], ("Draft".into(), "Placed".into(), "Placed".into()));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogEntry {
    /// The entry's own layout version (this is 1).
    pub format: u32,
    /// The machine's name (`StateMachine::NAME`).
    pub name: String,
    /// The category of all its kinds.
    pub category: u16,
    /// Each variant's name and kind code, in declaration order.
    pub variants: Vec<(String, u16)>,
    /// The declared states, in declaration order.
    pub states: Vec<String>,
    /// The initial state.
    pub initial: String,
    /// The terminal states.
    pub terminal: Vec<String>,
    /// The table: `(from, event, to)` per edge.
    pub transitions: Vec<(String, String, String)>,
    /// The gates, in evaluation order.
    pub gates: Vec<String>,
    /// `MachineData::VERSION` of the machine's data fold.
    pub data_version: u32,
    /// The schema's fingerprint ([`MachineSchema::fingerprint`]): changes
    /// whenever anything a stored event's meaning depends on changes.
    pub schema_fingerprint: u32,
}

/// The layout version [`CatalogEntry::of`] writes.
const FORMAT: u32 = 1;

impl CatalogEntry {
    /// The entry describing machine `M`, from its derived constants.
    #[must_use]
    pub fn of<M: StateMachine>() -> Self {
        let schema: &MachineSchema = &M::SCHEMA;
        Self {
            format: FORMAT,
            name: schema.name.to_owned(),
            category: schema.category,
            variants: schema
                .variants
                .iter()
                .map(|v| (v.name.to_owned(), v.code))
                .collect(),
            states: schema.states.iter().map(|s| s.name.to_owned()).collect(),
            initial: schema.initial.to_owned(),
            terminal: M::TERMINAL.iter().map(ToString::to_string).collect(),
            transitions: schema
                .transitions
                .iter()
                .map(|t| (t.from.to_owned(), t.event.to_owned(), t.to.to_owned()))
                .collect(),
            gates: M::GATES.iter().map(|g| g.name().to_owned()).collect(),
            data_version: <<M as MachineTypes>::Data as MachineData<M>>::VERSION,
            schema_fingerprint: schema.fingerprint,
        }
    }

    /// The name of the variant of `kind`, when `kind` is this machine's.
    #[must_use]
    pub fn variant_of(&self, kind: EventKind) -> Option<&str> {
        if kind.category() != self.category {
            return None;
        }
        self.variants
            .iter()
            .find(|(_, code)| *code == kind.code())
            .map(|(name, _)| name.as_str())
    }

    /// The kind of variant `name`.
    #[must_use]
    pub fn kind_of(&self, name: &str) -> Option<EventKind> {
        self.variants
            .iter()
            .find(|(variant, _)| variant == name)
            .map(|(_, code)| EventKind::new(self.category, *code))
    }

    /// The state after `event` in `from`, by the recorded table.
    #[must_use]
    pub fn next_state(&self, from: &str, event: &str) -> Option<&str> {
        self.transitions
            .iter()
            .find(|(f, e, _)| f == from && e == event)
            .map(|(_, _, to)| to.as_str())
    }
}
