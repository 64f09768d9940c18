//! The one seam between the segment engine and the file system.
//!
//! Every file operation the engine performs goes through [`SegmentFs`] and
//! [`SegmentFile`], so a test can substitute a file system that remembers
//! what was synced and "crashes" (dropping or tearing unsynced writes), or
//! that fails the N-th operation. [`StdFs`] is the real one. Implementations
//! must give `append` append-only semantics and make `sync_data` cover every
//! byte appended before it.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// An open segment (or checkpoint) file.
pub(crate) trait SegmentFile: Send + Sync + Debug {
    /// Appends all of `bytes` at the end of the file.
    fn append(&self, bytes: &[u8]) -> io::Result<()>;
    /// Fills `buf` from `offset`; `UnexpectedEof` when the file is shorter.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and metadata durable (fsync).
    fn sync_all(&self) -> io::Result<()>;
}

/// The file-system operations the segment engine uses.
pub(crate) trait SegmentFs: Send + Sync + Debug {
    /// Names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// A file's length.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Creates a file that must not exist yet, for reading and appending.
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    /// Opens an existing file for reading and appending.
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    /// Opens an existing file for reading.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>>;
    /// Cuts a file to `len` bytes and fsyncs it.
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()>;
    /// Removes a file (`NotFound` is the caller's to ignore).
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Writes a whole file (replacing it) and fsyncs it.
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
    /// Renames a file, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsyncs a directory, making created, renamed and removed entries durable.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StdFs;

#[derive(Debug)]
struct StdFile(File);

impl SegmentFile for StdFile {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        (&self.0).write_all(bytes)
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.0.read_exact_at(buf, offset)
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
    fn sync_all(&self) -> io::Result<()> {
        self.0.sync_all()
    }
}

impl SegmentFs for StdFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_owned());
            }
        }
        Ok(names)
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        let file = OpenOptions::new().read(true).append(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn SegmentFile>> {
        Ok(Arc::new(StdFile(File::open(path)?)))
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        let file = OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        file.sync_all()
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut file = File::create(path)?;
        file.write_all(bytes)?;
        file.sync_all()
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}
