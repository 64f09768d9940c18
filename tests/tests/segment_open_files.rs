//! The segment engine keeps a bounded number of segment files open: a store
//! of far more segments than the process may hold descriptors still opens
//! (by rescan and from its checkpoint), reads every segment and verifies.
//!
//! The work runs in a child process (this test binary again, one test
//! selected) whose descriptor limit is set by the shell's `ulimit -n`, so no
//! dependency is needed and the parent's limit is untouched.

mod common;

use std::process::Command;

use batpak::StoredEvent;
use batpak::prelude::*;
use common::*;

/// Set by the parent: the store directory the child works on.
const CHILD_DIR: &str = "BATPAK_OPEN_FILES_CHILD_DIR";
/// Segments in the store: one event each.
const SEGMENTS: u64 = 2_000;
/// Streams the events are spread over, round-robin.
const STREAMS: u64 = 10;
/// The child's descriptor limit: far below `SEGMENTS`, above what the
/// default bound may hold (64 segment files and 64 sealed index files).
const FD_LIMIT: u32 = 160;

fn config(dir: &str) -> StoreConfig {
    // Every append after the first of a segment rotates: one event a segment.
    StoreConfig::new(dir)
        .segment_max_bytes(1)
        .sync_policy(SyncPolicy::Manual)
}

/// Reads every event (one query, then stream by stream), checks them, and
/// verifies the store; returns a line saying what it did.
fn read_everything(store: &Store, how: &str) -> String {
    let all: Vec<StoredEvent<Payload>> = store.query(&Region::all()).unwrap();
    assert_eq!(all.len() as u64, SEGMENTS, "{how}");
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.payload, payload(i as u64), "{how}: event {i}");
    }
    let mut streamed = 0;
    for s in 0..STREAMS {
        let events: Vec<StoredEvent<Payload>> = store.stream(&coord(&format!("e{s}"))).unwrap();
        assert_eq!(events.len() as u64, SEGMENTS / STREAMS, "{how}: stream {s}");
        streamed += events.len();
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{how}: verify: {report:?}");
    format!(
        "{how}: {} segments, {} events queried, {streamed} streamed, verify ok, \
         {} segment files and {} sealed index files open",
        store.stats().segments,
        all.len(),
        open_files("seg"),
        open_files("idx"),
    )
}

/// Files named `*.{extension}` this process holds open now (Linux:
/// `/proc/self/fd`).
fn open_files(extension: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|fds| {
            fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
                .filter(|target| target.extension().is_some_and(|e| e == extension))
                .count()
        })
        .unwrap_or(0)
}

/// Child half: does nothing unless started by the test below.
#[test]
fn open_files_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    // No checkpoint: open rescans every segment.
    let store = Store::open(config(&dir)).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    println!("{}", read_everything(&store, "rescan open"));
    store.close().unwrap();
    let store = Store::open(config(&dir)).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    println!("{}", read_everything(&store, "checkpoint open"));
    assert!(open_files("seg") <= 64, "the default bound holds");
    assert!(
        open_files("idx") <= 64,
        "the default bound holds for tables"
    );
    store.close().unwrap();
    let store = Store::open_read_only(config(&dir).max_open_segments(8)).unwrap();
    println!(
        "{}",
        read_everything(&store, "read-only open, max_open_segments(8)")
    );
    assert!(open_files("seg") <= 8, "a configured bound holds");
    assert!(
        open_files("idx") <= 8,
        "a configured bound holds for tables"
    );
}

#[test]
fn store_of_more_segments_than_the_descriptor_limit_opens_reads_and_verifies() {
    let _serial = serial();
    let dir = fast_dir();
    let path = dir.path().to_str().unwrap().to_owned();
    let store = Store::open(config(&path)).unwrap();
    for i in 0..SEGMENTS {
        store
            .append(&coord(&format!("e{}", i % STREAMS)), KIND, &payload(i))
            .unwrap();
    }
    store.sync().unwrap();
    assert_eq!(store.stats().segments, SEGMENTS);
    // No checkpoint: the child's first open rescans.
    store.exit_without_checkpoint();

    let exe = std::env::current_exe().unwrap();
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(r#"ulimit -n {FD_LIMIT} && exec "$0" "$@""#))
        .arg(&exe)
        .args(["--exact", "open_files_child", "--nocapture"])
        .env(CHILD_DIR, &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("child (ulimit -n {FD_LIMIT}) stdout:\n{stdout}");
    assert!(
        output.status.success(),
        "child failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert_eq!(stdout.matches("verify ok").count(), 3, "{stdout}");
}
