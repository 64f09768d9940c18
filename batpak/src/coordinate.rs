//! WHO and WHERE: the address of every event, and the one query predicate.
//!
//! A [`Coordinate`] names a stream: `entity` says who the events are about,
//! `scope` says where they happen. A stream's events share one per-stream
//! sequence and one hash chain. Both parts are validated on construction *and*
//! on deserialization, so a coordinate read back from disk obeys the same rules
//! as one typed by a user. Coordinates are data, never file paths: no part of
//! the store derives a path from one.
//!
//! A [`Region`] is the one predicate over stored events. Queries,
//! subscriptions, cursors and projections all filter with [`Region::matches`],
//! so the same region selects the same events everywhere.

use std::fmt;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::event::{EventHeader, EventKind};

/// Longest entity or scope accepted, in bytes. Bounded so that a single
/// coordinate cannot bloat every frame and index entry of its stream.
pub const MAX_COORDINATE_PART_LEN: usize = 1024;

/// Which half of a coordinate a validation error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CoordinatePart {
    /// The `entity` half: who the events are about.
    Entity,
    /// The `scope` half: where they happen.
    Scope,
}

impl fmt::Display for CoordinatePart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Entity => "entity",
            Self::Scope => "scope",
        })
    }
}

/// Why a coordinate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinateError {
    /// The part is the empty string.
    #[error("coordinate {part} is empty")]
    Empty {
        /// Which part was empty.
        part: CoordinatePart,
    },
    /// The part is longer than [`MAX_COORDINATE_PART_LEN`] bytes.
    #[error("coordinate {part} is {len} bytes long; the maximum is {max}")]
    TooLong {
        /// Which part was too long.
        part: CoordinatePart,
        /// Its length in bytes.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The part contains NUL or another control character.
    #[error("coordinate {part} contains control character U+{code:04X} at byte {index}")]
    ControlCharacter {
        /// Which part held the character.
        part: CoordinatePart,
        /// Byte offset of the character within the part.
        index: usize,
        /// The character's code point.
        code: u32,
    },
}

/// The address of a stream: who (`entity`) and where (`scope`).
///
/// ```
/// use batpak::Coordinate;
/// let order = Coordinate::new("order:507", "shop:acme")?;
/// assert_eq!(order.entity(), "order:507");
/// assert!(Coordinate::new("", "shop:acme").is_err());
/// # Ok::<(), batpak::CoordinateError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "(String, String)")]
pub struct Coordinate {
    entity: String,
    scope: String,
}

impl Coordinate {
    /// Validates both parts and builds the coordinate.
    ///
    /// # Errors
    /// [`CoordinateError`] naming the part and the rule it broke: empty,
    /// longer than [`MAX_COORDINATE_PART_LEN`] bytes, or holding a control
    /// character.
    pub fn new(
        entity: impl Into<String>,
        scope: impl Into<String>,
    ) -> Result<Self, CoordinateError> {
        let entity = entity.into();
        let scope = scope.into();
        validate_part(CoordinatePart::Entity, &entity)?;
        validate_part(CoordinatePart::Scope, &scope)?;
        Ok(Self { entity, scope })
    }

    /// Who the events are about.
    #[must_use]
    pub fn entity(&self) -> &str {
        &self.entity
    }

    /// Where the events happen.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }
}

fn validate_part(part: CoordinatePart, value: &str) -> Result<(), CoordinateError> {
    if value.is_empty() {
        return Err(CoordinateError::Empty { part });
    }
    if value.len() > MAX_COORDINATE_PART_LEN {
        return Err(CoordinateError::TooLong {
            part,
            len: value.len(),
            max: MAX_COORDINATE_PART_LEN,
        });
    }
    if let Some((index, c)) = value.char_indices().find(|(_, c)| c.is_control()) {
        return Err(CoordinateError::ControlCharacter {
            part,
            index,
            code: u32::from(c),
        });
    }
    Ok(())
}

impl TryFrom<(String, String)> for Coordinate {
    type Error = CoordinateError;

    fn try_from((entity, scope): (String, String)) -> Result<Self, Self::Error> {
        Self::new(entity, scope)
    }
}

/// Encodes as the pair `(entity, scope)`, borrowing both parts (the append
/// path encodes a coordinate per event; going through an owned pair would
/// allocate twice).
impl Serialize for Coordinate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (self.entity.as_str(), self.scope.as_str()).serialize(serializer)
    }
}

impl From<Coordinate> for (String, String) {
    fn from(coordinate: Coordinate) -> Self {
        (coordinate.entity, coordinate.scope)
    }
}

impl fmt::Debug for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Coordinate({:?} @ {:?})", self.entity, self.scope)
    }
}

impl fmt::Display for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.entity, self.scope)
    }
}

/// Which entities a [`Region`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum EntityFilter {
    /// Every entity.
    #[default]
    Any,
    /// Exactly this entity (in any scope unless the region also sets a scope).
    Exact(String),
    /// Entities whose name starts with this prefix, such as `"order:"`.
    Prefix(String),
}

/// Which kinds a [`Region`] selects: one of the listed kinds or categories.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KindFilter {
    /// Exactly this kind.
    Exact(EventKind),
    /// Every kind of this category (all events of one machine).
    Category(u16),
}

impl KindFilter {
    fn matches(self, kind: EventKind) -> bool {
        match self {
            Self::Exact(k) => k == kind,
            Self::Category(c) => kind.category() == c,
        }
    }
}

