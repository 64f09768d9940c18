//! The files of sealed segment indexes: finding and offering them at open,
//! and writing them. What they hold, and whether one is used, is the core's
//! business (`core/index/sealed.rs`); this file only knows their names.

use std::path::Path;

use super::format::{sealed_index_file_name, segment_file_name};
use crate::store::engine::{NextLoc, SealedVisitor};
use crate::store::error::StoreError;
use crate::store::fs::{FileSystem, replace_atomically};

/// Offers the sealed index of each full segment, in order from the one
/// after the first `done` (already indexed), to `try_sealed`; stops at the
/// first segment without one, with one that
/// does not read, or with one refused. Returns the length and event count of
/// each segment indexed so (none of them is read). `next_loc` is the
/// engine's rule for where frames lie, passed on to `try_sealed`.
///
/// While one file is offered, a helper thread reads the next into a second
/// buffer: reading is about a quarter of a crash open (when no thread can
/// be started, the next file is read after, as before). Every file operation
/// still happens in one order (the lengths first, then each file in turn),
/// so a file system that fails the N-th operation fails the same one each
/// run. The two buffers serve every file (a fresh one per file would be
/// freed memory the allocator keeps); `buf` is left holding one of them.
pub(super) fn load_sealed_prefix(
    fs: &dyn FileSystem,
    dir: &Path,
    numbers: &[u32],
    done: usize,
    next_loc: NextLoc,
    try_sealed: &mut SealedVisitor<'_>,
    buf: &mut Vec<u8>,
) -> Result<Vec<(u64, u64)>, StoreError> {
    // The last segment is the active one: it is always scanned. The full
    // ones are numbered from 1 without a gap (a gap is the scan's to report).
    let full = numbers.len().saturating_sub(1);
    let mut segments = Vec::with_capacity(full);
    for (i, &n) in numbers.iter().enumerate().take(full).skip(done) {
        if u32::try_from(i + 1).ok() != Some(n) {
            break;
        }
        let path = dir.join(segment_file_name(n));
        let len = fs
            .len(&path)
            .map_err(|e| StoreError::io("stat", &path, e))?;
        segments.push((n, len));
    }
    let read = |n: u32, mut into: Vec<u8>| {
        let read = fs.read_into(&dir.join(sealed_index_file_name(n)), &mut into);
        (read.is_ok(), into)
    };
    let mut loaded = Vec::new();
    std::thread::scope(|scope| {
        let mut spare = Vec::new();
        let mut current = segments.first().map(|&(n, _)| read(n, std::mem::take(buf)));
        for (i, &(n, len)) in segments.iter().enumerate() {
            let Some((ok, bytes)) = current.take() else {
                break;
            };
            let ahead = segments.get(i + 1).filter(|_| ok).map(|&(next, _)| {
                let into = std::mem::take(&mut spare);
                std::thread::Builder::new()
                    .name("batpak-open".to_owned())
                    .spawn_scoped(scope, move || read(next, into))
                    .map_err(|_| next)
            });
            let accepted = ok.then(|| try_sealed(n, len, &bytes, next_loc)).flatten();
            spare = bytes;
            current = match ahead {
                Some(Ok(helper)) => helper.join().ok(),
                // No thread to be had: the next file is read here instead.
                Some(Err(next)) => Some(read(next, std::mem::take(&mut spare))),
                None => None,
            };
            match accepted {
                Some(events) => loaded.push((len, events)),
                None => break,
            }
        }
        // Keep the larger buffer for the caller's scan.
        let left = current.map(|(_, bytes)| bytes).unwrap_or_default();
        *buf = if left.capacity() > spare.capacity() {
            left
        } else {
            spare
        };
    });
    Ok(loaded)
}

/// Durably writes segment `segment`'s sealed index (temp file, fsync,
/// rename, directory fsync).
pub(crate) fn write_sealed_index_in(
    fs: &dyn FileSystem,
    dir: &Path,
    segment: u32,
    bytes: &[u8],
) -> Result<(), StoreError> {
    replace_atomically(fs, &dir.join(sealed_index_file_name(segment)), bytes)
}
