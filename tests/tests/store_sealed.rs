//! Sealed segment indexes: a store that ends without a checkpoint (a crash,
//! a kill) reopens by loading the sealed index of every full segment and
//! scanning only the last one; a sealed index that is missing, damaged or
//! stale is refused, the segment scanned and its index written anew, and the
//! open says so in `StoreStats`. Every read after such an open equals the
//! reads before it.

mod common;

use std::path::{Path, PathBuf};

use batpak::prelude::*;
use batpak::{AppendReceipt, Damage, EventHeader, EventId, Place, StreamHead};
use common::*;

/// Small segments: a few events each, so a short script rotates often.
const SEGMENT_BYTES: u64 = 1_500;
const ENTITIES: u64 = 7;

fn config(dir: &Path) -> StoreConfig {
    StoreConfig::new(dir)
        .segment_max_bytes(SEGMENT_BYTES)
        .sync_policy(SyncPolicy::Manual)
}

fn sealed_path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("{n:010}.idx"))
}

/// Removes the checkpoint and the positions file: the store is left as one
/// that never closed cleanly leaves it.
fn forget_checkpoint(dir: &Path) {
    for name in ["index.ckpt", "index.positions"] {
        match std::fs::remove_file(dir.join(name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("{name}: {e}"),
            _ => {}
        }
    }
}

fn entity(i: u64) -> Coordinate {
    coord(&format!("e{}", i % ENTITIES))
}

fn key(i: u64) -> String {
    format!("key-{i}")
}

/// Everything the reads of a store return, to compare across reopens.
#[derive(Debug, PartialEq)]
struct Reads {
    all: Vec<StoredEvent<Payload>>,
    streams: Vec<Vec<StoredEvent<Payload>>>,
    heads: Vec<StreamHead>,
    by_id: Vec<Option<StoredEvent<Payload>>>,
    caused: Vec<Vec<EventHeader>>,
    kinds: Vec<EventHeader>,
}

fn reads(store: &Store) -> Reads {
    let all = store.query::<Payload>(&Region::all()).unwrap();
    let ids: Vec<EventId> = all.iter().map(|e| e.header.id).collect();
    Reads {
        streams: (0..ENTITIES)
            .map(|i| store.stream(&entity(i)).unwrap())
            .collect(),
        heads: (0..ENTITIES).map(|i| store.head(&entity(i))).collect(),
        by_id: ids.iter().map(|&id| store.get(id).unwrap()).collect(),
        caused: ids
            .iter()
            .step_by(5)
            .map(|&id| store.walk_causation(id).unwrap())
            .collect(),
        kinds: store
            .query_headers(&Region::all().kind(OTHER_KIND))
            .unwrap(),
        all,
    }
}

/// Appends `n` events over `ENTITIES` streams: single appends, keyed
/// appends, batches and causation links; returns the receipts of the keyed
/// calls (key index, receipts).
fn fill(store: &Store, n: u64) -> Vec<(u64, Vec<AppendReceipt>)> {
    let mut keyed = Vec::new();
    let mut last = None;
    for i in 0..n {
        let c = entity(i);
        match i % 6 {
            0 => {
                let options = AppendOptions::new().idempotency_key(key(i));
                let r = store.append_with(&c, KIND, &payload(i), options).unwrap();
                keyed.push((i, vec![r]));
            }
            1 => {
                let batch: Vec<_> = (0..3).map(|k| (OTHER_KIND, payload(i * 10 + k))).collect();
                let options = AppendOptions::new().idempotency_key(key(i));
                keyed.push((i, store.append_batch(&c, &batch, options).unwrap()));
            }
            2 => {
                let options =
                    last.map_or_else(AppendOptions::new, |id| AppendOptions::new().caused_by(id));
                store.append_with(&c, KIND, &payload(i), options).unwrap();
            }
            _ => {
                last = Some(store.append(&c, KIND, &payload(i)).unwrap().event_id);
            }
        }
    }
    store.sync().unwrap();
    keyed
}

/// Retries every keyed call: each must return its original receipts and
/// append nothing.
fn retry_keys(store: &Store, keyed: &[(u64, Vec<AppendReceipt>)]) {
    let before = store.stats().events;
    for (i, receipts) in keyed {
        let c = entity(*i);
        let options = AppendOptions::new().idempotency_key(key(*i));
        let got = if i % 6 == 0 {
            vec![store.append_with(&c, KIND, &payload(*i), options).unwrap()]
        } else {
            let batch: Vec<_> = (0..3).map(|k| (OTHER_KIND, payload(i * 10 + k))).collect();
            store.append_batch(&c, &batch, options).unwrap()
        };
        assert_eq!(&got, receipts, "key {i}");
    }
    assert_eq!(store.stats().events, before, "a retry appended");
}

/// Rewrites the checksum of the page of entry records that holds byte
/// `at` of a sealed index (FORMAT.md: records from byte 46, 16 records of
/// 53 bytes per page, each page followed by the CRC-32 of its records), as
/// a forger would.
fn reseal_page(bytes: &mut [u8], at: usize) {
    const RECORDS_AT: usize = 46;
    const PAGE: usize = 16;
    const STRIDE: usize = PAGE * 53 + 4;
    let n = usize::try_from(u64::from_le_bytes(bytes[30..38].try_into().unwrap())).unwrap();
    let page = (at - RECORDS_AT) / STRIDE;
    let start = RECORDS_AT + page * STRIDE;
    let records = (n - page * PAGE).min(PAGE) * 53;
    let crc = crc32fast::hash(&bytes[start..start + records]);
    bytes[start + records..start + records + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Verify reports the index as what is wrong, having written `rewritten`
/// sealed indexes anew from the log.
fn verify_names_the_index(store: &Store, rewritten: u64) {
    let report = store.verify().unwrap();
    assert!(
        matches!(
            report.damage,
            Some(Damage {
                at: Place::Index { .. },
                ..
            })
        ),
        "{report:?}"
    );
    assert_eq!(report.sealed_indexes_rewritten, rewritten, "{report:?}");
}

/// Events in the last segment file, read with the tests' own reader.
fn events_in_segment(dir: &Path, n: u32) -> u64 {
    frames(&std::fs::read(segment_path(dir, n)).unwrap()).len() as u64
}

/// A store of `n` events over many small segments, left as a killed process
/// leaves it (no checkpoint); its reads and keyed receipts.
fn crashed_store(
    n: u64,
) -> (
    tempfile::TempDir,
    Reads,
    Vec<(u64, Vec<AppendReceipt>)>,
    u32,
) {
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    let keyed = fill(&store, n);
    let before = reads(&store);
    let segments = u32::try_from(store.stats().segments).unwrap();
    assert!(
        segments >= 6,
        "the script rotates often ({segments} segments)"
    );
    store.exit_without_checkpoint();
    (dir, before, keyed, segments)
}

#[test]
fn crash_open_loads_every_full_segment_from_its_sealed_index_and_scans_only_the_last() {
    let (dir, before, keyed, segments) = crashed_store(120);
    for n in 1..segments {
        assert!(
            sealed_path(dir.path(), n).is_file(),
            "segment {n} is sealed"
        );
    }
    assert!(
        !sealed_path(dir.path(), segments).exists(),
        "the active segment is not sealed"
    );
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert!(!stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!(
        stats.sealed_indexes_loaded,
        u64::from(segments - 1),
        "{stats:?}"
    );
    assert_eq!(stats.sealed_indexes_written, 0, "{stats:?}");
    assert_eq!(
        stats.events_rescanned,
        events_in_segment(dir.path(), segments),
        "{stats:?}"
    );
    assert_eq!(reads(&store), before);
    retry_keys(&store, &keyed);
    assert!(store.verify().unwrap().is_ok());
    // Appends continue every stream's sequence and chain.
    for i in 0..ENTITIES {
        let r = store.append(&entity(i), KIND, &payload(1_000 + i)).unwrap();
        assert_eq!(r.sequence, before.heads[i as usize].version + 1);
    }
    assert!(store.verify().unwrap().is_ok());
    // A clean close then loads the checkpoint and scans nothing.
    store.close().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!(
        (stats.events_rescanned, stats.sealed_indexes_loaded),
        (0, 0)
    );
}

#[test]
fn a_missing_sealed_index_is_rebuilt_from_its_segment_and_reported() {
    let (dir, before, keyed, segments) = crashed_store(120);
    std::fs::remove_file(sealed_path(dir.path(), 3)).unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert_eq!(stats.sealed_indexes_loaded, 2, "{stats:?}");
    // Segments 3 to the one before the last were scanned and sealed again.
    assert_eq!(
        stats.sealed_indexes_written,
        u64::from(segments - 3),
        "{stats:?}"
    );
    let tail: u64 = (3..=segments)
        .map(|n| events_in_segment(dir.path(), n))
        .sum();
    assert_eq!(stats.events_rescanned, tail, "{stats:?}");
    assert_eq!(reads(&store), before);
    retry_keys(&store, &keyed);
    assert!(sealed_path(dir.path(), 3).is_file(), "rebuilt");
    store.exit_without_checkpoint();
    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().sealed_indexes_loaded, u64::from(segments - 1));
    assert_eq!(reads(&store), before);
}

#[test]
fn a_damaged_or_foreign_sealed_index_is_refused_and_rebuilt() {
    let (dir, before, _keyed, segments) = crashed_store(80);
    let original = std::fs::read(sealed_path(dir.path(), 2)).unwrap();
    let other = std::fs::read(sealed_path(dir.path(), 3)).unwrap();
    let mut damaged: Vec<(String, Vec<u8>)> = vec![
        ("empty".to_owned(), Vec::new()),
        (
            "truncated".to_owned(),
            original[..original.len() / 2].to_vec(),
        ),
        ("another segment's".to_owned(), other),
    ];
    for i in 0..original.len() {
        let mut bytes = original.clone();
        bytes[i] ^= 0x10;
        damaged.push((format!("byte {i} flipped"), bytes));
    }
    for (what, bytes) in damaged {
        let copy = copy_store(dir.path());
        std::fs::write(sealed_path(copy.path(), 2), &bytes).unwrap();
        let store = Store::open(config(copy.path())).unwrap();
        let stats = store.stats();
        assert_eq!(stats.sealed_indexes_loaded, 1, "{what}: {stats:?}");
        assert_eq!(
            stats.sealed_indexes_written,
            u64::from(segments - 2),
            "{what}"
        );
        assert_eq!(reads(&store), before, "{what}");
        drop(store);
        assert_eq!(
            std::fs::read(sealed_path(copy.path(), 2)).unwrap(),
            original,
            "{what}: rebuilt as it was"
        );
    }
}

#[test]
fn a_sealed_index_whose_frames_do_not_fill_its_segment_is_refused() {
    let (dir, before, _keyed, segments) = crashed_store(80);
    // The sealed index of the first segment, put in place of the second's
    // with the segment number and length it claims rewritten: its frames do
    // not fill the second segment (or continue the index), so it is refused.
    let stale = std::fs::read(sealed_path(dir.path(), 1)).unwrap();
    let len = std::fs::metadata(segment_path(dir.path(), 2))
        .unwrap()
        .len();
    let mut bytes = stale.clone();
    bytes[10..14].copy_from_slice(&2u32.to_le_bytes());
    bytes[14..22].copy_from_slice(&len.to_le_bytes());
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(sealed_path(dir.path(), 2), &bytes).unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert_eq!(stats.sealed_indexes_loaded, 1, "{stats:?}");
    assert_eq!(stats.sealed_indexes_written, u64::from(segments - 2));
    assert_eq!(reads(&store), before);
}

#[test]
fn a_sealed_index_that_lies_under_a_valid_checksum_is_caught_and_discarded() {
    let (dir, before, _keyed, segments) = crashed_store(80);
    // Rewrite the kind of the first event in the first sealed index, with a
    // matching checksum: only a comparison with the log can tell.
    let path = sealed_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let id = before.all[0].header.id.as_u128().to_le_bytes();
    let at = bytes.windows(16).position(|w| w == id).unwrap();
    // A record (FORMAT.md): id u128, offset u64, body length u32, kind u32.
    let kind_at = at + 16 + 8 + 4;
    let other = OTHER_KIND.to_u32().to_le_bytes();
    assert_ne!(bytes[kind_at..kind_at + 4], other);
    bytes[kind_at..kind_at + 4].copy_from_slice(&other);
    reseal_page(&mut bytes, kind_at);
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();

    // Without verify_on_open the lie is loaded, but never returned as data:
    // the read of that event and verify both report it.
    let copy = copy_store(dir.path());
    let store = Store::open_read_only(config(copy.path())).unwrap();
    assert_eq!(store.stats().sealed_indexes_loaded, u64::from(segments - 1));
    assert!(matches!(
        store.get::<Payload>(before.all[0].header.id),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(!store.verify().unwrap().is_ok());
    drop(store);

    // With verify_on_open the open rebuilds the index from the log, says
    // so, and rewrites the lying sealed index from its segment; the next
    // crash-open loads the true one.
    let store = Store::open(config(dir.path()).verify_on_open(true)).unwrap();
    let stats = store.stats();
    assert!(stats.checkpoint_discarded, "{stats:?}");
    assert_eq!(reads(&store), before);
    assert_ne!(std::fs::read(&path).unwrap(), bytes, "rewritten");
    store.exit_without_checkpoint();
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert_eq!(
        stats.sealed_indexes_loaded,
        u64::from(segments - 1),
        "{stats:?}"
    );
    assert_eq!(reads(&store), before);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn verify_checks_every_sealed_index_against_its_segment_and_rewrites_a_wrong_one() {
    let (dir, before, _keyed, segments) = crashed_store(80);
    // A store whose sealed indexes are right...
    let store = Store::open(config(dir.path())).unwrap();
    let report = store.verify().unwrap();
    assert!(report.is_ok());
    assert_eq!(report.sealed_indexes_rewritten, 0, "{report:?}");
    // ...whose sealed indexes on disk are then changed: one lies under a
    // valid checksum, one is missing.
    let path = sealed_path(dir.path(), 2);
    let original = std::fs::read(&path).unwrap();
    let mut lie = original.clone();
    // The id of segment 2's first event, changed in one bit.
    let first = usize::try_from(events_in_segment(dir.path(), 1)).unwrap();
    let id = before.all[first].header.id.as_u128().to_le_bytes();
    let at = lie.windows(16).position(|w| w == id).unwrap();
    lie[at] ^= 1;
    reseal_page(&mut lie, at);
    let body = lie.len() - 4;
    let crc = crc32fast::hash(&lie[..body]);
    lie[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &lie).unwrap();
    std::fs::remove_file(sealed_path(dir.path(), 1)).unwrap();
    // The live index reads those segments' entries from these files, so
    // verify names the index; the two files are counted and written anew
    // from the log, and from then on the index reads the right ones.
    verify_names_the_index(&store, 2);
    assert_eq!(std::fs::read(&path).unwrap(), original);
    assert!(sealed_path(dir.path(), 1).is_file());
    let again = store.verify().unwrap();
    assert!(again.is_ok(), "{again:?}");
    assert_eq!(again.sealed_indexes_rewritten, 0);
    assert_eq!(reads(&store), before);
    store.exit_without_checkpoint();
    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.stats().sealed_indexes_loaded, u64::from(segments - 1));
    assert_eq!(reads(&store), before);
}

#[test]
fn a_read_only_open_loads_sealed_indexes_and_writes_none() {
    let (dir, before, _keyed, segments) = crashed_store(60);
    std::fs::remove_file(sealed_path(dir.path(), 2)).unwrap();
    let store = Store::open_read_only(config(dir.path())).unwrap();
    let stats = store.stats();
    assert_eq!(stats.sealed_indexes_loaded, 1, "{stats:?}");
    assert_eq!(stats.sealed_indexes_written, 0, "{stats:?}");
    assert_eq!(reads(&store), before);
    assert!(!sealed_path(dir.path(), 2).exists());
    assert!(segments > 2);
}

#[test]
fn a_sealed_head_that_the_next_frames_contradict_makes_the_open_trust_the_log() {
    let (dir, before, _keyed, segments) = crashed_store(80);
    // A stream with events in the scanned last segment: the head its sealed
    // index records (in the segment of its last event before) is rewritten
    // under a valid checksum, and its next event links to the true hash.
    let counts: Vec<u64> = (1..=segments)
        .map(|n| events_in_segment(dir.path(), n))
        .collect();
    let tail = usize::try_from(counts[..counts.len() - 1].iter().sum::<u64>()).unwrap();
    let last = before.all[tail..]
        .iter()
        .find_map(|t| {
            before.all[..tail]
                .iter()
                .rev()
                .find(|e| e.header.coordinate == t.header.coordinate)
        })
        .expect("a stream that goes on in the last segment");
    let mut sealed = 0;
    let mut first = 0;
    while first + counts[sealed] <= last.header.position {
        first += counts[sealed];
        sealed += 1;
    }
    let sealed = u32::try_from(sealed + 1).unwrap();
    let path = sealed_path(dir.path(), sealed);
    let original = std::fs::read(&path).unwrap();
    let mut bytes = original.clone();
    let at = bytes
        .windows(32)
        .position(|w| w == last.hash.as_bytes())
        .unwrap();
    bytes[at] ^= 1;
    let body = bytes.len() - 4;
    let crc = crc32fast::hash(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &bytes).unwrap();
    // Not an error naming an intact frame: the open scans the whole log
    // instead, and writes every sealed index anew.
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert_eq!(stats.sealed_indexes_loaded, 0, "{stats:?}");
    assert_eq!(
        stats.sealed_indexes_written,
        u64::from(segments - 1),
        "{stats:?}"
    );
    assert_eq!(reads(&store), before);
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

/// Appends `n` plain events over `streams` streams (no keys: idempotency
/// keys are kept in memory, see TUNING.md).
fn fill_plain(store: &Store, from: u64, n: u64, streams: u64) {
    for i in from..from + n {
        store
            .append(&coord(&format!("s{}", i % streams)), KIND, &payload(i))
            .unwrap();
    }
    store.sync().unwrap();
}

/// The sealer writes each full segment's sealed index off the append path;
/// `sync` waits for it, so after a sync every full segment has its file
/// and only the active segment's entries are in memory. A kill with seals
/// still queued loses nothing: the open scans what has no sealed index.
#[test]
fn sealed_indexes_are_written_off_the_append_path_and_sync_waits_for_them() {
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    let keyed = fill(&store, 200);
    let before = reads(&store);
    let stats = store.stats();
    let segments = u32::try_from(stats.segments).unwrap();
    assert!(segments > 20, "{stats:?}");
    for n in 1..segments {
        assert!(
            sealed_path(dir.path(), n).exists(),
            "segment {n} after sync"
        );
    }
    assert!(!sealed_path(dir.path(), segments).exists());
    let in_last = events_in_segment(dir.path(), segments);
    assert_eq!(stats.entries_in_memory, in_last, "{stats:?}");
    // More full segments, killed before any sync: whatever the sealer had
    // written by then, the open reads every event back.
    for i in 0..300 {
        store.append(&entity(i), KIND, &payload(i)).unwrap();
    }
    store.exit_without_checkpoint();
    forget_checkpoint(dir.path());
    let store = Store::open(config(dir.path())).unwrap();
    let after = reads(&store);
    assert_eq!(after.all.len(), before.all.len() + 300);
    assert_eq!(after.all[..before.all.len()], before.all[..]);
    retry_keys(&store, &keyed);
    assert!(store.verify().unwrap().is_ok());
    // Verify while appends go on (and the sealer with them) finds nothing
    // wrong: a sealed index not written yet is waited for, not reported.
    let store = std::sync::Arc::new(store);
    std::thread::scope(|s| {
        let writer = std::sync::Arc::clone(&store);
        s.spawn(move || {
            for i in 0..400 {
                writer.append(&entity(i), KIND, &payload(i)).unwrap();
            }
        });
        for _ in 0..3 {
            let report = store.verify().unwrap();
            assert!(report.is_ok(), "{report:?}");
        }
    });
}

#[test]
fn only_the_active_segments_entries_are_held_in_memory() {
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    let keyed = fill(&store, 300);
    let before = reads(&store);
    let in_last = events_in_segment(dir.path(), u32::try_from(store.stats().segments).unwrap());
    let stats = store.stats();
    assert!(stats.segments > 20, "{stats:?}");
    assert_eq!(
        stats.entries_in_memory, in_last,
        "while appending: {stats:?}"
    );
    store.close().unwrap();
    // After a clean close (the checkpoint), and after a kill (the sealed
    // indexes), the same: the sealed entries are read from their files.
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!(
        stats.entries_in_memory, in_last,
        "from the checkpoint: {stats:?}"
    );
    assert_eq!(reads(&store), before);
    retry_keys(&store, &keyed);
    store.exit_without_checkpoint();
    forget_checkpoint(dir.path());
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert!(!stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!(stats.entries_in_memory, in_last, "after a kill: {stats:?}");
    assert_eq!(reads(&store), before);
    retry_keys(&store, &keyed);
    assert!(store.verify().unwrap().is_ok());
}

/// Each stream's payload numbers, in order, as a store of `fill_plain`
/// calls over `streams` streams should return them.
fn plain_model(events: u64, streams: u64) -> Vec<Vec<u64>> {
    let mut model = vec![Vec::new(); streams as usize];
    for i in 0..events {
        model[(i % streams) as usize].push(i);
    }
    model
}

fn assert_plain_streams(store: &Store, events: u64, streams: u64, context: &str) {
    for (s, want) in plain_model(events, streams).iter().enumerate() {
        let c = coord(&format!("s{s}"));
        let got: Vec<u64> = store
            .stream::<Payload>(&c)
            .unwrap_or_else(|e| panic!("{context}: {c:?}: {e}"))
            .iter()
            .map(|e| e.payload.n)
            .collect();
        assert_eq!(&got, want, "{context}: {c:?}");
        assert_eq!(store.head(&c).version, want.len() as u64, "{context}");
        let region: Vec<u64> = store
            .query::<Payload>(&Region::coordinate(&c).positions(3..=u64::MAX))
            .unwrap()
            .iter()
            .map(|e| e.payload.n)
            .collect();
        let from_3: Vec<u64> = want.iter().copied().filter(|&n| n >= 3).collect();
        assert_eq!(region, from_3, "{context}: {c:?} from position 3");
    }
}

/// The positions of sealed events are filed at each close, behind those
/// filed before (read back from the file the open index reads), and read
/// back one stream at a time after each open: over sessions that append
/// across segment rotations, every stream reads whole and in order, after
/// clean closes and after a kill alike.
#[test]
fn filed_positions_carry_over_sessions_with_appends_between() {
    const STREAMS: u64 = 7;
    const SESSION: u64 = 150;
    let dir = fast_dir();
    let open = || Store::open(config(dir.path())).unwrap();
    for session in 0..4 {
        let store = open();
        assert_eq!(store.stats().opened_from_checkpoint, session > 0);
        assert_plain_streams(&store, session * SESSION, STREAMS, "after the open");
        fill_plain(&store, session * SESSION, SESSION, STREAMS);
        assert_plain_streams(&store, (session + 1) * SESSION, STREAMS, "after appends");
        store.close().unwrap();
    }
    let store = open();
    assert!(store.stats().segments > 20);
    fill_plain(&store, 4 * SESSION, SESSION, STREAMS);
    store.exit_without_checkpoint();
    // After a kill, the open starts from the last checkpoint and indexes
    // only what came after it (through sealed indexes, then a scan).
    let store = open();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert!(stats.sealed_indexes_loaded > 0, "{stats:?}");
    assert!(stats.events_rescanned < SESSION, "{stats:?}");
    assert_plain_streams(&store, 5 * SESSION, STREAMS, "after a kill");
    store.exit_without_checkpoint();
    // And without any checkpoint, from the sealed indexes alone.
    forget_checkpoint(dir.path());
    let store = open();
    assert!(!store.stats().opened_from_checkpoint);
    assert_plain_streams(&store, 5 * SESSION, STREAMS, "after a kill, no checkpoint");
    store.close().unwrap();
    let store = open();
    assert!(store.stats().opened_from_checkpoint);
    assert_plain_streams(&store, 5 * SESSION, STREAMS, "closed after the kill");
    assert!(store.verify().unwrap().is_ok());
}

/// With `checkpoint_every_bytes`, a long session checkpoints at rotation:
/// the positions of sealed events leave memory as it runs, and an open
/// after a kill starts from the latest such checkpoint, indexing only what
/// came after it.
#[test]
fn checkpoints_at_rotation_bound_memory_and_the_open_after_a_kill() {
    const STREAMS: u64 = 50;
    let grown = |every: u64| {
        let dir = fast_dir();
        // Memory is measured: sealed inline, so that what the index holds
        // at each reading does not depend on how far the sealer got.
        let cfg = || {
            config(dir.path())
                .segment_max_bytes(16_000)
                .checkpoint_every_bytes(every)
                .seal_in_background(false)
        };
        let store = Store::open(cfg()).unwrap();
        fill_plain(&store, 0, 2_000, STREAMS);
        let early = store.stats().index_memory_bytes;
        fill_plain(&store, 2_000, 8_000, STREAMS);
        let late = store.stats().index_memory_bytes;
        let written = store.stats().checkpoints_at_rotation;
        store.exit_without_checkpoint();
        let store = Store::open(cfg()).unwrap();
        let stats = store.stats();
        assert_plain_streams(&store, 10_000, STREAMS, &format!("every {every}"));
        assert!(store.verify().unwrap().is_ok());
        (late.saturating_sub(early), stats, written)
    };
    // 8,000 events over ~80 segments: without checkpoints at rotation
    // their positions stay in memory (17 KB measured, beside the tables);
    // with one every 64 KB of log, at most that much log's (4.8 KB in all).
    let (kept, never, none) = grown(0);
    let (filed, resumed, written) = grown(64_000);
    assert_eq!(none, 0);
    // ~1.5 MB of log: one every 64 KB would be ~23; each waits for 8 times
    // what the last one wrote (its positions file and itself, growing with
    // history), so fewer (14 measured).
    assert!(
        (5..20).contains(&written),
        "{written} checkpoints at rotation"
    );
    assert!(filed * 2 < kept, "{filed} bytes grown against {kept}");
    // After the kill: every sealed index loaded, against those written
    // since the last checkpoint (64 KB of log: ~4 segments).
    assert!(!never.opened_from_checkpoint, "{never:?}");
    assert!(never.sealed_indexes_loaded > 80, "{never:?}");
    assert!(resumed.opened_from_checkpoint, "{resumed:?}");
    assert!(resumed.sealed_indexes_loaded <= 5, "{resumed:?}");
    // A checkpoint written at rotation ends where a segment starts: that
    // segment loads from its sealed index, and only the active one is
    // scanned, as without a checkpoint.
    assert_eq!(
        resumed.events_rescanned, never.events_rescanned,
        "{resumed:?} {never:?}"
    );
}

#[test]
fn index_memory_grows_with_streams_not_with_events() {
    const STREAMS: u64 = 50;
    const ROUND: u64 = 2_000;
    let dir = fast_dir();
    // ~100 events a segment: what a segment costs (a table entry) stays
    // small beside what the events cost.
    let open = || Store::open(config(dir.path()).segment_max_bytes(16_000)).unwrap();
    let store = open();
    fill_plain(&store, 0, ROUND, STREAMS);
    store.close().unwrap();
    let store = open();
    let first = store.stats().index_memory_bytes;
    fill_plain(&store, ROUND, 4 * ROUND, STREAMS);
    store.close().unwrap();
    let store = open();
    let stats = store.stats();
    let grown = stats.index_memory_bytes.saturating_sub(first);
    // After a clean open, the positions of sealed events are in the
    // positions file, not in memory: what grows is a table per sealed
    // segment (~100 events each here), ~1 byte per event in all (8.2 KB
    // measured). Positions in memory would add a varint per event (1-2
    // bytes at these gaps); a whole entry in memory (before sealed entries
    // were read from their files) cost over 70.
    assert!(
        grown < 4 * ROUND * 3 / 2,
        "{grown} bytes more for {} more events: {stats:?}",
        4 * ROUND
    );
    assert_eq!(stats.events, 5 * ROUND);
    for s in 0..STREAMS {
        let events = store.stream::<Payload>(&coord(&format!("s{s}"))).unwrap();
        assert_eq!(events.len() as u64, 5 * ROUND / STREAMS);
    }
}

#[test]
fn a_causation_link_costs_a_map_slot_not_a_slot_and_a_list() {
    const CHAIN: u64 = 4_000;
    let dir = fast_dir();
    // Sealed inline: the entries in memory do not depend on the sealer.
    let store = Store::open(config(dir.path()).seal_in_background(false)).unwrap();
    fill_plain(&store, 0, 10, 10);
    let before = store.stats().index_memory_bytes;
    // A chain: each event caused by the one before (a reactor's reply to a
    // reply), so every link is a cause with one consequence.
    let mut last = store
        .append(&coord("chain"), KIND, &payload(0))
        .unwrap()
        .event_id;
    for i in 1..CHAIN {
        let options = AppendOptions::new().caused_by(last);
        last = store
            .append_with(&coord("chain"), KIND, &payload(i), options)
            .unwrap()
            .event_id;
    }
    let stats = store.stats();
    let grown = stats.index_memory_bytes.saturating_sub(before);
    // Measured at this size: 68 bytes an event, mostly the link's slot in a
    // map at half its capacity (the segments are tiny, so entries are
    // sealed and tables add ~5); with a `Vec` per link it was 100.
    let per_event = grown / CHAIN;
    assert!(
        per_event < 84,
        "{per_event} bytes per caused event: {stats:?}"
    );
    let first = store.stream::<Payload>(&coord("chain")).unwrap()[0]
        .header
        .id;
    assert_eq!(store.walk_causation(first).unwrap().len() as u64, CHAIN);
    // The links survive a checkpoint and a crash open alike.
    store.close().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.walk_causation(first).unwrap().len() as u64, CHAIN);
    store.exit_without_checkpoint();
    let store = Store::open(config(dir.path())).unwrap();
    assert_eq!(store.walk_causation(first).unwrap().len() as u64, CHAIN);
}

#[test]
fn a_damaged_sealed_index_under_a_checkpoint_is_reported_at_the_read_and_rebuilt() {
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    let keyed = fill(&store, 120);
    let before = reads(&store);
    store.close().unwrap();
    // One byte of an entry record flipped (no checksum fixed: damage, not
    // forgery). The checkpoint reads that segment's entries from this file
    // in place; the page's checksum catches it when it is read.
    let path = sealed_path(dir.path(), 2);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[60] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let first = usize::try_from(events_in_segment(dir.path(), 1)).unwrap();
    let read = store.stream::<Payload>(&before.all[first].header.coordinate);
    match read {
        Err(StoreError::Corrupt {
            at: Place::Index { position },
            ..
        }) => {
            assert_eq!(position, first as u64);
        }
        other => panic!("the damaged entry must be reported: {other:?}"),
    }
    // Verify names the index, and writes the file anew from the log; the
    // index seen wrong is not checkpointed, so the next open rebuilds it.
    verify_names_the_index(&store, 1);
    store.close().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    let stats = store.stats();
    assert!(!stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!(reads(&store), before);
    retry_keys(&store, &keyed);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_sealed_entry_changed_under_an_open_store_is_reported_not_returned() {
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    fill(&store, 120);
    let before = reads(&store);
    store.close().unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    // Another event's id in the first record of segment 2's table (the
    // records start at byte 46).
    let path = sealed_path(dir.path(), 2);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[46] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let events = events_in_segment(dir.path(), 1);
    let changed = &before.all[usize::try_from(events).unwrap()];
    match store.get::<Payload>(changed.header.id) {
        Ok(Some(found)) => assert_eq!(found, *changed),
        Ok(None) => {}
        Err(e) => assert!(matches!(e, StoreError::Corrupt { .. }), "{e}"),
    }
    let read = store.query::<Payload>(&Region::all());
    assert!(
        matches!(read, Err(StoreError::Corrupt { .. })),
        "a read through the changed entry must fail: {read:?}"
    );
    // The log is whole: verify says the index is what is wrong.
    let report = store.verify().unwrap();
    assert!(!report.is_ok(), "{report:?}");
}

#[test]
fn keys_of_sealed_segments_are_held_by_hash_and_read_back_when_retried() {
    const KEYS: u64 = 1_500;
    let dir = fast_dir();
    let open = || Store::open(config(dir.path())).unwrap();
    let store = open();
    let receipts: Vec<AppendReceipt> = (0..KEYS)
        .map(|i| {
            let options = AppendOptions::new().idempotency_key(key(i));
            store
                .append_with(&entity(i), KIND, &payload(i), options)
                .unwrap()
        })
        .collect();
    let bare = store.stats().index_memory_bytes;
    store.close().unwrap();
    let store = open();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    // Each key held whole cost ~150 bytes; a sealed one is a hash slot.
    assert!(
        stats.index_memory_bytes < bare,
        "{} bytes now, {bare} while every key was held whole",
        stats.index_memory_bytes
    );
    let retry = |store: &Store, i: u64| {
        let options = AppendOptions::new().idempotency_key(key(i));
        store.append_with(&entity(i), KIND, &payload(i), options)
    };
    for i in (0..KEYS).step_by(7) {
        assert_eq!(retry(&store, i).unwrap(), receipts[i as usize], "key {i}");
    }
    // The same key with other content is a conflict naming the original.
    let options = AppendOptions::new().idempotency_key(key(3));
    match store.append_with(&entity(3), KIND, &payload(99_999), options) {
        Err(StoreError::IdempotencyConflict { key: k, position }) => {
            assert_eq!((k, position), (key(3), receipts[3].position));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.stats().events, KEYS, "nothing appended");
    // After a kill, through the sealed indexes, the same.
    store.exit_without_checkpoint();
    forget_checkpoint(dir.path());
    let store = open();
    assert!(!store.stats().opened_from_checkpoint);
    for i in (0..KEYS).step_by(11) {
        assert_eq!(retry(&store, i).unwrap(), receipts[i as usize], "key {i}");
    }
    assert_eq!(store.stats().events, KEYS);
    store.close().unwrap();

    // A sealed key record damaged on disk: a retry of that key fails
    // (appending could break the key's promise); other keys still work.
    let store = open();
    let path = sealed_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes
        .windows(key(0).len())
        .position(|w| w == key(0).as_bytes())
        .unwrap();
    bytes[at] ^= 0x20;
    std::fs::write(&path, &bytes).unwrap();
    let damaged = retry(&store, 0);
    assert!(
        matches!(damaged, Err(StoreError::Corrupt { .. })),
        "{damaged:?}"
    );
    assert_eq!(
        retry(&store, KEYS - 1).unwrap(),
        receipts[(KEYS - 1) as usize]
    );
    let fresh = AppendOptions::new().idempotency_key("a-new-key");
    store
        .append_with(&entity(0), KIND, &payload(0), fresh)
        .unwrap();
    assert_eq!(store.stats().events, KEYS + 1);
}

/// Events in the long sealed segment of [`long_sealed_store`]: far more
/// than one run of pages a scan reads (64 pages of 16).
const LONG_SEGMENT_EVENTS: u64 = 3_000;
/// The page of that segment's sealed index the damage tests spoil: page 150
/// of 188, in the third run of a scan; its first position.
const SPOILED_PAGE: u64 = 150;
const SPOILED_POSITION: u64 = SPOILED_PAGE * 16;
/// Where page `k` of a sealed index starts (FORMAT.md: records from byte
/// 46, pages of 16 records of 53 bytes and a CRC-32).
fn sealed_page_at(k: u64) -> u64 {
    46 + k * (16 * 53 + 4)
}

/// A closed store whose segment 1 holds [`LONG_SEGMENT_EVENTS`] events,
/// sealed, and segment 2 two more; every event, as read back.
fn long_sealed_store(dir: &Path) -> Vec<StoredEvent<Payload>> {
    let long = StoreConfig::new(dir)
        .segment_max_bytes(4 << 20)
        .sync_policy(SyncPolicy::Manual);
    let store = Store::open(long).unwrap();
    for i in 0..LONG_SEGMENT_EVENTS {
        store.append(&entity(i), KIND, &payload(i)).unwrap();
    }
    store.close().unwrap();
    // Seal segment 1 by starting segment 2 (a smaller limit from now on).
    let store = Store::open(config(dir)).unwrap();
    for i in LONG_SEGMENT_EVENTS..LONG_SEGMENT_EVENTS + 2 {
        store.append(&entity(i), KIND, &payload(i)).unwrap();
    }
    store.close().unwrap();
    assert_eq!(events_in_segment(dir, 1), LONG_SEGMENT_EVENTS);
    let store = Store::open(config(dir)).unwrap();
    let all = store.query::<Payload>(&Region::all()).unwrap();
    store.close().unwrap();
    all
}

/// A whole-log replay is `Corrupt` at [`SPOILED_POSITION`] exactly, and
/// every event before it reads as `before`.
fn scan_stops_at_the_spoiled_page(store: &Store, before: &[StoredEvent<Payload>]) {
    let replayed =
        store.replay::<Payload, _>(&Region::all(), |_| std::ops::ControlFlow::Continue(()));
    match replayed {
        Err(StoreError::Corrupt {
            at: Place::Index { position },
            ..
        }) => assert_eq!(position, SPOILED_POSITION),
        other => panic!("the spoiled page must be reported: {other:?}"),
    }
    let up_to = Region::all().positions(0..=SPOILED_POSITION - 1);
    let spoiled = usize::try_from(SPOILED_POSITION).unwrap();
    assert_eq!(store.query::<Payload>(&up_to).unwrap(), before[..spoiled]);
}

/// Verify names the index and rewrites it; after reopen every event reads
/// as `before` and verify is clean.
fn rewritten_and_whole(dir: &Path, store: Store, before: &[StoredEvent<Payload>]) {
    verify_names_the_index(&store, 1);
    store.close().unwrap();
    let store = Store::open(config(dir)).unwrap();
    assert_eq!(store.query::<Payload>(&Region::all()).unwrap(), before);
    assert!(store.verify().unwrap().is_ok());
}

/// A whole-log scan reads a sealed table in runs of pages; a damaged page
/// far into a long table is still reported at its own first position, with
/// every event before it readable and every page after it untouched on disk.
#[test]
fn a_scan_through_a_long_sealed_table_stops_at_the_damaged_page() {
    let dir = fast_dir();
    let before = long_sealed_store(dir.path());
    let path = sealed_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[usize::try_from(sealed_page_at(SPOILED_PAGE)).unwrap() + 20] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    scan_stops_at_the_spoiled_page(&store, &before);
    // A read that needs no entry of the damaged page still answers, from
    // pages read before and after it.
    let last = &before[usize::try_from(LONG_SEGMENT_EVENTS).unwrap() + 1];
    assert_eq!(
        store.get::<Payload>(last.header.id).unwrap().as_ref(),
        Some(last)
    );
    rewritten_and_whole(dir.path(), store, &before);
}

/// A close that changed nothing since the open that loaded the checkpoint
/// leaves the checkpoint file as it is (the same file, not a rewrite of
/// it); a close after an append writes a new one, which the next open uses.
#[test]
fn a_close_with_nothing_new_leaves_the_checkpoint_unwritten() {
    use std::os::unix::fs::MetadataExt;
    let dir = fast_dir();
    let store = Store::open(config(dir.path())).unwrap();
    fill(&store, 120);
    store.close().unwrap();
    let checkpoint = dir.path().join("index.ckpt");
    let file = || std::fs::metadata(&checkpoint).unwrap().ino();
    let before = (file(), std::fs::read(&checkpoint).unwrap());
    // Opened, read, closed: nothing to write.
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let reads_before = reads(&store);
    store.close().unwrap();
    assert_eq!((file(), std::fs::read(&checkpoint).unwrap()), before);
    // An append changes the index: the close writes the checkpoint anew.
    let store = Store::open(config(dir.path())).unwrap();
    store.append(&entity(1), KIND, &payload(1_000)).unwrap();
    store.close().unwrap();
    assert_ne!(file(), before.0);
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    assert_eq!(store.stats().events, reads_before.all.len() as u64 + 1);
    assert!(store.verify().unwrap().is_ok());
}

/// A sealed index file cut short under an open store: a scan still reads
/// every page that is there and reports the first missing one at its own
/// first position, not where the run of pages it belongs to began.
#[test]
fn a_scan_through_a_sealed_table_cut_short_stops_where_the_file_ends() {
    let dir = fast_dir();
    let before = long_sealed_store(dir.path());
    let store = Store::open(config(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    // Cut inside the spoiled page, after the open checked the file.
    std::fs::OpenOptions::new()
        .write(true)
        .open(sealed_path(dir.path(), 1))
        .unwrap()
        .set_len(sealed_page_at(SPOILED_PAGE) + 100)
        .unwrap();
    scan_stops_at_the_spoiled_page(&store, &before);
    rewritten_and_whole(dir.path(), store, &before);
}
