//! The narrow seam between the store's core and a log engine.
//!
//! An engine keeps encoded frame bodies in position order and gives them
//! back; it knows nothing of streams, versions, keys or hashes (the core owns
//! all semantics). The segment engine is the default; other engines (redb,
//! LMDB) implement the same trait. Invariants every engine keeps:
//! - `append` stores bodies for consecutive positions, all-or-nothing per
//!   call *after a crash* (a batch is one call);
//! - `sync` makes durable every body appended before it was called;
//! - `scan` hands back exactly the bodies a previous run appended and did not
//!   lose to a crash, in order, and never a partial batch.
//!
//! Adding an engine: implement [`LogEngine`] (a key-value store does it by
//! implementing `kv::KvLog` instead, as redb and LMDB do); give it an `open`
//! like `SegmentEngine::open` (offer a stored checkpoint to
//! `try_checkpoint`, else call `visit` for every stored body in order; a
//! transaction per `append` call makes batches atomic); store the
//! checkpoint wherever the engine likes; and choose it in `choose.rs`. The
//! core needs nothing else.
//!
//! Layout of this folder: `body.rs` is the byte contract between core and
//! engines; `choose.rs` picks the engine for a directory; `segment/` is the
//! default engine; `kv.rs` the shared engine over `redb.rs` and `lmdb.rs`.

pub(crate) mod body;
pub(crate) mod choose;
#[cfg(any(feature = "redb", feature = "lmdb"))]
pub(crate) mod kv;
#[cfg(feature = "lmdb")]
pub(crate) mod lmdb;
#[cfg(feature = "redb")]
pub(crate) mod redb;
pub(crate) mod segment;

use std::ops::ControlFlow;

use super::backend::Backend;
use super::error::{Place, StoreError};

/// Where an engine keeps one frame. For the segment engine: segment number,
/// byte offset of the frame in the file and the body length. Other engines
/// may use `offset` as the key and leave `segment` at 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Loc {
    pub(crate) segment: u32,
    pub(crate) len: u32,
    pub(crate) offset: u64,
}

/// Encoded bodies of one append call, concatenated.
#[derive(Debug, Default)]
pub(crate) struct BodyBatch {
    pub(crate) buf: Vec<u8>,
    pub(crate) ends: Vec<usize>,
}

impl BodyBatch {
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
        self.ends.clear();
    }

    pub(crate) fn bodies(&self) -> impl Iterator<Item = &[u8]> {
        let mut start = 0;
        self.ends.iter().map(move |&end| {
            let body = self.buf.get(start..end).unwrap_or(&[]);
            start = end;
            body
        })
    }
}

/// Called for each body a read returns, with its index in the request;
/// breaks to stop the read early.
pub(crate) type BodyVisitor<'a> =
    dyn FnMut(usize, &[u8]) -> Result<ControlFlow<()>, StoreError> + 'a;
/// Called for each frame a scan finds, in position order; breaks to stop the
/// scan (the caller keeps the reason).
pub(crate) type FrameVisitor<'a> = dyn FnMut(Loc, &[u8]) -> ControlFlow<()> + 'a;
/// Accepts a stored checkpoint: its bytes, the log extent it must describe
/// (the log's now, or a prefix of it), and the engine's rule for where
/// consecutive frames lie. True when it was used.
pub(crate) type CheckpointVisitor<'a> = dyn FnMut(&[u8], &[u64], NextLoc) -> bool + 'a;
/// The log extent a stored checkpoint records, read without decoding the
/// rest (`None`: not a checkpoint this build reads): lets an engine offer a
/// checkpoint that describes a prefix of its log.
pub(crate) type CheckpointExtent = fn(&[u8]) -> Option<Vec<u64>>;
/// Offered a full segment's sealed index instead of scanning it: its
/// number, the segment's length, the sealed index's bytes and the engine's
/// rule for where frames lie. Returns the events it indexed, or `None` to
/// have the segment scanned.
pub(crate) type SealedVisitor<'a> = dyn FnMut(u32, u64, &[u8], NextLoc) -> Option<u64> + 'a;

/// What an open hands the engine to rebuild the index with: the stored
/// checkpoint is offered first (its extent read by `checkpoint_extent`),
/// then sealed indexes, then every frame past them goes to `visit`. One
/// value, passed down unchanged from the core to the engine that opens.
pub(crate) struct OpenVisitors<'a> {
    pub(crate) checkpoint_extent: CheckpointExtent,
    pub(crate) try_checkpoint: &'a mut CheckpointVisitor<'a>,
    pub(crate) try_sealed: &'a mut SealedVisitor<'a>,
    pub(crate) visit: &'a mut FrameVisitor<'a>,
}

