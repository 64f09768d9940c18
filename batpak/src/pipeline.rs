//! COMMIT: [`Receipt<T>`] → [`Committed<T>`].
//!
//! The guard layer turns a proposal into a receipt; committing the receipt
//! (`Receipt::commit`, implemented here) appends exactly the bytes the gates
//! saw, with the gates' names in the stored header, and only if the stream
//! is still at the expected version (compare-and-append, so a decision taken
//! on stale state cannot land). [`bypass`] commits without gates and records
//! who and why.
//!
//! Committing goes through [`CommitTarget`], the one method a store must
//! offer the pipeline. The pipeline never decides (that is the guard's job)
//! and never writes except through that trait.
//!
//! # Who writes which admission
//!
//! The audit trail is only worth something if a record saying "admitted by
//! gate X" or "bypassed by Y because Z" can come from nowhere else:
//!
//! - `Store::append` and its kin write [`Admission::Direct`].
//! - [`Receipt::commit`] writes [`Admission::Gated`] with the receipt's gates.
//! - [`bypass`] writes [`Admission::Bypassed`] from a [`Bypass`], whose who
//!   and why were checked to say something visible.
//!
//! The admission reaches a store inside a [`RawAppend`], the type this
//! module alone can build: its fields are private, it has no public
//! constructor and it is not `Clone`. A store behind the seam (another
//! crate's `CommitTarget`) reads every part of the append it is given
//! (accessors, or [`RawAppend::into_parts`] to take them by value) and
//! stores them; what it cannot do, and no caller can, is make an append,
//! change one, or copy one. An append handed on from one target to another
//! still commits exactly what its gates admitted, once. `Admission`'s gated
//! and bypassed variants are `#[non_exhaustive]`, so outside this crate they
//! can be matched but not built. The trybuild cases in `tests/ui/admission/`
//! hold each of these doors shut.

use serde::Serialize;

use crate::coordinate::Coordinate;
use crate::event::{Admission, CodecError, EventId, EventKind, Hash, encode_payload};
use crate::guard::{AppendOptions, Proposal, Receipt};

/// What the store tells the caller about an event it accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppendReceipt {
    /// The new event's id.
    pub event_id: EventId,
    /// Its sequence within the stream (also the stream's new version).
    pub sequence: u64,
    /// Its global position.
    pub position: u64,
    /// Its chain hash.
    pub hash: Hash,
}

/// An append in encoded form: what the pipeline hands a [`CommitTarget`].
///
/// Only the pipeline builds one (from a receipt or an audited bypass), and
/// nobody can change or copy it: a store reads it and commits it once. See
/// the [module docs](self) for why.
#[derive(Debug, PartialEq, Eq)]
pub struct RawAppend {
    coordinate: Coordinate,
    kind: EventKind,
    payload: Vec<u8>,
    options: AppendOptions,
    admission: Admission,
}

/// A [`RawAppend`] taken apart by the store committing it.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawAppendParts {
    /// Which stream.
    pub coordinate: Coordinate,
    /// What happened.
    pub kind: EventKind,
    /// The msgpack-encoded payload, stored verbatim.
    pub payload: Vec<u8>,
    /// Version, idempotency and causality controls.
    pub options: AppendOptions,
    /// How the event passed the policy layer.
    pub admission: Admission,
}

impl RawAppend {
    /// Bundles an encoded append: the pipeline's alone.
    fn new(
        coordinate: Coordinate,
        kind: EventKind,
        payload: Vec<u8>,
        options: AppendOptions,
        admission: Admission,
    ) -> Self {
        Self {
            coordinate,
            kind,
            payload,
            options,
            admission,
        }
    }

    /// Which stream.
    #[must_use]
    pub fn coordinate(&self) -> &Coordinate {
        &self.coordinate
    }

    /// What happened.
    #[must_use]
    pub fn kind(&self) -> EventKind {
        self.kind
    }

    /// The msgpack-encoded payload, to be stored verbatim.
    #[must_use]
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Version, idempotency and causality controls.
    #[must_use]
    pub fn options(&self) -> &AppendOptions {
        &self.options
    }

