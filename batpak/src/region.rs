//! Which events: the one predicate over stored events.
//!
//! A [`Region`] combines an entity filter (any, exact or prefix), a scope,
//! kinds, sequence and position ranges, and how events were admitted
//! (directly, through gates, through a bypass) with AND.
//! Queries, subscriptions, cursors and projections all filter with
//! [`Region::matches`], so the same region selects the same events
//! everywhere. This module must never hold a second predicate: a view that
//! filters differently would show different events for the same region.

use std::ops::RangeInclusive;

use crate::coordinate::Coordinate;
use crate::event::{Admission, EventHeader, EventKind};

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

/// How an event got past the policy layer, as the predicate sees it: the
/// class of a header's [`Admission`], or what the store's index keeps of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdmissionClass {
    /// [`Admission::Direct`].
    Direct,
    /// [`Admission::Gated`].
    Gated,
    /// [`Admission::Bypassed`].
    Bypassed,
}

impl AdmissionClass {
    /// The class of `admission`.
    pub(crate) fn of(admission: &Admission) -> Self {
        match admission {
            Admission::Direct => Self::Direct,
            Admission::Gated { .. } => Self::Gated,
            Admission::Bypassed { .. } => Self::Bypassed,
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Direct => 1,
            Self::Gated => 2,
            Self::Bypassed => 4,
        }
    }
}

/// Which [`AdmissionClass`] classes a [`Region`] selects: a set, narrowed by
/// intersection, so `bypassed().direct()` selects nothing (and
/// [`Region::check`] refuses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AdmissionFilter(u8);

impl AdmissionFilter {
    const ANY: Self = Self(
        AdmissionClass::Direct.bit() | AdmissionClass::Gated.bit() | AdmissionClass::Bypassed.bit(),
    );

    fn only(self, classes: &[AdmissionClass]) -> Self {
        Self(self.0 & classes.iter().fold(0, |set, class| set | class.bit()))
    }

    fn contains(self, class: AdmissionClass) -> bool {
        self.0 & class.bit() != 0
    }

    /// A stable byte for cache keys and cursor fingerprints: 0 for every
    /// admission and 1 for bypassed only (the bytes regions had before the
    /// other filters existed, so their keys did not change), `0x80 | set`
    /// otherwise.
    pub(crate) fn key_byte(self) -> u8 {
        if self == Self::ANY {
            0
        } else if self == Self(AdmissionClass::Bypassed.bit()) {
            1
        } else {
            0x80 | self.0
        }
    }
}

impl Default for AdmissionFilter {
    fn default() -> Self {
        Self::ANY
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
    /// Admission filters that exclude each other, such as
    /// `bypassed().direct()`: no event is admitted two ways.
    #[error(
        "region admission filters exclude each other (an event is admitted one way) and can never match"
    )]
    DisjointAdmissions,
}

/// A predicate over stored events: entity, scope, kind, sequence, global
/// position and admission, combined with AND. Kind filters added with
/// [`Region::kind`] and [`Region::category`] combine with OR among
/// themselves.
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
    admissions: AdmissionFilter,
}

impl Region {
    /// Every event of the store's users: every kind outside the system
    /// category. A region selects system records (the machine catalog)
    /// only when it names their kinds ([`Region::kind`],
    /// [`Region::category`]), so a user's `Region::all()` never meets a
    /// record the system wrote.
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

    /// Narrows to events committed through a gate bypass
    /// ([`Admission::Bypassed`]), for audits.
    #[must_use]
    pub fn bypassed(mut self) -> Self {
        self.admissions = self.admissions.only(&[AdmissionClass::Bypassed]);
        self
    }

    /// Narrows to events appended directly ([`Admission::Direct`]: through
    /// `Store::append` and its kin), which neither gates nor a bypass
    /// admitted.
    #[must_use]
    pub fn direct(mut self) -> Self {
        self.admissions = self.admissions.only(&[AdmissionClass::Direct]);
        self
    }

    /// Narrows to every event no gate admitted: appended directly or
    /// committed through a bypass. With a machine's category, an audit of
    /// everything that skipped its gates.
    ///
    /// ```
    /// use batpak::Region;
    /// let skipped_policy = Region::entity_prefix("order:").ungated();
    /// assert!(skipped_policy.check().is_ok());
    /// assert!(Region::all().bypassed().direct().check().is_err());
    /// ```
    #[must_use]
    pub fn ungated(mut self) -> Self {
        self.admissions = self
            .admissions
            .only(&[AdmissionClass::Direct, AdmissionClass::Bypassed]);
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

    /// Which admissions are selected.
    #[must_use]
    pub(crate) fn admission_filter(&self) -> AdmissionFilter {
        self.admissions
    }

    /// Refuses a region that can never match.
    ///
    /// # Errors
    /// [`RegionError::InvertedRange`] when a sequence or position range
    /// starts after it ends, [`RegionError::DisjointAdmissions`] when the
    /// admission filters exclude each other.
    pub fn check(&self) -> Result<(), RegionError> {
        for (field, range) in [("sequence", self.sequence), ("position", self.position)] {
            if let Some((start, end)) = range
                && start > end
            {
                return Err(RegionError::InvertedRange { field, start, end });
            }
        }
        if self.admissions.0 == 0 {
            return Err(RegionError::DisjointAdmissions);
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

    /// True when the region selects events of this kind: a listed kind,
    /// or, when none is listed, any user kind (system records only when
    /// named).
    #[must_use]
    pub(crate) fn matches_kind(&self, kind: EventKind) -> bool {
        if self.kinds.is_empty() {
            return !kind.is_system();
        }
        self.kinds.iter().any(|k| k.matches(kind))
    }

    /// The one predicate: does this event header fall inside the region?
    #[must_use]
    pub fn matches(&self, header: &EventHeader) -> bool {
        self.matches_fields(
            &header.coordinate,
            header.kind,
            header.sequence,
            header.position,
            AdmissionClass::of(&header.admission),
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
        admitted: AdmissionClass,
    ) -> bool {
        let in_range = |range: Option<(u64, u64)>, value: u64| {
            range.is_none_or(|(start, end)| (start..=end).contains(&value))
        };
        self.matches_coordinate(coordinate)
            && self.matches_kind(kind)
            && in_range(self.sequence, sequence)
            && in_range(self.position, position)
            && self.admissions.contains(admitted)
    }
}
