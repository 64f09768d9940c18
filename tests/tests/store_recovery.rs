//! Recovery: torn tails at every byte, zero and garbage tails, torn batches,
//! bit flips at every byte, spliced frames, missing segments, checkpoints.

mod common;

use std::io::Write;
use std::path::Path;

use batpak::prelude::*;
use batpak::{Place, StoredEvent};
use common::*;

/// Builds a store of `n` events over 3 streams (unsynced policy, released
/// as a killed process would: no checkpoint, no extent record) and returns
/// its directory and events. An open after the kill has cut the zeros the
/// writer reserved past its last frame, so the segment file ends there.
fn build(n: u64) -> (tempfile::TempDir, Vec<StoredEvent<Payload>>) {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let events = append_round_robin(&store, n, 3);
    store.sync().unwrap();
    store.exit_without_checkpoint();
    open(dir.path()).unwrap().exit_without_checkpoint();
    (dir, events)
}

fn open(dir: &Path) -> Result<Store, StoreError> {
    Store::open(StoreConfig::new(dir).sync_policy(SyncPolicy::Manual))
}

/// The bytes of a cut tail `truncated_bytes` counts: all but the zeros
/// that end the file, which are taken for space never written.
fn torn(tail: &[u8]) -> u64 {
    tail.iter()
        .rposition(|&b| b != 0)
        .map_or(0, |i| i as u64 + 1)
}

/// Appends `n` events over `streams` streams in turn; returns every event
/// the store then holds.
fn append_round_robin(store: &Store, n: u64, streams: u64) -> Vec<StoredEvent<Payload>> {
    for i in 0..n {
        store
            .append(&coord(&format!("e{}", i % streams)), KIND, &payload(i))
            .unwrap();
    }
    all(store)
}

fn all(store: &Store) -> Vec<StoredEvent<Payload>> {
    store.query::<Payload>(&Region::all()).unwrap()
}

#[test]
fn torn_tail_at_every_byte_of_the_last_three_frames_keeps_complete_frames() {
    let (dir, events) = build(8);
    let seg = segment_path(dir.path(), 1);
    let original = std::fs::read(&seg).unwrap();
    let frames = frames(&original);
    assert_eq!(frames.len(), 8);
    let from = frames[frames.len() - 3].0;
    for cut in from..original.len() {
        let copy = copy_store(dir.path());
        let path = segment_path(copy.path(), 1);
        std::fs::write(&path, &original[..cut]).unwrap();
        let kept = frames.iter().filter(|(o, l)| o + l <= cut).count();
        let kept_end = frames[..kept].last().map_or(32, |(o, l)| o + l);
        let store = open(copy.path()).unwrap();
        assert_eq!(
            store.stats().truncated_bytes,
            torn(&original[kept_end..cut]),
            "cut {cut}"
        );
        assert_eq!(all(&store), events[..kept], "cut {cut}");
        assert!(store.verify().unwrap().is_ok(), "cut {cut}");
        let r = store.append(&coord("new"), KIND, &payload(99)).unwrap();
        assert_eq!(r.position, kept as u64, "cut {cut}");
        drop(store);
        // A second open finds nothing to repair and changes nothing.
        let before = snapshot(copy.path());
        let store = open(copy.path()).unwrap();
        assert_eq!(store.stats().truncated_bytes, 0);
        assert_eq!(store.stats().events, kept as u64 + 1);
        drop(store);
        assert_eq!(snapshot(copy.path()), before, "cut {cut}");
    }
}

