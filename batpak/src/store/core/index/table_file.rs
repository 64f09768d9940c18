//! The fixed start of a sealed index file: its header and its pages of
//! entry records. Kept apart from `sealed.rs` (which writes and loads whole
//! files) because reading entries in place needs only this.

use super::entry::RECORD_BYTES;

/// A sealed index file's first bytes.
pub(crate) const MAGIC: [u8; 8] = *b"BPSEALIX";
/// Layout version of a sealed index; another version is ignored (the
/// segment is scanned and its index rewritten). Version 2 holds the entries
/// as fixed-size records, read in place once the segment is sealed.
pub(crate) const VERSION: u16 = 2;
/// Bytes before the entry records: magic, version, segment, segment
/// length, first position, entry count, streams before.
pub(crate) const HEADER_BYTES: usize = 8 + 2 + 4 + 8 + 8 + 8 + 8;
/// Where the entry records start in a sealed index file.
pub(crate) const RECORDS_AT: u64 = HEADER_BYTES as u64;
/// Records per page: a page is read whole and ends with the CRC-32 of its
/// records, so damage to a file read in place is found at the read. Small,
/// because a stream's events lie one to a page: reading one costs a page.
pub(crate) const PAGE_RECORDS: u64 = 16;
/// Bytes from one page's start to the next's.
const PAGE_STRIDE: u64 = PAGE_RECORDS * RECORD_BYTES as u64 + 4;

/// Where page `k` of the records starts.
pub(crate) fn page_at(k: u64) -> u64 {
    RECORDS_AT + k * PAGE_STRIDE
}

/// Bytes the records of `n` entries take, with their pages' checksums.
pub(crate) fn records_len(n: u64) -> Option<usize> {
    let pages = n.div_ceil(PAGE_RECORDS);
    usize::try_from(n.checked_mul(RECORD_BYTES as u64)?.checked_add(pages * 4)?).ok()
}

/// The records of one page read whole (`bytes`: records then checksum),
/// if the checksum holds.
pub(crate) fn page_records(bytes: &[u8]) -> Option<&[u8]> {
    let (records, sum) = bytes.split_at_checked(bytes.len().checked_sub(4)?)?;
    (crc32fast::hash(records).to_le_bytes()[..] == sum[..]).then_some(records)
}

/// True when a sealed index's first [`HEADER_BYTES`] (`head`) are of this
/// version and name the segment, first position and entry count of `table`.
pub(crate) fn header_matches(head: &[u8], table: &Table) -> bool {
    let field = |at: usize, len: usize| head.get(at..at + len);
    let u32_at = |at| {
        field(at, 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    let u64_at = |at| {
        field(at, 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    field(0, 8) == Some(&MAGIC[..])
        && field(8, 2) == Some(&VERSION.to_le_bytes()[..])
        && u32_at(10) == Some(table.segment)
        && u64_at(22) == Some(table.first)
        && u64_at(30) == Some(table.count)
}

/// One sealed segment's entries: where they are in the log, and the file
/// that holds them as it was written or checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Table {
    pub(crate) segment: u32,
    /// Position of the table's first entry.
    pub(crate) first: u64,
    /// Entries in the table.
    pub(crate) count: u64,
    /// The file's length and trailing checksum, as written or checked.
    pub(crate) file_len: u64,
    pub(crate) file_crc: u32,
}
