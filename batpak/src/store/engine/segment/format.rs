//! The byte layout of segment files, exactly as `batpak/FORMAT.md` specifies.
//!
//! Offsets are named constants derived from field sizes; nothing else in the
//! crate hard-codes a layout number. Decoding never allocates from a length
//! read off disk before checking it against the bytes actually present and
//! the segment's declared maximum frame length. The body inside a frame is
//! the engine-independent layout of `engine/body.rs`.

use crate::store::config::MAX_PAYLOAD_CAP;
use crate::store::engine::body::{BODY_PREFIX_LEN, MAX_HEADER_BYTES};

/// First bytes of every segment file.
pub(crate) const MAGIC: [u8; 8] = *b"BATPAKSG";
/// Format version written by this build (and the newest it reads).
pub(crate) const FORMAT_VERSION: u16 = 2;

// Segment header fields, in order.
const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + 8;
const FLAGS_AT: usize = VERSION_AT + 2;
const SEGMENT_AT: usize = FLAGS_AT + 2;
const FIRST_POSITION_AT: usize = SEGMENT_AT + 4;
const MAX_FRAME_AT: usize = FIRST_POSITION_AT + 8;
pub(crate) const HEADER_CRC_AT: usize = MAX_FRAME_AT + 4;
/// Length of the segment header; the first frame starts here.
pub(crate) const SEGMENT_HEADER_LEN: usize = HEADER_CRC_AT + 4;

// Frame prefix: body length, then CRC-32 of (length bytes ‖ body).
const FRAME_LEN_AT: usize = 0;
const FRAME_CRC_AT: usize = FRAME_LEN_AT + 4;
/// Bytes before a frame's body.
pub(crate) const FRAME_PREFIX_LEN: usize = FRAME_CRC_AT + 4;

/// Largest body a store with this payload limit writes.
pub(crate) fn max_body_len(max_payload: usize) -> u32 {
    let len = BODY_PREFIX_LEN + MAX_HEADER_BYTES + max_payload.min(MAX_PAYLOAD_CAP);
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// File name of segment `n`: ten decimal digits, so names sort by number.
pub(crate) fn segment_file_name(n: u32) -> String {
    format!("{n:010}.seg")
}

/// File name of segment `n`'s sealed index (beside the segment).
pub(crate) fn sealed_index_file_name(n: u32) -> String {
    format!("{n:010}.idx")
}

/// Parses a segment file name back into its number.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 10 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The decoded fixed header of a segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub(crate) version: u16,
    pub(crate) segment: u32,
    pub(crate) first_position: u64,
    pub(crate) max_body_len: u32,
}

impl SegmentHeader {
    pub(crate) fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[MAGIC_AT..VERSION_AT].copy_from_slice(&MAGIC);
        out[VERSION_AT..FLAGS_AT].copy_from_slice(&self.version.to_le_bytes());
        out[SEGMENT_AT..FIRST_POSITION_AT].copy_from_slice(&self.segment.to_le_bytes());
        out[FIRST_POSITION_AT..MAX_FRAME_AT].copy_from_slice(&self.first_position.to_le_bytes());
        out[MAX_FRAME_AT..HEADER_CRC_AT].copy_from_slice(&self.max_body_len.to_le_bytes());
        let crc = crc32fast::hash(&out[..HEADER_CRC_AT]);
        out[HEADER_CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Why a segment header was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    /// Fewer bytes than a header.
    Short,
    /// Wrong magic or checksum, or nonzero reserved bits.
    Damaged(&'static str),
    /// Written by another format version (newer, or older than 2).
    Unsupported(u16),
}

pub(crate) fn decode_segment_header(bytes: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
    let Some(bytes) = bytes.get(..SEGMENT_HEADER_LEN) else {
        return Err(HeaderProblem::Short);
    };
    if bytes[MAGIC_AT..VERSION_AT] != MAGIC {
        return Err(HeaderProblem::Damaged("bad segment magic"));
    }
    if read_u32(bytes, HEADER_CRC_AT) != crc32fast::hash(&bytes[..HEADER_CRC_AT]) {
        return Err(HeaderProblem::Damaged("segment header checksum mismatch"));
    }
    let version = u16::from_le_bytes([bytes[VERSION_AT], bytes[VERSION_AT + 1]]);
    // Version 1 headers had no payload version or state code: no format
    // promise was made before 2, so older segments are refused like newer.
    if version != FORMAT_VERSION && version != 0 {
        return Err(HeaderProblem::Unsupported(version));
    }
    if version == 0 || bytes[FLAGS_AT..SEGMENT_AT] != [0, 0] {
        return Err(HeaderProblem::Damaged("unknown segment version or flags"));
    }
    Ok(SegmentHeader {
        version,
        segment: read_u32(bytes, SEGMENT_AT),
        first_position: read_u64(bytes, FIRST_POSITION_AT),
        max_body_len: read_u32(bytes, MAX_FRAME_AT),
    })
}

/// Appends one complete frame (prefix + body) to `out`.
pub(crate) fn push_frame(out: &mut Vec<u8>, body: &[u8]) {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes();
    let mut crc = crc32fast::Hasher::new();
    crc.update(&len);
    crc.update(body);
    out.extend_from_slice(&len);
    out.extend_from_slice(&crc.finalize().to_le_bytes());
    out.extend_from_slice(body);
}

/// What sits at an offset of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameCheck {
    /// A complete frame whose CRC matches; its body is `body_len` bytes.
    Valid { body_len: u32 },
    /// Fewer than a frame prefix's bytes remain.
    ShortPrefix,
    /// Length 0 (also what a zero-filled tail looks like).
    ZeroLength,
    /// Length above the segment's declared maximum.
    TooLong(u32),
    /// Length runs past the end of the bytes present.
    PastEnd(u32),
    /// Length fits but the checksum does not match.
    BadCrc,
}

/// A frame prefix whose length is possible: what [`frame_prefix`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FramePrefix {
    /// Body length, 1 ..= the segment's maximum, within the bytes present.
    pub(crate) body_len: u32,
    /// The CRC the frame claims.
    pub(crate) crc: u32,
}