/// Appends `tail` to a copy of the store's last segment, reopens it, and
/// checks the tail was cut and `torn` of its bytes reported (those before
/// its trailing zeros), every event kept, and the store accepts appends
/// and verifies clean.
fn assert_tail_is_cut(
    dir: &std::path::Path,
    tail: &[u8],
    torn: u64,
    events: &[StoredEvent<Payload>],
) {
    let copy = copy_store(dir);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(segment_path(copy.path(), 1))
        .unwrap();
    f.write_all(tail).unwrap();
    drop(f);
    let store = open(copy.path()).unwrap();
    assert_eq!(store.stats().truncated_bytes, torn);
    assert_eq!(all(&store), events);
    store.append(&coord("new"), KIND, &payload(1)).unwrap();
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn zero_filled_tail_is_cut_and_not_counted_as_torn() {
    // Zeros after the last frame are space reserved ahead of appends (or
    // never written before a crash): cut, holding no torn data.
    let (dir, events) = build(5);
    for extra in [1usize, 4, 7, 8, 9, 100, 4096] {
        assert_tail_is_cut(dir.path(), &vec![0u8; extra], 0, &events);
    }
}

#[test]
fn garbage_tail_is_truncated_and_reported() {
    let (dir, events) = build(5);
    let (mut rng, _seed) = Rng::from_env("BATPAK_GARBAGE_SEED");
    for _ in 0..50 {
        let extra = 1 + rng.below(600) as usize;
        let garbage: Vec<u8> = (0..extra).map(|_| rng.next() as u8).collect();
        assert_tail_is_cut(dir.path(), &garbage, torn(&garbage), &events);
    }
}

#[test]
fn torn_batch_is_cut_whole() {
    let dir = fast_dir();
    let store = open(dir.path()).unwrap();
    store.append(&coord("a"), KIND, &payload(0)).unwrap();
    let batch: Vec<(EventKind, Payload)> = (1..=4).map(|i| (KIND, payload(i))).collect();
    store
        .append_batch(&coord("b"), &batch, AppendOptions::new())
        .unwrap();
    store.sync().unwrap();
    store.exit_without_checkpoint(); // the files a killed process leaves
    let original = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    let frames = frames(&original);
    assert_eq!(frames.len(), 5);
    // Every cut inside the batch (what follows it is reserved zeros).
    for cut in frames[1].0..log_end(&original) {
        let copy = copy_store(dir.path());
        std::fs::write(segment_path(copy.path(), 1), &original[..cut]).unwrap();
        let store = open(copy.path()).unwrap();
        assert_eq!(
            store.stats().events,
            1,
            "cut {cut}: a partial batch must vanish whole"
        );
        assert_eq!(store.head(&coord("b")).version, 0);
    }
}

#[test]
fn bit_flips_are_detected_and_never_return_a_wrong_event() {
    let (dir, events) = build(4);
    let seg = segment_path(dir.path(), 1);
    let original = std::fs::read(&seg).unwrap();
    let frames = frames(&original);
    let frame_of = |i: usize| frames.iter().position(|(o, l)| (*o..o + l).contains(&i));
    let last_frame = frames.len() - 1;
    for i in 0..original.len() {
        let copy = copy_store(dir.path());
        let mut bytes = original.clone();
        bytes[i] ^= 0x5a;
        std::fs::write(segment_path(copy.path(), 1), &bytes).unwrap();
        match open(copy.path()) {
            Err(StoreError::Corrupt { at, .. }) => {
                let expected = frame_of(i).map_or(0, |f| frames[f].0 as u64);
                assert_eq!(at, Place::segment(1, expected), "flip at {i}");
            }
            Err(other) => panic!("flip at {i}: unexpected error {other}"),
            Ok(store) => {
                // Only a flip in the last frame can pass as a torn tail, and
                // it must be reported; the events kept are the originals.
                assert_eq!(frame_of(i), Some(last_frame), "flip at {i} went unnoticed");
                assert!(store.stats().truncated_bytes > 0);
                assert_eq!(all(&store), events[..last_frame]);
            }
        }
    }
}

#[test]
fn verify_reports_bit_flips_in_an_open_store_at_the_right_frame() {
    let (dir, events) = build(4);
    let seg = segment_path(dir.path(), 1);
    let original = std::fs::read(&seg).unwrap();
    let frames = frames(&original);
    let store = open(dir.path()).unwrap();
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x01;
        std::fs::write(&seg, &bytes).unwrap();
        let report = store.verify().unwrap();
        let damage = report
            .damage
            .unwrap_or_else(|| panic!("flip at {i} not reported"));
        let expected = frames
            .iter()
            .find(|(o, l)| (*o..o + l).contains(&i))
            .map_or(0, |(o, _)| *o as u64);
        assert_eq!(damage.at, Place::segment(1, expected), "flip at {i}");
        // Reads either fail or return exactly what was written.
        if let Ok(got) = store.query::<Payload>(&Region::all()) {
            assert_eq!(got, events, "flip at {i}");
        }
        for e in &events {
            if let Ok(Some(got)) = store.get::<Payload>(e.header.id) {
                assert_eq!(&got, e, "flip at {i}");
            }
        }
    }
    std::fs::write(&seg, &original).unwrap();
    assert!(store.verify().unwrap().is_ok());
}

