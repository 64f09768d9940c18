//! WHO and WHERE: the address of every event.
//!
//! A [`Coordinate`] names a stream: `entity` says who the events are about,
//! `scope` says where they happen. A stream's events share one per-stream
//! sequence and one hash chain. Both parts are validated on construction *and*
//! on deserialization, so a coordinate read back from disk obeys the same rules
//! as one typed by a user. Coordinates are data, never file paths: no part of
//! the store derives a path from one.
//!
//! Coordinates are printed (in errors, in `batpak dump`), so a part must
//! read as what it is: it may hold no control character and no format
//! character (invisible, or reordering the text around it). That rule,
//! [`find_unprintable`], is the crate's one rule for *printable identifier
//! text*; the store holds gate names and bypass texts to it as well.
//! [`Coordinate`]'s `Display` quotes a part that could be misread, so two
//! coordinates never print alike.
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
    /// The part contains NUL or another control character (Unicode
    /// general category Cc).
    #[error("coordinate {part} contains control character U+{code:04X} at byte {index}")]
    ControlCharacter {
        /// Which part held the character.
        part: CoordinatePart,
        /// Byte offset of the character within the part.
        index: usize,
        /// The character's code point.
        code: u32,
    },
    /// The part contains a format character: invisible (U+200B zero width
    /// space, U+FEFF), reordering the text around it (U+202E right-to-left
    /// override), or a line or paragraph separator (U+2028, U+2029).
    #[error("coordinate {part} contains format character U+{code:04X} at byte {index}")]
    FormatCharacter {
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
#[derive(Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "(String, String)")]
pub struct Coordinate {
    /// The entity, then the scope, back to back: one allocation where two
    /// strings took two (the index holds a coordinate per stream).
    parts: Box<str>,
    /// Where the scope starts in `parts` (both parts are at most
    /// [`MAX_COORDINATE_PART_LEN`] bytes long and never empty).
    split: u16,
}

impl Coordinate {
    /// Validates both parts and builds the coordinate.
    ///
    /// # Errors
    /// [`CoordinateError`] naming the part and the rule it broke: empty,
    /// longer than [`MAX_COORDINATE_PART_LEN`] bytes, or holding a control
    /// or format character (the first one, with its byte offset).
    pub fn new(
        entity: impl Into<String>,
        scope: impl Into<String>,
    ) -> Result<Self, CoordinateError> {
        Self::from_parts(&entity.into(), &scope.into())
    }

    /// [`Coordinate::new`] from borrowed parts: one allocation, exactly
    /// the coordinate's size (an index loading many coordinates at once
    /// makes no other).
    pub(crate) fn from_parts(entity: &str, scope: &str) -> Result<Self, CoordinateError> {
        validate_part(CoordinatePart::Entity, entity)?;
        validate_part(CoordinatePart::Scope, scope)?;
        // Validated: the entity is at most MAX_COORDINATE_PART_LEN bytes.
        let split = u16::try_from(entity.len()).unwrap_or(u16::MAX);
        let mut parts = String::with_capacity(entity.len() + scope.len());
        parts.push_str(entity);
        parts.push_str(scope);
        Ok(Self {
            parts: parts.into_boxed_str(),
            split,
        })
    }

    /// Who the events are about.
    #[must_use]
    pub fn entity(&self) -> &str {
        self.parts
            .get(..usize::from(self.split))
            .unwrap_or_default()
    }

    /// Where the events happen.
    #[must_use]
    pub fn scope(&self) -> &str {
        self.parts
            .get(usize::from(self.split)..)
            .unwrap_or_default()
    }
}

/// Ordered by entity, then scope (not by the joined text, where
/// `("ab", "c")` and `("a", "bc")` would tie).
impl Ord for Coordinate {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.entity(), self.scope()).cmp(&(other.entity(), other.scope()))
    }
}

impl PartialOrd for Coordinate {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
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
    match find_unprintable(value) {
        None => Ok(()),
        Some((index, c)) if c.is_control() => Err(CoordinateError::ControlCharacter {
            part,
            index,
            code: u32::from(c),
        }),
        Some((index, c)) => Err(CoordinateError::FormatCharacter {
            part,
            index,
            code: u32::from(c),
        }),
    }
}

/// The crate's one rule for *printable identifier text* (coordinate parts,
/// gate names, bypass `by` and `reason`): the first character that breaks
/// it, with its byte offset, or `None` when `text` may be printed as it is.
///
/// Refused: control characters (`char::is_control`, Unicode general
/// category Cc), which can end a line or drive a terminal, and format
/// characters ([`is_format`]), which are invisible or reorder the text
/// around them, so that what is printed is not what is stored.
pub(crate) fn find_unprintable(text: &str) -> Option<(usize, char)> {
    // Printable ASCII, the common case, holds no control or format
    // character: checked a byte at a time, without decoding characters.
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    text.char_indices()
        .find(|&(_, c)| c.is_control() || is_format(c))
}

