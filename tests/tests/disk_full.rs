//! A real write failure, written once and run on every backend: a small
//! tmpfs gives a genuine ENOSPC (in a segment write, or inside the redb or
//! LMDB commit). After it the store refuses appends, batches and syncs until
//! reopened (sticky `Poisoned`), the failed append is not acknowledged, and
//! after reopen every acknowledged event is there, nothing beyond the one
//! failed append appears, the log verifies and (once the tmpfs is grown)
//! appends continue. Skipped, with a message, where mounting is not
//! permitted.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use batpak::prelude::*;
use batpak::{Backend, EventId};
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

/// Fills a `tmpfs_size` tmpfs until an append fails, then checks poisoning,
/// reopen and resumption. `segment` sets the segment size and how much log
/// lies between checkpoints at rotation (segment only).
fn fill_until_failure(b: Backend, tmpfs_size: &str, segment: Option<(u64, u64)>) {
    let root = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(root.path(), tmpfs_size) else {
        eprintln!("{b}: skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = root.path().join("store");
    let config = || {
        let c = StoreConfig::new(&dir).backend(b);
        match segment {
            Some((max, every)) => c.segment_max_bytes(max).checkpoint_every_bytes(every),
            None => c,
        }
    };
    let store = Store::open(config()).unwrap();
    let mut acked: Vec<EventId> = Vec::new();
    let failure = loop {
        let n = acked.len() as u64;
        match store.append(&coord(&format!("e{}", n % 7)), KIND, &payload(n)) {
            Ok(r) => acked.push(r.event_id),
            Err(e) => break e,
        }
        assert!(acked.len() < 200_000, "{b}: the disk never filled");
    };
    // The segment engine writes the files itself; redb and LMDB may wrap
    // the error as their own.
    let expected = match b {
        Backend::Segment => matches!(failure, StoreError::Io { .. }),
        _ => matches!(failure, StoreError::Engine { .. } | StoreError::Io { .. }),
    };
    assert!(expected, "{b}: {failure}");
    // Sticky: no more appends, batches or syncs, whatever the size, until
    // reopened.
    let err = store.append(&coord("tiny"), KIND, &1u8).unwrap_err();
    assert!(matches!(err, StoreError::Poisoned), "{b}: {err}");
    let batch = [(KIND, 2u8)];
    let err = store
        .append_batch(&coord("tiny"), &batch, AppendOptions::new())
        .unwrap_err();
    assert!(matches!(err, StoreError::Poisoned), "{b}: {err}");
    let err = store.sync().unwrap_err();
    assert!(matches!(err, StoreError::Poisoned), "{b}: {err}");
    drop(store);

    let check = |store: &Store, when: &str| {
        for id in &acked {
            assert!(
                store.get::<Payload>(*id).unwrap().is_some(),
                "{b} {when}: an acknowledged event was lost"
            );
        }
        // The failed append was never acknowledged; it may or may not be
        // there (a commit can fail after its data is on disk), but nothing
        // beyond it.
        let events = store.stats().events;
        let acked = acked.len() as u64;
        assert!(
            events == acked || events == acked + 1,
            "{b} {when}: {events} events after reopen, {acked} acknowledged"
        );
        assert!(store.verify().unwrap().is_ok(), "{b} {when}");
    };
    // Reopen on the still-full disk.
    let store = Store::open(config()).unwrap_or_else(|e| panic!("{b}: reopen while full: {e}"));
    check(&store, "reopened while full");
    let truncated = store.stats().truncated_bytes;
    drop(store);
    mount.grow("64m");
    let store = Store::open(config()).unwrap();
    check(&store, "reopened after growing");
    store.append(&coord("after"), KIND, &payload(0)).unwrap();
    store.close().unwrap();
    eprintln!(
        "{b} (segment max, checkpoint every {segment:?}): {} acknowledged before ENOSPC, all present; \
         {truncated} bytes cut at reopen",
        acked.len()
    );
}

/// Under a buffered policy, a failed write or sync (a real ENOSPC, in the
/// background flusher or in `sync`) leaves no acknowledgement behind for an
/// event that is not durable: every ticket at or after the durable
/// watermark fails with `Poisoned`, every one before it succeeds, and after
/// reopen every event below the watermark is there.
fn no_acknowledgement_after_a_failure(b: Backend, policy: SyncPolicy, tmpfs_size: &str) {
    let root = tempfile::tempdir().unwrap();
    let Some(mount) = Mount::tmpfs(root.path(), tmpfs_size) else {
        eprintln!("{b}: skipped: cannot mount a tmpfs here");
        return;
    };
    let dir = root.path().join("store");
    let config = || StoreConfig::new(&dir).backend(b).sync_policy(policy);
    let store = Store::open(config()).unwrap();
    let mut tickets = Vec::new();
    let failure = loop {
        let n = tickets.len() as u64;
        let appended = store.append_pipelined(
            &coord(&format!("e{}", n % 7)),
            KIND,
            &payload(n),
            AppendOptions::new(),
        );
        match appended {
            Ok(ticket) => tickets.push(ticket),
            Err(e) => break e,
        }
        if tickets.len() % 16 == 0
            && let Err(e) = store.sync()
        {
            break e;
        }
        assert!(
            tickets.len() < 200_000,
            "{b} {policy:?}: the disk never filled"
        );
    };
    assert!(
        matches!(
            failure,
            StoreError::Io { .. } | StoreError::Engine { .. } | StoreError::Poisoned
        ),
        "{b} {policy:?}: {failure}"
    );
    let durable = store.stats().durable_events;
    let mut acknowledged = Vec::new();
    for ticket in tickets {
        let position = ticket.receipt().position;
        match ticket.wait() {
            Ok(receipt) => {
                assert!(
                    position < durable,
                    "{b} {policy:?}: position {position} acknowledged after the failure, \
                     but only {durable} events are durable"
                );
                acknowledged.push(receipt.event_id);
            }
            Err(e) => {
                assert!(matches!(e, StoreError::Poisoned), "{b} {policy:?}: {e}");
                assert!(
                    position >= durable,
                    "{b} {policy:?}: durable {position} refused"
                );
            }
        }
    }
    drop(store);
    mount.grow("64m");
    let store = Store::open(config()).unwrap();
    for id in &acknowledged {
        assert!(
            store.get::<Payload>(*id).unwrap().is_some(),
            "{b} {policy:?}: an acknowledged event was lost"
        );
    }
    assert!(store.verify().unwrap().is_ok());
    eprintln!(
        "{b} {policy:?}: {} acknowledged (all durable, all present after reopen)",
        acknowledged.len()
    );
}

/// The two buffered policies, one after another on one backend.
fn buffered_policies_acknowledge_nothing_after_a_failure(b: Backend, tmpfs_size: &str) {
    no_acknowledgement_after_a_failure(b, SyncPolicy::Manual, tmpfs_size);
    no_acknowledgement_after_a_failure(
        b,
        SyncPolicy::EveryN {
            events: 64,
            max_delay_ms: 5,
        },
        tmpfs_size,
    );
}

mod segment {
    use batpak::Backend;

    #[test]
    fn buffered_policies_acknowledge_nothing_after_a_failure() {
        let _serial = super::serial();
        super::buffered_policies_acknowledge_nothing_after_a_failure(Backend::Segment, "128k");
    }

    /// Both cases in one test: see `common::serial` for why tests that
    /// spawn processes (here `mount`) must not overlap.
    #[test]
    fn write_failure_poisons_until_reopen_and_loses_nothing_acknowledged() {
        let _serial = super::serial();
        // Failure while appending to one large segment.
        super::fill_until_failure(Backend::Segment, "128k", Some((1 << 30, 0)));
        // Failure while rotating through small segments.
        super::fill_until_failure(Backend::Segment, "128k", Some((4_000, 0)));
        // The same, with a checkpoint at every other rotation (the disk
        // may fill in one: it is best effort, and loses nothing).
        super::fill_until_failure(Backend::Segment, "128k", Some((4_000, 8_000)));
    }
}

mod redb {
    #[test]
    fn buffered_policies_acknowledge_nothing_after_a_failure() {
        let _serial = super::serial();
        super::buffered_policies_acknowledge_nothing_after_a_failure(batpak::Backend::Redb, "2m");
    }

    #[test]
    fn write_failure_poisons_until_reopen_and_loses_nothing_acknowledged() {
        let _serial = super::serial();
        super::fill_until_failure(batpak::Backend::Redb, "2m", None);
    }
}

mod lmdb {
    #[test]
    fn buffered_policies_acknowledge_nothing_after_a_failure() {
        let _serial = super::serial();
        super::buffered_policies_acknowledge_nothing_after_a_failure(batpak::Backend::Lmdb, "2m");
    }

    #[test]
    fn write_failure_poisons_until_reopen_and_loses_nothing_acknowledged() {
        let _serial = super::serial();
        super::fill_until_failure(batpak::Backend::Lmdb, "2m", None);
    }
}
