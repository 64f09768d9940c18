//! The store's machine catalog as the tool reads it: every recorded
//! [`CatalogEntry`], names for kinds, and each entity's state folded from
//! its event kinds by the recorded table.
//!
//! The tool has no machine's Rust type. The state an event led to is the
//! one its header records (the stable code of the state's name, written by
//! machine steps); for an event without one (written directly, or before
//! headers recorded states) it is folded from the kind (the variant's name,
//! then the recorded `(from, event, to)` edge). A step the recorded table
//! does not have makes the entity's state unknown (`?`) from there on,
//! never a guess.

use std::collections::BTreeMap;

use batpak::{CATALOG_KIND, CatalogEntry, Coordinate, EventHeader, EventKind, Region, Store};

use crate::failure::Failure;

/// The state shown for a stream the recorded table cannot follow.
pub(crate) const UNKNOWN_STATE: &str = "?";

/// Every catalog entry of a store, oldest first.
pub(crate) struct Catalog {
    entries: Vec<CatalogEntry>,
}

/// One entity of a machine, folded: its state and how many events.
pub(crate) struct Folded {
    /// The state it is in (or [`UNKNOWN_STATE`]).
    pub(crate) state: String,
    /// How many events it has.
    pub(crate) events: u64,
}

impl Catalog {
    /// Reads every catalog entry of `store`.
    pub(crate) fn read(store: &Store) -> Result<Self, Failure> {
        let entries = store
            .query::<CatalogEntry>(&Region::all().kind(CATALOG_KIND))?
            .into_iter()
            .map(|e| e.payload)
            .collect();
        Ok(Self { entries })
    }

    /// The latest entry of each machine, by name.
    pub(crate) fn machines(&self) -> Vec<&CatalogEntry> {
        let mut latest: BTreeMap<&str, &CatalogEntry> = BTreeMap::new();
        for entry in &self.entries {
            latest.insert(&entry.name, entry);
        }
        latest.into_values().collect()
    }

    /// The latest entry of machine `name`.
    pub(crate) fn machine(&self, name: &str) -> Option<&CatalogEntry> {
        self.entries.iter().rev().find(|e| e.name == name)
    }

    /// The latest entry whose category is `kind`'s.
    pub(crate) fn machine_of(&self, kind: EventKind) -> Option<&CatalogEntry> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.category == kind.category())
    }

    /// `Machine::Variant` for a kind any entry names (the latest first).
    pub(crate) fn kind_name(&self, kind: EventKind) -> Option<String> {
        self.entries.iter().rev().find_map(|e| {
            e.variant_of(kind)
                .map(|variant| format!("{}::{variant}", e.name))
        })
    }

    /// The kind named `Machine::Variant`, or every kind of `Machine`.
    pub(crate) fn resolve(&self, name: &str) -> Result<NamedKind, String> {
        let (machine, variant) = match name.split_once("::") {
            Some((m, v)) => (m, Some(v)),
            None => (name, None),
        };
        let Some(entry) = self.machine(machine) else {
            let known: Vec<&str> = self.machines().iter().map(|e| e.name.as_str()).collect();
            return Err(format!(
                "no machine named {machine:?} in the store's catalog (it has: {})",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            ));
        };
        let Some(variant) = variant else {
            return Ok(NamedKind::Category(entry.category));
        };
        entry.kind_of(variant).map(NamedKind::Exact).ok_or_else(|| {
            let names: Vec<&str> = entry.variants.iter().map(|(n, _)| n.as_str()).collect();
            format!(
                "machine {machine} has no variant {variant:?} (it has: {})",
                names.join(", ")
            )
        })
    }

    /// Every entity of machine `entry`, folded from its headers, in the
    /// order their first events were written.
    pub(crate) fn entities(store: &Store, entry: &CatalogEntry) -> Result<Vec<Folded>, Failure> {
        let headers = store.query_headers(&Region::all().category(entry.category))?;
        let mut order: Vec<Coordinate> = Vec::new();
        let mut folded: BTreeMap<Coordinate, Folded> = BTreeMap::new();
        for header in &headers {
            let stream = folded.entry(header.coordinate.clone()).or_insert_with(|| {
                order.push(header.coordinate.clone());
                Folded {
                    state: entry.initial.clone(),
                    events: 0,
                }
            });
            stream.state = step(entry, &stream.state, header);
            stream.events += 1;
        }
        Ok(order.iter().filter_map(|c| folded.remove(c)).collect())
    }
}

/// The state after `header`'s event in `state`: the one the header
/// records, else by the recorded table.
pub(crate) fn step(entry: &CatalogEntry, state: &str, header: &EventHeader) -> String {
    let recorded = (header.state_code != 0)
        .then(|| {
            entry
                .states
                .iter()
                .find(|name| batpak::state_code(name) == header.state_code)
        })
        .flatten();
    if let Some(recorded) = recorded {
        return recorded.clone();
    }
    entry
        .variant_of(header.kind)
        .and_then(|variant| entry.next_state(state, variant))
        .unwrap_or(UNKNOWN_STATE)
        .to_owned()
}

/// A `--kind` given by name, resolved against the catalog.
#[derive(Debug, Clone, Copy)]
pub(crate) enum NamedKind {
    /// `Machine::Variant`.
    Exact(EventKind),
    /// `Machine`: every kind of its category.
    Category(u16),
}

/// How many entities of `entry` are in each of its states, in declaration
/// order (an unknown state last, when some stream has one).
pub(crate) fn counts(entry: &CatalogEntry, entities: &[Folded]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = entry.states.iter().map(|s| (s.clone(), 0)).collect();
    for entity in entities {
        match counts.iter_mut().find(|(s, _)| *s == entity.state) {
            Some((_, n)) => *n += 1,
            None => counts.push((entity.state.clone(), 1)),
        }
    }
    counts
}
