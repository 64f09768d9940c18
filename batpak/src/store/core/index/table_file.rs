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
/// Bytes a page of `records` records takes: the records, then their CRC-32.
pub(crate) const fn page_len(records: usize) -> usize {
    records * RECORD_BYTES + 4
}

/// Bytes from one page's start to the next's.
pub(crate) const PAGE_STRIDE: u64 = page_len(PAGE_RECORDS as usize) as u64;

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

/// A sealed index file's header: the one reading and writing of its
/// [`HEADER_BYTES`] (FORMAT.md, "Sealed segment index").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SealedHeader {
    pub(crate) segment: u32,
    /// The segment's length in bytes.
    pub(crate) segment_len: u64,
    /// Position of the segment's first event.
    pub(crate) first: u64,
    /// Events (entry records) in the segment.
    pub(crate) count: u64,
    /// Streams the index had before the segment.
    pub(crate) streams_before: u64,
}

impl SealedHeader {
    /// The header's bytes: magic, version, then the fields in order.
    pub(crate) fn encode(&self) -> [u8; HEADER_BYTES] {
        let mut out = [0u8; HEADER_BYTES];
        let fields = [
            &MAGIC[..],
            &VERSION.to_le_bytes(),
            &self.segment.to_le_bytes(),
            &self.segment_len.to_le_bytes(),
            &self.first.to_le_bytes(),
            &self.count.to_le_bytes(),
            &self.streams_before.to_le_bytes(),
        ];
        let mut at = 0;
        for field in fields {
            if let Some(slot) = out.get_mut(at..at + field.len()) {
                slot.copy_from_slice(field);
            }
            at += field.len();
        }
        out
    }

    /// The header at the start of `bytes`, if it has this magic and
    /// version.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        let head: &[u8; HEADER_BYTES] = bytes.get(..HEADER_BYTES)?.try_into().ok()?;
        let (magic, rest) = head.split_first_chunk::<8>()?;
        let (version, rest) = rest.split_first_chunk::<2>()?;
        let (segment, rest) = rest.split_first_chunk::<4>()?;
        let (segment_len, rest) = rest.split_first_chunk::<8>()?;
        let (first, rest) = rest.split_first_chunk::<8>()?;
        let (count, rest) = rest.split_first_chunk::<8>()?;
        let (streams_before, _) = rest.split_first_chunk::<8>()?;
        (*magic == MAGIC && u16::from_le_bytes(*version) == VERSION).then(|| Self {
            segment: u32::from_le_bytes(*segment),
            segment_len: u64::from_le_bytes(*segment_len),
            first: u64::from_le_bytes(*first),
            count: u64::from_le_bytes(*count),
            streams_before: u64::from_le_bytes(*streams_before),
        })
    }

    /// True when this header names the segment, first position and entry
    /// count of `table`.
    pub(crate) fn describes(&self, table: &Table) -> bool {
        self.segment == table.segment && self.first == table.first && self.count == table.count
    }
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

#[cfg(test)]
mod tests {
    use super::{HEADER_BYTES, SealedHeader, Table};

    /// The header's bytes as FORMAT.md lays them out ("Sealed segment
    /// index"): magic, version 2, then segment, length, first position,
    /// count and streams before, little-endian.
    #[test]
    fn the_header_is_the_formats_bytes_and_reads_back() {
        let header = SealedHeader {
            segment: 7,
            segment_len: 0x0102,
            first: 300,
            count: 16,
            streams_before: 3,
        };
        let bytes = header.encode();
        let mut golden = Vec::new();
        golden.extend_from_slice(b"BPSEALIX");
        golden.extend_from_slice(&2u16.to_le_bytes());
        golden.extend_from_slice(&7u32.to_le_bytes());
        golden.extend_from_slice(&0x0102u64.to_le_bytes());
        golden.extend_from_slice(&300u64.to_le_bytes());
        golden.extend_from_slice(&16u64.to_le_bytes());
        golden.extend_from_slice(&3u64.to_le_bytes());
        assert_eq!(bytes.len(), HEADER_BYTES);
        assert_eq!(&bytes[..], &golden[..]);
        assert_eq!(SealedHeader::decode(&bytes), Some(header));
        let table = Table {
            segment: 7,
            first: 300,
            count: 16,
            file_len: 0,
            file_crc: 0,
        };
        assert!(header.describes(&table));
        assert!(!header.describes(&Table { count: 17, ..table }));
        let mut other_version = bytes;
        other_version[8] = 1;
        assert_eq!(SealedHeader::decode(&other_version), None);
        assert_eq!(SealedHeader::decode(&bytes[..HEADER_BYTES - 1]), None);
    }
}
