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
use super::index::sealed::SealedFile;
use crate::store::engine::Loc;
use crate::store::engine::segment::{next_loc, write_sealed_index_in};
use crate::store::fs::FileSystem;
use crate::store::lock::{lock, read_lock, write_lock};
use std::sync::atomic::Ordering;

/// A checkpoint at rotation waits for at least this many times the bytes
/// the last checkpoint wrote (its positions file and itself) of new log:
/// what checkpoints write stays under an eighth of what is appended.
const CHECKPOINT_WRITE_RATIO: u64 = 8;

/// The sealed indexes of every segment from the one holding the index's
/// last event up to, not including, `next_segment`: empty when
/// `next_segment` is not past it, or when that segment's entries already
/// went to its file. Valid only while the index holds nothing past those
/// segments.
pub(super) fn sealed_before(index: &Index, next_segment: u32) -> Vec<SealedFile> {
    let Some(last_segment) = last_segment(index) else {
        return Vec::new();
    };
    if next_segment <= last_segment {
        return Vec::new();
    }
    let mut out = Vec::new();
    // The last segment's own index, unless its entries went to it already.
    if let Some(last) = index.entries.tail().last() {
        let first = index.entries.first_in_tail_segment(last.segment);
        let end = next_loc(Some(last.loc()), last.segment, index.len(), 0).offset;
        out.push(index.encode_sealed(last.segment, end, first));
    }
    // Segments the engine skipped past hold no event (a rotation for a
    // frame larger than the segment's limit): each is its header alone.
    for empty in last_segment + 1..next_segment {
        let len = next_loc(None, empty, index.len(), 0).offset;
        out.push(index.encode_sealed(empty, len, index.len()));
    }
    out
}

/// The segment of the index's last event (or its last sealed segment).
fn last_segment(index: &Index) -> Option<u32> {
    let in_memory = index.entries.tail().last().map(|e| e.segment);
    in_memory.or_else(|| index.entries.tables().last().map(|t| t.segment))
}

/// Moves the entries of each sealed index written to its file (those not
/// written stay in memory, and their segments are scanned at a crash-open).
fn spill_written(index: &mut Index, written: &[SealedFile]) {
    for file in written {
        let table = file.table();
        if index.entries.spill(table) {
            // Its keys are read from the file too from now on.
            index
                .keys
                .seal(&(table.first..table.first + table.count), table.segment);
        }
    }
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
    pub(super) fn before_frame(&mut self, index: &mut Index, loc: Loc) {
        self.scanned += 1;
        self.seal_before(index, loc.segment);
    }

    /// After the scan: seals the segments before `segments`, the number of
    /// segments the log now has (the last one stays open).
    pub(super) fn finish(&mut self, index: &mut Index, segments: u32) {
        self.seal_before(index, segments);
    }

    /// Seals the segments before `next_segment` that the index holds in
    /// memory: before a sealed index is loaded after them (the last segment
    /// of a checkpoint, scanned to its end).
    pub(super) fn seal_before(&mut self, index: &mut Index, next_segment: u32) {
        if !self.writes {
            return;
        }
        let mut written = Vec::new();
        for file in sealed_before(index, next_segment) {
            if file.segment > self.loaded_through
                && write_sealed_index_in(self.fs, self.dir, file.segment, &file.bytes).is_ok()
            {
                self.written += 1;
                written.push(file);
            }
        }
        spill_written(index, &written);
    }
}

/// What [`Core::check_sealed_before`] found.
#[derive(Debug, Default)]
pub(super) struct SealedCheck {
    /// Stored sealed indexes that differed from the log's (each written
    /// anew when the store is writable).
    pub(super) differed: u64,
    /// The first position of a differing segment whose entries the live
    /// index was reading from its file.
    pub(super) live_index_read_it: Option<u64>,
}

impl Core {
    /// During `verify`'s scan, before the frame of `next_segment` is
    /// applied to `fresh` (the index rebuilt from the log so far): compares
    /// the stored sealed index of each segment the scan moved past with the
    /// one `fresh` gives, and writes the right one over a missing or
    /// different file (under the writer mutex, so never beside a rotation's
    /// own write, and only when writable). Says how many differed, and
    /// whether the live index read one of them.
    pub(super) fn check_sealed_before(&self, fresh: &mut Index, next_segment: u32) -> SealedCheck {
        let mut check = SealedCheck::default();
        if !self.engine.seals() {
            return check;
        }
        let mut right = Vec::new();
        for want in sealed_before(fresh, next_segment) {
            let matches = || {
                let stored = self.engine.read_sealed_index(want.segment).ok().flatten();
                stored.as_deref() == Some(&want.bytes[..])
            };
            if matches() {
                right.push(want);
                continue;
            }
            // The sealer may not have written it yet: with the writer's
            // mutex held nothing new is queued (nor written beside this),
            // and once the queue is done the file is what it will be.
            let _writer = lock(&self.writer);
            self.wait_for_seals();
            if matches() {
                right.push(want);
                continue;
            }
            check.differed += 1;
            // The live index reads this segment's entries from the file (and
            // built its streams from it): the index is what is wrong.
            let live = read_lock(&self.index)
                .entries
                .tables()
                .iter()
                .any(|t| t.segment == want.segment);
            if live {
                check.live_index_read_it.get_or_insert(want.first);
            }
            if self.writable && !self.poisoned.load(Ordering::SeqCst) {
                // Best effort: a wrong file left behind is refused or
                // caught again, never trusted more than the log.
                let written = self.engine.write_sealed_index(want.segment, &want.bytes);
                // Handles and pages of the file replaced are stale now.
                if let Some(files) = &self.table_files {
                    files.forget(want.segment);
                }
                if written.is_ok() {
                    right.push(want);
                }
            }
        }
        // The rebuilt index reads its entries from the files now right.
        spill_written(fresh, &right);
        check
    }