impl FramePrefix {
    /// The bytes of the frame (prefix included) within the bytes checked.
    pub(crate) fn frame_len(self) -> usize {
        FRAME_PREFIX_LEN + self.body_len as usize
    }
}

/// Reads the frame prefix at the start of `bytes` and checks its length
/// (nonzero, at most `max_body_len`, within `bytes`) without computing the
/// CRC; `Err` says why it cannot be a frame.
pub(crate) fn frame_prefix(bytes: &[u8], max_body_len: u32) -> Result<FramePrefix, FrameCheck> {
    if bytes.len() < FRAME_PREFIX_LEN {
        return Err(FrameCheck::ShortPrefix);
    }
    let len = read_u32(bytes, FRAME_LEN_AT);
    if len == 0 {
        return Err(FrameCheck::ZeroLength);
    }
    if len > max_body_len {
        return Err(FrameCheck::TooLong(len));
    }
    let fits = usize::try_from(len)
        .ok()
        .and_then(|body_len| FRAME_PREFIX_LEN.checked_add(body_len))
        .is_some_and(|end| end <= bytes.len());
    if !fits {
        return Err(FrameCheck::PastEnd(len));
    }
    Ok(FramePrefix {
        body_len: len,
        crc: read_u32(bytes, FRAME_CRC_AT),
    })
}

/// The frame's length field: the bytes its CRC covers before the body.
pub(crate) fn length_field(frame: &[u8]) -> &[u8] {
    frame.get(FRAME_LEN_AT..FRAME_CRC_AT).unwrap_or(&[])
}

/// Checks the frame at the start of `bytes` without allocating.
pub(crate) fn check_frame(bytes: &[u8], max_body_len: u32) -> FrameCheck {
    let prefix = match frame_prefix(bytes, max_body_len) {
        Ok(prefix) => prefix,
        Err(problem) => return problem,
    };
    let mut crc = crc32fast::Hasher::new();
    crc.update(length_field(bytes));
    crc.update(&bytes[FRAME_PREFIX_LEN..prefix.frame_len()]);
    if crc.finalize() != prefix.crc {
        return FrameCheck::BadCrc;
    }
    FrameCheck::Valid {
        body_len: prefix.body_len,
    }
}

