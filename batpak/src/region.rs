//! Which events: the one predicate over stored events.
//!
//! A [`Region`] combines an entity filter (any, exact or prefix), a scope,
//! kinds, sequence and position ranges, and "bypassed only" with AND.
//! Queries, subscriptions, cursors and projections all filter with
//! [`Region::matches`], so the same region selects the same events
//! everywhere. This module must never hold a second predicate: a view that
//! filters differently would show different events for the same region.

use std::ops::RangeInclusive;

use crate::coordinate::Coordinate;
use crate::event::{EventHeader, EventKind};

/// Which entities a [`Region`] selects.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum EntityFilter {
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
pub(crate) enum KindFilter {
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

    // What the store reads to plan a scan (which index to walk, where to
    // start) and to key a projection's cache; users only build regions.

    /// The entity filter.
    #[must_use]
    pub(crate) fn entity_filter(&self) -> &EntityFilter {
        &self.entity
    }

    /// The scope filter, if any.
    #[must_use]
    pub(crate) fn scope_filter(&self) -> Option<&str> {
        self.scope.as_deref()
    }

    /// The kind filters (empty means every kind).
    #[must_use]
    pub(crate) fn kind_filters(&self) -> &[KindFilter] {
        &self.kinds
    }

    /// The inclusive global-position range, if any.
    #[must_use]
    pub(crate) fn position_range(&self) -> Option<(u64, u64)> {
        self.position
    }

    /// The inclusive per-stream sequence range, if any.
    #[must_use]
    pub(crate) fn sequence_range(&self) -> Option<(u64, u64)> {
        self.sequence
    }

    /// True when only events committed through a bypass are selected.
    #[must_use]
    pub(crate) fn is_bypassed_only(&self) -> bool {
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
    pub(crate) fn matches_kind(&self, kind: EventKind) -> bool {
        self.kinds.is_empty() || self.kinds.iter().any(|k| k.matches(kind))
    }

    /// The one predicate: does this event header fall inside the region?
    #[must_use]
    pub fn matches(&self, header: &EventHeader) -> bool {
        self.matches_fields(
            &header.coordinate,
            header.kind,
            header.sequence,
            header.position,
            header.admission.is_bypass(),
        )
    }

    /// [`Region::matches`] on the fields themselves, for readers that hold
    /// them without a header (the store's index): the one place the rule is
    /// written.
    pub(crate) fn matches_fields(
        &self,
        coordinate: &Coordinate,
        kind: EventKind,
        sequence: u64,
        position: u64,
        bypassed: bool,
    ) -> bool {
        let in_range = |range: Option<(u64, u64)>, value: u64| {
            range.is_none_or(|(start, end)| (start..=end).contains(&value))
        };
        self.matches_coordinate(coordinate)
            && self.matches_kind(kind)
            && in_range(self.sequence, sequence)
            && in_range(self.position, position)
            && (!self.bypassed_only || bypassed)
    }
}
