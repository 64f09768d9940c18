//! Scanning a segment's bytes at open (and for `verify`): which frames are
//! whole, where a torn tail begins, and what is real damage.
//!
//! Rules (FORMAT.md, "Recovery"): only the last segment may have a torn
//! tail, and only when no valid frame follows the first bad byte; an
//! incomplete batch at the tail is cut whole, so a batch is all or nothing.
//! Anything else is [`StoreError::Corrupt`] naming segment and offset. This
//! module only reads; the caller applies the cut.

use super::crc_range::RangeCrc;
use super::format::{
    FRAME_PREFIX_LEN, FrameCheck, HeaderProblem, SEGMENT_HEADER_LEN, SegmentHeader, check_frame,
    decode_segment_header, frame_prefix, length_field, max_body_len,
};
use crate::store::config::MAX_PAYLOAD_CAP;
use crate::store::engine::body::{BODY_PREFIX_LEN, header_event_id, split_body};
use crate::store::error::{Place, StoreError};

/// Where a frame's encoded event header begins.
const HEADER_IN_FRAME: usize = FRAME_PREFIX_LEN + BODY_PREFIX_LEN;

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
        /// How many of the bytes past `valid_end` are the zeros that end
        /// the file, after where the scan stopped: space reserved ahead of
        /// appends, never written. Cut with the tail, but no torn data.
        unwritten: u64,
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

/// First offset at or after `from` where a valid frame starts, if any: a
/// frame the store could have written (FORMAT.md, "Recovery", rule 2).
///
/// Work is linear in `n = bytes.len() - from`. Each offset is first checked
/// without a CRC ([`is_frame_at`]); only an offset that passes (a
/// candidate) is CRC'd, through one [`RangeCrc`] over the searched bytes,
/// whose marks hash each byte at most once however many candidates overlap
/// it. A candidate then costs at most 512 bytes hashed directly and 35
/// multiplications mod the CRC polynomial. Bytes that hold no encoded event
/// header yield no candidate, so the common tails (a torn frame of any
/// size, zeros, garbage) are read once and hashed not at all; a tail
/// crafted to hold the header's first bytes at every possible offset (at
/// most one in 3) stays linear, at about a microsecond per candidate.
fn valid_frame_after(bytes: &[u8], from: usize, max_body_len: u32) -> Option<usize> {
    let tail = bytes.get(from..)?;
    let mut crcs = RangeCrc::new(tail);
    (0..tail.len())
        .find(|&at| is_frame_at(tail, at, max_body_len, &mut crcs))
        .map(|at| from + at)
}

/// Whether a valid frame starts at `at` of `tail`. Rejects before any CRC
/// unless the header starts with the bytes every encoded event header
/// starts with (`header_event_id`; checked first, as the rarest), the
/// length is possible ([`frame_prefix`]) and the body prefix's header
/// length fits the body.
fn is_frame_at(tail: &[u8], at: usize, max_body_len: u32, crcs: &mut RangeCrc<'_>) -> bool {
    let frame = &tail[at..];
    if frame
        .get(HEADER_IN_FRAME..)
        .and_then(header_event_id)
        .is_none()
    {
        return false;
    }
    let Ok(prefix) = frame_prefix(frame, max_body_len) else {
        return false;
    };
    let body = &frame[FRAME_PREFIX_LEN..prefix.frame_len()];
    // The header, now bounded by its length `H`, must still hold an id.
    if split_body(body)
        .and_then(|parts| header_event_id(parts.header))
        .is_none()
    {
        return false;
    }
    let body_range = at + FRAME_PREFIX_LEN..at + prefix.frame_len();
    crcs.frame_crc(length_field(frame), body_range) == prefix.crc
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
        Err(HeaderProblem::Unsupported(found)) => {
            return Err(StoreError::UnsupportedFormat {
                found,
                supported: super::format::FORMAT_VERSION,
            });
        }
        Err(problem) => {
            // A header torn while the segment was being created holds no
            // event; anything valid after it means real damage.
            // The header's own limit is unreadable: use the largest any
            // segment may declare.
            let limit = max_body_len(MAX_PAYLOAD_CAP);
            let after = valid_frame_after(bytes, SEGMENT_HEADER_LEN.min(bytes.len()), limit);
            if is_last && after.is_none() {
                return Ok(SegmentScan::TornHeader);
            }
            let reason = match problem {
                HeaderProblem::Short => "segment header cut short",
                HeaderProblem::Damaged(why) => why,
                HeaderProblem::Unsupported(_) => "unsupported format version",
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
                unwritten: 0,
            });
        }
    };
    let first_bad = cut_at.unwrap_or(bytes.len());
    // The zeros that end the file, from where the scan stopped at the
    // earliest: never written (a torn frame's own trailing zero bytes, if
    // it had any, are counted with them).
    let written_end = bytes[first_bad..]
        .iter()
        .rposition(|&b| b != 0)
        .map_or(first_bad, |i| first_bad + i + 1);
    let unwritten = (bytes.len() - written_end) as u64;
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
        unwritten,
    })
}

