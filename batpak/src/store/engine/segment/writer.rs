//! The active segment: buffered appends, rotation and durable creation.
//!
//! Invariants: bytes reach the file only in frame order; `pending` holds
//! frames not yet handed to the OS and always continues the log exactly at
//! `os_len`; a new segment is created, its header written, the file synced
//! and the directory synced before any frame goes into it; a segment is
//! synced completely, and cut to its last frame, before the next one
//! becomes active, so syncing the active file is enough to make everything
//! appended durable.
//!
//! Space is reserved ahead: the file is extended with zeros (`set_len`, a
//! sparse extension) [`RESERVE_STEP`] bytes at a time, and frames are
//! written into it at their offsets. So most fdatasyncs write data only,
//! not a new file size (a sync that grows the file also commits its
//! metadata: measured on ext4, appends with a sync each ran ~1.5x faster
//! into reserved space, TUNING.md). Recovery reads the zeros after the
//! last frame as space never written (`recovery.rs`); a clean close and a
//! rotation give the reserve back, so only a crashed store's last segment
//! ends in zeros.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::format::{
    FORMAT_VERSION, SEGMENT_HEADER_LEN, SegmentHeader, decode_segment_header, push_frame,
    segment_file_name,
};
use crate::store::error::{Place, StoreError};
use crate::store::fs::{FileSystem, FsFile};

/// Pending bytes above which an append hands the buffer to the OS.
pub(crate) const FLUSH_THRESHOLD: usize = 256 * 1024;

/// Bytes the active segment's file is extended by when a write would run
/// past it. One growth, and its metadata commit, per ~4,000 events of ~250
/// bytes.
pub(crate) const RESERVE_STEP: u64 = 1 << 20;

/// How the active segment reserves space: [`RESERVE_STEP`] at a time, never
/// past the segment size (a store of small segments reserves little, and no
/// file grows past `segment_max_bytes` but by a frame that needs it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reserve {
    step: u64,
    up_to: u64,
}

impl Reserve {
    /// The reserve of segments of `segment_max` bytes.
    pub(crate) fn for_segments(segment_max: u64) -> Self {
        Self {
            step: RESERVE_STEP,
            up_to: segment_max,
        }
    }

    /// The file length to reserve for a log that must reach `end`.
    fn len_for(self, end: u64) -> u64 {
        end.saturating_add(self.step).min(self.up_to).max(end)
    }
}

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) segment: u32,
    pub(crate) file: Arc<dyn FsFile>,
    pub(crate) path: PathBuf,
    /// Bytes of the log the OS holds (header included): where the next
    /// frame handed over is written.
    pub(crate) os_len: u64,
    /// The file's length: `os_len`, then zeros reserved for what follows.
    pub(crate) reserved: u64,
    /// How the file grows when a write would pass `reserved`.
    pub(crate) reserve: Reserve,
    /// Frames written here but not yet handed to the OS.
    pub(crate) pending: Vec<u8>,
    /// Frames in this segment (written or pending).
    pub(crate) frames: u64,
    /// Largest body this segment's header allows (recovery rejects longer).
    pub(crate) max_body_len: u32,
}

impl Active {
    /// Offset the next frame will start at.
    pub(crate) fn end(&self) -> u64 {
        self.os_len + self.pending.len() as u64
    }

    /// Appends a frame to the buffer; returns its offset.
    pub(crate) fn push(&mut self, body: &[u8]) -> u64 {
        let offset = self.end();
        push_frame(&mut self.pending, body);
        self.frames += 1;
        offset
    }

    /// Hands the buffer to the OS, at its offset in the reserved space
    /// (reserving more first when it would run past it).
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let end = self.end();
        if end > self.reserved {
            let len = self.reserve.len_for(end);
            self.file
                .set_len(len)
                .map_err(|e| StoreError::io("reserve space in", &self.path, e))?;
            self.reserved = len;
        }
        self.file
            .write_at(&self.pending, self.os_len)
            .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.os_len = end;
        self.pending.clear();
        Ok(())
    }

    /// Gives the reserved space back: the file ends at its last frame again
    /// (durably), as a sealed segment or a cleanly closed store's must.
    pub(crate) fn give_back_reserve(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        if self.reserved == self.os_len {
            return Ok(());
        }
        self.file
            .set_len(self.os_len)
            .and_then(|()| self.file.sync_all())
            .map_err(|e| StoreError::io("cut the reserve of", &self.path, e))?;
        self.reserved = self.os_len;
        Ok(())
    }

    /// Flushes and fdatasyncs this segment.
    pub(crate) fn sync(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.file
            .sync_data()
            .map_err(|e| StoreError::io("fdatasync", &self.path, e))
    }
}

/// fsyncs a directory, so a created, renamed or removed entry is durable.
pub(crate) fn sync_dir(fs: &dyn FileSystem, dir: &Path) -> Result<(), StoreError> {
    fs.sync_dir(dir)
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}

/// Creates segment `segment` durably: create, write header, fsync file,
/// fsync directory. Refuses to overwrite an existing file.
pub(crate) fn create_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    segment: u32,
    first_position: u64,
    max_body_len: u32,
    reserve: Reserve,
) -> Result<Active, StoreError> {
    let path = dir.join(segment_file_name(segment));
    let file = fs
        .create_new(&path)
        .map_err(|e| StoreError::io("create segment", &path, e))?;
    let header = SegmentHeader {
        version: FORMAT_VERSION,
        segment,
        first_position,
        max_body_len,
    }
    .encode();
    file.write_at(&header, 0)
        .map_err(|e| StoreError::io("write", &path, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &path, e))?;
    sync_dir(fs, dir)?;
    Ok(Active {
        segment,
        file,
        path,
        os_len: header.len() as u64,
        reserved: header.len() as u64,
        reserve,
        pending: Vec::with_capacity(FLUSH_THRESHOLD + 64 * 1024),
        frames: 0,
        max_body_len,
    })
}

/// Opens an existing segment for appending at `len` (already cut to its
/// valid end by recovery). Its header is re-read for its frame limit.
pub(crate) fn reopen_segment(
    fs: &dyn FileSystem,
    path: PathBuf,
    segment: u32,
    len: u64,
    frames: u64,
    reserve: Reserve,
) -> Result<Active, StoreError> {
    let file = fs
        .open_write(&path)
        .map_err(|e| StoreError::io("open segment", &path, e))?;
    let mut header = [0u8; SEGMENT_HEADER_LEN];
    file.read_at(&mut header, 0)
        .map_err(|e| StoreError::io("read", &path, e))?;
    let max_body_len = decode_segment_header(&header)
        .map_err(|_| StoreError::corrupt(Place::segment(segment, 0), "segment header damaged"))?
        .max_body_len;
    Ok(Active {
        segment,
        file,
        path,
        os_len: len,
        reserved: len,
        reserve,
        pending: Vec::with_capacity(FLUSH_THRESHOLD + 64 * 1024),
        frames,
        max_body_len,
    })
}
