//! Sealing full segments: when the log moves past a segment (the engine
//! rotated, or an open scan reached the next segment), the index of that
//! segment is written beside it, so that an open after a crash loads it
//! instead of scanning (`index/sealed.rs` holds the layout and the checks).
//!
//! Sealed indexes are a cache: writing one is best effort (a failure leaves
//! the segment to be scanned at the next open, and poisons nothing), and one
//! is never written from an index that was seen disagreeing with the log.
//! Engines without segments (redb, LMDB) never rotate: nothing is sealed.

use std::path::Path;

use super::Core;
use super::index::Index;
use crate::store::engine::Loc;
use crate::store::engine::segment::{next_loc, write_sealed_index_in};
use crate::store::fs::FileSystem;
use crate::store::lock::{lock, read_lock};
use std::sync::atomic::Ordering;

/// The sealed indexes of every segment from the one holding the index's
/// last event up to, not including, `next_segment`, as (segment, bytes):
/// empty when `next_segment` is not past it. Valid only while the index
/// holds nothing past those segments.
pub(super) fn sealed_before(index: &Index, next_segment: u32) -> Vec<(u32, Vec<u8>)> {
    let Some(last) = index.entries.last() else {
        return Vec::new();
    };
    if next_segment <= last.segment {
        return Vec::new();
    }
    let first = index.entries.partition_point(|e| e.segment < last.segment) as u64;
    let end = next_loc(Some(last.loc()), last.segment, index.len(), 0).offset;
    let mut out = vec![(last.segment, index.encode_sealed(last.segment, end, first))];
    // Segments the engine skipped past hold no event (a rotation for a
    // frame larger than the segment's limit): each is its header alone.
    for empty in last.segment + 1..next_segment {
        let len = next_loc(None, empty, index.len(), 0).offset;
        out.push((empty, index.encode_sealed(empty, len, index.len())));
    }
    out
}

/// Seals, during an open scan, each segment the scan moves past and that
/// was not loaded from its sealed index.
pub(super) struct OpenSealer<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    /// False for a read-only open and for engines without segments.
    writes: bool,
    /// Segments up to this one came from their sealed indexes.
    pub(super) loaded_through: u32,
    /// Sealed indexes this open wrote.
    pub(super) written: u64,
    /// Frames this open scanned.
    pub(super) scanned: u64,
}

impl<'a> OpenSealer<'a> {
    pub(super) fn new(fs: &'a dyn FileSystem, dir: &'a Path, writes: bool) -> Self {
        Self {
            fs,
            dir,
            writes,
            loaded_through: 0,
            written: 0,
            scanned: 0,
        }
    }

    /// Before the scanned frame at `loc` is indexed: seals the segments it
    /// moves past.
    pub(super) fn before_frame(&mut self, index: &Index, loc: Loc) {
        self.scanned += 1;
        self.seal_before(index, loc.segment);
    }

    /// After the scan: seals the segments before `segments`, the number of
    /// segments the log now has (the last one stays open).
    pub(super) fn finish(&mut self, index: &Index, segments: u32) {
        self.seal_before(index, segments);
    }

    fn seal_before(&mut self, index: &Index, next_segment: u32) {
        if !self.writes {
            return;
        }
        for (segment, bytes) in sealed_before(index, next_segment) {
            if segment > self.loaded_through
                && write_sealed_index_in(self.fs, self.dir, segment, &bytes).is_ok()
            {
                self.written += 1;
            }
        }
    }
}

impl Core {
    /// During `verify`'s scan, before the frame of `next_segment` is
    /// applied to `fresh` (the index rebuilt from the log so far): compares
    /// the stored sealed index of each segment the scan moved past with the
    /// one `fresh` gives, and writes the right one over a missing or
    /// different file (under the writer mutex, so never beside a rotation's
    /// own write, and only when writable). Returns how many differed.
    pub(super) fn check_sealed_before(&self, fresh: &Index, next_segment: u32) -> u64 {
        if !self.engine.seals() {
            return 0;
        }
        let mut differed = 0;
        for (segment, want) in sealed_before(fresh, next_segment) {
            let stored = self.engine.read_sealed_index(segment).ok().flatten();
            if stored.as_deref() == Some(&want[..]) {
                continue;
            }
            differed += 1;
            if self.writable && !self.poisoned.load(Ordering::SeqCst) {
                let _writer = lock(&self.writer);
                // Best effort: a wrong file left behind is refused or
                // caught again, never trusted more than the log.
                let _ = self.engine.write_sealed_index(segment, &want);
            }
        }
        differed
    }

    /// On the append path, after the engine placed the call's first event
    /// in `segment` and before the index records the call: seals the
    /// segments the engine rotated past.
    pub(super) fn seal_segments_before(&self, segment: u32) {
        if self.index_disagreed.load(Ordering::SeqCst) {
            return;
        }
        let sealed = {
            let index = read_lock(&self.index);
            match index.entries.last() {
                Some(last) if segment > last.segment => sealed_before(&index, segment),
                _ => return,
            }
        };
        for (segment, bytes) in sealed {
            // Best effort: a segment without its sealed index is scanned.
            let _ = self.engine.write_sealed_index(segment, &bytes);
        }
    }
}
