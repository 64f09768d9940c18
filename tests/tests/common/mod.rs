//! Helpers shared by the store tests: scratch directories, a tiny
//! independent reader of the segment format (written from FORMAT.md, not
//! from the store's code), and byte-level surgery on store files.
//!
//! The helpers that name no batpak type live in their own files, so that
//! tests outside this package (`batpak/tests/cli.rs`, the library's crash
//! model) include the same copy with `#[path]` instead of writing another.
// Every test binary includes this module and uses a different part of it.
#![allow(dead_code, unused_imports)]

mod dirs;
mod rng;
mod segment_bytes;

pub(crate) use dirs::*;
pub(crate) use rng::*;
pub(crate) use segment_bytes::*;

use std::path::Path;

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

/// An admission as a header stores it (FORMAT.md: `0`, `[1, gates]`,
/// `[2, by, reason]`). Outside batpak a gated or bypassed admission can only
/// be read from a record (only the pipeline writes one), so tests that need
/// one in a hand-made header read it back from this.
#[derive(Debug, Clone)]
pub enum AdmissionRecord {
    Direct,
    Gated { gates: Vec<String> },
    Bypassed { by: String, reason: String },
}

impl AdmissionRecord {
    /// The stored bytes, written from FORMAT.md rather than by batpak.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Self::Direct => rmp_serde::to_vec(&0u8),
            Self::Gated { gates } => rmp_serde::to_vec(&(1u8, gates)),
            Self::Bypassed { by, reason } => rmp_serde::to_vec(&(2u8, by, reason)),
        }
        .unwrap()
    }
}

/// `record` decoded as a store decodes a header's admission.
pub fn read_admission(record: &AdmissionRecord) -> batpak::Admission {
    rmp_serde::from_slice(&record.to_bytes()).unwrap()
}

/// A record of `gates` having admitted an event.
pub fn gated_record(gates: &[&str]) -> batpak::Admission {
    read_admission(&AdmissionRecord::Gated {
        gates: gates.iter().map(|g| (*g).to_owned()).collect(),
    })
}

/// A record of a bypass by `by` for `reason`.
pub fn bypassed_record(by: &str, reason: &str) -> batpak::Admission {
    read_admission(&AdmissionRecord::Bypassed {
        by: by.to_owned(),
        reason: reason.to_owned(),
    })
}
