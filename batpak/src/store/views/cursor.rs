//! Cursors: pull the durable events of a region in global order from a
//! position, block for new commits, and save the position for an
//! at-least-once restart.
//!
//! Invariants:
//! - A cursor yields only durable events (below the published durable
//!   watermark), in increasing position order, each once per cursor.
//! - [`Cursor::position`] is the next position to look at: every event below
//!   it was yielded or lies outside the region. Saving it after processing
//!   what was yielded gives at-least-once delivery across crashes: a resumed
//!   cursor repeats only events at or after the last saved position.
//! - Blocking waits on a condition variable signalled by the commit path
//!   (right after the durable watermark advances); there is no polling loop.
//! - A saved position file is written atomically (temp file, fsync, rename,
//!   fsync directory) and checksummed; a damaged or foreign file is an error,
//!   never a silent restart from 0. Layout: see FORMAT.md.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use super::projection::region_fingerprint;
use crate::event::StoredEvent;
use crate::region::Region;
use crate::store::error::{CursorFileProblem, StoreError};
use crate::store::facade::Store;
use crate::store::fs::replace_atomically;

/// Positions examined per read: bounds the events a cursor holds decoded
/// while still reading them in coalesced batches.
const SCAN_WINDOW: u64 = 4096;

/// Magic bytes opening a cursor position file.
const CURSOR_MAGIC: &[u8; 8] = b"BPCURSOR";
/// Version of the cursor position file layout this build writes.
const CURSOR_FILE_VERSION: u16 = 1;
const MAGIC_LEN: usize = 8;
const VERSION_LEN: usize = 2;
const POSITION_LEN: usize = 8;
const REGION_LEN: usize = 32;
const CHECKSUM_LEN: usize = 32;
const VERSION_AT: usize = MAGIC_LEN;
const POSITION_AT: usize = VERSION_AT + VERSION_LEN;
const REGION_AT: usize = POSITION_AT + POSITION_LEN;
const CHECKSUM_AT: usize = REGION_AT + REGION_LEN;
/// Exact length of a cursor position file.
const CURSOR_FILE_LEN: usize = CHECKSUM_AT + CHECKSUM_LEN;

/// Pulls the durable events of a [`Region`] in global position order,
/// decoded into `P`. Borrows the store, so the store outlives it.
///
/// ```
/// use batpak::{Coordinate, EventKind, Region, Store, StoreConfig};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;
/// let coord = Coordinate::new("order:1", "shop:acme")?;
/// store.append(&coord, EventKind::custom(7, 1)?, &"placed")?;
/// let mut cursor = store.cursor::<String>(Region::all(), 0)?;
/// assert_eq!(cursor.next_blocking()?.payload, "placed");
/// assert_eq!(cursor.position(), 1);
/// cursor.commit_to(dir.path().join("consumer.pos"))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Cursor<'s, P> {
    store: &'s Store,
    region: Region,
    position: u64,
    /// End of the window whose matching events are in `buffer`.
    scanned: u64,
    buffer: VecDeque<StoredEvent<P>>,
}

impl Store {
    /// Wakes every cursor waiting in `Cursor::wait_unless`, so each looks
    /// at its stop flag.
    pub(crate) fn wake_cursors(&self) {
        self.hub.wake_all();
    }

    /// A cursor over `region` starting at global position `from`.
    ///
    /// # Errors
    /// [`StoreError::InvalidRegion`] for a region that can never match.
    pub fn cursor<P: DeserializeOwned>(
        &self,
        region: Region,
        from: u64,
    ) -> Result<Cursor<'_, P>, StoreError> {
        region.check()?;
        Ok(Cursor {
            store: self,
            region,
            position: from,
            scanned: from,
            buffer: VecDeque::new(),
        })
    }
}

