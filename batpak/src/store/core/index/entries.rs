//! Every event's [`Entry`], by global position. The entries of sealed
//! segments are not held in memory: each sealed segment's index file has
//! them as fixed-size records (`sealed.rs`), read through a small page
//! cache; only the entries after the last sealed segment (the active
//! segment's) are in memory. So what the index holds per event no longer
//! grows with history.
//!
//! Invariants: tables cover positions `0..tail_first` back to back, in
//! segment order; `tail[i]` is the entry of position `tail_first + i`. A
//! table is added only for a file this store wrote or checked (its length
//! and checksum are kept, and the checkpoint binds them). Without a file
//! source (an index being rebuilt, the key-value engines) every entry
//! stays in memory.

use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasherDefault;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::entry::{Entry, RECORD_BYTES};
use super::hasher::IdHasher;
pub(crate) use super::table_file::Table;
use super::table_file::{
    HEADER_BYTES, PAGE_RECORDS, SealedHeader, page_at, page_len, page_records, records_len,
};
use crate::store::engine::segment::sealed_index_file_name;
use crate::store::fs::{FileSystem, FsFile};
use crate::store::lock::lock;

/// Records read and cached together: one page of the file.
const PAGE: u64 = PAGE_RECORDS;
/// Pages a scan reads with one call: 54 KB.
const RUN_PAGES: u64 = 64;
/// Pages kept: 1 MiB of records (a page's 16 records are 848 bytes).
const PAGES_KEPT: usize = (1 << 20) / (PAGE_RECORDS as usize * RECORD_BYTES);

/// Where tables are read from: the store's directory, through its file
/// system, with bounded open files and a page cache.
pub(crate) struct TableFiles {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    max_open: usize,
    /// Open table files, least recently used first.
    open: Mutex<Vec<(u32, Arc<dyn FsFile>)>>,
    pages: Mutex<Pages>,
}

/// Pages whose checksum held, as their records' bytes (an entry is decoded
/// from its record when read: a stream's read needs one record a page),
/// keyed by (segment, page), evicted oldest first. The keys are the store's
/// own numbers, so a multiply-fold hash serves.
#[derive(Default)]
struct Pages {
    map: HashMap<(u32, u64), Arc<[u8]>, BuildHasherDefault<IdHasher>>,
    order: VecDeque<(u32, u64)>,
}

impl TableFiles {
    /// Reads tables in `dir` through `fs`, holding at most
    /// `max_open_segments` files: one a segment the engine may hold, so a
    /// read that finds its segment open finds its table open too (with half
    /// as many, random stream reads over 35 segments reopened a table file
    /// every ~16 events).
    pub(crate) fn new(fs: Arc<dyn FileSystem>, dir: PathBuf, max_open_segments: usize) -> Self {
        Self {
            fs,
            dir,
            max_open: max_open_segments.max(1),
            open: Mutex::new(Vec::new()),
            pages: Mutex::new(Pages::default()),
        }
    }

    fn file(&self, segment: u32) -> Option<Arc<dyn FsFile>> {
        {
            let mut open = lock(&self.open);
            if let Some(i) = open.iter().position(|(s, _)| *s == segment) {
                let used = open.remove(i);
                let file = Arc::clone(&used.1);
                open.push(used);
                return Some(file);
            }
        }
        let path = self.dir.join(sealed_index_file_name(segment));
        let file = self.fs.open_read(&path).ok()?;
        let mut open = lock(&self.open);
        if open.len() >= self.max_open {
            open.remove(0);
        }
        open.push((segment, Arc::clone(&file)));
        Some(file)
    }

    /// The records of page `k` of `table`, through the cache.
    fn page(&self, table: &Table, k: u64) -> Option<Arc<[u8]>> {
        let key = (table.segment, k);
        if let Some(page) = lock(&self.pages).map.get(&key) {
            return Some(Arc::clone(page));
        }
        let start = key.1 * PAGE;
        let n = usize::try_from(PAGE.min(table.count.checked_sub(start)?)).ok()?;
        let mut buf = vec![0u8; page_len(n)];
        self.file(table.segment)?
            .read_at(&mut buf, page_at(key.1))
            .ok()?;
        let page: Arc<[u8]> = Arc::from(page_records(&buf)?);
        let mut pages = lock(&self.pages);
        if pages.map.insert(key, Arc::clone(&page)).is_none() {
            pages.order.push_back(key);
        }
        while pages.order.len() > PAGES_KEPT {
            if let Some(old) = pages.order.pop_front() {
                pages.map.remove(&old);
            }
        }
        Some(page)
    }

