//! Cursors: region order from a position, blocking on commits, durability,
//! saved positions, and an at-least-once restart after SIGKILL.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use batpak::prelude::*;
use batpak::{Cursor, CursorFileProblem, Delivery, Subscription};

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

fn fill(store: &Store, n: u64) {
    for i in 0..n {
        let entity = if i % 3 == 0 { "cart:1" } else { "order:1" };
        let kind = if i % 2 == 0 { PLACED } else { PAID };
        store.append(&coord(entity), kind, &i).unwrap();
    }
}

#[test]
fn cursor_reads_the_region_in_order_from_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    fill(&store, 5000);
    store.sync().unwrap();
    let region = Region::entity("order:1").kind(PLACED);
    for from in [0, 1, 17, 4096, 4999, 5000] {
        let expected = store
            .query::<u64>(&region.clone().from_position(from))
            .unwrap();
        let mut cursor = store.cursor::<u64>(region.clone(), from).unwrap();
        let got: Vec<_> = cursor.by_ref().map(Result::unwrap).collect();
        assert_eq!(got, expected, "from {from}");
        assert_eq!(cursor.position(), 5000);
    }
}

#[test]
#[allow(clippy::reversed_empty_ranges)] // the inverted range is the point
fn inverted_region_cannot_have_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let err = store
        .cursor::<u64>(Region::all().sequences(4..=2), 0)
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidRegion(_)));
}

#[test]
fn next_blocking_wakes_on_a_commit_and_next_timeout_expires() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut cursor = store.cursor::<u64>(Region::entity("order:1"), 0).unwrap();
    let started = Instant::now();
    assert!(
        cursor
            .next_timeout(Duration::from_millis(80))
            .unwrap()
            .is_none()
    );
    assert!(started.elapsed() >= Duration::from_millis(80));
    std::thread::scope(|s| {
        s.spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            // Outside the region first: the cursor must keep waiting.
            store.append(&coord("cart:1"), PLACED, &1_u64).unwrap();
            std::thread::sleep(Duration::from_millis(50));
            store.append(&coord("order:1"), PLACED, &2_u64).unwrap();
        });
        let e = cursor.next_blocking().unwrap();
        assert_eq!((e.payload, e.position()), (2, 1));
    });
    assert_eq!(cursor.position(), 2);
}

#[test]
fn cursor_yields_only_durable_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual);
    let store = Store::open(config).unwrap();
    let mut cursor = store.cursor::<u64>(Region::all(), 0).unwrap();
    store.append(&coord("order:1"), PLACED, &1_u64).unwrap();
    assert!(cursor.try_next().unwrap().is_none());
    assert!(
        cursor
            .next_timeout(Duration::from_millis(30))
            .unwrap()
            .is_none()
    );
    store.sync().unwrap();
    assert_eq!(cursor.try_next().unwrap().unwrap().payload, 1);
}

#[test]
fn saved_position_resumes_and_bad_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path().join("store"))).unwrap();
    fill(&store, 30);
    let region = Region::entity("order:1");
    let path = dir.path().join("consumer.pos");

    // No file yet: from the start.
    let mut cursor = Cursor::<u64>::resume(&store, region.clone(), &path).unwrap();
    assert_eq!(cursor.position(), 0);
    for _ in 0..5 {
        cursor.try_next().unwrap().unwrap();
    }
    let saved = cursor.position();
    cursor.commit_to(&path).unwrap();
    assert!(!dir.path().join("consumer.pos.tmp").exists());
    let mut resumed = Cursor::<u64>::resume(&store, region.clone(), &path).unwrap();
    assert_eq!(resumed.position(), saved);
    assert_eq!(
        resumed.try_next().unwrap(),
        cursor.try_next().unwrap(),
        "both continue with the same event"
    );

    // Layout (FORMAT.md): magic, version, position, region, checksum.
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 82);
    assert_eq!(&bytes[..8], b"BPCURSOR");
    assert_eq!(bytes[8..10], 1_u16.to_le_bytes());
    assert_eq!(bytes[10..18], saved.to_le_bytes());
    let mut h = blake3::Hasher::new();
    h.update(b"batpak.cursor.v1");
    h.update(&bytes[..50]);
    assert_eq!(&bytes[50..], h.finalize().as_bytes());

    // Another region: refused.
    let err = Cursor::<u64>::resume(&store, Region::all(), &path).unwrap_err();
    assert!(matches!(
        err,
        StoreError::CursorFile {
            problem: CursorFileProblem::Region,
            ..
        }
    ));
    // Every flipped byte is refused, never read as some other position.
    let good = std::fs::read(&path).unwrap();
    for i in 0..good.len() {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        std::fs::write(&path, &bad).unwrap();
        let err = Cursor::<u64>::resume(&store, region.clone(), &path).unwrap_err();
        assert!(matches!(err, StoreError::CursorFile { .. }), "byte {i}");
    }
    std::fs::write(&path, &good[..10]).unwrap();
    let err = Cursor::<u64>::resume(&store, region.clone(), &path).unwrap_err();
    assert!(matches!(
        err,
        StoreError::CursorFile {
            problem: CursorFileProblem::Length { len: 10, .. },
            ..
        }
    ));
    // A position beyond this log (another, shorter store).
    std::fs::write(&path, &good).unwrap();
    let other = tempfile::tempdir().unwrap();
    let small = Store::open(StoreConfig::new(other.path())).unwrap();
    let err = Cursor::<u64>::resume(&small, region, &path).unwrap_err();
    assert!(matches!(
        err,
        StoreError::CursorFile {
            problem: CursorFileProblem::BeyondLog { events: 0, .. },
            ..
        }
    ));
}

