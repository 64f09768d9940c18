//! Sealed segment indexes: what the index learnt from one full segment,
//! written once the segment is sealed (at rotation, or when an open scan
//! passes a segment that had none) so that an open after a crash loads them
//! and scans only the unsealed tail.
//!
//! A sealed index is a cache of its segment, never a source of truth: it is
//! loaded only when its checksum holds, it names the segment, its length and
//! first position exactly as found, its streams continue the index it is
//! applied to, and its frames fill the segment to the byte. Anything else
//! and the segment is scanned (and its sealed index written anew). Loading
//! decodes into a [`Sealed`] first and changes the index only once every
//! check passed. Layout: FORMAT.md, "Sealed segment index".

use super::codec::{Reader, Writer};
use super::entry::{FLAG_BYPASS, FLAG_GATED, RECORD_BYTES};
use super::keys::key_hash;
use super::table_file::{
    HEADER_BYTES, PAGE_RECORDS, PAGE_STRIDE, SealedHeader, page_records, records_len,
};

/// Bytes of one key directory entry: hash, offset, length, checksum.
const DIRECTORY_ENTRY_BYTES: usize = 8 + 8 + 4 + 4;
/// Fewest bytes a key entry takes (empty key, no receipts).
const KEY_ENTRY_MIN_BYTES: usize = 4 + 32 + 8;
use super::{Entry, Index, KeyEntry, NO_CAUSE, StreamState, Table};
use crate::coordinate::Coordinate;
use crate::event::Hash;
use crate::store::engine::{Loc, NextLoc};

/// A sealed index file to be written: its bytes and the table it gives.
pub(crate) struct SealedFile {
    pub(crate) bytes: Vec<u8>,
    pub(crate) first: u64,
    pub(crate) count: u64,
    pub(crate) segment: u32,
}

impl SealedFile {
    /// The table that reads this file's entries.
    pub(crate) fn table(&self) -> Table {
        Table {
            segment: self.segment,
            first: self.first,
            count: self.count,
            file_len: self.bytes.len() as u64,
            file_crc: trailing_crc(&self.bytes),
        }
    }
}

/// The checksum a file of this codec ends with.
pub(crate) fn trailing_crc(bytes: &[u8]) -> u32 {
    let at = bytes.len().saturating_sub(4);
    bytes
        .get(at..)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

/// A sealed index decoded and checked against the index it will extend.
/// Its records stay in the file's bytes (checked, decoded again when
/// applied): a segment's entries decoded at once would be the largest
/// allocation of an open.
struct Sealed<'b> {
    new_streams: Vec<Coordinate>,
    /// The records of each page, in position order.
    records: Vec<&'b [u8]>,
    heads: Vec<(u32, Hash)>,
    keys: Vec<(String, KeyEntry)>,
    table: Table,
}

/// Every record of the pages, in order.
fn each_record<'r, 'b>(pages: &'r [&'b [u8]]) -> impl Iterator<Item = &'b [u8]> + 'r {
    pages
        .iter()
        .flat_map(|page| page.chunks_exact(RECORD_BYTES))
}

/// Positions grouped by stream ([`ByStream::group`]).
struct ByStream {
    /// Stream `s`'s positions are `positions[ends[s]..ends[s + 1]]`.
    ends: Vec<usize>,
    positions: Vec<u64>,
}

impl ByStream {
    /// Regroups `(stream, position)` pairs (in position order) by stream
    /// with a counting sort: stable, so each stream's positions stay
    /// ascending. Pairs naming a stream `>= streams` are left out.
    fn group(owned: &[(u32, u64)], streams: usize) -> Self {
        let mut ends = vec![0usize; streams + 1];
        for &(s, _) in owned {
            if let Some(n) = ends.get_mut(s as usize + 1) {
                *n += 1;
            }
        }
        let mut sum = 0;
        for end in &mut ends {
            sum += *end;
            *end = sum;
        }
        let mut next = ends.clone();
        let mut positions = vec![0u64; sum];
        for &(s, position) in owned {
            if let Some(at) = next.get_mut(s as usize) {
                if let Some(slot) = positions.get_mut(*at) {
                    *slot = position;
                }
                *at += 1;
            }
        }
        Self { ends, positions }
    }

    /// Stream `s`'s positions, in order.
    fn of(&self, s: usize) -> &[u64] {
        let range = self.ends.get(s).zip(self.ends.get(s + 1));
        range
            .and_then(|(&a, &b)| self.positions.get(a..b))
            .unwrap_or_default()
    }
}

/// Where the sealed index sits in the log, as the open found it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedPlace {
    pub(crate) segment: u32,
    /// The segment's length in bytes.
    pub(crate) len: u64,
    /// Where the segment's frames start, and where each next frame lies.
    pub(crate) next_loc: NextLoc,
}

