//! The body layout: the byte contract between the store's core and every
//! engine, exactly as `batpak/FORMAT.md` ("Frame body") specifies.
//!
//! The core writes bodies and reads them back; an engine stores them whole
//! and never looks inside (the segment engine only adds its frame prefix;
//! redb and LMDB store them as records). So this layout is shared by every
//! backend and lives beside the engine seam, not inside one engine.

use crate::event::Wire;

// Body prefix: encoded header length, then how many frames of the same batch follow.
const BODY_HEADER_LEN_AT: usize = 0;
const BODY_BATCH_REST_AT: usize = BODY_HEADER_LEN_AT + 4;
/// Bytes of a body before the encoded header.
pub(crate) const BODY_PREFIX_LEN: usize = BODY_BATCH_REST_AT + 4;

/// Largest encoded header accepted (coordinate parts are at most 1 KiB each,
/// keys 256 bytes; the rest is admission text).
pub(crate) const MAX_HEADER_BYTES: usize = 64 * 1024;
/// Most events one batch may hold.
pub(crate) const MAX_BATCH_EVENTS: usize = 1 << 20;

/// Fills the body prefix at the start of `body` (which begins with
/// [`BODY_PREFIX_LEN`] reserved bytes): the encoded header's length and how
/// many frames of the same batch follow this one.
pub(crate) fn write_body_prefix(body: &mut [u8], header_len: u32, batch_rest: u32) {
    if let Some(prefix) = body.get_mut(..BODY_PREFIX_LEN) {
        prefix[BODY_HEADER_LEN_AT..BODY_BATCH_REST_AT].copy_from_slice(&header_len.to_le_bytes());
        prefix[BODY_BATCH_REST_AT..].copy_from_slice(&batch_rest.to_le_bytes());
    }
}

/// A body split into its parts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BodyParts<'a> {
    pub(crate) header: &'a [u8],
    pub(crate) payload: &'a [u8],
    pub(crate) batch_rest: u32,
}

/// Splits a body; `None` when its header length does not fit.
pub(crate) fn split_body(body: &[u8]) -> Option<BodyParts<'_>> {
    let prefix = body.get(..BODY_PREFIX_LEN)?;
    let header_len = usize::try_from(read_u32(prefix, BODY_HEADER_LEN_AT)).ok()?;
    let batch_rest = read_u32(prefix, BODY_BATCH_REST_AT);
    let rest = &body[BODY_PREFIX_LEN..];
    if header_len == 0 || header_len > rest.len() {
        return None;
    }
    let (header, payload) = rest.split_at(header_len);
    Some(BodyParts {
        header,
        payload,
        batch_rest,
    })
}

/// The array markers an encoded event header starts with: 11 fields
/// (`0x9b`), 12 with a payload version, 13 with a state code too.
const HEADER_ARRAY: std::ops::RangeInclusive<u8> = 0x9b..=0x9d;

/// What follows the array marker: the id as bin 16 (`0xc4 0x10`).
const HEADER_ID_PREFIX: [u8; 2] = [0xc4, 16];

/// The event id of an encoded header, read from its first 19 bytes without
/// decoding the rest; `None` when the header does not start as FORMAT.md
/// says (recovery uses it to reject a candidate frame before any CRC).
pub(crate) fn header_event_id(header: &[u8]) -> Option<u128> {
    let at = 1 + HEADER_ID_PREFIX.len();
    if !HEADER_ARRAY.contains(header.first()?) || header.get(1..at)? != HEADER_ID_PREFIX {
        return None;
    }
    let id: [u8; 16] = header.get(at..at + 16)?.try_into().ok()?;
    Some(u128::from_be_bytes(id))
}

/// The fields of an encoded header that the index also holds, read in
/// place without decoding the rest: what every read checks a frame against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderPeek<'a> {
    pub(crate) id: u128,
    pub(crate) sequence: u64,
    pub(crate) position: u64,
    /// The kind as stored (`category << 16 | code`).
    pub(crate) kind: u32,
    pub(crate) entity: &'a [u8],
    pub(crate) scope: &'a [u8],
}

/// Reads the leading fields of an encoded header (FORMAT.md, "Body": an
/// array of 11 to 13 fields; id, correlation and causation as bin 16 or nil, then
/// unsigned timestamp, sequence, position and kind, then the coordinate as an
/// array of two strings). `None` when the bytes do not start as FORMAT.md
/// says; a full decode is what reports why.
pub(crate) fn peek_header(header: &[u8]) -> Option<HeaderPeek<'_>> {
    let id = header_event_id(header)?;
    let mut r = Wire(header.get(1 + HEADER_ID_PREFIX.len() + 16..)?);
    r.optional_id()?; // correlation (nil: the id itself)
    r.optional_id()?; // causation
    r.uint()?; // timestamp
    let sequence = r.uint()?;
    let position = r.uint()?;
    let kind = u32::try_from(r.uint()?).ok()?;
    r.byte(0x92)?;
    let entity = r.str_bytes()?;
    let scope = r.str_bytes()?;
    Some(HeaderPeek {
        id,
        sequence,
        position,
        kind,
        entity,
        scope,
    })
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coordinate::Coordinate;
    use crate::event::{Admission, EventHeader, EventId, EventKind, Hash, encode_header};

    /// The peek reads exactly what a full decode reads, at every width of
    /// msgpack's integers and strings.
    #[test]
    fn peek_agrees_with_the_full_decode() {
        let numbers = [
            0u64,
            1,
            127,
            128,
            255,
            256,
            65_535,
            65_536,
            u64::from(u32::MAX),
            u64::MAX,
        ];
        let lengths = [1usize, 31, 32, 255, 256, 1024];
        for (i, &n) in numbers.iter().enumerate() {
            let len = lengths[i % lengths.len()];
            let entity = "e".repeat(len);
            let scope = "s".repeat(lengths[(i + 3) % lengths.len()]);
            let id = EventId::from_u128(u128::from(n) << 64 | 7);
            let header = EventHeader {
                id,
                // Stored as nil when it is the id itself.
                correlation: if i % 3 == 0 {
                    id
                } else {
                    EventId::from_u128(3)
                },
                causation: (i % 2 == 0).then(|| EventId::from_u128(9)),
                timestamp_us: n,
                sequence: n,
                position: n.rotate_left(7),
                kind: EventKind::new(u16::try_from(i + 1).unwrap_or(1), 0xffff),
                coordinate: Coordinate::new(entity, scope).unwrap_or_else(|_| unreachable!()),
                prev_hash: Hash::ZERO,
                idempotency_key: None,
                admission: Admission::Direct,
                payload_version: 1,
                state_code: 0,
            };
            let bytes = encode_header(&header).unwrap_or_default();
            let peek = peek_header(&bytes);
            assert_eq!(
                peek,
                Some(HeaderPeek {
                    id: header.id.as_u128(),
                    sequence: header.sequence,
                    position: header.position,
                    kind: header.kind.to_u32(),
                    entity: header.coordinate.entity().as_bytes(),
                    scope: header.coordinate.scope().as_bytes(),
                }),
                "case {i}"
            );
            // Any cut inside the peeked fields is refused, never misread.
            let peeked = bytes.len() - 34 - 1 - 1; // prev_hash, key nil, admission
            for cut in 0..peeked.min(bytes.len()) {
                if let Some(p) = peek_header(&bytes[..cut]) {
                    assert_eq!(Some(p), peek, "cut {cut} of case {i}");
                }
            }
        }
    }
}