/// Why a region was refused: it could never match anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RegionError {
    /// A range whose start lies after its end.
    #[error("region {field} range {start}..={end} is inverted and can never match")]
    InvertedRange {
        /// `"sequence"` or `"position"`.
        field: &'static str,
        /// The range's start.
        start: u64,
        /// The range's end.
        end: u64,
    },
}

/// A predicate over stored events: entity, scope, kind, sequence and global
/// position, combined with AND. Kind filters added with [`Region::kind`] and
/// [`Region::category`] combine with OR among themselves.
///
/// ```
/// use batpak::{EventKind, Region};
/// let placed = EventKind::new(7, 1);
/// let region = Region::entity_prefix("order:").scope("shop:acme").kind(placed);
/// assert!(region.check().is_ok());
/// assert!(Region::all().sequences(5..=2).check().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Region {
    entity: EntityFilter,
    scope: Option<String>,
    kinds: Vec<KindFilter>,
    sequence: Option<(u64, u64)>,
    position: Option<(u64, u64)>,
    bypassed_only: bool,
}

impl Region {
    /// Every event in the store.
    #[must_use]
    pub fn all() -> Self {
        Self::default()
    }

    /// Exactly one stream: this entity in this scope.
    #[must_use]
    pub fn coordinate(coordinate: &Coordinate) -> Self {
        Self::entity(coordinate.entity()).scope(coordinate.scope())
    }

    /// One entity, in every scope.
    #[must_use]
    pub fn entity(entity: impl Into<String>) -> Self {
        Self {
            entity: EntityFilter::Exact(entity.into()),
            ..Self::default()
        }
    }

    /// Every entity whose name starts with `prefix`.
    #[must_use]
    pub fn entity_prefix(prefix: impl Into<String>) -> Self {
        Self {
            entity: EntityFilter::Prefix(prefix.into()),
            ..Self::default()
        }
    }

    /// Narrows the region to one scope.
    #[must_use]
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// Adds an exact kind to the kinds selected (kinds combine with OR).
    #[must_use]
    pub fn kind(mut self, kind: EventKind) -> Self {
        self.kinds.push(KindFilter::Exact(kind));
        self
    }

    /// Adds a whole category to the kinds selected (kinds combine with OR).
    #[must_use]
    pub fn category(mut self, category: u16) -> Self {
        self.kinds.push(KindFilter::Category(category));
        self
    }

    /// Narrows to per-stream sequences in `range` (sequences start at 1).
    #[must_use]
    pub fn sequences(mut self, range: RangeInclusive<u64>) -> Self {
        self.sequence = Some((*range.start(), *range.end()));
        self
    }

    /// Narrows to global positions in `range` (positions start at 0).
    #[must_use]
    pub fn positions(mut self, range: RangeInclusive<u64>) -> Self {
        self.position = Some((*range.start(), *range.end()));
        self
    }

    /// Narrows to global positions at or after `position`.
    #[must_use]
    pub fn from_position(self, position: u64) -> Self {
        self.positions(position..=u64::MAX)
    }

    /// Narrows to events committed through a gate bypass, for audits.
    #[must_use]
    pub fn bypassed(mut self) -> Self {
        self.bypassed_only = true;
        self
    }

    /// The entity filter.
    #[must_use]
    pub fn entity_filter(&self) -> &EntityFilter {
        &self.entity
    }

    /// The scope filter, if any.
    #[must_use]
    pub fn scope_filter(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The kind filters (empty means every kind).
    #[must_use]
    pub fn kind_filters(&self) -> &[KindFilter] {
        &self.kinds
    }

    /// The inclusive global-position range, if any.
    #[must_use]
    pub fn position_range(&self) -> Option<(u64, u64)> {
        self.position
    }

    /// The inclusive per-stream sequence range, if any.
    #[must_use]
    pub fn sequence_range(&self) -> Option<(u64, u64)> {
        self.sequence
    }

    /// True when only events committed through a bypass are selected.
    #[must_use]
    pub fn is_bypassed_only(&self) -> bool {
        self.bypassed_only
    }

    /// Refuses a region that can never match.
    ///
    /// # Errors
    /// [`RegionError::InvertedRange`] when a sequence or position range
    /// starts after it ends.
    pub fn check(&self) -> Result<(), RegionError> {
        for (field, range) in [("sequence", self.sequence), ("position", self.position)] {
            if let Some((start, end)) = range
                && start > end
            {
                return Err(RegionError::InvertedRange { field, start, end });
            }
        }
        Ok(())
    }

    /// True when the region selects streams of this coordinate at all; used
    /// to skip whole streams before looking at their events.
    #[must_use]
    pub fn matches_coordinate(&self, coordinate: &Coordinate) -> bool {
        let entity_ok = match &self.entity {
            EntityFilter::Any => true,
            EntityFilter::Exact(e) => coordinate.entity() == e,
            EntityFilter::Prefix(p) => coordinate.entity().starts_with(p.as_str()),
        };
        entity_ok
            && self
                .scope
                .as_deref()
                .is_none_or(|s| coordinate.scope() == s)
    }

    /// True when the region selects events of this kind.
    #[must_use]
    pub fn matches_kind(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.matches(kind))
    }

    /// The one predicate: does this event header fall inside the region?
    #[must_use]
    pub fn matches(&self, header: &EventHeader) -> bool {
        let in_range = |range: Option<(u64, u64)>, value: u64| {
            range.is_none_or(|(start, end)| (start..=end).contains(&value))
        };
        self.matches_coordinate(&header.coordinate)
            && self.matches_kind(header.kind)
            && in_range(self.sequence, header.sequence)
            && in_range(self.position, header.position)
            && (!self.bypassed_only || header.admission.is_bypass())
    }
}
