//! Positional reads of frames from segment files.
//!
//! Readers never move a file cursor (`read_exact_at`), so they run
//! concurrently with each other and with the writer. Every frame read is
//! checked (length and CRC) before its body is handed out: a damaged frame
//! is an error, never a wrong event.

use super::format::{FRAME_PREFIX_LEN, FrameCheck, check_frame, frame_body};
use crate::store::engine::Loc;
use crate::store::error::{Place, StoreError};
use crate::store::fs::FsFile;

/// Total bytes of the frame at `loc` (prefix + body).
pub(crate) fn frame_len(loc: Loc) -> u64 {
    FRAME_PREFIX_LEN as u64 + u64::from(loc.len)
}

/// Checks that `frame` (exactly one frame's bytes) is the frame `loc` says.
pub(crate) fn checked_body(frame: &[u8], loc: Loc) -> Result<&[u8], StoreError> {
    match check_frame(frame, loc.len) {
        FrameCheck::Valid { body_len } if body_len == loc.len => Ok(frame_body(frame)),
        _ => Err(StoreError::corrupt(
            Place::segment(loc.segment, loc.offset),
            "frame does not match the index (length or checksum)",
        )),
    }
}

/// Reads `len` bytes at `offset` of `file` into `buf` (resized).
pub(crate) fn read_at(
    file: &dyn FsFile,
    segment: u32,
    offset: u64,
    len: usize,
    buf: &mut Vec<u8>,
) -> Result<(), StoreError> {
    // No clear: the read overwrites all `len` bytes, so only growth is zeroed.
    buf.resize(len, 0);
    file.read_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            StoreError::corrupt(
                Place::segment(segment, offset),
                "frame runs past the end of the segment",
            )
        } else {
            StoreError::io("read", format!("segment {segment}"), e)
        }
    })
}
