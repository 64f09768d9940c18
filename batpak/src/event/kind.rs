//! Event kinds: a machine's category plus a type code, packed in 32 bits.
//!
//! Category 0 is reserved for records the system writes itself; user code can
//! name such a kind (the const constructor cannot fail) but the store refuses
//! to append one, so a user event can never pose as a system record.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a kind was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KindError {
    /// The category is reserved for system records.
    #[error(
        "event kind category {category} is reserved for system records (user categories are 1..=65535)"
    )]
    ReservedCategory {
        /// The category that was asked for.
        category: u16,
    },
}

/// What happened, as a stable number: `category` groups the kinds of one
/// machine, `code` tells them apart within it.
///
/// ```
/// use batpak::EventKind;
/// const PLACED: EventKind = EventKind::new(7, 1);
/// assert_eq!(PLACED.category(), 7);
/// assert!(EventKind::custom(0, 1).is_err()); // category 0 is the system's
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(from = "u32", into = "u32")]
pub struct EventKind {
    category: u16,
    code: u16,
}

impl EventKind {
    /// The category reserved for records the system writes itself.
    pub const SYSTEM_CATEGORY: u16 = 0;

    /// Builds a kind without checking the category; for constants. The store
    /// still refuses to append a kind of the system category.
    #[must_use]
    pub const fn new(category: u16, code: u16) -> Self {
        Self { category, code }
    }

    /// Builds a user kind, refusing the reserved system category.
    ///
    /// # Errors
    /// [`KindError::ReservedCategory`] when `category` is
    /// [`EventKind::SYSTEM_CATEGORY`].
    pub const fn custom(category: u16, code: u16) -> Result<Self, KindError> {
        if category == Self::SYSTEM_CATEGORY {
            return Err(KindError::ReservedCategory { category });
        }
        Ok(Self { category, code })
    }

    /// The machine (or other grouping) this kind belongs to.
    #[must_use]
    pub const fn category(self) -> u16 {
        self.category
    }

    /// The kind's number within its category.
    #[must_use]
    pub const fn code(self) -> u16 {
        self.code
    }

    /// True for kinds of the reserved system category.
    #[must_use]
    pub const fn is_system(self) -> bool {
        self.category == Self::SYSTEM_CATEGORY
    }

    /// The packed form stored on disk: category in the high 16 bits.
    #[must_use]
    pub const fn to_u32(self) -> u32 {
        ((self.category as u32) << 16) | self.code as u32
    }

    /// Unpacks [`EventKind::to_u32`].
    #[must_use]
    pub const fn from_u32(packed: u32) -> Self {
        Self {
            category: (packed >> 16) as u16,
            code: (packed & 0xFFFF) as u16,
        }
    }
}

impl From<u32> for EventKind {
    fn from(packed: u32) -> Self {
        Self::from_u32(packed)
    }
}

impl From<EventKind> for u32 {
    fn from(kind: EventKind) -> Self {
        kind.to_u32()
    }
}

impl fmt::Debug for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventKind({}:{})", self.category, self.code)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.category, self.code)
    }
}
