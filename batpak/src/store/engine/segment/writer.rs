//! The active segment: buffered appends, rotation and durable creation.
//!
//! Invariants: bytes reach the file only in frame order; `pending` holds
//! frames not yet handed to the OS and always continues the file exactly at
//! `os_len`; a new segment is created, its header written, the file synced
//! and the directory synced before any frame goes into it; a segment is
//! synced completely before the next one becomes active, so syncing the
//! active file is enough to make everything appended durable.

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

/// The segment being appended to.
#[derive(Debug)]
pub(crate) struct Active {
    pub(crate) segment: u32,
    pub(crate) file: Arc<dyn FsFile>,
    pub(crate) path: PathBuf,
    /// Bytes of the file the OS holds (header included).
    pub(crate) os_len: u64,
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

    /// Hands the buffer to the OS.
    pub(crate) fn flush(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.file
            .append(&self.pending)
            .map_err(|e| StoreError::io("write", &self.path, e))?;
        self.os_len += self.pending.len() as u64;
        self.pending.clear();
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
    file.append(&header)
        .map_err(|e| StoreError::io("write", &path, e))?;
    file.sync_all()
        .map_err(|e| StoreError::io("fsync", &path, e))?;
    sync_dir(fs, dir)?;
    Ok(Active {
        segment,
        file,
        path,
        os_len: header.len() as u64,
        pending: Vec::with_capacity(FLUSH_THRESHOLD + 64 * 1024),
        frames: 0,
        max_body_len,
    })
}

/// Opens an existing segment for appending at `len` (already truncated to
/// its valid end by recovery). Its header is re-read for its frame limit.
pub(crate) fn reopen_segment(
    fs: &dyn FileSystem,
    path: PathBuf,
    segment: u32,
    len: u64,
    frames: u64,
) -> Result<Active, StoreError> {
    let file = fs
        .open_append(&path)
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
        pending: Vec::with_capacity(FLUSH_THRESHOLD + 64 * 1024),
        frames,
        max_body_len,
    })
}
