//! The one seam between the store and the file system.
//!
//! Every file the store writes (segments, the checkpoint, the backend
//! marker, cursor files) goes through [`FileSystem`] and [`FsFile`], so a
//! test can substitute a file system that remembers what was synced and
//! "crashes" (dropping or tearing unsynced writes), or that fails the N-th
//! operation. [`StdFs`] is the real one. Implementations must make
//! `sync_data` cover every byte written and every length set before it.
//! Segments are written at offsets, into space reserved ahead by
//! `set_len` (so an fdatasync need not record a new file size); whole small
//! files are only ever replaced by [`replace_atomically`], never rewritten
//! in place.

use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

use super::error::StoreError;

/// An open file (a segment, or a small file being written).
pub(crate) trait FsFile: Send + Sync + Debug {
    /// Writes all of `bytes` at `offset`, extending the file if it ends
    /// before them.
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// Sets the file's length: cut, or extended with zeros.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Fills `buf` from `offset`; `UnexpectedEof` when the file is shorter.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and metadata durable (fsync).
    fn sync_all(&self) -> io::Result<()>;
}

/// The file-system operations the store uses.
pub(crate) trait FileSystem: Send + Sync + Debug {
    /// Names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// The whole content of a file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// The whole content of a file, into `buf` (cleared first): lets a
    /// caller reading many large files in turn reuse one allocation.
    fn read_into(&self, path: &Path, buf: &mut Vec<u8>) -> io::Result<()>;
    /// A file's length.
    fn len(&self, path: &Path) -> io::Result<u64>;
    /// Creates a file that must not exist yet, for reading and writing.
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Opens an existing file for reading and writing.
    fn open_write(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
    /// Opens an existing file for reading.
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>>;
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

impl FsFile for StdFile {
    fn write_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(bytes, offset)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
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

impl FileSystem for StdFs {
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
    fn read_into(&self, path: &Path, buf: &mut Vec<u8>) -> io::Result<()> {
        let mut file = File::open(path)?;
        let len = file.metadata()?.len();
        buf.clear();
        buf.reserve_exact(usize::try_from(len).unwrap_or(0));
        file.read_to_end(buf).map(|_| ())
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        std::fs::metadata(path).map(|m| m.len())
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn open_write(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Arc::new(StdFile(file)))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
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

/// Replaces the file at `path` with `bytes` so that after a crash at any
/// point it holds either the old content or the new, never a mix: write a
/// temporary file beside it and fsync it, rename it over `path`, fsync the
/// directory. On an error the previous file is left intact.
pub(crate) fn replace_atomically(
    fs: &dyn FileSystem,
    path: &Path,
    bytes: &[u8],
) -> Result<(), StoreError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    fs.write_synced(&tmp, bytes)
        .map_err(|e| StoreError::io("write", &tmp, e))?;
    fs.rename(&tmp, path)
        .map_err(|e| StoreError::io("rename", path, e))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    fs.sync_dir(dir)
        .map_err(|e| StoreError::io("fsync directory", dir, e))
}