    /// How the event passed the policy layer.
    #[must_use]
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Every part by value, for the store that commits the append.
    #[must_use]
    pub fn into_parts(self) -> RawAppendParts {
        RawAppendParts {
            coordinate: self.coordinate,
            kind: self.kind,
            payload: self.payload,
            options: self.options,
            admission: self.admission,
        }
    }
}

/// The one thing a store must do for the pipeline: append an encoded event
/// atomically, honouring its expected version and idempotency key.
pub trait CommitTarget {
    /// The store's error type; it can carry an encoding failure.
    type Error: From<CodecError>;

    /// Appends one encoded event, or writes nothing and says why.
    ///
    /// # Errors
    /// Whatever the store refuses: a version mismatch, a reserved kind, an
    /// I/O failure.
    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, Self::Error>;
}

impl<P> Receipt<P> {
    /// Appends the admitted event, recording the gates in its header, if the
    /// stream is still at the expected version.
    ///
    /// # Errors
    /// The target's error; on a version mismatch nothing is written.
    pub fn commit<T: CommitTarget + ?Sized>(self, target: &T) -> Result<Committed<P>, T::Error> {
        let (proposal, encoded, gates) = self.into_parts();
        let (coordinate, kind, payload, options) = proposal.into_parts();
        let admission = Admission::Gated { gates };
        let append = RawAppend::new(coordinate, kind, encoded, options, admission.clone());
        let receipt = target.commit_raw(append)?;
        Ok(Committed {
            payload,
            receipt,
            admission,
        })
    }
}

/// Why a bypass was refused: it would not say, visibly, who or why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BypassError {
    /// The text of `field` is empty or only whitespace.
    #[error("bypass {field} is empty; a bypass must say who bypassed and why")]
    Empty {
        /// `"by"` or `"reason"`.
        field: &'static str,
    },
    /// The text of `field` has no visible character: only whitespace and
    /// invisible characters (control, format or default-ignorable ones such
    /// as U+200B, U+202E, U+FEFF), which an audit would read as blank.
    #[error(
        "bypass {field} has no visible character (U+{code:04X} is invisible); a bypass must say \
         who bypassed and why",
        code = u32::from(*invisible)
    )]
    Invisible {
        /// `"by"` or `"reason"`.
        field: &'static str,
        /// The first invisible character that is not whitespace.
        invisible: char,
    },
}

/// Who skipped the gates and why; stored in the event's header.
///
/// Both texts must say something a reader of the audit trail can see: text
/// that is empty, only whitespace, or only invisible characters is refused.
///
/// ```
/// use batpak::{Bypass, BypassError};
/// assert!(Bypass::new("ops:alice", "ledger outage").is_ok());
/// assert_eq!(Bypass::new("ops:alice", " "), Err(BypassError::Empty { field: "reason" }));
/// assert_eq!(
///     Bypass::new("\u{200B}", "ledger outage"),
///     Err(BypassError::Invisible { field: "by", invisible: '\u{200B}' }),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    by: String,
    reason: String,
}

impl Bypass {
    /// Records `by` (a person, service or operator) and `reason`. Both must
    /// say something visible: a bypass is never anonymous or unexplained.
    ///
    /// # Errors
    /// [`BypassError::Empty`] naming the part that is empty or whitespace,
    /// [`BypassError::Invisible`] naming the part that holds no visible
    /// character (`by` is checked first).
    pub fn new(by: impl Into<String>, reason: impl Into<String>) -> Result<Self, BypassError> {
        let by = by.into();
        let reason = reason.into();
        check_visible("by", &by)?;
        check_visible("reason", &reason)?;
        Ok(Self { by, reason })
    }

    /// Who bypassed.
    #[must_use]
    pub fn by(&self) -> &str {
        &self.by
    }