impl Index {
    /// Encodes what the index holds of the events from `first_position` to
    /// its end, all in segment `segment` of `len` bytes and all still in
    /// memory. Call it when that segment is complete and the index holds
    /// nothing past it: the heads recorded are the streams' heads now.
    pub(crate) fn encode_sealed(&self, segment: u32, len: u64, first_position: u64) -> SealedFile {
        let entries = first_position
            .checked_sub(self.entries.tail_first())
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| self.entries.tail().get(i..))
            .unwrap_or(&[]);
        // Streams are numbered in order of first appearance.
        let streams_before = self
            .streams
            .partition_point(|s| s.first_position().is_some_and(|p| p < first_position));
        let mut w = Writer(Vec::with_capacity(256 + entries.len() * (RECORD_BYTES + 8)));
        let header = SealedHeader {
            segment,
            segment_len: len,
            first: first_position,
            count: entries.len() as u64,
            streams_before: streams_before as u64,
        };
        w.0.extend_from_slice(&header.encode());
        for page in entries.chunks(PAGE_RECORDS as usize) {
            let start = w.0.len();
            for e in page {
                w.0.extend_from_slice(&e.record());
            }
            let sum = crc32fast::hash(&w.0[start..]);
            w.u32(sum);
        }
        let new_streams = self.streams.get(streams_before..).unwrap_or(&[]);
        w.u64(new_streams.len() as u64);
        for s in new_streams {
            w.bytes(s.coordinate.entity().as_bytes());
            w.bytes(s.coordinate.scope().as_bytes());
        }
        let mut touched: Vec<u32> = entries.iter().map(|e| e.stream).collect();
        touched.sort_unstable();
        touched.dedup();
        w.u64(touched.len() as u64);
        for s in touched {
            w.u32(s);
            let head = self.streams.get(s as usize).map_or(Hash::ZERO, |s| s.head);
            w.hash(&head);
        }
        let mut keys: Vec<(u64, &String, &KeyEntry)> = self
            .keys
            .recent()
            .iter()
            .filter(|(_, k)| {
                k.receipts
                    .first()
                    .is_some_and(|r| r.position >= first_position)
            })
            .map(|(key, k)| (key_hash(key), key, k))
            .collect();
        keys.sort_by_key(|&(hash, _, k)| (hash, k.receipts.first().map(|r| r.position)));
        w.u64(keys.len() as u64);
        let mut directory = Vec::with_capacity(keys.len());
        for &(hash, key, k) in &keys {
            let at = w.0.len();
            w.key_entry(key, k);
            let entry = &w.0[at..];
            directory.push((hash, at as u64, entry.len() as u32, crc32fast::hash(entry)));
        }
        let directory_at = w.0.len() as u64;
        w.u64(directory.len() as u64);
        for (hash, at, len, crc) in directory {
            w.u64(hash);
            w.u64(at);
            w.u32(len);
            w.u32(crc);
        }
        w.u64(directory_at);
        let sum = crc32fast::hash(&w.0);
        w.u32(sum);
        SealedFile {
            bytes: w.0,
            first: first_position,
            count: entries.len() as u64,
            segment,
        }
    }

    /// Extends the index with a sealed index of the segment at `place`, if
    /// it is intact and continues this index exactly; returns the events it
    /// added, or `None` (the index is then unchanged and the caller scans the
    /// segment). With a file source the entries stay in the file.
    pub(crate) fn load_sealed(&mut self, bytes: &[u8], place: SealedPlace) -> Option<u64> {
        let sealed = self.decode_sealed(bytes, place)?;
        let events = sealed.table.count;
        self.apply_sealed(sealed);
        Some(events)
    }

    /// The checks of one sealed index header against what the index and
    /// the log expect; `None` unless all hold. Returns the entry count.
    fn check_sealed_header(
        body: &[u8],
        place: SealedPlace,
        first: u64,
        streams: u64,
    ) -> Option<usize> {
        let expected = SealedHeader {
            segment: place.segment,
            segment_len: place.len,
            first,
            count: 0,
            streams_before: streams,
        };
        let found = SealedHeader::decode(body)?;
        (found
            == SealedHeader {
                count: found.count,
                ..expected
            })
        .then(|| usize::try_from(found.count).ok())
        .flatten()
    }

    fn decode_sealed<'b>(&self, bytes: &'b [u8], place: SealedPlace) -> Option<Sealed<'b>> {
        let body_len = bytes.len().checked_sub(4)?;
        let (body, sum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes()[..] != sum[..] {
            return None;
        }
        let first_position = self.len();
        let n = Self::check_sealed_header(body, place, first_position, self.streams.len() as u64)?;
        let mut r = Reader(body.get(HEADER_BYTES..)?);
        let pages = r.take(records_len(n as u64)?)?;

        // Every page's checksum holds, then its records are read in place.
        let records: Vec<&[u8]> = pages
            .chunks(PAGE_STRIDE as usize)
            .map(page_records)
            .collect::<Option<_>>()?;
        let m = r.count(8)?;
        let mut new_streams = Vec::with_capacity(m);
        let mut named = std::collections::HashSet::with_capacity(m);
        for _ in 0..m {
            let coordinate = Coordinate::from_parts(r.str()?, r.str()?).ok()?;
            // A new stream is new: not known, not named twice.
            if self.stream_number(&coordinate).is_some() || !named.insert(coordinate.clone()) {
                return None;
            }
            new_streams.push(coordinate);
        }
        let streams = self.streams.len() + new_streams.len();
        // New streams are numbered in the order their first events come.
        let mut next_new = self.streams.len();
        // Each stream's version so far, by stream number.
        let mut versions: Vec<u64> = self.streams.iter().map(StreamState::version).collect();
        versions.resize(streams, 0);
        let mut prev: Option<Loc> = None;
        for (i, record) in (0..).zip(each_record(&records)) {
            let e = Entry::from_record(place.segment, record)?;
            let position = first_position + i;
            if e.stream as usize > next_new
                || e.stream as usize >= streams
                || (e.cause != NO_CAUSE && e.cause >= position)
                || !matches!(e.flags, 0 | FLAG_BYPASS | FLAG_GATED)
            {
                return None;
            }
            if e.stream as usize == next_new {
                next_new += 1;
            }
            let version = versions.get_mut(e.stream as usize)?;
            *version += 1;
            let loc = (place.next_loc)(prev, place.segment, position, e.len);
            if e.sequence != *version || e.offset != loc.offset {
                return None;
            }
            prev = Some(loc);
        }
        // The frames fill the segment to its last byte (an empty segment is
        // its header alone); every new stream has its first event here.
        let end = (place.next_loc)(prev, place.segment, first_position + n as u64, 0);
        if end.offset != place.len || next_new != streams {
            return None;
        }
        // The streams touched are those whose version moved.
        let before = self.streams.iter().map(StreamState::version);
        let touched: Vec<u32> = (0..)
            .zip(versions.iter().zip(before.chain(std::iter::repeat(0))))
            .filter(|(_, (now, was))| **now != *was)
            .map(|(s, _)| s)
            .collect();
        let heads = Self::decode_heads(&mut r, touched)?;
        // The idempotency keys first used in the segment, with receipts in
        // it, by hash; then their directory, exactly as they lie.
        let positions = first_position..first_position + n as u64;
        let count = r.count(KEY_ENTRY_MIN_BYTES)?;
        let mut keys = Vec::with_capacity(count);
        let mut directory = Vec::with_capacity(count);
        for _ in 0..count {
            let at = body.len() - r.0.len();
            let (key, entry) = r.key_entry(&positions)?;
            let end = body.len() - r.0.len();
            let bytes = body.get(at..end)?;
            let len = u32::try_from(bytes.len()).ok()?;
            directory.push((key_hash(&key), at as u64, len, crc32fast::hash(bytes)));
            keys.push((key, entry));
        }
        let directory_at = (body.len() - r.0.len()) as u64;
        if !directory.is_sorted_by_key(|d| d.0) || r.count(DIRECTORY_ENTRY_BYTES)? != count {
            return None;
        }
        for want in directory {
            if (r.u64()?, r.u64()?, r.u32()?, r.u32()?) != want {
                return None;
            }
        }
        if r.u64()? != directory_at {
            return None;
        }
        r.0.is_empty().then_some(Sealed {
            new_streams,
            records,
            heads,
            keys,
            table: Table {
                segment: place.segment,
                first: first_position,
                count: n as u64,
                file_len: bytes.len() as u64,
                file_crc: trailing_crc(bytes),
            },
        })
    }

    /// The heads: exactly one for every stream the segment's events touch.
    fn decode_heads(r: &mut Reader<'_>, touched: Vec<u32>) -> Option<Vec<(u32, Hash)>> {
        let n = r.count(4 + 32)?;
        if n != touched.len() {
            return None;
        }
        let mut heads = Vec::with_capacity(n);
        for want in touched {
            let stream = r.u32()?;
            if stream != want {
                return None;
            }
            heads.push((stream, r.hash()?));
        }
        Some(heads)
    }

    fn apply_sealed(&mut self, sealed: Sealed<'_>) {
        // Sized once per segment, not grown by doubling a stream at a time.
        self.streams.reserve_exact(sealed.new_streams.len());
        self.by_coordinate.reserve(sealed.new_streams.len());
        for coordinate in sealed.new_streams {
            self.add_stream(coordinate);
        }
        let segment = sealed.table.segment;
        let entries = each_record(&sealed.records).filter_map(|r| Entry::from_record(segment, r));
        // The entries stay in the file when it can be read; else in memory.
        let in_memory = !(self.entries.has_files() && self.entries.attach(sealed.table));
        let first = self.len() - if in_memory { 0 } else { sealed.table.count };
        // Positions go to their streams grouped by stream, in order within
        // each: one visit to a stream's buffer per segment, not per event
        // (with many streams, each visit is a cache miss).
        let mut owned: Vec<(u32, u64)> = Vec::with_capacity(sealed.records.len() * 16);
        for (position, e) in (first..).zip(entries) {
            owned.push((e.stream, position));
            if e.cause != NO_CAUSE {
                self.children.add(e.cause, position);
            }
            self.by_id.insert(e.id, position);
            if in_memory {
                self.entries.push(e);
            }
        }
        let grouped = ByStream::group(&owned, self.streams.len());
        for (s, state) in self.streams.iter_mut().enumerate() {
            for &position in grouped.of(s) {
                state.recent.push(position);
            }
        }
        let in_file = !in_memory;
        for (stream, head) in sealed.heads {
            if let Some(state) = self.streams.get_mut(stream as usize) {
                state.head = head;
            }
        }
        // Sealed keys are held by hash when their file can be read.
        for (key, entry) in sealed.keys {
            if in_file {
                self.keys
                    .insert_sealed(key_hash(&key), sealed.table.segment);
            } else {
                self.keys.insert_recent(key, entry);
            }
        }
    }

    /// The record of idempotency key `key` if a sealed segment holds it:
    /// looked up by its hash in the segment's key directory, read and
    /// checked against the directory's checksum. `Err(segment)` when the
    /// segment's sealed index cannot be read as it must be.
    pub(crate) fn sealed_key(&self, key: &str) -> Result<Option<KeyEntry>, u32> {
        let hash = key_hash(key);
        for segment in self.keys.sealed_segments(hash) {
            if let Some(entry) = self.sealed_key_in(segment, hash, key)? {
                return Ok(Some(entry));
            }
        }
        Ok(None)
    }

    fn sealed_key_in(&self, segment: u32, hash: u64, key: &str) -> Result<Option<KeyEntry>, u32> {
        let fail = || segment;
        let tables = self.entries.tables();
        let t = tables.partition_point(|t| t.segment < segment);
        let table = tables
            .get(t)
            .filter(|t| t.segment == segment)
            .ok_or(segment)?;
        let files = self.entries.files().ok_or(segment)?;
        let read = |at: u64, len: usize| files.read(segment, at, len).ok_or(segment);
        let u64_at = |at: u64| -> Result<u64, u32> {
            let bytes = read(at, 8)?;
            Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| segment)?))
        };
        // The trailer: where the directory starts, then the file's checksum.
        let directory_at = u64_at(table.file_len.checked_sub(12).ok_or_else(fail)?)?;
        let count = u64_at(directory_at)?;
        let slot = |i: u64| -> Result<(u64, u64, u32, u32), u32> {
            let bytes = read(
                directory_at + 8 + i * DIRECTORY_ENTRY_BYTES as u64,
                DIRECTORY_ENTRY_BYTES,
            )?;
            let mut r = Reader(&bytes);
            (|| Some((r.u64()?, r.u64()?, r.u32()?, r.u32()?)))().ok_or(segment)
        };
        // The first slot of this hash, then each slot that shares it.
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if slot(mid)?.0 < hash {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut i = lo;
        while i < count {
            let (h, at, len, crc) = slot(i)?;
            if h != hash {
                break;
            }
            let bytes = read(at, len as usize)?;
            if crc32fast::hash(&bytes) != crc {
                return Err(segment);
            }
            let positions = table.first..table.first + table.count;
            let (found, entry) = Reader(&bytes).key_entry(&positions).ok_or(segment)?;
            if found == key {
                return Ok(Some(entry));
            }
            i += 1;
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::ByStream;
    use proptest::prelude::*;

    proptest! {
        /// Each stream's positions come out together, in the order given,
        /// and a pair naming an unknown stream is left out.
        #[test]
        fn grouping_is_a_stable_sort_by_stream(
            streams in 0usize..8,
            picks in proptest::collection::vec(0u32..10, 0..200),
            again in proptest::collection::vec(0u32..10, 0..50),
        ) {
            for picks in [&picks, &again] {
                let owned: Vec<(u32, u64)> = picks.iter().copied().zip(0u64..).collect();
                let grouped = ByStream::group(&owned, streams);
                for s in 0..streams {
                    let want: Vec<u64> = owned
                        .iter()
                        .filter(|&&(t, _)| t as usize == s)
                        .map(|&(_, p)| p)
                        .collect();
                    prop_assert_eq!(grouped.of(s), want.as_slice());
                }
                prop_assert!(grouped.of(streams).is_empty());
            }
        }
    }
}