/// The body of a frame already known valid by [`check_frame`].
pub(crate) fn frame_body(frame: &[u8]) -> &[u8] {
    frame.get(FRAME_PREFIX_LEN..).unwrap_or(&[])
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

fn read_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(src) = bytes.get(at..at + 8) {
        b.copy_from_slice(src);
    }
    u64::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    //! Golden bytes: these literals are FORMAT.md's layout, computed once
    //! and frozen. A change here is a format change (bump FORMAT_VERSION).

    use super::*;
    use crate::coordinate::Coordinate;
    use crate::event::{Admission, EventHeader, EventId, EventKind, Hash, encode_header};
    use crate::store::engine::body::{HeaderPeek, peek_header};

    #[test]
    fn segment_header_matches_golden_bytes() {
        let header = SegmentHeader {
            version: FORMAT_VERSION,
            segment: 2,
            first_position: 0x0102_0304_0506_0708,
            max_body_len: 0x0001_0000,
        };
        let bytes = header.encode();
        let golden: [u8; SEGMENT_HEADER_LEN] = GOLDEN_SEGMENT_HEADER;
        assert_eq!(bytes, golden, "{bytes:?}");
        assert_eq!(decode_segment_header(&bytes), Ok(header));
    }

    #[test]
    fn frame_matches_golden_bytes_and_crc_covers_length() {
        let mut out = Vec::new();
        push_frame(&mut out, &[1, 2, 3]);
        assert_eq!(out, GOLDEN_FRAME, "{out:?}");
        assert_eq!(check_frame(&out, 16), FrameCheck::Valid { body_len: 3 });
        // Same body, different length bytes: the CRC must catch it.
        let mut longer = out.clone();
        longer[0] = 2;
        assert_eq!(check_frame(&longer, 16), FrameCheck::BadCrc);
        // All zeros is never a frame.
        assert_eq!(check_frame(&[0u8; 16], 16), FrameCheck::ZeroLength);
        assert_eq!(check_frame(&out, 2), FrameCheck::TooLong(3));
        assert_eq!(check_frame(&out[..10], 16), FrameCheck::PastEnd(3));
    }

    #[test]
    fn event_header_encoding_matches_golden_bytes() {
        let header = EventHeader {
            id: EventId::from_u128(1),
            correlation: EventId::from_u128(1),
            causation: None,
            timestamp_us: 1_700_000_000_000_000,
            sequence: 1,
            position: 0,
            kind: EventKind::new(7, 1),
            coordinate: Coordinate::new("o:1", "s").unwrap_or_else(|_| unreachable!()),
            prev_hash: Hash::ZERO,
            idempotency_key: None,
            admission: Admission::Direct,
            payload_version: 1,
            state_code: 0,
        };
        let bytes = encode_header(&header).unwrap_or_default();
        assert_eq!(bytes, GOLDEN_HEADER, "{bytes:?}");
        assert_eq!(
            peek_header(&bytes),
            Some(HeaderPeek {
                id: 1,
                sequence: 1,
                position: 0,
                kind: EventKind::new(7, 1).to_u32(),
                entity: b"o:1",
                scope: b"s",
            })
        );
        assert_eq!(peek_header(&bytes[1..]), None);
        assert_eq!(peek_header(&bytes[..10]), None);
    }

    #[test]
    fn segment_names_sort_by_number() {
        assert_eq!(segment_file_name(1), "0000000001.seg");
        assert_eq!(parse_segment_file_name("0000000042.seg"), Some(42));
        assert_eq!(parse_segment_file_name("42.seg"), None);
        assert_eq!(parse_segment_file_name("0000000042.seg.tmp"), None);
    }

    #[rustfmt::skip]
    const GOLDEN_SEGMENT_HEADER: [u8; 32] = [
        b'B', b'A', b'T', b'P', b'A', b'K', b'S', b'G', // magic
        2, 0,                                           // format version 2
        0, 0,                                           // flags
        2, 0, 0, 0,                                     // segment 2
        8, 7, 6, 5, 4, 3, 2, 1,                         // first position
        0, 0, 1, 0,                                     // max body length 65536
        4, 55, 4, 111,                                  // CRC-32 of bytes 0..28
    ];

    #[rustfmt::skip]
    const GOLDEN_FRAME: &[u8] = &[
        3, 0, 0, 0,          // body length 3
        236, 156, 121, 6,    // CRC-32 of [3, 0, 0, 0, 1, 2, 3]
        1, 2, 3,             // body
    ];

    #[rustfmt::skip]
    const GOLDEN_HEADER: &[u8] = &[
        0x9b,                                   // array of 11 fields (defaults: no payload version, no state code)
        0xc4, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // id: bin 16
        0xc0,                                   // correlation: nil (the id)
        0xc0,                                   // causation: nil
        0xcf, 0, 6, 10, 36, 24, 30, 64, 0,      // timestamp_us: u64
        1,                                      // sequence
        0,                                      // position
        0xce, 0, 7, 0, 1,                       // kind 7:1 as u32
        0x92, 0xa3, b'o', b':', b'1', 0xa1, b's', // coordinate [entity, scope]
        0xc4, 32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,  // prev_hash: bin 32
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0xc0,                                   // idempotency_key: nil
        0,                                      // admission: 0 (direct)
    ];
}
