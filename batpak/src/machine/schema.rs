//! A machine's schema as data: what `#[derive(StateMachine)]` knows about
//! the events it stores, as `const` values (`StateMachine::SCHEMA`).
//!
//! Stored events outlive the code that wrote them; this description is what
//! a later version of the code must stay compatible with. It names each
//! variant's kind, fields (with their types as written, and whether a
//! missing field decodes to a default) and payload version, each state's
//! stable code, and the transition table. The schema history check
//! (`batpak::schema::check`) compares it with a committed history file; the
//! runtime uses it to name variants and states in errors, and the
//! fingerprint keys the machine's cached projections. Plain data: this file
//! must never read a store or a file.

use crate::event::EventKind;

/// The stable description of one machine, emitted by the derive as
/// `StateMachine::SCHEMA`.
///
/// ```
/// use batpak::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(StateMachine, Debug, Serialize, Deserialize)]
/// #[machine(states(Draft, Placed), initial = Draft)]
/// enum Order {
///     #[transition(Draft -> Placed)]
///     Placed { total_cents: u64, note: Option<String> },
/// }
///
/// let schema = &Order::SCHEMA;
/// assert_eq!(schema.name, "Order");
/// let placed = schema.variant("Placed").map(|v| v.kind(schema.category));
/// assert_eq!(placed, Some(Order::PLACED));
/// assert_eq!(schema.variants[0].fields[1].ty, "Option<String>");
/// assert!(schema.variants[0].fields[1].defaulted);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineSchema {
    /// The enum's name.
    pub name: &'static str,
    /// The category every kind of the machine shares.
    pub category: u16,
    /// Whether the category is pinned (`#[machine(category = N)]`) rather
    /// than derived from the name.
    pub category_pinned: bool,
    /// The variants (events), in declaration order.
    pub variants: &'static [VariantSchema],
    /// The states, in declaration order.
    pub states: &'static [StateSchema],
    /// The initial state's name.
    pub initial: &'static str,
    /// Every edge of the transition table, in declaration order.
    pub transitions: &'static [TransitionSchema],
    /// The data type as written (`#[machine(data = T)]`), if any.
    pub data: Option<&'static str>,
    /// A fingerprint (computed by the derive) of everything a cached fold
    /// of the machine depends on: its category, each variant's kind and
    /// version, the states with their aliases, the initial state, the
    /// transition table and the data type. The machine's cached
    /// projections are keyed by it, so any change to them rebuilds.
    pub fingerprint: u32,
}

/// One event variant of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VariantSchema {
    /// The variant's name.
    pub name: &'static str,
    /// Its code within the machine's category.
    pub code: u16,
    /// Whether the code is pinned (`kind = N`) rather than derived.
    pub code_pinned: bool,
    /// The payload version the code writes: 1, or one more than the last
    /// upcaster's `from`.
    pub version: u8,
    /// The variant's fields, in declaration order (tuple fields are named
    /// `0`, `1`, ..).
    pub fields: &'static [FieldSchema],
}

/// One field of a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldSchema {
    /// The name it is stored under (`#[serde(rename)]` applied).
    pub name: &'static str,
    /// Its type, as written in the source (spaces removed).
    pub ty: &'static str,
    /// Whether a stored event without it still decodes: the field has
    /// `#[serde(default)]` or is an `Option`.
    pub defaulted: bool,
}

/// One state of a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateSchema {
    /// The state's name.
    pub name: &'static str,
    /// The stable code recorded in the header of each event that led to
    /// this state (derived from the name, like kinds).
    pub code: u16,
    /// Former names whose recorded codes still mean this state
    /// (`#[machine(state_aliases(Old = New))]`).
    pub aliases: &'static [&'static str],
}

/// One edge of the transition table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransitionSchema {
    /// The source state.
    pub from: &'static str,
    /// The variant (event).
    pub event: &'static str,
    /// The target state.
    pub to: &'static str,
}

impl MachineSchema {
    /// The variant named `name`.
    #[must_use]
    pub fn variant(&self, name: &str) -> Option<&VariantSchema> {
        self.variants.iter().find(|v| v.name == name)
    }

    /// The variant whose kind is `kind`, if any.
    #[must_use]
    pub fn variant_of_kind(&self, kind: EventKind) -> Option<&VariantSchema> {
        if kind.category() != self.category {
            return None;
        }
        self.variants.iter().find(|v| v.code == kind.code())
    }

    /// The state a recorded state code stands for: a state's own code or
    /// the code of one of its aliases.
    #[must_use]
    pub fn state_of_code(&self, code: u16) -> Option<&StateSchema> {
        self.states
            .iter()
            .find(|s| s.code == code || s.aliases.iter().any(|alias| state_code(alias) == code))
    }

    /// The state named `name`.
    #[must_use]
    pub fn state(&self, name: &str) -> Option<&StateSchema> {
        self.states.iter().find(|s| s.name == name)
    }
}

impl VariantSchema {
    /// The variant's kind in a machine of `category`.
    #[must_use]
    pub const fn kind(&self, category: u16) -> EventKind {
        EventKind::new(category, self.code)
    }
}

/// The stable code of a state named `name`: blake3 of the name, folded
/// into 1..=65535 (0 means "no state recorded"). The derive computes the
/// same value at compile time.
#[must_use]
pub fn state_code(name: &str) -> u16 {
    let hash = blake3::hash(format!("batpak/state/{name}").as_bytes());
    let raw = u16::from_le_bytes([hash.as_bytes()[0], hash.as_bytes()[1]]);
    raw % u16::MAX + 1
}