fn rebuild(original: &[u8], order: &[usize]) -> Vec<u8> {
    let frames = frames(original);
    let mut out = original[..SEGMENT_HEADER_LEN].to_vec();
    for &i in order {
        let (o, l) = frames[i];
        out.extend_from_slice(&original[o..o + l]);
    }
    out
}

#[test]
fn swapped_deleted_duplicated_or_spliced_frames_are_detected() {
    let (dir, _) = build(6);
    let original = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    let (other, _) = build(6);
    let foreign = std::fs::read(segment_path(other.path(), 1)).unwrap();
    let foreign_frames = frames(&foreign);
    let mut spliced = rebuild(&original, &[0, 1, 2]);
    let (o, l) = foreign_frames[3];
    spliced.extend_from_slice(&foreign[o..o + l]);
    spliced.extend_from_slice(&rebuild(&original, &[4, 5])[SEGMENT_HEADER_LEN..]);
    let cases = [
        ("swap", rebuild(&original, &[0, 1, 3, 2, 4, 5])),
        ("delete", rebuild(&original, &[0, 1, 2, 4, 5])),
        ("duplicate", rebuild(&original, &[0, 1, 2, 2, 3, 4, 5])),
        ("splice", spliced),
    ];
    for (name, bytes) in cases {
        let copy = copy_store(dir.path());
        std::fs::write(segment_path(copy.path(), 1), &bytes).unwrap();
        let err = open(copy.path()).err();
        assert!(
            matches!(
                err,
                Some(StoreError::Corrupt {
                    at: Place::Segment { segment: 1, .. },
                    ..
                })
            ),
            "{name}: {err:?}"
        );
    }
}

