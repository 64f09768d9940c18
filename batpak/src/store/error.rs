//! Everything the store can refuse or fail at, as data.
//!
//! One enum for the store layer. Variants carry the facts (segment, offset,
//! coordinate, versions) so callers can act on them; messages are lowercase
//! and never print the whole error with `{:?}`.

use std::path::PathBuf;

use super::backend::Backend;
use crate::coordinate::Coordinate;
use crate::event::{CodecError, EventKind};
use crate::guard::ExpectedVersion;
use crate::region::RegionError;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file-system call failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// The operation (`"open"`, `"write"`, `"fdatasync"`, ...).
        op: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Another `Store` (in this or another process) holds the directory.
    #[error("store directory {dir} is locked by another open store")]
    StoreLocked {
        /// The store directory.
        dir: PathBuf,
    },
    /// The store path exists and is not a directory.
    #[error("store path {path} is not a directory")]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },
    /// A saved cursor position file cannot be used.
    #[error("cursor file {path}: {problem}")]
    CursorFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        problem: CursorFileProblem,
    },
    /// The stream was not at the expected version; nothing was written.
    #[error("stream {coordinate} is at version {actual}, expected {expected:?}")]
    VersionMismatch {
        /// The stream.
        coordinate: Coordinate,
        /// What the caller required.
        expected: ExpectedVersion,
        /// How many events the stream holds.
        actual: u64,
    },
    /// The idempotency key was already used for a different append.
    #[error(
        "idempotency key {key:?} was already used for different content (at position {position})"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// Position of the first event the key was used for.
        position: u64,
    },
    /// The idempotency key is longer than allowed.
    #[error("idempotency key is {len} bytes long; the maximum is {max}")]
    IdempotencyKeyTooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A gate name or a bypass's `by` or `reason` holds a control or
    /// format character (the rule coordinates follow), which would print as
    /// something else or forge output lines; nothing was written.
    #[error(
        "admission {field} {text:?} contains U+{code:04X} at byte {index}, a control or \
         format character"
    )]
    UnprintableAdmission {
        /// `"gate name"`, `"bypass by"` or `"bypass reason"`.
        field: &'static str,
        /// The refused text.
        text: String,
        /// Byte offset of the character within the text.
        index: usize,
        /// The character's code point.
        code: u32,
    },
    /// An append asked for payload version 0 (`AppendOptions::payload_version`);
    /// versions start at 1.
    #[error("payload version 0 was given; payload versions start at 1")]
    PayloadVersionZero,
    /// User code tried to append a kind of the reserved system category.
    #[error("event kind {kind} belongs to the reserved system category")]
    ReservedKind {
        /// The refused kind.
        kind: EventKind,
    },
    /// The encoded payload is larger than the configured maximum.
    #[error("encoded payload is {len} bytes; the maximum is {max}")]
    PayloadTooLarge {
        /// Encoded length in bytes.
        len: usize,
        /// The configured limit.
        max: usize,
    },
    /// The encoded header (coordinate, key, admission) is too large.
    #[error("encoded header is {len} bytes; the maximum is {max}")]
    HeaderTooLarge {
        /// Encoded length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A batch was empty or held more events than one frame batch allows.
    #[error("a batch must hold 1..={max} events, got {len}")]
    BatchSize {
        /// Events in the batch.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A payload or header failed to encode or decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// Stored bytes are damaged (not a torn tail in the last segment), or
    /// disagree with the index that led to them.
    #[error("corrupt store: {at}: {reason}")]
    Corrupt {
        /// Where the damage is.
        at: Place,
        /// What is wrong.
        reason: String,
    },
    /// A previous write or fsync failed; the store refuses appends until
    /// reopened (the OS may have dropped the unsynced pages).
    #[error("store is poisoned by an earlier write or sync failure; reopen it")]
    Poisoned,
    /// The store was opened read-only.
    #[error("store is open read-only")]
    ReadOnly,
    /// The files were written by a format version this build cannot read.
    #[error("store format version {found} is not supported (this build reads up to {supported})")]
    UnsupportedFormat {
        /// The version found on disk.
        found: u16,
        /// The newest version this build understands.
        supported: u16,
    },
    /// The log holds fewer events than it durably held at its last clean
    /// close (its tail was lost: a deleted segment, a cut file); nothing
    /// was opened. Repair mode accepts the shorter log.
    #[error(
        "the log holds {found} events but held {recorded} when it was last closed: events \
         {found}..{recorded} are missing (open in repair mode to accept the loss)"
    )]
    LogShorterThanRecorded {
        /// Events the extent record holds.
        recorded: u64,
        /// Events found in the log.
        found: u64,
    },
    /// The region can never match anything.
    #[error(transparent)]
    InvalidRegion(#[from] RegionError),
    /// The directory was created by another backend than the one requested;
    /// nothing was opened or changed.
    #[error("store was created by the {found} backend, but {requested} was requested")]
    BackendMismatch {
        /// The backend recorded in the directory.
        found: Backend,
        /// The backend the config asked for.
        requested: Backend,
    },
    /// The backend's cargo feature is not enabled in this build.
    #[error("the {backend} backend is not compiled in (enable batpak's `{backend}` feature)")]
    BackendUnavailable {
        /// The backend asked for.
        backend: Backend,
    },
    /// The redb or LMDB engine reported an error.
    #[error("{backend} {op}: {source}")]
    Engine {
        /// The engine.
        backend: Backend,
        /// The operation (`"open"`, `"commit"`, `"read"`, ...).
        op: &'static str,
        /// The engine's own error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The PostgreSQL server (or libpq) reported an error: unreachable,
    /// refused, or a statement failed. An error on commit leaves the
    /// outcome unknown; retry with an idempotency key.
    #[error("postgres {op}: {message}")]
    Postgres {
        /// The operation (`"connect"`, `"append"`, `"read"`, ...).
        op: &'static str,
        /// The server's SQLSTATE code, when it sent one.
        code: Option<String>,
        /// The server's or libpq's message.
        message: String,
    },
}

impl StoreError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            op,
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(at: Place, reason: impl Into<String>) -> Self {
        Self::Corrupt {
            at,
            reason: reason.into(),
        }
    }
}