#[cfg(test)]
mod tests {
    //! The fast search against its definition: the first offset where
    //! `check_frame` passes and the body has an event header's shape.

    use super::*;
    use crate::store::engine::body::write_body_prefix;
    use crate::store::engine::segment::format::push_frame;

    /// A body with a well-formed prefix and header start, `len` bytes.
    fn body(len: usize, fill: u8) -> Vec<u8> {
        let mut body = vec![fill; len];
        let header_len = 19.min(len - BODY_PREFIX_LEN);
        write_body_prefix(&mut body, u32::try_from(header_len).unwrap_or(0), 0);
        body[BODY_PREFIX_LEN..BODY_PREFIX_LEN + 3].copy_from_slice(&[0x9b, 0xc4, 0x10]);
        body
    }

    fn naive(bytes: &[u8], from: usize, max: u32) -> Option<usize> {
        (from..bytes.len()).find(|&p| {
            let FrameCheck::Valid { body_len } = check_frame(&bytes[p..], max) else {
                return false;
            };
            let body = &bytes[p + FRAME_PREFIX_LEN..p + FRAME_PREFIX_LEN + body_len as usize];
            split_body(body).is_some_and(|parts| header_event_id(parts.header).is_some())
        })
    }

    #[test]
    fn search_finds_the_first_valid_frame_as_the_definition_does() {
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..300 {
            // Frames of mixed sizes (some longer than two CRC marks), some
            // nested inside another frame's body, then damage.
            let mut bytes = Vec::new();
            for _ in 0..1 + next() % 4 {
                let len = 27 + (next() % 1500) as usize;
                let mut b = body(len, next() as u8);
                if next() % 3 == 0 && len > 300 {
                    let mut inner = Vec::new();
                    push_frame(&mut inner, &body(40 + (next() % 100) as usize, 7));
                    let at = 30 + (next() % 50) as usize;
                    b[at..at + inner.len()].copy_from_slice(&inner);
                }
                push_frame(&mut bytes, &b);
            }
            for _ in 0..next() % 4 {
                let i = (next() as usize) % bytes.len();
                bytes[i] ^= 1 << (next() % 8);
            }
            let cut = bytes.len() - (next() as usize % (bytes.len() / 2 + 1));
            bytes.truncate(cut);
            let from = (next() as usize) % bytes.len();
            for max in [64, 2048, u32::MAX] {
                assert_eq!(
                    valid_frame_after(&bytes, from, max),
                    naive(&bytes, from, max),
                    "round {round} from {from} max {max}"
                );
            }
        }
    }

    #[test]
    fn a_tail_of_fake_frame_headers_is_searched_without_rehashing_it() {
        // Every 40 bytes a prefix claiming a body to the end of the tail and
        // a well-formed header start, but a wrong CRC: each is a candidate.
        // A CRC per candidate would hash ~n²/80 bytes (14 GB here).
        let n = 1 << 20;
        let mut tail = vec![0u8; n];
        for at in (0..n - 64).step_by(40) {
            let len = u32::try_from(n - at - FRAME_PREFIX_LEN).unwrap_or(0);
            tail[at..at + 4].copy_from_slice(&len.to_le_bytes());
            tail[at + 4..at + 8].copy_from_slice(&[1, 2, 3, 4]);
            let b = body(27, 0);
            tail[at + 8..at + 8 + 11].copy_from_slice(&b[..11]);
        }
        assert_eq!(valid_frame_after(&tail, 0, u32::MAX), None);
        assert_eq!(naive(&tail[n - 4000..], 0, u32::MAX), None);
    }
}