    /// On the append path, after the engine placed the call's first event
    /// in `segment` and before the index records the call: seals the
    /// segments the engine rotated past. Their sealed indexes are encoded
    /// here, from the index as it stands, and written by the sealer thread
    /// (`sealer.rs`) unless a checkpoint is due at this rotation: that
    /// one waits for every file, as it names them.
    pub(super) fn seal_segments_before(&self, segment: u32) {
        if self.index_disagreed.load(Ordering::SeqCst) {
            return;
        }
        let sealed = {
            let index = read_lock(&self.index);
            match last_segment(&index) {
                Some(last) if segment > last => sealed_before(&index, segment),
                _ => return,
            }
        };
        match self.checkpoint_due(segment) {
            Some(extent) => {
                self.wait_for_seals();
                self.write_sealed(sealed);
                self.checkpoint_at_rotation(segment, &extent);
            }
            None => self.seal_in_background(sealed),
        }
    }

    /// Writes sealed index files and takes the entries of those written out
    /// of memory. Best effort: a segment without its sealed index is
    /// scanned at a crash-open, and its entries stay in memory.
    pub(super) fn write_sealed(&self, files: Vec<SealedFile>) {
        // Never from an index seen disagreeing with the log (it may have
        // been seen since the files were encoded).
        if self.index_disagreed.load(Ordering::SeqCst) {
            return;
        }
        let written: Vec<SealedFile> = files
            .into_iter()
            .filter(|file| {
                self.engine
                    .write_sealed_index(file.segment, &file.bytes)
                    .is_ok()
            })
            .collect();
        spill_written(&mut write_lock(&self.index), &written);
    }

    /// At the rotation into `segment`: the extent of the log a checkpoint
    /// would cover (every segment before `segment`, and `segment` up to
    /// where its first frame starts), when one is due: the segments sealed
    /// since the latest checkpoint hold `checkpoint_every_bytes` of log.
    fn checkpoint_due(&self, segment: u32) -> Option<Vec<u64>> {
        // Never more often than every `CHECKPOINT_WRITE_RATIO` times what
        // the last one wrote: the files a checkpoint rewrites grow with
        // history, the log it covers does not.
        let last = self.checkpoint_bytes.load(Ordering::SeqCst);
        let every = match self.config.checkpoint_every_bytes {
            0 => 0,
            every => every.max(last.saturating_mul(CHECKPOINT_WRITE_RATIO)),
        };
        let since = self.checkpointed_before.load(Ordering::SeqCst);
        let mut extent = self.engine.extent();
        let from = usize::try_from(since.saturating_sub(1)).unwrap_or(usize::MAX);
        let to = usize::try_from(segment.saturating_sub(1)).unwrap_or(usize::MAX);
        let grown: u64 = extent.get(from..to).map_or(0, |lens| lens.iter().sum());
        if every == 0 || !self.writable || !self.engine.seals() || grown < every {
            return None;
        }
        extent.truncate(to);
        extent.push(next_loc(None, segment, 0, 0).offset);
        Some(extent)
    }

    /// After the rotation into `segment` sealed the segments before it:
    /// writes a checkpoint of the index as it stands (it covers `extent`,
    /// from [`Core::checkpoint_due`]) and takes the positions it filed out
    /// of memory. Best effort, as sealing is: a failure leaves no
    /// checkpoint that could mislead (the old one is removed before the
    /// positions file it names is replaced) and the positions in memory.
    fn checkpoint_at_rotation(&self, segment: u32, extent: &[u64]) {
        if self.index_disagreed.load(Ordering::SeqCst) {
            return;
        }
        let written = {
            let index = read_lock(&self.index);
            self.write_checkpoint(&index, extent)
        };
        let Ok(filing) = written else {
            return;
        };
        let adopted = write_lock(&self.index).adopt_filing(filing, &*self.fs, &self.config.dir);
        self.checkpoints_at_rotation.fetch_add(1, Ordering::SeqCst);
        if adopted {
            self.positions_in_place.store(true, Ordering::SeqCst);
            self.checkpointed_before.store(segment, Ordering::SeqCst);
        }
    }
}