    /// The records of pages `k..k + n` of `table` (fewer at its end), read
    /// with one call; not cached. Only the pages before the first whose
    /// checksum fails are kept, so a damaged page is reported at its own
    /// positions; `None` when page `k` itself is damaged, or the run cannot
    /// be read whole (the caller then reads page `k` alone).
    fn run(&self, table: &Table, k: u64, n: u64) -> Option<Vec<u8>> {
        let start = k.checked_mul(PAGE)?;
        let records = table.count.checked_sub(start)?.min(n * PAGE);
        let mut buf = vec![0u8; records_len(records)?];
        self.file(table.segment)?
            .read_at(&mut buf, page_at(k))
            .ok()?;
        let mut out = Vec::with_capacity(usize::try_from(records).ok()? * RECORD_BYTES);
        for page in buf.chunks(page_len(PAGE as usize)) {
            let Some(records) = page_records(page) else {
                break;
            };
            out.extend_from_slice(records);
        }
        (!out.is_empty()).then_some(out)
    }

    /// Drops what is held of `segment`'s file (its handle and pages): the
    /// file was just written anew.
    pub(crate) fn forget(&self, segment: u32) {
        lock(&self.open).retain(|(s, _)| *s != segment);
        let mut pages = lock(&self.pages);
        pages.map.retain(|(s, _), _| *s != segment);
        pages.order.retain(|(s, _)| *s != segment);
    }

    /// `len` bytes at `at` of `segment`'s sealed index file.
    pub(crate) fn read(&self, segment: u32, at: u64, len: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file(segment)?.read_at(&mut buf, at).ok()?;
        Some(buf)
    }

    /// The sealed index file of `segment`: its length and trailing
    /// checksum, and its first `head` bytes.
    pub(crate) fn probe(&self, segment: u32, head: usize) -> Option<(u64, u32, Vec<u8>)> {
        let path = self.dir.join(sealed_index_file_name(segment));
        let len = self.fs.len(&path).ok()?;
        let file = self.fs.open_read(&path).ok()?;
        let mut crc = [0u8; 4];
        file.read_at(&mut crc, len.checked_sub(4)?).ok()?;
        let mut bytes = vec![0u8; head];
        file.read_at(&mut bytes, 0).ok()?;
        Some((len, u32::from_le_bytes(crc), bytes))
    }
}

/// Every entry, by position.
#[derive(Default)]
pub(crate) struct Entries {
    tables: Vec<Table>,
    tail: Vec<Entry>,
    tail_first: u64,
    files: Option<Arc<TableFiles>>,
}

impl Entries {
    /// Number of entries (and the next position).
    pub(crate) fn len(&self) -> u64 {
        self.tail_first + self.tail.len() as u64
    }

    /// The entry at `position`; `None` past the end, or when its table
    /// cannot be read (the caller reports the position as corrupt).
    pub(crate) fn get(&self, position: u64) -> Option<Entry> {
        self.cursor().get(position)
    }

    /// A reader of entries that keeps the last sealed records it read: a
    /// scan in position order reads each file in runs of pages, not an
    /// entry (or a page) at a time.
    pub(crate) fn cursor(&self) -> Cursor<'_> {
        Cursor {
            entries: self,
            held: None,
        }
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<Entry> {
        self.len().checked_sub(1).and_then(|p| self.get(p))
    }

    /// Makes room for `n` more entries in memory, exactly.
    pub(crate) fn reserve_exact(&mut self, n: usize) {
        self.tail.reserve_exact(n);
    }