#[test]
fn rotation_spreads_events_over_segments_and_a_missing_segment_is_an_error() {
    let dir = fast_dir();
    let config = || {
        StoreConfig::new(dir.path())
            .segment_max_bytes(2_000)
            .sync_policy(SyncPolicy::Manual)
    };
    let store = Store::open(config()).unwrap();
    let events = append_round_robin(&store, 60, 4);
    let segments = store.stats().segments;
    assert!(segments >= 5, "{segments} segments");
    drop(store);
    let store = Store::open(config()).unwrap();
    assert_eq!(all(&store), events);
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    let copy = copy_store(dir.path());
    std::fs::remove_file(segment_path(copy.path(), 2)).unwrap();
    let err = Store::open(StoreConfig::new(copy.path())).err();
    assert!(
        matches!(
            err,
            Some(StoreError::Corrupt {
                at: Place::Segment { segment: 2, .. },
                ..
            })
        ),
        "{err:?}"
    );
    // A torn tail in a segment that is not the last is damage, not a tear.
    let copy = copy_store(dir.path());
    let first = segment_path(copy.path(), 1);
    let len = std::fs::metadata(&first).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&first)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let err = Store::open(StoreConfig::new(copy.path())).err();
    assert!(
        matches!(
            err,
            Some(StoreError::Corrupt {
                at: Place::Segment { segment: 1, .. },
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn other_format_versions_are_refused() {
    // 3 is newer than this build; 1 is the layout before payload versions
    // and state codes, which no promise covers.
    for found in [3u16, 1] {
        let (dir, _) = build(2);
        let seg = segment_path(dir.path(), 1);
        let mut bytes = std::fs::read(&seg).unwrap();
        bytes[8..10].copy_from_slice(&found.to_le_bytes()); // format version
        let crc = crc32fast::hash(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&seg, &bytes).unwrap();
        let err = Store::open(StoreConfig::new(dir.path())).err();
        assert!(
            matches!(
                err,
                Some(StoreError::UnsupportedFormat { found: f, supported: 2 }) if f == found
            ),
            "{err:?}"
        );
    }
}

#[test]
fn checkpoint_is_used_when_valid_and_ignored_when_damaged_or_stale() {
    let (dir, events) = build(30);
    open(dir.path()).unwrap().close().unwrap();
    assert!(dir.path().join("index.ckpt").exists());
    let ckpt = std::fs::read(dir.path().join("index.ckpt")).unwrap();
    {
        let store = open(dir.path()).unwrap();
        assert!(store.stats().opened_from_checkpoint);
        assert_eq!(all(&store), events);
        store.append(&coord("e0"), KIND, &payload(1000)).unwrap();
        store.exit_without_checkpoint();
    }
    // Kept after loading: it describes a prefix of the log, which the next
    // open starts from, indexing only what was appended after it.
    assert_eq!(std::fs::read(dir.path().join("index.ckpt")).unwrap(), ckpt);
    let store = open(dir.path()).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!((stats.events, stats.events_rescanned), (31, 1), "{stats:?}");
    assert_eq!(all(&store)[..30], events[..]);
    store.close().unwrap();
    // Stale the other way: a checkpoint of 31 events over a log that holds
    // 30 (its extent is not the log's) is ignored.
    let newer = std::fs::read(dir.path().join("index.ckpt")).unwrap();
    let (short, _) = build(30);
    std::fs::write(short.path().join("index.ckpt"), &newer).unwrap();
    let store = open(short.path()).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    assert_eq!(store.stats().events, 30);
    drop(store);
    // Damaged: one flipped byte.
    let mut bad = std::fs::read(dir.path().join("index.ckpt")).unwrap();
    let mid = bad.len() / 2;
    bad[mid] ^= 0xff;
    std::fs::write(dir.path().join("index.ckpt"), &bad).unwrap();
    let store = open(dir.path()).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    assert_eq!(store.stats().events, 31);
    assert_eq!(all(&store)[..30], events[..]);
}

#[test]
fn read_only_open_ignores_a_torn_tail_without_cutting_it() {
    let (dir, events) = build(3);
    let seg = segment_path(dir.path(), 1);
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    f.write_all(&[0xab; 10]).unwrap();
    drop(f);
    let len = std::fs::metadata(&seg).unwrap().len();
    let store = Store::open_read_only(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(store.stats().truncated_bytes, 10);
    assert_eq!(all(&store), events);
    assert!(matches!(
        store.append(&coord("x"), KIND, &payload(1)),
        Err(StoreError::ReadOnly)
    ));
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), len);
}

#[test]
fn torn_header_of_a_new_last_segment_is_removed_and_reported() {
    let dir = fast_dir();
    let config = || {
        StoreConfig::new(dir.path())
            .segment_max_bytes(1_000)
            .sync_policy(SyncPolicy::Manual)
    };
    let store = Store::open(config()).unwrap();
    for i in 0..12 {
        store.append(&coord("a"), KIND, &payload(i)).unwrap();
    }
    let segments = store.stats().segments as u32;
    store.exit_without_checkpoint(); // the files a killed process leaves
    let last = segment_path(dir.path(), segments);
    let frames_in_last = frames(&std::fs::read(&last).unwrap()).len() as u64;
    for torn in [
        vec![],
        vec![0u8; 10],
        vec![0u8; 32],
        b"BATPAKSG\x01\x00".to_vec(),
    ] {
        let copy = copy_store(dir.path());
        std::fs::write(segment_path(copy.path(), segments), &torn).unwrap();
        let store = Store::open(StoreConfig::new(copy.path()).segment_max_bytes(1_000)).unwrap();
        assert_eq!(store.stats().truncated_bytes, torn.len() as u64);
        assert_eq!(store.stats().events, 12 - frames_in_last);
        let r = store.append(&coord("a"), KIND, &payload(100)).unwrap();
        assert_eq!(r.position, 12 - frames_in_last);
        assert!(store.verify().unwrap().is_ok());
        drop(store);
        let before = snapshot(copy.path());
        let store = Store::open(StoreConfig::new(copy.path()).segment_max_bytes(1_000)).unwrap();
        assert_eq!(store.stats().truncated_bytes, 0);
        drop(store);
        assert_eq!(snapshot(copy.path()), before);
    }
}

#[test]
fn damage_behind_a_valid_checkpoint_is_caught_by_verify_on_open_and_by_reads() {
    let (dir, events) = build(6);
    open(dir.path()).unwrap().close().unwrap();
    let seg = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let (offset, len) = frames(&bytes)[2];
    bytes[offset + len - 3] ^= 0x10; // inside the payload: length unchanged
    std::fs::write(&seg, &bytes).unwrap();
    let ckpt = std::fs::read(dir.path().join("index.ckpt")).unwrap();
    let err = Store::open(StoreConfig::new(dir.path()).verify_on_open(true)).err();
    assert!(
        matches!(err, Some(StoreError::Corrupt { at: Place::Segment { segment: 1, offset: o }, .. }) if o == offset as u64),
        "{err:?}"
    );
    // Without the full verify the checkpoint is trusted, but a read of the
    // damaged frame is an error, never a wrong event.
    std::fs::write(dir.path().join("index.ckpt"), &ckpt).unwrap();
    let store = open(dir.path()).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    assert!(matches!(
        store.get::<Payload>(events[2].header.id),
        Err(StoreError::Corrupt { .. })
    ));
    assert_eq!(
        store.get::<Payload>(events[1].header.id).unwrap().unwrap(),
        events[1]
    );
    assert!(store.query::<Payload>(&Region::all()).is_err());
    assert!(!store.verify().unwrap().is_ok());
}

#[test]
fn verify_names_the_stream_and_sequence_of_a_frame_in_the_wrong_place() {
    let (dir, events) = build(6);
    let seg = segment_path(dir.path(), 1);
    let original = std::fs::read(&seg).unwrap();
    let store = open(dir.path()).unwrap();
    // Swap frames 3 and 4: both CRCs stay valid.
    std::fs::write(&seg, rebuild(&original, &[0, 1, 2, 4, 3, 5])).unwrap();
    let damage = store.verify().unwrap().damage.unwrap();
    let frames = frames(&original);
    assert_eq!(damage.at, Place::segment(1, frames[3].0 as u64));
    assert_eq!(
        damage.coordinate.as_ref(),
        Some(&events[4].header.coordinate)
    );
    assert_eq!(damage.sequence, Some(events[4].sequence()));
    assert!(damage.reason.contains("position"), "{}", damage.reason);
}

#[test]
fn repair_mode_cuts_the_last_segment_at_its_first_damage() {
    let (dir, events) = build(6);
    let seg = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let frames = frames(&bytes);
    let (offset, len) = frames[2];
    bytes[offset + len / 2] ^= 0x40;
    std::fs::write(&seg, &bytes).unwrap();
    let err = open(dir.path()).err();
    assert!(
        matches!(err, Some(StoreError::Corrupt { at: Place::Segment { segment: 1, offset: o }, .. }) if o == offset as u64)
    );
    let store = Store::open(StoreConfig::new(dir.path()).truncate_damaged_tail(true)).unwrap();
    assert_eq!(store.stats().truncated_bytes, (bytes.len() - offset) as u64);
    assert_eq!(all(&store), events[..2]);
    store.append(&coord("after"), KIND, &payload(7)).unwrap();
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    let store = open(dir.path()).unwrap();
    assert_eq!(store.stats().events, 3);
}

/// Rewrites the last byte of frame `i` (the payload's last byte) and fixes
/// its CRC, so the frame is valid and only its content changed.
fn rewrite_payload_with_valid_crc(bytes: &mut [u8], i: usize, new_last: u8) -> u64 {
    let (offset, len) = frames(bytes)[i];
    bytes[offset + len - 1] = new_last;
    reseal_frame(bytes, offset);
    offset as u64
}

#[test]
fn verify_reports_a_rewritten_last_event_against_the_checkpointed_head() {
    let (dir, events) = build(6);
    open(dir.path()).unwrap().close().unwrap();
    // Stream e0's last event is position 3 (e1 and e2 follow it in the log,
    // so no later chain link covers it). Its note ends in '3'.
    assert_eq!(events[3].header.coordinate, coord("e0"));
    let seg = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&seg).unwrap();
    let offset = rewrite_payload_with_valid_crc(&mut bytes, 3, b'9');
    std::fs::write(&seg, &bytes).unwrap();
    let ckpt = std::fs::read(dir.path().join("index.ckpt")).unwrap();

    let store = open(dir.path()).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let report = store.verify().unwrap();
    let damage = report.damage.expect("the rewrite must be reported");
    assert_eq!(damage.at, Place::segment(1, offset));
    assert_eq!(damage.coordinate, Some(coord("e0")));
    assert_eq!(damage.sequence, Some(2));
    assert!(damage.reason.contains("head"), "{}", damage.reason);
    assert_eq!(report.events, 4, "the scan stops at the damage");
    drop(store);

    // verify_on_open refuses the store with the same place.
    std::fs::write(dir.path().join("index.ckpt"), &ckpt).unwrap();
    let err = Store::open(StoreConfig::new(dir.path()).verify_on_open(true)).err();
    assert!(
        matches!(err, Some(StoreError::Corrupt { at: Place::Segment { segment: 1, offset: o }, .. }) if o == offset),
        "{err:?}"
    );

    // Documented limit: without a checkpoint the head comes from the same
    // bytes, so a consistent rewrite of a stream's last event is undetectable.
    std::fs::remove_file(dir.path().join("index.ckpt")).unwrap();
    let store = open(dir.path()).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    assert!(store.verify().unwrap().is_ok());
    assert_ne!(store.head(&coord("e0")).hash, events[3].hash);
}

#[test]
fn verify_passes_while_appends_move_the_heads_it_snapshotted() {
    let (dir, _) = build(6);
    open(dir.path()).unwrap().close().unwrap();
    let store = open(dir.path()).unwrap();
    for i in 6..12 {
        store
            .append(&coord(&format!("e{}", i % 3)), KIND, &payload(i))
            .unwrap();
        assert!(store.verify().unwrap().is_ok());
    }
}

/// A payload of one binary blob (msgpack bin 32).
#[derive(serde::Serialize, serde::Deserialize)]
struct Blob {
    #[serde(with = "blob_bytes")]
    data: Vec<u8>,
}

mod blob_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let b: &[u8] = Deserialize::deserialize(d)?;
        Ok(b.to_vec())
    }
}

