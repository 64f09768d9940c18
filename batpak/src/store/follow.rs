//! [`Follower`]: reads a segment store's files while a writer appends,
//! without taking the directory's lock (what `batpak tail` runs on).
//!
//! The writer holds the directory's lock exclusively, so no [`Store`]
//! (even read-only) can open beside it. A follower opens no store: it reads
//! segment files as FORMAT.md describes them, from a position onwards, and
//! only reads: it never creates, truncates, locks or renames anything.
//!
//! What it shows, and what it cannot:
//! - **Whole frames only.** A frame whose length runs past the bytes
//!   present, or whose CRC does not match yet, is a write in progress (or a
//!   torn tail): the follower stops before it and reads it again at the
//!   next [`Follower::poll`] (the writer writes into space it reserved, so
//!   a read can see part of a write, zeros after it). It never shows a torn
//!   tail.
//! - **Whole batches only.** Events of one `append_batch` are shown
//!   together, once the batch's last frame is there.
//! - **Written, not necessarily durable.** It sees what the writer handed to
//!   the operating system. With a sync policy other than `Always` that can
//!   include events not yet synced, which a power loss could still take
//!   (an ordinary crash of the writer cannot). Acknowledged events under
//!   `SyncPolicy::Always` are durable.
//! - **Not the index.** It reads frames in position order and checks each
//!   position follows the last (a gap is reported); it does not check hash
//!   chains across the log (run `verify` on a closed store for that), so the
//!   `hash` it returns is the chain link computed from the event's stored
//!   `prev_hash`.
//! - **Segment stores only.** redb and LMDB stores keep their log in a
//!   database file the follower does not read ([`StoreError::BackendMismatch`]).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::backend::Backend;
use super::engine::body::split_body;
use super::engine::choose::BACKEND_FILE;
use super::engine::segment::format::{
    FRAME_PREFIX_LEN, FrameCheck, SEGMENT_HEADER_LEN, check_frame, decode_segment_header,
    frame_body, segment_file_name,
};
use super::error::{Place, StoreError};
use crate::event::{Hash, StoredEvent, decode_header, decode_payload};

/// Follows a segment store's log from a position, without its lock. See
/// the module docs for what it can and cannot see.
///
/// ```
/// use batpak::{Coordinate, EventKind, Follower, Store, StoreConfig};
/// let dir = tempfile::tempdir()?;
/// let store = Store::open(StoreConfig::new(dir.path()))?;  // the writer
/// let mut follower = Follower::open(dir.path())?;           // beside it
/// let coord = Coordinate::new("order:1", "shop")?;
/// store.append(&coord, EventKind::custom(7, 1)?, &"placed")?;
/// let seen = follower.poll::<String>()?;
/// assert_eq!(seen[0].payload, "placed");
/// assert!(follower.poll::<String>()?.is_empty());          // nothing new
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Follower {
    dir: PathBuf,
    /// The segment being read (from 1).
    segment: u32,
    /// Byte offset of the next frame in it.
    offset: u64,
    /// Global position of the next event.
    position: u64,
    /// Bytes read past `offset` in this poll, not yet whole frames.
    pending: Vec<u8>,
}