/// Where the frame at `position` with a body of `len` bytes lies in
/// storage unit `segment`, given where the previous frame lies (`None` for
/// the first). Lets the index keep only lengths in its checkpoint and ask
/// the engine for places.
pub(crate) type NextLoc = fn(previous: Option<Loc>, segment: u32, position: u64, len: u32) -> Loc;

/// What open found and repaired.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OpenReport {
    /// Bytes cut from a torn tail (or ignored, when read-only).
    pub(crate) truncated_bytes: u64,
    /// True when the index came from a checkpoint (with only what lies
    /// past the extent it records indexed after it).
    pub(crate) from_checkpoint: bool,
    /// Full segments indexed from their sealed index instead of a scan.
    pub(crate) sealed_loaded: u64,
}

/// Where `loc` is in a store of `backend`, for an error: the one rule for
/// naming a frame's place (segment engines address frames by segment and
/// offset; key-value engines key them by global position).
pub(crate) fn place_of(backend: Backend, loc: Loc) -> Place {
    match backend {
        Backend::Segment => Place::segment(loc.segment, loc.offset),
        backend => Place::Record {
            backend,
            position: loc.offset,
        },
    }
}

/// A log engine: ordered, durable storage of frame bodies.
pub(crate) trait LogEngine: Send + Sync {
    /// Stores `bodies` for positions `first_position..`; fills `locs`.
    /// With `flush`, the bytes reach the OS before return.
    fn append(
        &self,
        first_position: u64,
        bodies: &BodyBatch,
        flush: bool,
        locs: &mut Vec<Loc>,
    ) -> Result<(), StoreError>;

    /// Makes every body appended before this call durable (fdatasync).
    fn sync(&self) -> Result<(), StoreError>;

    /// Hands buffered bytes to the OS without syncing.
    fn flush(&self) -> Result<(), StoreError>;

    /// Gives back, durably, any space reserved past the log's end (the
    /// segment engine's zeros ahead of appends), so the files hold exactly
    /// the log: a clean close does this before its checkpoint. Engines
    /// that reserve nothing do nothing (the default).
    fn give_back_reserve(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Reads one body (checksum verified) into `out`.
    fn read(&self, loc: Loc, out: &mut Vec<u8>) -> Result<(), StoreError>;

    /// Reads many bodies in the order given, coalescing adjacent ones;
    /// returns `Break` when the visitor stopped early.
    fn read_many(
        &self,
        locs: &[Loc],
        visit: &mut BodyVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError>;

    /// Visits every stored body in position order, checking framing (a
    /// fresh scan: what `verify` uses); returns `Break` when the visitor
    /// stopped it. Damage to the framing is a `Corrupt` error.
    fn scan(&self, visit: &mut FrameVisitor<'_>) -> Result<ControlFlow<()>, StoreError>;

    /// A fingerprint of the log's extent (e.g. segment lengths) that a
    /// checkpoint records and is validated against.
    fn extent(&self) -> Vec<u64>;

    /// Durably replaces the stored checkpoint.
    fn write_checkpoint(&self, bytes: &[u8]) -> Result<(), StoreError>;

    /// Durably removes the stored checkpoint (if any), so that no later
    /// open uses it: the index it gave was seen disagreeing with the log,
    /// or the files it names are about to be replaced.
    fn remove_checkpoint(&self) -> Result<(), StoreError>;

    /// Durably stores the sealed index of full storage unit `segment`.
    /// Engines without segments keep none (the default).
    fn write_sealed_index(&self, segment: u32, bytes: &[u8]) -> Result<(), StoreError> {
        let _ = (segment, bytes);
        Ok(())
    }

    /// Durably replaces the positions file the next checkpoint names (the
    /// streams' positions in sealed segments). Engines without segments
    /// file none (the default).
    fn write_positions_file(&self, bytes: &[u8]) -> Result<(), StoreError> {
        let _ = bytes;
        Ok(())
    }

    /// The stored sealed index of `segment`: `Ok(None)` when there is none.
    /// Engines without segments have none (the default).
    fn read_sealed_index(&self, segment: u32) -> Result<Option<Vec<u8>>, StoreError> {
        let _ = segment;
        Ok(None)
    }

    /// True when the engine keeps sealed indexes (it has full segments).
    fn seals(&self) -> bool {
        false
    }

    /// Number of storage units (segments) and bytes on disk.
    fn size(&self) -> (u64, u64);
}