#[test]
fn torn_frame_of_the_maximum_payload_is_cut_and_reported() {
    const MAX_PAYLOAD: usize = 2 * 1024 * 1024;
    let config = |dir: &Path| {
        StoreConfig::new(dir)
            .sync_policy(SyncPolicy::Manual)
            .max_payload_bytes(MAX_PAYLOAD)
    };
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    for i in 0..3 {
        store.append(&coord("small"), KIND, &payload(i)).unwrap();
    }
    let events = all(&store);
    // Little-endian u32 counters: 4-byte windows that look like plausible
    // frame lengths at most offsets (what made recovery quadratic).
    let data: Vec<u8> = (0..(MAX_PAYLOAD - 64) / 4)
        .flat_map(|i| u32::try_from(i).unwrap().to_le_bytes())
        .collect();
    store.append(&coord("big"), KIND, &Blob { data }).unwrap();
    store.sync().unwrap();
    store.exit_without_checkpoint(); // the files a killed process leaves
    let original = std::fs::read(segment_path(dir.path(), 1)).unwrap();
    let frames = frames(&original);
    assert_eq!(frames.len(), 4);
    let (big_at, big_len) = frames[3];
    assert!(big_len > MAX_PAYLOAD - 64, "the last frame holds the blob");
    // After the prefix, inside the event header, in the payload, one byte short.
    for keep in [1, 8, 20, 100, big_len / 3, big_len / 2, big_len - 1] {
        let reopened = Reopened {
            segment: &original[..big_at + keep],
            torn: torn(&original[big_at..big_at + keep]),
            cut_at: big_at,
        };
        reopened.check(
            dir.path(),
            |d| Store::open(config(d)),
            &events,
            &format!("keep {keep}"),
        );
    }
    // Damage, not a tear: a valid frame after the torn one is an error
    // naming the torn frame, unless repair mode is on.
    let (small_at, small_len) = frames[2];
    let mut spliced = original[..big_at + big_len / 2].to_vec();
    spliced.extend_from_slice(&original[small_at..small_at + small_len]);
    let copy = copy_store(dir.path());
    std::fs::write(segment_path(copy.path(), 1), &spliced).unwrap();
    match Store::open(config(copy.path())) {
        Err(StoreError::Corrupt { at, .. }) => assert_eq!(at, Place::segment(1, big_at as u64)),
        other => panic!("expected Corrupt at the torn frame, got {other:?}"),
    }
    let store = Store::open(config(copy.path()).truncate_damaged_tail(true)).unwrap();
    assert_eq!(
        store.stats().truncated_bytes,
        (spliced.len() - big_at) as u64
    );
    assert_eq!(all(&store), events);
}