    /// Records the entry of the next position.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.tail.push(entry);
    }

    /// The entries held in memory, from position [`Entries::tail_first`].
    pub(crate) fn tail(&self) -> &[Entry] {
        &self.tail
    }

    /// The position of the first entry held in memory.
    pub(crate) fn tail_first(&self) -> u64 {
        self.tail_first
    }

    /// The tables, in position order.
    pub(crate) fn tables(&self) -> &[Table] {
        &self.tables
    }

    /// Where sealed tables are read from, when they can be.
    pub(crate) fn files(&self) -> Option<&TableFiles> {
        self.files.as_deref()
    }

    /// True when sealed entries can be read from their files.
    pub(crate) fn has_files(&self) -> bool {
        self.files.is_some()
    }

    /// Reads sealed tables through `files` from now on.
    pub(crate) fn set_files(&mut self, files: Arc<TableFiles>) {
        self.files = Some(files);
    }

    /// Reads the tables (from a checkpoint) through `files`, if each file
    /// is the one recorded: its length, checksum and header. False, and
    /// nothing is kept, when any differs (the caller rescans).
    pub(crate) fn bind_files(&mut self, files: Arc<TableFiles>) -> bool {
        let all_match = self.tables.iter().all(|table| {
            files
                .probe(table.segment, HEADER_BYTES)
                .is_some_and(|(len, crc, head)| {
                    len == table.file_len
                        && crc == table.file_crc
                        && SealedHeader::decode(&head).is_some_and(|h| h.describes(table))
                })
        });
        if all_match {
            self.files = Some(files);
        }
        all_match
    }

    /// The position of the first in-memory entry of `segment` (or the end).
    pub(crate) fn first_in_tail_segment(&self, segment: u32) -> u64 {
        self.tail_first + self.tail.partition_point(|e| e.segment < segment) as u64
    }

    /// Moves the in-memory entries of `table` (the first ones held, all of
    /// its segment) to its file, now written. Returns false, and keeps
    /// them, when there is no file source or they are not exactly those.
    pub(crate) fn spill(&mut self, table: Table) -> bool {
        let n = usize::try_from(table.count).unwrap_or(usize::MAX);
        let exact = self.files.is_some()
            && table.first == self.tail_first
            && self.tail.len() >= n
            && self.tail[..n].iter().all(|e| e.segment == table.segment)
            && self.tail.get(n).is_none_or(|e| e.segment > table.segment);
        if exact {
            self.tail.drain(..n);
            self.tail_first += table.count;
            self.tables.push(table);
        }
        exact
    }

    /// Adds a table for the next positions while nothing is held in
    /// memory (an open loading sealed indexes or a checkpoint).
    pub(crate) fn attach(&mut self, table: Table) -> bool {
        let fits = self.tail.is_empty() && table.first == self.tail_first;
        if fits {
            self.tail_first += table.count;
            self.tables.push(table);
        }
        fits
    }

    /// Bytes held in memory for entries (the tail's allocation).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.tail.capacity() * std::mem::size_of::<Entry>()
            + self.tables.capacity() * std::mem::size_of::<Table>()
    }
}

/// Reads entries through [`Entries::cursor`].
pub(crate) struct Cursor<'e> {
    entries: &'e Entries,
    /// The sealed records read last.
    held: Option<Held>,
}

/// Sealed records a cursor holds: consecutive entries of one table.
struct Held {
    /// The position of the first.
    first: u64,
    segment: u32,
    records: Records,
}

/// A page from the shared cache, or a run of pages read for a scan.
enum Records {
    Page(Arc<[u8]>),
    Run(Vec<u8>),
}

impl Held {
    fn records(&self) -> &[u8] {
        match &self.records {
            Records::Page(page) => page,
            Records::Run(run) => run,
        }
    }

    /// The position after the last record held.
    fn end(&self) -> u64 {
        self.first + (self.records().len() / RECORD_BYTES) as u64
    }

    fn get(&self, position: u64) -> Option<Entry> {
        let i = position.checked_sub(self.first)?;
        record(self.records(), i).and_then(|r| Entry::from_record(self.segment, r))
    }
}

impl Cursor<'_> {
    /// As [`Entries::get`]. A read just past the records held is taken
    /// for a scan, and the next [`RUN_PAGES`] pages are read with one call
    /// (not through the shared cache, which a scan would flush); any other
    /// read takes one page through the cache.
    pub(crate) fn get(&mut self, position: u64) -> Option<Entry> {
        let entries = self.entries;
        if let Some(i) = position.checked_sub(entries.tail_first) {
            return entries.tail.get(usize::try_from(i).ok()?).copied();
        }
        if let Some(e) = self.held.as_ref().and_then(|h| h.get(position)) {
            return Some(e);
        }
        let scanning = self.held.as_ref().is_some_and(|h| h.end() == position);
        let t = entries.tables.partition_point(|t| t.first <= position);
        let table = entries.tables.get(t.checked_sub(1)?)?;
        let page = (position - table.first) / PAGE;
        let files = entries.files.as_ref()?;
        // A run that cannot be read whole (a file cut short) falls back to
        // the page alone, so the failure lands on the page that is missing.
        let run = scanning
            .then(|| files.run(table, page, RUN_PAGES))
            .flatten();
        let records = match run {
            Some(run) => Records::Run(run),
            None => Records::Page(files.page(table, page)?),
        };
        let held = self.held.insert(Held {
            first: table.first + page * PAGE,
            segment: table.segment,
            records,
        });
        held.get(position)
    }
}

/// The `i`-th record of a page's records, if it has one.
fn record(page: &[u8], i: u64) -> Option<&[u8]> {
    let at = usize::try_from(i).ok()?.checked_mul(RECORD_BYTES)?;
    page.get(at..at.checked_add(RECORD_BYTES)?)
}