/// Unicode general category Cf (format), as of Unicode 16.0, plus the line
/// and paragraph separators U+2028 (Zl) and U+2029 (Zp), which end a line in
/// many viewers. Sorted, non-overlapping, inclusive ranges. Among them:
/// U+00AD soft hyphen, U+061C Arabic letter mark, U+180E Mongolian vowel
/// separator, U+200B..U+200F zero width space, non-joiner, joiner and the
/// left-to-right and right-to-left marks, U+202A..U+202E bidi embeddings
/// and overrides, U+2060..U+2064 word joiner and invisible operators,
/// U+2066..U+206F bidi isolates and deprecated format characters, U+FEFF
/// zero width no-break space (BOM), U+FFF9..U+FFFB interlinear annotation,
/// U+E0001 and U+E0020..U+E007F tag characters. Written out rather than
/// taken from a Unicode crate so the bottom layer needs no dependency; a
/// test checks it against the Cf table of `regex-syntax` (through
/// proptest's `\p{Cf}`).
const FORMAT_RANGES: [(char, char); 21] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{0600}', '\u{0605}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{06DD}', '\u{06DD}'),
    ('\u{070F}', '\u{070F}'),
    ('\u{0890}', '\u{0891}'),
    ('\u{08E2}', '\u{08E2}'),
    ('\u{180E}', '\u{180E}'),
    ('\u{200B}', '\u{200F}'),
    // U+2028 (Zl) and U+2029 (Zp) join the Cf range U+202A..U+202E.
    ('\u{2028}', '\u{202E}'),
    ('\u{2060}', '\u{2064}'),
    ('\u{2066}', '\u{206F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFF9}', '\u{FFFB}'),
    ('\u{110BD}', '\u{110BD}'),
    ('\u{110CD}', '\u{110CD}'),
    ('\u{13430}', '\u{1343F}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0001}', '\u{E0001}'),
    ('\u{E0020}', '\u{E007F}'),
];

/// True for a format character: Unicode general category Cf, or a line or
/// paragraph separator (U+2028, U+2029); see [`FORMAT_RANGES`].
fn is_format(c: char) -> bool {
    FORMAT_RANGES
        .binary_search_by(|&(first, last)| {
            if last < c {
                std::cmp::Ordering::Less
            } else if first > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
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
        (self.entity(), self.scope()).serialize(serializer)
    }
}

impl From<Coordinate> for (String, String) {
    fn from(coordinate: Coordinate) -> Self {
        (
            coordinate.entity().to_owned(),
            coordinate.scope().to_owned(),
        )
    }
}

impl fmt::Debug for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Coordinate({:?} @ {:?})", self.entity(), self.scope())
    }
}

/// Writes `entity@scope`, quoting a part that could be misread:
///
/// ```text
/// display = part "@" part            entity, then scope
/// part    = bare / quoted
/// bare    = the part as it is, when it holds no whitespace, no `@`, `"` or `\`,
///           and no character a Rust string literal escapes
/// quoted  = the part as a Rust string literal (what `{:?}` writes):
///           "..." with `\"`, `\\` and `\u{..}` escapes
/// ```
///
/// So `order:1@shop:acme` reads as usual, while (`a@b`, `c`) prints as
/// `"a@b"@c` and (`a`, `b@c`) as `a@"b@c"`. A bare part never holds `@` and
/// never starts with `"`, and a quoted part ends at its first unescaped
/// `"`, so the first `@` outside quotes is the separator: no two
/// coordinates print alike. A coordinate prints without whitespace outside
/// quotes, so in a line of space-separated fields it is one field.
///
/// ```
/// use batpak::Coordinate;
/// let plain = Coordinate::new("order:1", "shop:acme")?;
/// assert_eq!(plain.to_string(), "order:1@shop:acme");
/// let tricky = Coordinate::new("a@b", "shop acme")?;
/// assert_eq!(tricky.to_string(), r#""a@b"@"shop acme""#);
/// # Ok::<(), batpak::CoordinateError>(())
/// ```
impl fmt::Display for Coordinate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_part(f, self.entity())?;
        f.write_str("@")?;
        write_part(f, self.scope())
    }
}

/// One part of a coordinate's display: bare or quoted (see `Display`).
fn write_part(f: &mut fmt::Formatter<'_>, part: &str) -> fmt::Result {
    // `char::escape_debug` escapes what a `{:?}` string literal escapes,
    // and also `'`, which a double-quoted literal leaves alone; every
    // whitespace character but the space is escaped by both.
    let bare = part
        .chars()
        .all(|c| c == '\'' || (c != '@' && c != ' ' && c.escape_debug().len() == 1));
    if bare {
        f.write_str(part)
    } else {
        write!(f, "{part:?}")
    }
}
