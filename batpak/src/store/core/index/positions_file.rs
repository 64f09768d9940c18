//! The positions file: each stream's positions in sealed segments, written
//! beside the checkpoint by `close()` and read back one stream at a time,
//! so an open from a checkpoint holds no per-event state for history.
//!
//! Why: a stream's positions cost ~3 bytes per event in memory (100k
//! interleaved streams), which made memory and the clean open grow with
//! history. The positions of events in sealed segments never change, so the
//! checkpoint keeps for each stream only where they lie ([`Filed`]: count,
//! first, last, place and CRC-32, 40 bytes), and a read that needs them
//! reads that stream's varints with one positional read.
//!
//! Invariants: a [`Filed`] covers positions below the first entry held in
//! memory (`Entries::tail_first` when the checkpoint was written); the
//! positions after it stay in memory (`StreamState::recent`). Every read
//! checks the bytes against the CRC, the count, first and last the
//! checkpoint recorded. Layout: FORMAT.md, "Positions file".

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::positions::Positions;
use crate::coordinate::Coordinate;
use crate::store::engine::segment::POSITIONS_FILE;
use crate::store::error::{Place, StoreError};
use crate::store::fs::{FileSystem, FsFile};

/// The file's first bytes: magic and version.
const MAGIC: [u8; 8] = *b"BATPAKPS";
const VERSION: u16 = 1;
/// Bytes before the first stream's varints.
pub(crate) const HEADER_BYTES: u64 = 10;

/// Where one stream's filed positions lie in the positions file, and what
/// they must decode to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Filed {
    /// How many positions (0: none filed, the other fields are 0).
    pub(crate) count: u64,
    pub(crate) first: u64,
    pub(crate) last: u64,
    /// Byte offset of the varints in the file, and their length.
    pub(crate) offset: u64,
    pub(crate) len: u32,
    /// CRC-32 of the varints.
    pub(crate) crc: u32,
}

impl Filed {
    /// Whether every filed position is below `lo` (none to read from there).
    pub(crate) fn all_below(&self, lo: u64) -> bool {
        self.count == 0 || self.last < lo
    }

    /// Whether the fields can describe `count` strictly ascending varints
    /// inside a file of `file_len` bytes: first <= last with room for the
    /// count between them, at least one byte and at most ten per varint.
    pub(crate) fn is_plausible(&self, file_len: u64) -> bool {
        if self.count == 0 {
            return *self == Self::default();
        }
        let len = u64::from(self.len);
        self.first <= self.last
            && self.last - self.first >= self.count - 1
            && len >= self.count
            && len <= self.count.saturating_mul(10)
            && self.offset >= HEADER_BYTES
            && self
                .offset
                .checked_add(len)
                .is_some_and(|end| end <= file_len)
    }

    /// The positions in `bytes`, read from where this says in the file at
    /// `path`: a `Corrupt` error naming that file unless they are there and
    /// match.
    fn positions(
        &self,
        bytes: Option<Vec<u8>>,
        path: &Path,
        coordinate: &Coordinate,
    ) -> Result<Positions, StoreError> {
        if self.count == 0 {
            return Ok(Positions::default());
        }
        bytes.and_then(|b| self.check(b)).ok_or_else(|| {
            StoreError::corrupt(
                Place::File {
                    path: path.to_path_buf(),
                },
                format!(
                    "the positions of {coordinate:?} in this file do not match what the \
                     checkpoint recorded (a damaged or altered positions file)"
                ),
            )
        })
    }

    /// The positions in `bytes` (the varints this describes), or `None`
    /// unless they match the CRC, count, first and last.
    fn check(&self, bytes: Vec<u8>) -> Option<Positions> {
        if crc32fast::hash(&bytes) != self.crc {
            return None;
        }
        let positions = Positions::decode_owned(self.count, bytes)?;
        (positions.first() == Some(self.first) && positions.last() == Some(self.last))
            .then_some(positions)
    }
}

/// The positions file an open index reads from: opened once, when its
/// checkpoint was accepted, and held, so a later close that writes a new
/// file (renamed over this name) does not disturb reads.
#[derive(Debug)]
pub(crate) struct PositionsFile {
    file: Arc<dyn FsFile>,
    path: PathBuf,
    len: u64,
}