/// A copy of a one-segment store whose segment holds `segment`, reopened:
/// it must report `torn` bytes cut, and leave the file cut at `cut_at`.
struct Reopened<'a> {
    segment: &'a [u8],
    torn: u64,
    cut_at: usize,
}

impl Reopened<'_> {
    /// Checks the reopen (through `open`) of a copy of the store in `dir`:
    /// the torn bytes reported, every one of `events` read back, verify
    /// clean, then the file cut where expected.
    fn check(
        &self,
        dir: &Path,
        open: impl Fn(&Path) -> Result<Store, StoreError>,
        events: &[StoredEvent<Payload>],
        case: &str,
    ) {
        let copy = copy_store(dir);
        let path = segment_path(copy.path(), 1);
        std::fs::write(&path, self.segment).unwrap();
        let store = open(copy.path()).unwrap();
        assert_eq!(store.stats().truncated_bytes, self.torn, "{case}");
        assert_eq!(all(&store), events, "{case}");
        assert!(store.verify().unwrap().is_ok(), "{case}");
        drop(store);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            self.segment[..self.cut_at],
            "{case}: the file is cut at the torn frame"
        );
    }
}

/// Where the last whole frame of a segment file's bytes ends.
fn log_end(bytes: &[u8]) -> usize {
    frames(bytes)
        .last()
        .map_or(SEGMENT_HEADER_LEN, |(offset, len)| offset + len)
}