impl<'s, P: DeserializeOwned> Cursor<'s, P> {
    /// Reopens the cursor saved at `path` by [`Cursor::commit_to`] (same
    /// region), or starts at position 0 when no file exists yet.
    ///
    /// # Errors
    /// [`StoreError::CursorFile`] when the file is damaged, was saved for
    /// another region or points beyond the log; I/O errors.
    pub fn resume(
        store: &'s Store,
        region: Region,
        path: impl AsRef<Path>,
    ) -> Result<Self, StoreError> {
        region.check()?;
        let path = path.as_ref();
        let from = match store.core.fs().read(path) {
            Ok(bytes) => {
                let position =
                    decode_file(&bytes, &region).map_err(|problem| cursor_error(path, problem))?;
                let events = store.core.len();
                if position > events {
                    return Err(cursor_error(
                        path,
                        CursorFileProblem::BeyondLog { position, events },
                    ));
                }
                position
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(StoreError::io("read cursor file", path, e)),
        };
        store.cursor(region, from)
    }

    /// The next position to look at: every event below it was yielded or
    /// is outside the region. Save this after processing.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// How many durable events of the store lie at or after
    /// [`Cursor::position`] (in any region): an upper bound on what is left
    /// to read, and how far a consumer is behind the log.
    #[must_use]
    pub fn behind(&self) -> u64 {
        self.store.hub.watermark().saturating_sub(self.position)
    }

    /// The region this cursor reads.
    #[must_use]
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The next durable event, without waiting; `Ok(None)` when caught up.
    ///
    /// # Errors
    /// [`StoreError::Codec`] when a payload is not a `P` (the cursor stays
    /// before that event); read errors.
    pub fn try_next(&mut self) -> Result<Option<StoredEvent<P>>, StoreError> {
        let watermark = self.store.hub.watermark();
        self.fill(watermark)?;
        Ok(self.pop())
    }

    /// The next durable event, blocking until one is committed. Once caught
    /// up it blocks forever on a store opened read-only, or when the region's
    /// position range has ended; use [`Cursor::next_timeout`] there.
    ///
    /// # Errors
    /// As [`Cursor::try_next`].
    pub fn next_blocking(&mut self) -> Result<StoredEvent<P>, StoreError> {
        loop {
            if let Some(event) = self.try_next()? {
                return Ok(event);
            }
            self.store.hub.wait_beyond(self.position, None);
        }
    }

    /// The next durable event, waiting at most `timeout`; `Ok(None)` when
    /// none was committed in time.
    ///
    /// # Errors
    /// As [`Cursor::try_next`].
    pub fn next_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<StoredEvent<P>>, StoreError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(event) = self.try_next()? {
                return Ok(Some(event));
            }
            let mark = self.store.hub.wait_beyond(self.position, Some(deadline));
            if mark <= self.position && Instant::now() >= deadline {
                return Ok(None);
            }
        }
    }

    /// Blocks until an event beyond [`Cursor::position`] is durable,
    /// `deadline` passes, or `stop` is set (and [`Store::wake_cursors`]
    /// called): how a runner thread sleeps with no polling and still shuts
    /// down at once.
    pub(crate) fn wait_unless(&self, deadline: Option<Instant>, stop: &AtomicBool) {
        self.store
            .hub
            .wait_beyond_unless(self.position, deadline, stop);
    }

    /// Saves [`Cursor::position`] to `path` atomically and durably (temp
    /// file, fsync, rename, fsync of the directory).
    ///
    /// # Errors
    /// I/O errors; the previous file is then left intact.
    pub fn commit_to(&self, path: impl AsRef<Path>) -> Result<(), StoreError> {
        let path = path.as_ref();
        let bytes = encode_file(self.position, &self.region);
        replace_atomically(self.store.core.fs(), path, &bytes)
    }

    fn pop(&mut self) -> Option<StoredEvent<P>> {
        let event = self.buffer.pop_front()?;
        self.position = if self.buffer.is_empty() {
            self.scanned
        } else {
            event.position() + 1
        };
        Some(event)
    }

    /// Refills the buffer from windows of `[position, watermark)` until it
    /// holds an event or the watermark is reached.
    fn fill(&mut self, watermark: u64) -> Result<(), StoreError> {
        let core = &self.store.core;
        let (lo, hi) = self.region.position_range().unwrap_or((0, u64::MAX));
        while self.buffer.is_empty() && self.position < watermark {
            let end = watermark.min(self.position.saturating_add(SCAN_WINDOW));
            let (a, b) = (lo.max(self.position), hi.min(end - 1));
            if a <= b {
                // Decode all before committing to the window, so an error
                // leaves the cursor where it was.
                let events = core.read_selected::<P>(&self.region.clone().positions(a..=b))?;
                self.buffer.extend(events);
            }
            self.scanned = end;
            if self.buffer.is_empty() {
                self.position = end;
            }
        }
        Ok(())
    }
}

impl<P: DeserializeOwned> Iterator for Cursor<'_, P> {
    type Item = Result<StoredEvent<P>, StoreError>;

    /// The next durable event, or `None` when caught up (not fused: a later
    /// call yields events committed since).
    fn next(&mut self) -> Option<Self::Item> {
        self.try_next().transpose()
    }
}

fn cursor_error(path: &Path, problem: CursorFileProblem) -> StoreError {
    StoreError::CursorFile {
        path: path.to_path_buf(),
        problem,
    }
}

fn file_checksum(head: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(b"batpak.cursor.v1");
    h.update(head);
    *h.finalize().as_bytes()
}

fn encode_file(position: u64, region: &Region) -> Vec<u8> {
    let mut out = Vec::with_capacity(CURSOR_FILE_LEN);
    out.extend_from_slice(CURSOR_MAGIC);
    out.extend_from_slice(&CURSOR_FILE_VERSION.to_le_bytes());
    out.extend_from_slice(&position.to_le_bytes());
    out.extend_from_slice(&region_fingerprint(region));
    let sum = file_checksum(&out);
    out.extend_from_slice(&sum);
    out
}

fn decode_file(bytes: &[u8], region: &Region) -> Result<u64, CursorFileProblem> {
    if bytes.len() != CURSOR_FILE_LEN {
        return Err(CursorFileProblem::Length {
            len: bytes.len(),
            expected: CURSOR_FILE_LEN,
        });
    }
    let (head, sum) = bytes.split_at(CHECKSUM_AT);
    if bytes.get(..MAGIC_LEN) != Some(&CURSOR_MAGIC[..]) {
        return Err(CursorFileProblem::Magic);
    }
    if file_checksum(head) != sum {
        return Err(CursorFileProblem::Checksum);
    }
    let mut version = [0u8; VERSION_LEN];
    version.copy_from_slice(
        head.get(VERSION_AT..POSITION_AT)
            .unwrap_or(&[0; VERSION_LEN]),
    );
    let version = u16::from_le_bytes(version);
    if version != CURSOR_FILE_VERSION {
        return Err(CursorFileProblem::Version { found: version });
    }
    if head.get(REGION_AT..CHECKSUM_AT) != Some(&region_fingerprint(region)[..]) {
        return Err(CursorFileProblem::Region);
    }
    let mut position = [0u8; POSITION_LEN];
    position.copy_from_slice(
        head.get(POSITION_AT..REGION_AT)
            .unwrap_or(&[0; POSITION_LEN]),
    );
    Ok(u64::from_le_bytes(position))
}