/// Where damage was found: a place that cannot be confused with another.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Place {
    /// A frame of a segment file.
    Segment {
        /// Segment number (from 1).
        segment: u32,
        /// Byte offset of the frame (or header) in the segment file.
        offset: u64,
    },
    /// A record of a key-value log (redb or LMDB), keyed by global position.
    Record {
        /// The engine that holds it.
        backend: Backend,
        /// The record's global position.
        position: u64,
    },
    /// The key-value log as a whole (a missing table, a malformed key).
    Database {
        /// The engine that holds it.
        backend: Backend,
    },
    /// A small file of the store directory (the backend marker).
    File {
        /// The file.
        path: PathBuf,
    },
    /// The index, at a global position (it disagrees with the log, or its
    /// entry there cannot be read from its sealed index file).
    Index {
        /// The position whose entry is wrong or missing.
        position: u64,
    },
    /// A row of a PostgreSQL event table, keyed by global position.
    Row {
        /// The row's global position.
        position: u64,
    },
}

impl Place {
    /// A place in a segment file.
    #[must_use]
    pub fn segment(segment: u32, offset: u64) -> Self {
        Self::Segment { segment, offset }
    }
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Segment { segment, offset } => write!(f, "segment {segment} offset {offset}"),
            Self::Record { backend, position } => write!(f, "{backend} record {position}"),
            Self::Database { backend } => write!(f, "{backend} database"),
            Self::Row { position } => write!(f, "postgres row {position}"),
            Self::File { path } => write!(f, "file {}", path.display()),
            Self::Index { position } => write!(f, "index entry {position}"),
        }
    }
}

/// What is wrong with a saved cursor position file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CursorFileProblem {
    /// The file is not exactly as long as the layout.
    #[error("it is {len} bytes long, not {expected}")]
    Length {
        /// Bytes found.
        len: usize,
        /// Bytes the layout has.
        expected: usize,
    },
    /// The file does not start with the cursor magic bytes.
    #[error("it is not a cursor file")]
    Magic,
    /// A layout version this build cannot read.
    #[error("layout version {found} is not supported")]
    Version {
        /// The version found.
        found: u16,
    },
    /// The checksum does not match the contents.
    #[error("its checksum does not match")]
    Checksum,
    /// The file was saved by a cursor over another region.
    #[error("it was saved for another region")]
    Region,
    /// The saved position lies beyond this store's log.
    #[error("position {position} lies beyond the log's {events} events")]
    BeyondLog {
        /// The saved position.
        position: u64,
        /// Events in the store.
        events: u64,
    },
}
