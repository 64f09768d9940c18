//! The body layout: the byte contract between the store's core and every
//! engine, exactly as `batpak/FORMAT.md` ("Frame body") specifies.
//!
//! The core writes bodies and reads them back; an engine stores them whole
//! and never looks inside (the segment engine only adds its frame prefix;
//! redb and LMDB store them as records). So this layout is shared by every
//! backend and lives beside the engine seam, not inside one engine.

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

/// The bytes an encoded event header starts with: an array of its 11
/// fields (`0x9b`), then the id as bin 16 (`0xc4 0x10`).
const HEADER_ID_PREFIX: [u8; 3] = [0x9b, 0xc4, 16];
/// Where the 16 id bytes (big-endian u128) sit in an encoded header.
const HEADER_ID_AT: usize = HEADER_ID_PREFIX.len();

/// The event id of an encoded header, read without decoding the rest
/// (replay checks it against the index); `None` when the header does not
/// start as FORMAT.md says.
pub(crate) fn header_event_id(header: &[u8]) -> Option<u128> {
    if header.get(..HEADER_ID_AT)? != HEADER_ID_PREFIX {
        return None;
    }
    let id: [u8; 16] = header
        .get(HEADER_ID_AT..HEADER_ID_AT + 16)?
        .try_into()
        .ok()?;
    Some(u128::from_be_bytes(id))
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(src) = bytes.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    u32::from_le_bytes(b)
}
