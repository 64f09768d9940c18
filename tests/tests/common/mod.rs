//! Helpers shared by the store tests: scratch directories, a tiny
//! independent reader of the segment format (written from FORMAT.md, not
//! from the store's code), and byte-level surgery on store files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use batpak::{Coordinate, EventKind};
use serde::{Deserialize, Serialize};

/// A payload shaped like the benchmark's: a few fields, ~100 bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    pub n: u64,
    pub amount_cents: u64,
    pub note: String,
}

pub fn payload(n: u64) -> Payload {
    Payload {
        n,
        amount_cents: n * 7,
        note: format!("payload number {n}"),
    }
}

pub const KIND: EventKind = EventKind::new(7, 1);
pub const OTHER_KIND: EventKind = EventKind::new(7, 2);

pub fn coord(entity: &str) -> Coordinate {
    Coordinate::new(entity, "test").unwrap()
}

/// A scratch directory on tmpfs when available (fast fsync), else /tmp.
pub fn fast_dir() -> tempfile::TempDir {
    if Path::new("/dev/shm").is_dir() {
        tempfile::tempdir_in("/dev/shm").unwrap()
    } else {
        tempfile::tempdir().unwrap()
    }
}

pub const SEGMENT_HEADER_LEN: usize = 32;
pub const FRAME_PREFIX_LEN: usize = 8;

pub fn segment_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:010}.seg"))
}

/// (offset, total frame length) of every frame in a segment file, read per
/// FORMAT.md and checked with an independent CRC.
pub fn frames(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = SEGMENT_HEADER_LEN;
    while at + FRAME_PREFIX_LEN <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().unwrap());
        let end = at + FRAME_PREFIX_LEN + len;
        if len == 0 || end > bytes.len() {
            break;
        }
        let mut h = crc32fast::Hasher::new();
        h.update(&bytes[at..at + 4]);
        h.update(&bytes[at + 8..end]);
        if h.finalize() != crc {
            break;
        }
        out.push((at, end - at));
        at = end;
    }
    out
}

/// Copies every regular file of `from` into a new scratch directory.
pub fn copy_store(from: &Path) -> tempfile::TempDir {
    let to = fast_dir();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.path().join(entry.file_name())).unwrap();
        }
    }
    to
}

/// Snapshot of all files in a directory (name, bytes), sorted.
pub fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (xorshift64*), so every randomized test
/// prints a seed and can be replayed with it.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    pub fn from_env(name: &str) -> (Self, u64) {
        let seed = std::env::var(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("seed: {name}={seed}");
        (Self::new(seed), seed)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Serialises the tests of one binary that spawn processes while a store is
/// open. `Command::spawn` forks, and a child forked while another test's
/// store is open shares that store's flock until exec closes the file, so a
/// concurrent reopen (or child open) could briefly see `StoreLocked`. A
/// failed test must not fail the others, so a poisoned lock is taken anyway.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