/// A store whose writer appended `n` events, each synced, and was killed:
/// its last segment ends in the zeros it reserved ahead of appends.
fn killed_with_reserve(n: u64) -> (tempfile::TempDir, Vec<StoredEvent<Payload>>) {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Always)).unwrap();
    for i in 0..n {
        store.append(&coord("e0"), KIND, &payload(i)).unwrap();
    }
    let events = all(&store);
    store.exit_without_checkpoint();
    (dir, events)
}

#[test]
fn reserved_zeros_a_killed_writer_left_are_cut_at_open_and_not_counted_as_torn() {
    let (dir, events) = killed_with_reserve(20);
    let seg = segment_path(dir.path(), 1);
    let bytes = std::fs::read(&seg).unwrap();
    let end = log_end(&bytes);
    assert!(bytes.len() > end, "no space reserved past the last frame");
    assert!(bytes[end..].iter().all(|&b| b == 0));

    let store = open(dir.path()).unwrap();
    assert_eq!(store.stats().truncated_bytes, 0);
    assert_eq!(all(&store), events);
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(std::fs::metadata(&seg).unwrap().len(), end as u64);
    let r = store.append(&coord("e0"), KIND, &payload(20)).unwrap();
    assert_eq!(r.position, 20);
    store.close().unwrap();
    let store = open(dir.path()).unwrap();
    assert_eq!(all(&store).len(), 21);
}

#[test]
fn a_torn_frame_in_reserved_space_is_cut_and_only_its_bytes_counted() {
    let (dir, events) = killed_with_reserve(5);
    let seg = segment_path(dir.path(), 1);
    let bytes = std::fs::read(&seg).unwrap();
    let end = log_end(&bytes);
    let (last, len) = *frames(&bytes).last().unwrap();
    for k in [1, 8, 9, len / 2, len - 1] {
        let mut changed = bytes.clone();
        // The start of a frame written into the zeros, the rest not yet.
        changed[end..end + k].copy_from_slice(&bytes[last..last + k]);
        let reopened = Reopened {
            segment: &changed,
            torn: torn(&bytes[last..last + k]),
            cut_at: end,
        };
        reopened.check(dir.path(), open, &events, &format!("torn {k}"));
    }
}

#[test]
fn a_clean_close_leaves_every_segment_ending_at_its_last_frame() {
    let dir = fast_dir();
    let config = || {
        StoreConfig::new(dir.path())
            .sync_policy(SyncPolicy::Manual)
            .segment_max_bytes(4096)
    };
    let store = Store::open(config()).unwrap();
    let events = append_round_robin(&store, 200, 3);
    // Space is reserved ahead, but no file grows past the segment size.
    for n in 1.. {
        let Ok(meta) = std::fs::metadata(segment_path(dir.path(), n)) else {
            break;
        };
        assert!(meta.len() <= 4096, "segment {n} is {} bytes", meta.len());
    }
    store.close().unwrap();
    let mut segments = 0;
    while segment_path(dir.path(), segments + 1).exists() {
        segments += 1;
        let bytes = std::fs::read(segment_path(dir.path(), segments)).unwrap();
        assert_eq!(bytes.len(), log_end(&bytes), "segment {segments}");
    }
    assert!(segments > 3, "{segments} segments");
    let store = Store::open(config()).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    assert_eq!(all(&store), events);
}