impl PositionsFile {
    /// Opens the positions file in `dir`, or `None` unless it is there with
    /// the length the checkpoint recorded and its header.
    pub(crate) fn open(fs: &dyn FileSystem, dir: &Path, len: u64) -> Option<Self> {
        let path = dir.join(POSITIONS_FILE);
        if fs.len(&path).ok()? != len || len < HEADER_BYTES {
            return None;
        }
        let file = fs.open_read(&path).ok()?;
        let mut header = [0u8; HEADER_BYTES as usize];
        file.read_at(&mut header, 0).ok()?;
        (header == header_bytes()).then_some(Self { file, path, len })
    }

    /// The filed positions of `coordinate`'s stream, read and checked.
    pub(crate) fn read(
        &self,
        filed: &Filed,
        coordinate: &Coordinate,
    ) -> Result<Positions, StoreError> {
        if filed.count == 0 {
            return Ok(Positions::default());
        }
        let mut bytes = vec![0u8; filed.len as usize];
        self.file
            .read_at(&mut bytes, filed.offset)
            .map_err(|e| StoreError::io("read", &self.path, e))?;
        filed.positions(Some(bytes), &self.path, coordinate)
    }

    /// The whole file, for a close that writes the next one.
    pub(crate) fn read_all(&self) -> Result<FiledBytes, StoreError> {
        let mut bytes = vec![0u8; usize::try_from(self.len).unwrap_or(usize::MAX)];
        self.file
            .read_at(&mut bytes, 0)
            .map_err(|e| StoreError::io("read", &self.path, e))?;
        Ok(FiledBytes {
            bytes,
            path: self.path.clone(),
        })
    }
}

/// A positions file read whole.
pub(crate) struct FiledBytes {
    bytes: Vec<u8>,
    path: PathBuf,
}

impl FiledBytes {
    /// [`PositionsFile::read`], from memory.
    pub(crate) fn read(
        &self,
        filed: &Filed,
        coordinate: &Coordinate,
    ) -> Result<Positions, StoreError> {
        let start = usize::try_from(filed.offset).unwrap_or(usize::MAX);
        let bytes = start
            .checked_add(filed.len as usize)
            .and_then(|end| self.bytes.get(start..end));
        filed.positions(bytes.map(<[u8]>::to_vec), &self.path, coordinate)
    }
}

fn header_bytes() -> [u8; HEADER_BYTES as usize] {
    let mut h = [0u8; HEADER_BYTES as usize];
    h[..8].copy_from_slice(&MAGIC);
    h[8..].copy_from_slice(&VERSION.to_le_bytes());
    h
}

/// The streams' positions filed for a checkpoint: the positions file to
/// write before it (`None`: none filed, or a file already there), its
/// length, and each stream's place in it, by stream number.
pub(crate) struct Filing {
    pub(crate) file: Option<Vec<u8>>,
    pub(super) file_len: u64,
    pub(super) streams: Vec<Filed>,
}

impl Filing {
    /// The positions file's length, whether one was to be written, and the
    /// streams' places in it.
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    pub(super) fn into_parts(self) -> (u64, bool, Vec<Filed>) {
        (self.file_len, self.file.is_some(), self.streams)
    }
}

/// A positions file being written, stream by stream.
pub(crate) struct FiledWriter {
    bytes: Vec<u8>,
}

impl FiledWriter {
    pub(crate) fn new() -> Self {
        Self {
            bytes: header_bytes().to_vec(),
        }
    }

    /// Adds `positions`' varints; returns where they lie.
    pub(crate) fn add(&mut self, positions: &Positions) -> Filed {
        let (Some(first), Some(last)) = (positions.first(), positions.last()) else {
            return Filed::default();
        };
        let varints = positions.encoded();
        let filed = Filed {
            count: positions.len(),
            first,
            last,
            offset: self.bytes.len() as u64,
            len: u32::try_from(varints.len()).unwrap_or(u32::MAX),
            crc: crc32fast::hash(varints),
        };
        self.bytes.extend_from_slice(varints);
        filed
    }

    /// The file's bytes, or `None` when no stream has filed positions (no
    /// file is needed).
    pub(crate) fn finish(self) -> Option<Vec<u8>> {
        (self.bytes.len() as u64 > HEADER_BYTES).then_some(self.bytes)
    }
}
