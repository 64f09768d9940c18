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
//!   and why were checked to say something visible, in plain text.
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

use crate::coordinate::{Coordinate, find_unprintable};
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
/// It carries the event's [`Admission`], so it is the one door to the audit
/// trail: only the pipeline builds one (from a receipt's commit or an
/// audited [`bypass`]), and nobody can change or
/// copy one (private fields, no public constructor, not `Clone`). A store
/// behind the seam reads every part (the accessors, or
/// [`RawAppend::into_parts`] to take them by value) and commits it once; an
/// append passed on from one target to another still commits exactly what
/// its gates admitted.
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
        let receipt = commit_raw(target, append)?;
        Ok(Committed {
            payload,
            receipt,
            admission,
        })
    }
}

/// Hands `append` to `target`, inside the `commit` span.
fn commit_raw<T: CommitTarget + ?Sized>(
    target: &T,
    append: RawAppend,
) -> Result<AppendReceipt, T::Error> {
    let _span = crate::trace::span!(
        DEBUG,
        "commit",
        entity = %append.coordinate(),
        kind = %append.kind(),
        admission = if append.admission().is_bypass() { "bypassed" } else { "gated" },
    );
    let committed = target.commit_raw(append);
    crate::trace::record!(_span, outcome = crate::trace::outcome(&committed));
    committed
}

/// Why a bypass was refused: it would not say, visibly and plainly, who or
/// why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BypassError {
    /// The text of `field` is empty or only whitespace.
    #[error("bypass {field} is empty; a bypass must say who bypassed and why")]
    Empty {
        /// `"by"` or `"reason"`.
        field: &'static str,
    },
    /// The text of `field` holds a control or format character (such as
    /// U+200B, U+202E, U+2028, U+FEFF), which would print as something else
    /// or as nothing: the rule coordinates and gate names follow too.
    #[error(
        "bypass {field} contains U+{code:04X} at byte {index}, a control or format character; \
         write who bypassed and why in plain text"
    )]
    Unprintable {
        /// `"by"` or `"reason"`.
        field: &'static str,
        /// Byte offset of the character within the text.
        index: usize,
        /// The character's code point.
        code: u32,
    },
    /// The text of `field` has no visible character: only whitespace and
    /// characters that render as nothing (default-ignorable code points such
    /// as the Hangul filler U+3164 or a variation selector).
    #[error(
        "bypass {field} has no visible character (U+{code:04X} renders as nothing); a bypass \
         must say who bypassed and why"
    )]
    Invisible {
        /// `"by"` or `"reason"`.
        field: &'static str,
        /// The first character that is neither whitespace nor visible.
        code: u32,
    },
}

/// Who skipped the gates and why; stored in the event's header.
///
/// Both texts must say something a reader of the audit trail can see, and
/// print as what they are: text that is empty, only whitespace, holds a
/// control or format character, or has no visible character is refused.
///
/// ```
/// use batpak::{Bypass, BypassError};
/// assert!(Bypass::new("ops:alice", "ledger outage").is_ok());
/// assert_eq!(Bypass::new("ops:alice", " "), Err(BypassError::Empty { field: "reason" }));
/// assert_eq!(
///     Bypass::new("\u{200B}", "ledger outage"),
///     Err(BypassError::Unprintable { field: "by", index: 0, code: 0x200B }),
/// );
/// assert_eq!(
///     Bypass::new("ops:alice", "\u{3164}"),
///     Err(BypassError::Invisible { field: "reason", code: 0x3164 }),
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bypass {
    by: String,
    reason: String,
}

impl Bypass {
    /// Records `by` (a person, service or operator) and `reason`. Both must
    /// say something visible, in plain text: a bypass is never anonymous,
    /// unexplained or disguised.
    ///
    /// # Errors
    /// [`BypassError::Empty`], [`BypassError::Unprintable`] or
    /// [`BypassError::Invisible`], naming the part refused (`by` is checked
    /// first).
    pub fn new(by: impl Into<String>, reason: impl Into<String>) -> Result<Self, BypassError> {
        let by = by.into();
        let reason = reason.into();
        check_text("by", &by)?;
        check_text("reason", &reason)?;
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

/// Refuses bypass text that is blank, unprintable or invisible.
fn check_text(field: &'static str, text: &str) -> Result<(), BypassError> {
    let Some(first) = text.chars().find(|c| !c.is_whitespace()) else {
        return Err(BypassError::Empty { field });
    };
    if let Some((index, c)) = find_unprintable(text) {
        return Err(BypassError::Unprintable {
            field,
            index,
            code: u32::from(c),
        });
    }
    if text
        .chars()
        .all(|c| c.is_whitespace() || renders_as_nothing(c))
    {
        return Err(BypassError::Invisible {
            field,
            code: u32::from(first),
        });
    }
    Ok(())
}

/// True for a default-ignorable code point that [`find_unprintable`] lets
/// through (it is not a control or format character) but that renders as
/// nothing: text made only of these and whitespace looks blank.
fn renders_as_nothing(c: char) -> bool {
    INVISIBLE
        .iter()
        .any(|&(start, end)| (start..=end).contains(&c))
}

/// The `Default_Ignorable_Code_Point` ranges (`DerivedCoreProperties.txt`,
/// Unicode 15.1) outside general category Cf, which [`find_unprintable`]
/// already refuses. Std has no table; these are all of them.
const INVISIBLE: [(char, char); 11] = [
    ('\u{034F}', '\u{034F}'),   // combining grapheme joiner
    ('\u{115F}', '\u{1160}'),   // Hangul choseong and jungseong fillers
    ('\u{17B4}', '\u{17B5}'),   // Khmer inherent vowels
    ('\u{180B}', '\u{180D}'),   // Mongolian free variation selectors 1-3
    ('\u{180F}', '\u{180F}'),   // Mongolian free variation selector 4
    ('\u{2065}', '\u{2065}'),   // reserved
    ('\u{3164}', '\u{3164}'),   // Hangul filler
    ('\u{FE00}', '\u{FE0F}'),   // variation selectors
    ('\u{FFA0}', '\u{FFA0}'),   // halfwidth Hangul filler
    ('\u{FFF0}', '\u{FFF8}'),   // reserved
    ('\u{E0000}', '\u{E0FFF}'), // tags (reserved ones), variation selectors supplement
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
    let receipt = commit_raw(target, append)?;
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
