//! Poisoning on a real write failure: a tiny tmpfs gives a genuine ENOSPC.
//! After the failure the store refuses appends until reopened, nothing from
//! the failed append was acknowledged, and every acknowledged event is there
//! after reopen. Skipped (with a message) where mounting is not permitted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use batpak::EventId;
use batpak::prelude::*;
use common::*;

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path, size: &str) -> Option<Self> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Self(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn fill_until_failure(segment_max: u64) {
    let root = tempfile::tempdir().unwrap();
    let Some(_mount) = Mount::tmpfs(root.path(), "128k") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = root.path().join("store");
    let config = || StoreConfig::new(&dir).segment_max_bytes(segment_max);
    let store = Store::open(config()).unwrap();
    let mut acked: Vec<EventId> = Vec::new();
    let failure = loop {
        let n = acked.len() as u64;
        match store.append(&coord(&format!("e{}", n % 7)), KIND, &payload(n)) {
            Ok(r) => acked.push(r.event_id),
            Err(e) => break e,
        }
        assert!(acked.len() < 100_000, "the disk never filled");
    };
    assert!(matches!(failure, StoreError::Io { .. }), "{failure}");
    // Sticky: no more appends, whatever the size, until reopened.
    let err = store.append(&coord("tiny"), KIND, &1u8).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned), "{err}");
    assert!(matches!(store.sync(), Err(StoreError::Poisoned)));
    drop(store);
    let store = Store::open(config()).unwrap();
    for id in &acked {
        assert!(
            store.get::<Payload>(*id).unwrap().is_some(),
            "acknowledged event lost"
        );
    }
    assert!(store.stats().events >= acked.len() as u64);
    assert!(store.verify().unwrap().is_ok());
    eprintln!(
        "{} events acknowledged before ENOSPC; {} bytes cut at reopen",
        acked.len(),
        store.stats().truncated_bytes
    );
}

/// Both cases run in one test on purpose: `mount` forks this process, and a
/// child forked while another test's store is open briefly shares that
/// store's lock (flock locks belong to the open file, which a fork shares
/// until exec closes it), which would make a concurrent reopen flaky.
#[test]
fn write_failure_poisons_until_reopen_and_loses_nothing_acknowledged() {
    // Failure while appending to one large segment.
    fill_until_failure(1 << 30);
    // Failure while rotating through small segments.
    fill_until_failure(4_000);
}
