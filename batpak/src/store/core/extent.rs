//! The durable extent record: how many events the log held when it was last
//! closed cleanly, kept outside the log.
//!
//! Losing the tail of the log (a deleted last segment, a log cut at a frame
//! boundary) leaves a log that is whole in itself and would open with fewer
//! events and no error. The record lives in its own small file, `EXTENT`,
//! replaced atomically by `close()`, so losing the log's tail cannot erase
//! it: open compares the log with it and refuses a shorter log with
//! [`StoreError::LogShorterThanRecorded`]. Repair mode accepts the shorter
//! log, reports what was lost and records the new extent. Dropping a
//! healthy store writes it as `close()` does; a killed process leaves the
//! previous record, still a true lower bound. Layout: FORMAT.md, "Extent record".

use std::path::Path;

use crate::store::error::{Place, StoreError};
use crate::store::fs::{FileSystem, replace_atomically};

/// Name of the extent record inside the store directory.
pub(crate) const EXTENT_FILE: &str = "EXTENT";
/// First bytes of the record.
const MAGIC: &[u8; 8] = b"BPEXTENT";
/// Layout version of the record.
const VERSION: u16 = 1;
const EVENTS_AT: usize = MAGIC.len() + 2;
const CRC_AT: usize = EVENTS_AT + 8;
/// Exact length of the record.
const RECORD_LEN: usize = CRC_AT + 4;

/// Reads the recorded extent: `None` when no record exists (a store never
/// closed, or made by an older build).
pub(super) fn read(fs: &dyn FileSystem, dir: &Path) -> Result<Option<u64>, StoreError> {
    let path = dir.join(EXTENT_FILE);
    let bytes = match fs.read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", &path, e)),
    };
    let damaged = |why: &str| StoreError::corrupt(Place::File { path: path.clone() }, why);
    if bytes.len() != RECORD_LEN || bytes.get(..MAGIC.len()) != Some(&MAGIC[..]) {
        return Err(damaged("the extent record is not one"));
    }
    let crc = u32::from_le_bytes(field(&bytes, CRC_AT));
    if crc != crc32fast::hash(&bytes[..CRC_AT]) {
        return Err(damaged("the extent record's checksum does not match"));
    }
    let version = u16::from_le_bytes(field(&bytes, MAGIC.len()));
    if version != VERSION {
        return Err(StoreError::UnsupportedFormat {
            found: version,
            supported: VERSION,
        });
    }
    Ok(Some(u64::from_le_bytes(field(&bytes, EVENTS_AT))))
}

/// Records that the log durably holds `events` events.
pub(super) fn write(fs: &dyn FileSystem, dir: &Path, events: u64) -> Result<(), StoreError> {
    let mut bytes = Vec::with_capacity(RECORD_LEN);
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&events.to_le_bytes());
    let crc = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    replace_atomically(fs, &dir.join(EXTENT_FILE), &bytes)
}

fn field<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(at..at + N) {
        out.copy_from_slice(src);
    }
    out
}
