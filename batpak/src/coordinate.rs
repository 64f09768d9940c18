//! WHO and WHERE: the address of every event.
//!
//! A [`Coordinate`] names a stream: `entity` says who the events are about,
//! `scope` says where they happen. A stream's events share one per-stream
//! sequence and one hash chain. Both parts are validated on construction *and*
//! on deserialization, so a coordinate read back from disk obeys the same rules
//! as one typed by a user. Coordinates are data, never file paths: no part of
//! the store derives a path from one.
//!
//! The bottom layer: this module imports nothing from the crate, and must
//! never accept a part the validation here refuses.

use std::fmt;

use serde::{Deserialize, Serialize};

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
