//! The files of sealed segment indexes: finding and offering them at open,
//! and writing them. What they hold, and whether one is used, is the core's
//! business (`core/index/sealed.rs`); this file only knows their names.

use std::path::Path;

use super::format::{sealed_index_file_name, segment_file_name};
use crate::store::engine::{NextLoc, SealedVisitor};
use crate::store::error::StoreError;
use crate::store::fs::{FileSystem, replace_atomically};

/// Offers the sealed index of each full segment, in order from the first,
/// to `try_sealed`; stops at the first segment without one, with one that
/// does not read, or with one refused. Returns the length and event count of
/// each segment indexed so (none of them is read). `next_loc` is the
/// engine's rule for where frames lie, passed on to `try_sealed`. Each file
/// is read into `buf`, one allocation for them all (a fresh one per file
/// would be freed memory the allocator keeps).
pub(super) fn load_sealed_prefix(
    fs: &dyn FileSystem,
    dir: &Path,
    numbers: &[u32],
    next_loc: NextLoc,
    try_sealed: &mut SealedVisitor<'_>,
    buf: &mut Vec<u8>,
) -> Result<Vec<(u64, u64)>, StoreError> {
    let mut loaded = Vec::new();
    // The last segment is the active one: it is always scanned.
    let full = numbers.len().saturating_sub(1);
    for (i, &n) in numbers.iter().enumerate().take(full) {
        if u32::try_from(i + 1).ok() != Some(n) {
            break;
        }
        if fs
            .read_into(&dir.join(sealed_index_file_name(n)), buf)
            .is_err()
        {
            break;
        }
        let path = dir.join(segment_file_name(n));
        let len = fs
            .len(&path)
            .map_err(|e| StoreError::io("stat", &path, e))?;
        match try_sealed(n, len, buf, next_loc) {
            Some(events) => loaded.push((len, events)),
            None => break,
        }
    }
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
