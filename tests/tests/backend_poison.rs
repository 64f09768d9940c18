//! Poisoning on redb and LMDB with a real write failure: a small tmpfs gives
//! a genuine ENOSPC inside the engine's commit. After it the store refuses
//! appends and syncs until reopened, the failed append is not acknowledged,
//! and (after the tmpfs is grown) every acknowledged event is there, the log
//! verifies and appends continue. Skipped, with a message, where mounting is
//! not permitted.

use std::path::{Path, PathBuf};
use std::process::Command;

use batpak::prelude::*;
use batpak::{Backend, EventId};

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

    fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount of the test tmpfs failed");
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

const KIND: EventKind = EventKind::new(7, 1);

fn fill_until_failure(b: Backend) {
    let root = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(root.path(), "2m") else {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = root.path().join("store");
    let config = || StoreConfig::new(&dir).backend(b);
    let store = Store::open(config()).unwrap();
    let note = "x".repeat(200);
    let mut acked: Vec<EventId> = Vec::new();
    let failure = loop {
        let n = acked.len() as u64;
        match store.append(&coord(&format!("e{}", n % 7)), KIND, &(n, &note)) {
            Ok(r) => acked.push(r.event_id),
            Err(e) => break e,
        }
        assert!(acked.len() < 200_000, "{b}: the disk never filled");
    };
    assert!(
        matches!(failure, StoreError::Engine { .. } | StoreError::Io { .. }),
        "{b}: {failure}"
    );
    let err = store.append(&coord("tiny"), KIND, &1u8).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned), "{b}: {err}");
    let batch = [(KIND, 2u8)];
    assert!(matches!(
        store.append_batch(&coord("tiny"), &batch, AppendOptions::new()),
        Err(StoreError::Poisoned)
    ));
    drop(store);
    mount.grow("64m");
    let store = Store::open(config()).unwrap();
    for id in &acked {
        assert!(
            store.get::<(u64, String)>(*id).unwrap().is_some(),
            "{b}: an acknowledged event was lost"
        );
    }
    let stats = store.stats();
    // The failed append was never acknowledged; it may or may not be there
    // (a commit can fail after its data is on disk), but nothing beyond it.
    assert!(
        stats.events == acked.len() as u64 || stats.events == acked.len() as u64 + 1,
        "{b}: {} events after reopen, {} acknowledged",
        stats.events,
        acked.len()
    );
    assert!(store.verify().unwrap().is_ok(), "{b}");
    store.append(&coord("after"), KIND, &(0u64, "ok")).unwrap();
    store.close().unwrap();
    eprintln!(
        "{b}: {} acknowledged before ENOSPC, all present",
        acked.len()
    );
}

#[test]
fn redb_enospc_poisons_and_loses_no_acknowledged_event() {
    fill_until_failure(Backend::Redb);
}

#[test]
fn lmdb_enospc_poisons_and_loses_no_acknowledged_event() {
    fill_until_failure(Backend::Lmdb);
}