impl Follower {
    /// Follows the store in `dir` from its first event.
    ///
    /// # Errors
    /// [`StoreError::BackendMismatch`] for a redb or LMDB store, I/O errors
    /// reading the directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let dir = dir.into();
        check_segment_store(&dir)?;
        Ok(Self {
            dir,
            segment: 1,
            offset: SEGMENT_HEADER_LEN as u64,
            position: 0,
            pending: Vec::new(),
        })
    }

    /// The global position of the next event [`Follower::poll`] returns.
    #[must_use]
    pub fn position(&self) -> u64 {
        self.position
    }

    /// Skips to the first event at or after global position `position`
    /// (reading, not decoding the payloads of, the events before it), or to
    /// the end of what is written so far.
    ///
    /// # Errors
    /// As [`Follower::poll`].
    pub fn skip_to(&mut self, position: u64) -> Result<(), StoreError> {
        while self.position < position && self.next_batch()?.is_some() {}
        Ok(())
    }

    /// Every whole event written since the last call, in position order
    /// (empty when there is none yet).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] for a damaged segment header, a frame that
    /// does not decode, or a gap in positions; [`StoreError::Codec`] when a
    /// payload does not fit `P`; I/O errors.
    pub fn poll<P: DeserializeOwned>(&mut self) -> Result<Vec<StoredEvent<P>>, StoreError> {
        let mut out = Vec::new();
        while let Some(batch) = self.next_batch()? {
            for (header, payload, hash) in batch {
                let payload = decode_payload(&payload)?;
                out.push(StoredEvent {
                    header,
                    payload,
                    hash,
                });
            }
        }
        Ok(out)
    }

    /// The next whole batch, or `None` when it is not (all) written yet.
    fn next_batch(&mut self) -> Result<Option<Vec<Frame>>, StoreError> {
        loop {
            let at_end = self.read_more()?;
            match self.whole_batch()? {
                Next::Batch(batch) => return Ok(Some(batch)),
                // The batch may end past the bytes read so far.
                Next::Short if !at_end => continue,
                Next::Short | Next::Unwritten => {}
            }
            // What follows the last whole batch may be a write in progress,
            // read in part: it is read again at the next poll.
            let partial = !self.pending.is_empty();
            self.pending.clear();
            if partial || !self.next_segment_started()? {
                return Ok(None);
            }
            self.segment += 1;
            self.offset = SEGMENT_HEADER_LEN as u64;
        }
    }

    /// Whether the next segment exists and starts where this one ended
    /// (the writer rotated: this segment will not grow).
    fn next_segment_started(&self) -> Result<bool, StoreError> {
        let path = self.dir.join(segment_file_name(self.segment + 1));
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        match File::open(&path).and_then(|mut f| f.read_exact(&mut header)) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::UnexpectedEof
                ) =>
            {
                return Ok(false);
            }
            Err(e) => return Err(StoreError::io("read", &path, e)),
        }
        let place = Place::Segment {
            segment: self.segment + 1,
            offset: 0,
        };
        let header = decode_segment_header(&header)
            .map_err(|_| StoreError::corrupt(place.clone(), "segment header does not decode"))?;
        if header.first_position != self.position {
            return Err(StoreError::corrupt(
                place,
                format!(
                    "segment starts at position {}, the previous one ended at {}",
                    header.first_position, self.position
                ),
            ));
        }
        Ok(true)
    }

    /// Appends the next bytes of the segment after what was read to
    /// `pending`: [`READ_WINDOW`] of them, or as many as `pending` holds
    /// (a batch longer than a window is read in doubling steps). True when
    /// the read reached the end of the file.
    fn read_more(&mut self) -> Result<bool, StoreError> {
        let path = self.dir.join(segment_file_name(self.segment));
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
            Err(e) => return Err(StoreError::io("open", &path, e)),
        };
        let start = self.offset + self.pending.len() as u64;
        let want = READ_WINDOW.max(self.pending.len());
        let before = self.pending.len();
        file.seek(SeekFrom::Start(start))
            .and_then(|_| (&mut file).take(want as u64).read_to_end(&mut self.pending))
            .map_err(|e| StoreError::io("read", &path, e))?;
        Ok(self.pending.len() - before < want)
    }

    /// Takes the first batch off `pending` when all its frames are whole;
    /// else says why not.
    fn whole_batch(&mut self) -> Result<Next, StoreError> {
        let mut at = 0usize;
        let mut batch = Vec::new();
        loop {
            let bytes = &self.pending[at..];
            let place = Place::Segment {
                segment: self.segment,
                offset: self.offset + at as u64,
            };
            // The segment's own maximum is only a bound on a valid length;
            // u32::MAX defers to the CRC, which a partial write fails.
            let len = match check_frame(bytes, u32::MAX) {
                FrameCheck::Valid { body_len } => body_len,
                FrameCheck::ShortPrefix | FrameCheck::PastEnd(_) => return Ok(Next::Short),
                // A zero length (space reserved, not written yet) or a
                // frame whose bytes are all there but its CRC fails (a
                // write in progress): nothing after it can be whole yet.
                _ => return Ok(Next::Unwritten),
            };
            let frame_len = FRAME_PREFIX_LEN + len as usize;
            let body = frame_body(&bytes[..frame_len]);
            let parts = split_body(body)
                .ok_or_else(|| StoreError::corrupt(place.clone(), "frame body does not split"))?;
            let header = decode_header(parts.header)
                .map_err(|e| StoreError::corrupt(place.clone(), e.to_string()))?;
            let expected = self.position + batch.len() as u64;
            if header.position != expected {
                return Err(StoreError::corrupt(
                    place,
                    format!("position {} where {expected} was expected", header.position),
                ));
            }
            let hash = Hash::chain(&header.prev_hash, parts.header, parts.payload);
            batch.push((header, parts.payload.to_vec(), hash));
            at += frame_len;
            if parts.batch_rest == 0 {
                break;
            }
        }
        self.pending.drain(..at);
        self.offset += at as u64;
        self.position += batch.len() as u64;
        Ok(Next::Batch(batch))
    }
}

/// One decoded frame: header, payload bytes, chain link.
type Frame = (crate::event::EventHeader, Vec<u8>, Hash);

/// Bytes of a segment a poll reads at a time past what it holds: an idle
/// poll reads one window of the space the writer reserved, not all of it.
const READ_WINDOW: usize = 64 * 1024;

/// What [`Follower::whole_batch`] found.
enum Next {
    /// A whole batch, taken off the bytes held.
    Batch(Vec<Frame>),
    /// The bytes held end inside the batch: more may be in the file.
    Short,
    /// The batch's next frame is not written (yet): reading further
    /// cannot complete it.
    Unwritten,
}

/// Refuses a directory whose backend marker names another engine.
fn check_segment_store(dir: &Path) -> Result<(), StoreError> {
    let marker = dir.join(BACKEND_FILE);
    let text = match std::fs::read_to_string(&marker) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dir.is_dir() {
                return Ok(());
            }
            return Err(StoreError::NotADirectory {
                path: dir.to_path_buf(),
            });
        }
        Err(e) => return Err(StoreError::io("read", &marker, e)),
    };
    match text
        .trim_end()
        .rsplit(' ')
        .next()
        .and_then(Backend::from_name)
    {
        Some(Backend::Segment) | None => Ok(()),
        Some(other) => Err(StoreError::BackendMismatch {
            found: other,
            requested: Backend::Segment,
        }),
    }
}