    /// Why.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Refuses text without a visible character.
fn check_visible(field: &'static str, text: &str) -> Result<(), BypassError> {
    if text.chars().all(char::is_whitespace) {
        return Err(BypassError::Empty { field });
    }
    if text.chars().all(is_invisible) {
        let invisible = text
            .chars()
            .find(|c| !c.is_whitespace())
            .unwrap_or_default();
        return Err(BypassError::Invisible { field, invisible });
    }
    Ok(())
}

/// True for a character that renders as nothing: whitespace (Unicode
/// `White_Space`, which includes U+2028 and U+2029), controls (`Cc`),
/// format characters (`Cf`: zero-width and bidirectional controls, U+FEFF)
/// and the other default-ignorable code points (variation selectors,
/// Hangul fillers, tags).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || INVISIBLE
            .binary_search_by(|&(start, end)| {
                if u32::from(c) < start {
                    std::cmp::Ordering::Greater
                } else if u32::from(c) > end {
                    std::cmp::Ordering::Less
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
}

/// Inclusive ranges, sorted and disjoint, of the union of general category
/// `Cf` (`DerivedGeneralCategory.txt`) and `Default_Ignorable_Code_Point`
/// (`DerivedCoreProperties.txt`) as of Unicode 15.1. Std has no table for
/// either; these 25 ranges are all of them.
const INVISIBLE: [(u32, u32); 25] = [
    (0x00AD, 0x00AD),   // soft hyphen
    (0x034F, 0x034F),   // combining grapheme joiner
    (0x0600, 0x0605),   // Arabic number signs
    (0x061C, 0x061C),   // Arabic letter mark
    (0x06DD, 0x06DD),   // Arabic end of ayah
    (0x070F, 0x070F),   // Syriac abbreviation mark
    (0x0890, 0x0891),   // Arabic pound and piastre marks above
    (0x08E2, 0x08E2),   // Arabic disputed end of ayah
    (0x115F, 0x1160),   // Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),   // Khmer inherent vowels
    (0x180B, 0x180F),   // Mongolian variation selectors, vowel separator
    (0x200B, 0x200F),   // zero-width space, joiners, LRM, RLM
    (0x202A, 0x202E),   // bidirectional embeddings and overrides
    (0x2060, 0x206F),   // word joiner, invisible operators, isolates
    (0x3164, 0x3164),   // Hangul filler
    (0xFE00, 0xFE0F),   // variation selectors
    (0xFEFF, 0xFEFF),   // zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),   // halfwidth Hangul filler
    (0xFFF0, 0xFFFB),   // reserved, interlinear annotation
    (0x110BD, 0x110BD), // Kaithi number sign
    (0x110CD, 0x110CD), // Kaithi number sign above
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol format controls
    (0xE0000, 0xE0FFF), // tags, variation selectors supplement
];

/// Commits `proposal` without running gates. The stored header says who
/// bypassed and why ([`Admission::Bypassed`]), so
/// [`Region::bypassed`](crate::Region::bypassed) finds every bypass later.
///
/// # Errors
/// The target's error, or an encoding failure; nothing is written on error.
pub fn bypass<P: Serialize, T: CommitTarget + ?Sized>(
    target: &T,
    proposal: Proposal<P>,
    bypass: Bypass,
) -> Result<Committed<P>, T::Error> {
    let encoded = encode_payload(proposal.payload())?;
    let admission = Admission::Bypassed {
        by: bypass.by,
        reason: bypass.reason,
    };
    let (coordinate, kind, payload, options) = proposal.into_parts();
    let append = RawAppend::new(coordinate, kind, encoded, options, admission.clone());
    let receipt = target.commit_raw(append)?;
    Ok(Committed {
        payload,
        receipt,
        admission,
    })
}

/// An event the store accepted through the pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed<P> {
    payload: P,
    receipt: AppendReceipt,
    admission: Admission,
}

impl<P> Committed<P> {
    /// The committed payload.
    pub fn payload(&self) -> &P {
        &self.payload
    }

    /// Where and as what the store recorded it.
    pub fn receipt(&self) -> &AppendReceipt {
        &self.receipt
    }

    /// How it passed the policy layer (gates or bypass).
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The payload, dropping the rest.
    pub fn into_payload(self) -> P {
        self.payload
    }
}