#[test]
fn lagged_subscription_catches_up_with_a_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let region = Region::entity("order:1");
    let sub: Subscription<u64> = store.subscribe_with_capacity(region.clone(), 2).unwrap();
    fill(&store, 30);
    let mut seen = Vec::new();
    loop {
        match sub.try_recv().unwrap() {
            Some(Delivery::Event(e)) => seen.push(e.payload),
            Some(Delivery::Lagged {
                missed,
                resume_from,
            }) => {
                let mut cursor = store.cursor::<u64>(region.clone(), resume_from).unwrap();
                let caught: Vec<u64> = cursor.by_ref().map(|e| e.unwrap().payload).collect();
                assert_eq!(caught.len() as u64, missed);
                seen.extend(caught);
            }
            None => break,
        }
    }
    let all: Vec<u64> = store
        .query::<u64>(&region)
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect();
    assert_eq!(seen, all);
}

// ---- at-least-once across a SIGKILL -------------------------------------

const CHILD_ENV: &str = "BATPAK_CURSOR_CHILD_DIR";
const KILL_EVENTS: u64 = 600;

fn kill_region() -> Region {
    Region::entity_prefix("order:")
}

/// Consumes from the saved position: records each event, then (every few
/// events) saves the position. Records are written with one `write` each,
/// so they reach the kernel before the next step; a SIGKILL keeps them.
fn consume(dir: &Path, delay: Duration) {
    let store = Store::open_read_only(StoreConfig::new(dir.join("store"))).unwrap();
    let pos = dir.join("consumer.pos");
    let mut cursor = Cursor::<u64>::resume(&store, kill_region(), &pos).unwrap();
    let mut out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("processed"))
        .unwrap();
    let mut n = 0;
    while let Some(event) = cursor.try_next().unwrap() {
        out.write_all(format!("{}\n", event.position()).as_bytes())
            .unwrap();
        n += 1;
        if n % 7 == 0 {
            cursor.commit_to(&pos).unwrap();
        }
        std::thread::sleep(delay);
    }
    cursor.commit_to(&pos).unwrap();
}

/// The child half of `killed_consumer_resumes_without_missing_an_event`;
/// does nothing unless started by it.
#[test]
fn cursor_child_consumer() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        consume(Path::new(&dir), Duration::from_millis(2));
    }
}

fn processed(dir: &Path) -> Vec<u64> {
    std::fs::read_to_string(dir.join("processed"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.parse().ok())
        .collect()
}

#[test]
fn killed_consumer_resumes_without_missing_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let config = StoreConfig::new(dir.path().join("store")).sync_policy(SyncPolicy::Manual);
    let store = Store::open(config).unwrap();
    for i in 0..KILL_EVENTS {
        let entity = if i % 4 == 0 { "cart:1" } else { "order:1" };
        store.append(&coord(entity), PLACED, &i).unwrap();
    }
    let expected: Vec<u64> = store
        .query_headers(&kill_region())
        .unwrap()
        .iter()
        .map(|h| h.position)
        .collect();
    store.close().unwrap();

    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cursor_child_consumer", "--test-threads=1"])
        .env(CHILD_ENV, dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while processed(dir.path()).len() < 60 {
        assert!(Instant::now() < deadline, "child made no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success(), "the child finished before it was killed");

    let before_kill = processed(dir.path());
    assert!(before_kill.len() < expected.len(), "killed mid-stream");
    let store = Store::open_read_only(StoreConfig::new(dir.path().join("store"))).unwrap();
    let saved = Cursor::<u64>::resume(&store, kill_region(), dir.path().join("consumer.pos"))
        .unwrap()
        .position();
    drop(store);
    assert!(saved > 0, "the child saved a position");

    consume(dir.path(), Duration::ZERO);
    let all = processed(dir.path());
    let mut unique = all.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique, expected, "every event processed, none invented");
    for p in &expected {
        let times = all.iter().filter(|&&q| q == *p).count();
        if *p < saved {
            assert_eq!(times, 1, "position {p} is below the saved {saved}");
        } else {
            assert!(times <= 2, "position {p} processed {times} times");
        }
    }
    assert!(all.windows(2).filter(|w| w[0] >= w[1]).count() <= 1);
}
