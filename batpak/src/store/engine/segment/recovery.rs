//! Scanning a segment's bytes at open (and for `verify`): which frames are
//! whole, where a torn tail begins, and what is real damage.
//!
//! Rules (FORMAT.md, "Recovery"): only the last segment may have a torn
//! tail, and only when no valid frame follows the first bad byte; an
//! incomplete batch at the tail is cut whole, so a batch is all or nothing.
//! Anything else is [`StoreError::Corrupt`] naming segment and offset. This
//! module only reads; the caller applies the cut.

use super::format::{
    FRAME_PREFIX_LEN, FrameCheck, HeaderProblem, SEGMENT_HEADER_LEN, SegmentHeader, check_frame,
    decode_segment_header,
};
use crate::store::engine::body::split_body;
use crate::store::error::{Place, StoreError};

/// One complete frame found by a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FoundFrame {
    pub(crate) offset: u64,
    pub(crate) body_len: u32,
}

/// What a segment holds.
#[derive(Debug)]
pub(crate) enum SegmentScan {
    /// The header itself is torn (last segment only, nothing valid after it):
    /// the file holds no event and can be removed.
    TornHeader,
    /// A readable segment.
    Frames {
        header: SegmentHeader,
        frames: Vec<FoundFrame>,
        /// Where good data ends; bytes beyond are a torn tail to cut.
        valid_end: u64,
    },
}

fn describe(check: FrameCheck) -> String {
    match check {
        FrameCheck::Valid { .. } => "valid frame".to_owned(),
        FrameCheck::ShortPrefix => "frame prefix cut short".to_owned(),
        FrameCheck::ZeroLength => "frame length is zero".to_owned(),
        FrameCheck::TooLong(len) => format!("frame length {len} exceeds the segment maximum"),
        FrameCheck::PastEnd(len) => format!("frame length {len} runs past the end of the file"),
        FrameCheck::BadCrc => "frame checksum mismatch".to_owned(),
    }
}

/// First offset at or after `from` where a valid frame starts, if any.
fn valid_frame_after(bytes: &[u8], from: usize, max_body_len: u32) -> Option<usize> {
    (from..bytes.len()).find(|&p| {
        matches!(
            check_frame(&bytes[p..], max_body_len),
            FrameCheck::Valid { .. }
        )
    })
}

/// Scans one segment file's bytes. `is_last` allows a torn tail.
///
/// With `repair` (last segment only), damage followed by valid frames is cut
/// like a torn tail instead of being an error.
pub(crate) fn scan_segment(
    bytes: &[u8],
    segment: u32,
    is_last: bool,
    repair: bool,
) -> Result<SegmentScan, StoreError> {
    let header = match decode_segment_header(bytes) {
        Ok(header) => header,
        Err(HeaderProblem::Newer(found)) => {
            return Err(StoreError::UnsupportedFormat {
                found,
                supported: super::format::FORMAT_VERSION,
            });
        }
        Err(problem) => {
            // A header torn while the segment was being created holds no
            // event; anything valid after it means real damage.
            let after = valid_frame_after(bytes, SEGMENT_HEADER_LEN.min(bytes.len()), u32::MAX);
            if is_last && after.is_none() {
                return Ok(SegmentScan::TornHeader);
            }
            let reason = match problem {
                HeaderProblem::Short => "segment header cut short",
                HeaderProblem::Damaged(why) => why,
                HeaderProblem::Newer(_) => "newer format",
            };
            return Err(StoreError::corrupt(Place::segment(segment, 0), reason));
        }
    };
    if header.segment != segment {
        return Err(StoreError::corrupt(
            Place::segment(segment, 0),
            format!("segment header names segment {}", header.segment),
        ));
    }
    let mut frames: Vec<FoundFrame> = Vec::new();
    let mut offset = SEGMENT_HEADER_LEN;
    // Index in `frames` of the open batch's first frame, and frames still due.
    let mut batch_start = 0usize;
    let mut batch_due = 0u32;
    let mut bad: Option<(usize, String)> = None;
    while offset < bytes.len() {
        let check = check_frame(&bytes[offset..], header.max_body_len);
        let FrameCheck::Valid { body_len } = check else {
            bad = Some((offset, describe(check)));
            break;
        };
        let body_start = offset + FRAME_PREFIX_LEN;
        let body_end = body_start + body_len as usize;
        let Some(parts) = split_body(&bytes[body_start..body_end]) else {
            return Err(StoreError::corrupt(
                Place::segment(segment, offset as u64),
                "frame body has an impossible header length",
            ));
        };
        if batch_due > 0 {
            if parts.batch_rest != batch_due - 1 {
                return Err(StoreError::corrupt(
                    Place::segment(segment, offset as u64),
                    "batch frame count does not continue the batch",
                ));
            }
        } else {
            batch_start = frames.len();
        }
        batch_due = parts.batch_rest;
        frames.push(FoundFrame {
            offset: offset as u64,
            body_len,
        });
        offset = body_end;
    }
    let (cut_at, reason) = match bad {
        Some((at, reason)) => (Some(at), reason),
        None if batch_due > 0 => (None, "batch cut short at end of segment".to_owned()),
        None => {
            return Ok(SegmentScan::Frames {
                header,
                frames,
                valid_end: bytes.len() as u64,
            });
        }
    };
    let first_bad = cut_at.unwrap_or(bytes.len());
    if !is_last {
        let at = if batch_due > 0 {
            frames
                .get(batch_start)
                .map_or(first_bad as u64, |f| f.offset)
        } else {
            first_bad as u64
        };
        return Err(StoreError::corrupt(Place::segment(segment, at), reason));
    }
    if let Some(at) = cut_at
        && !repair
        && let Some(valid) = valid_frame_after(bytes, at + 1, header.max_body_len)
    {
        return Err(StoreError::corrupt(
            Place::segment(segment, at as u64),
            format!("{reason}, but a valid frame follows at offset {valid}"),
        ));
    }
    // Torn tail: keep every complete batch, cut from the open batch (if any).
    let valid_end = if batch_due > 0 {
        let start = frames
            .get(batch_start)
            .map_or(first_bad as u64, |f| f.offset);
        frames.truncate(batch_start);
        start
    } else {
        first_bad as u64
    };
    Ok(SegmentScan::Frames {
        header,
        frames,
        valid_end,
    })
}
