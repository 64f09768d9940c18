//! Derived files are checked, never trusted, and a lost tail is noticed.
//!
//! The checkpoint (the index snapshot) is altered consistently with its own
//! checksum, as a forger would: every read must refuse the frames the
//! altered entries lead to, `verify` must name the index, and
//! `verify_on_open` must discard the checkpoint and rebuild the index from
//! the log. A log that lost its tail after a clean close (a deleted last
//! segment, a cut at a frame boundary) must be refused with a typed error
//! naming what is missing, unless repair mode accepts and reports the loss.

mod common;

use std::ops::ControlFlow;
use std::path::Path;

use batpak::prelude::*;
use batpak::{EventId, Place, StoredEvent};
use common::*;

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

fn a() -> Coordinate {
    Coordinate::new("order:a", "shop").unwrap()
}

fn b() -> Coordinate {
    Coordinate::new("order:b", "shop").unwrap()
}

/// Positions 0..4: A placed, B placed, A paid, B paid.
fn closed_store(dir: &Path) {
    let store = Store::open(StoreConfig::new(dir)).unwrap();
    store.append(&a(), PLACED, &payload(0)).unwrap();
    store.append(&b(), PLACED, &payload(1)).unwrap();
    store.append(&a(), PAID, &payload(2)).unwrap();
    store.append(&b(), PAID, &payload(3)).unwrap();
    store.close().unwrap();
}

/// Where the streams' positions and the in-memory entries start in a
/// checkpoint (FORMAT.md, "Index checkpoint", version 4): the offset of
/// each stream's in-memory position varints, and of entry 0.
fn checkpoint_layout(ckpt: &[u8]) -> (Vec<usize>, usize) {
    let (positions, entries, _) = checkpoint_layout_filed(ckpt);
    (positions, entries)
}

/// [`checkpoint_layout`], and where each stream's filed positions are
/// described (the offset of their first position, followed by the last,
/// their offset and length in the positions file and their CRC-32), for
/// the streams that have any.
fn checkpoint_layout_filed(ckpt: &[u8]) -> (Vec<usize>, usize, Vec<Option<usize>>) {
    let u64_at = |at: usize| u64::from_le_bytes(ckpt[at..at + 8].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(ckpt[at..at + 4].try_into().unwrap()) as usize;
    let mut at = 10;
    at += 8 + 8 * u64_at(at);
    // The positions file's length, then the tables.
    at += 8;
    let tables = u64_at(at);
    at += 8 + tables * (4 + 8 + 8 + 8 + 4);
    let streams = u64_at(at);
    at += 8;
    let (mut positions, mut filed) = (Vec::new(), Vec::new());
    for _ in 0..streams {
        at += 4 + u32_at(at);
        at += 4 + u32_at(at);
        at += 32;
        // Filed positions: a count, and where they lie when there are any.
        let count = u64_at(at);
        at += 8;
        filed.push((count > 0).then_some(at));
        at += if count > 0 { 8 + 8 + 8 + 4 + 4 } else { 0 };
        at += 8;
        positions.push(at + 4);
        at += 4 + u32_at(at);
    }
    (positions, at + 8, filed)
}

/// Where entry `n`'s fields start in a checkpoint; every entry here is in
/// memory (one segment) and has no cause.
fn entry_at(ckpt: &[u8], n: usize) -> usize {
    checkpoint_layout(ckpt).1 + n * (16 + 4 + 4 + 4 + 1)
}

/// Rewrites the checkpoint with `alter` and a matching CRC, as a forger would.
fn forge_checkpoint(dir: &Path, alter: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let path = dir.join("index.ckpt");
    let mut ckpt = std::fs::read(&path).unwrap();
    ckpt.truncate(ckpt.len() - 4);
    alter(&mut ckpt);
    let crc = crc32fast::hash(&ckpt);
    ckpt.extend_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &ckpt).unwrap();
    ckpt
}

const KIND_AT: usize = 16 + 4 + 4;
const FLAGS_AT: usize = KIND_AT + 4;

/// Positions 0 and 1 swap streams: the index now says A's first event is
/// B's. A's positions 0, 2 become 1, 2 and B's 1, 3 become 0, 3 (varints:
/// the first position, then each distance), so each stream keeps its last
/// event and its head still matches.
fn swap_streams(ckpt: &mut [u8]) {
    let (positions, _) = checkpoint_layout(ckpt);
    let (a, b) = (positions[0], positions[1]);
    assert_eq!(
        (&ckpt[a..a + 2], &ckpt[b..b + 2]),
        (&[0, 2][..], &[1, 2][..])
    );
    ckpt[a..a + 2].copy_from_slice(&[1, 1]);
    ckpt[b..b + 2].copy_from_slice(&[0, 3]);
}

/// [`swap_streams`] where positions of sealed segments lie: in the
/// positions file, with the first positions and CRC-32s the checkpoint
/// records for them rewritten to match, as a forger would.
fn swap_filed_streams(dir: &Path) {
    let path = dir.join("index.positions");
    let mut file = std::fs::read(&path).unwrap();
    forge_checkpoint(dir, |ckpt| {
        let (_, _, filed) = checkpoint_layout_filed(ckpt);
        let u64_at = |c: &[u8], at: usize| u64::from_le_bytes(c[at..at + 8].try_into().unwrap());
        for (stream, (was, now)) in [([0u8, 2], [1u8, 1]), ([1, 2], [0, 3])]
            .into_iter()
            .enumerate()
        {
            let at = filed[stream].unwrap();
            let offset = u64_at(ckpt, at + 16) as usize;
            let len = u32::from_le_bytes(ckpt[at + 24..at + 28].try_into().unwrap()) as usize;
            assert_eq!(&file[offset..offset + 2], &was[..]);
            file[offset..offset + 2].copy_from_slice(&now);
            ckpt[at..at + 8].copy_from_slice(&u64::from(now[0]).to_le_bytes());
            let crc = crc32fast::hash(&file[offset..offset + len]);
            ckpt[at + 28..at + 32].copy_from_slice(&crc.to_le_bytes());
        }
    });
    std::fs::write(&path, &file).unwrap();
}

/// Entry 0 (A placed) claims to be a payment.
fn relabel_kind(ckpt: &mut [u8]) {
    let e0 = entry_at(ckpt, 0);
    ckpt[e0 + KIND_AT..e0 + KIND_AT + 4].copy_from_slice(&PAID.to_u32().to_le_bytes());
}

fn is_corrupt<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Corrupt { .. }))
}

#[test]
fn a_forged_checkpoint_is_refused_by_every_read_and_named_by_verify() {
    for (name, alter, kind) in [
        ("streams swapped", swap_streams as fn(&mut [u8]), PLACED),
        ("kind relabelled", relabel_kind, PAID),
    ] {
        let dir = tempfile::tempdir().unwrap();
        closed_store(dir.path());
        forge_checkpoint(dir.path(), alter);
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        assert!(store.stats().opened_from_checkpoint, "{name}");
        // Reads that reach the altered entries refuse them.
        assert!(is_corrupt(store.stream::<Payload>(&a())), "{name}: stream");
        assert!(
            is_corrupt(store.query::<Payload>(&Region::all())),
            "{name}: query"
        );
        assert!(
            is_corrupt(store.replay::<Payload, _>(&Region::all(), |_| ControlFlow::Continue(()))),
            "{name}: replay"
        );
        assert!(
            is_corrupt(store.query_headers(&Region::all().kind(kind))),
            "{name}: kind query"
        );
        // Verify compares every entry with the log and names the index.
        let damage = store.verify().unwrap().damage.unwrap();
        assert!(
            matches!(damage.at, Place::Index { position: 0 | 1 }),
            "{name}: {damage:?}"
        );
        // An index seen disagreeing is never checkpointed again: the next
        // open rebuilds it from the log and every read is right.
        store.close().unwrap();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        assert!(!store.stats().opened_from_checkpoint, "{name}");
        let events: Vec<StoredEvent<Payload>> = store.stream(&a()).unwrap();
        assert_eq!(
            events.iter().map(|e| e.header.kind).collect::<Vec<_>>(),
            [PLACED, PAID],
            "{name}"
        );
        assert!(store.verify().unwrap().is_ok(), "{name}");
    }
}

#[test]
fn verify_on_open_discards_a_forged_checkpoint_and_rebuilds_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    forge_checkpoint(dir.path(), swap_streams);
    let store = Store::open(StoreConfig::new(dir.path()).verify_on_open(true)).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint && stats.checkpoint_discarded);
    let events: Vec<StoredEvent<Payload>> = store.stream(&a()).unwrap();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| e.header.coordinate == a()));
    assert_eq!(store.query::<Payload>(&Region::all()).unwrap().len(), 4);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_version_1_checkpoint_is_ignored_and_the_log_rescanned() {
    // Version 1 had no gated flag: trusting it would show gated events as
    // direct to `Region::direct` and `Region::ungated`. (Every older
    // version is ignored alike.)
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    store.close().unwrap();
    forge_checkpoint(dir.path(), |ckpt| {
        ckpt[8..10].copy_from_slice(&1u16.to_le_bytes())
    });
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    assert_eq!(
        store.query_headers(&Region::all().direct()).unwrap().len(),
        4
    );
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn a_checkpoint_that_relabels_admissions_is_named_by_verify_and_discarded_on_open() {
    // Entry 0 (a direct append) forged as gated, with a matching CRC: the
    // admission filters select on the index, so the forgery hides the
    // event from `ungated()` until verify compares the index with the log.
    let relabel = |ckpt: &mut [u8]| {
        let flags = entry_at(ckpt, 0) + FLAGS_AT;
        ckpt[flags] = 2;
    };
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    forge_checkpoint(dir.path(), relabel);
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(
        store.query_headers(&Region::all().ungated()).unwrap().len(),
        3
    );
    let damage = store.verify().unwrap().damage.unwrap();
    assert!(
        matches!(damage.at, Place::Index { position: 0 }),
        "{damage:?}"
    );
    assert!(damage.reason.contains("admission"), "{damage:?}");
    drop(store);

    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    forge_checkpoint(dir.path(), relabel);
    let store = Store::open(StoreConfig::new(dir.path()).verify_on_open(true)).unwrap();
    assert!(store.stats().checkpoint_discarded);
    assert_eq!(
        store.query_headers(&Region::all().ungated()).unwrap().len(),
        4
    );
}

/// The store's segment files, in order.
fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    files.sort();
    files
}

/// 12 events in segments of a few frames each, closed cleanly.
fn closed_multi_segment_store(dir: &Path) -> StoreConfig {
    let config = StoreConfig::new(dir).segment_max_bytes(600);
    let store = Store::open(config.clone()).unwrap();
    for n in 0..12 {
        store.append(&a(), PLACED, &payload(n)).unwrap();
    }
    store.close().unwrap();
    assert!(segments(dir).len() >= 3);
    config
}

#[test]
fn a_deleted_last_segment_after_a_clean_close_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = closed_multi_segment_store(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    let kept = std::fs::read(&last).unwrap();
    std::fs::remove_file(&last).unwrap();
    let err = Store::open(config.clone()).unwrap_err();
    let StoreError::LogShorterThanRecorded { recorded, found } = err else {
        panic!("unexpected: {err}");
    };
    assert_eq!(recorded, 12);
    assert!(found < 12);
    assert!(err.to_string().contains("missing"), "{err}");
    // Read-only tools refuse it too; nothing was changed by the refusals.
    assert!(matches!(
        Store::open_read_only(config.clone()),
        Err(StoreError::LogShorterThanRecorded { .. })
    ));
    std::fs::write(&last, &kept).unwrap();
    let store = Store::open(config).unwrap();
    assert_eq!(store.stream::<Payload>(&a()).unwrap().len(), 12);
}

#[test]
fn a_log_cut_at_a_frame_boundary_is_refused_and_repair_mode_reports_the_loss() {
    let dir = tempfile::tempdir().unwrap();
    let config = closed_multi_segment_store(dir.path());
    let last = segments(dir.path()).pop().unwrap();
    // Cut the last segment right after its first frame: a whole log, short.
    let bytes = std::fs::read(&last).unwrap();
    let first_frame_end = {
        let len = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
        32 + 8 + len
    };
    assert!(first_frame_end < bytes.len());
    std::fs::write(&last, &bytes[..first_frame_end]).unwrap();
    let err = Store::open(config.clone()).unwrap_err();
    assert!(
        matches!(err, StoreError::LogShorterThanRecorded { recorded: 12, .. }),
        "{err}"
    );
    // Repair mode accepts the shorter log, says how much was lost, and
    // records the new extent: later opens are clean.
    let store = Store::open(config.clone().truncate_damaged_tail(true)).unwrap();
    let found = store.stats().events;
    assert_eq!(store.stats().lost_events, 12 - found);
    assert!(store.verify().unwrap().is_ok());
    drop(store);
    let store = Store::open(config).unwrap();
    assert_eq!(store.stats().events, found);
    assert_eq!(store.stats().lost_events, 0);
}

/// A header in a form the decoder accepts but the store never writes (here
/// the sequence stored as msgpack `int 8` instead of a positive fixint): the
/// reads check frames by a peek that reads only the written form, so the
/// scan at open must refuse it too, or the store would open and then fail
/// every read of that event. Found by reviewing what the fuzz targets'
/// peek-against-decode property allows.
#[test]
fn a_header_in_a_form_the_store_never_writes_is_refused_at_open() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(&a(), PLACED, &payload(0)).unwrap();
    drop(store);
    let path = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&path).unwrap();
    let (at, len) = frames(&bytes)[0];
    // Body: header length, batch rest, then the header (FORMAT.md): array
    // marker, id (bin 16), correlation nil (the id), causation nil,
    // timestamp (u64), then the sequence, here the fixint 1.
    let header_at = at + FRAME_PREFIX_LEN + 8;
    let sequence_at = header_at + 1 + 18 + 1 + 1 + 9;
    assert_eq!(bytes[sequence_at], 1);
    bytes.splice(sequence_at..sequence_at + 1, [0xd0, 1]);
    let grow = |bytes: &mut [u8], at: usize| {
        let n = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) + 1;
        bytes[at..at + 4].copy_from_slice(&n.to_le_bytes());
    };
    grow(&mut bytes, at + FRAME_PREFIX_LEN);
    grow(&mut bytes, at);
    reseal_frame(&mut bytes, at);
    assert_eq!(frames(&bytes), [(at, len + 1)]);
    std::fs::write(&path, &bytes).unwrap();
    match Store::open(StoreConfig::new(dir.path())) {
        Err(StoreError::Corrupt { at, reason }) => {
            assert_eq!(at, Place::segment(1, 32), "{reason}");
        }
        Ok(store) => {
            let read = store.query::<Payload>(&Region::all());
            panic!("opened, and then a read says {read:?}");
        }
        Err(e) => panic!("{e}"),
    }
}

/// A checkpoint entry claiming a 4 GiB frame: a read must refuse it by the
/// segment's known length, before sizing any buffer by it (it once
/// allocated the 4 GiB first; found by the `checkpoint` fuzz target).
#[test]
fn a_checkpoint_entry_longer_than_its_segment_is_refused_before_reading() {
    const LEN_AT: usize = 16 + 4;
    for writable in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        closed_store(dir.path());
        forge_checkpoint(dir.path(), |ckpt| {
            let e0 = entry_at(ckpt, 0);
            ckpt[e0 + LEN_AT..e0 + LEN_AT + 4].copy_from_slice(&(u32::MAX - 64).to_le_bytes());
        });
        let config = StoreConfig::new(dir.path());
        let store = if writable {
            Store::open(config).unwrap()
        } else {
            Store::open_read_only(config).unwrap()
        };
        assert!(store.stats().opened_from_checkpoint);
        let past_the_end = |result: Result<_, StoreError>| match result {
            Err(StoreError::Corrupt { at, reason }) => {
                at == Place::segment(1, 32) && reason.contains("index entry")
            }
            _ => false,
        };
        assert!(
            past_the_end(store.stream::<Payload>(&a()).map(drop)),
            "{writable}"
        );
        assert!(past_the_end(
            store.query::<Payload>(&Region::all()).map(drop)
        ));
        let damage = store.verify().unwrap().damage.unwrap();
        assert!(
            matches!(damage.at, Place::Index { position: 0 }),
            "{damage:?}"
        );
    }
}

/// Two streams over sealed segments, closed, then the positions file and
/// checkpoint forged ([`swap_filed_streams`]) so that the streams' position lists lie about events
/// whose entries are in sealed segments (the entries themselves are right,
/// in their files).
fn store_with_lying_positions(dir: &Path) -> StoreConfig {
    let config = closed_store_with_filed_positions(dir);
    swap_filed_streams(dir);
    config
}

/// Reads of either stream fail, naming the index, rather than skip an
/// event or return the other stream's; verify names the index too.
#[test]
fn a_checkpoint_whose_stream_positions_lie_fails_the_reads_it_would_mislead() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_with_lying_positions(dir.path());
    let store = Store::open(config).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert!(
        stats.entries_in_memory < 8,
        "positions 0-3 are sealed: {stats:?}"
    );
    for c in [a(), b()] {
        let misled = |r: Result<Vec<StoredEvent<Payload>>, StoreError>| {
            matches!(
                r,
                Err(StoreError::Corrupt {
                    at: Place::Index { position: 0 | 1 },
                    ..
                })
            )
        };
        assert!(misled(store.stream(&c)), "stream {c:?}");
        assert!(misled(store.query(&Region::coordinate(&c))), "query {c:?}");
    }
    let damage = store.verify().unwrap().damage.unwrap();
    assert!(
        matches!(damage.at, Place::Index { .. }) && damage.reason.contains("positions"),
        "{damage:?}"
    );
}

#[test]
fn verify_on_open_rebuilds_an_index_whose_stream_positions_lie() {
    let dir = tempfile::tempdir().unwrap();
    let config = store_with_lying_positions(dir.path());
    let store = Store::open(config.verify_on_open(true)).unwrap();
    assert!(store.stats().checkpoint_discarded);
    for c in [a(), b()] {
        let events: Vec<StoredEvent<Payload>> = store.stream(&c).unwrap();
        assert_eq!(events.len(), 6);
        assert!(events.iter().all(|e| e.header.coordinate == c));
    }
    assert!(store.verify().unwrap().is_ok());
}

/// A checkpoint whose id fence is forged (a post's id moved, still in
/// order, so it decodes): verify names the index where the lookup parts
/// from the log, the index is not checkpointed again, and the next open
/// rebuilds it so every id is found.
#[test]
fn a_forged_id_fence_is_named_by_verify_and_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let ids: Vec<EventId> = (0..600)
        .map(|n| store.append(&a(), PLACED, &payload(n)).unwrap().event_id)
        .collect();
    store.close().unwrap();
    forge_checkpoint(dir.path(), |ckpt| {
        let u64_at = |at: usize| u64::from_le_bytes(ckpt[at..at + 8].try_into().unwrap()) as usize;
        // After the 600 entries (no causes): runs, highest id, others, fence.
        let mut at = entry_at(ckpt, 600);
        at += 8 + 16 * u64_at(at);
        at += 16;
        at += 8 + 24 * u64_at(at);
        assert_eq!(u64_at(at), 3, "posts at positions 0, 256, 512");
        let post = at + 8 + 24;
        assert_eq!(u64_at(post), 256);
        let id = u128::from_le_bytes(ckpt[post + 8..post + 24].try_into().unwrap());
        ckpt[post + 8..post + 24].copy_from_slice(&(id + 1).to_le_bytes());
    });
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let damage = store.verify().unwrap().damage.unwrap();
    assert!(
        matches!(damage.at, Place::Index { position: 256 }) && damage.reason.contains("id"),
        "{damage:?}"
    );
    store.close().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    for (p, id) in ids.iter().enumerate() {
        let found = store
            .get::<Payload>(*id)
            .unwrap()
            .map(|e| e.header.position);
        assert_eq!(found, Some(p as u64));
    }
}

/// Two streams over sealed segments, closed: the positions of the sealed
/// events are in the positions file beside the checkpoint.
fn closed_store_with_filed_positions(dir: &Path) -> StoreConfig {
    let config = StoreConfig::new(dir).segment_max_bytes(600);
    let store = Store::open(config.clone()).unwrap();
    for n in 0..12 {
        let c = if n % 2 == 0 { a() } else { b() };
        store.append(&c, PLACED, &payload(n)).unwrap();
    }
    store.close().unwrap();
    assert!(dir.join("index.positions").exists());
    config
}

fn assert_both_streams_whole(store: &Store, context: &str) {
    for c in [a(), b()] {
        let events: Vec<StoredEvent<Payload>> = store.stream(&c).unwrap();
        let sequences: Vec<u64> = events.iter().map(|e| e.header.sequence).collect();
        assert_eq!(sequences, (1..=6).collect::<Vec<u64>>(), "{context}: {c:?}");
        assert!(events.iter().all(|e| e.header.coordinate == c), "{context}");
    }
}

/// A positions file damaged after close (one byte of a stream's varints
/// flipped, its checksum not rewritten): the open still comes from the
/// checkpoint (the file is read one stream at a time, when needed), every
/// read that needs the damaged stream's positions is a `Corrupt` error
/// naming the file, `verify` names the stream, and `verify_on_open`
/// rebuilds the index from the log, which loses nothing.
#[test]
fn a_damaged_positions_file_fails_the_reads_that_need_it_and_is_rebuilt_on_verify() {
    let dir = tempfile::tempdir().unwrap();
    let config = closed_store_with_filed_positions(dir.path());
    let path = dir.path().join("index.positions");
    let mut file = std::fs::read(&path).unwrap();
    let last = file.len() - 1;
    file[last] ^= 0x40;
    std::fs::write(&path, &file).unwrap();
    let store = Store::open(config.clone()).unwrap();
    assert!(store.stats().opened_from_checkpoint);
    let names_the_file = |r: Result<Vec<StoredEvent<Payload>>, StoreError>| {
        matches!(r, Err(StoreError::Corrupt { at: Place::File { path }, .. })
            if path.ends_with("index.positions"))
    };
    // The last stream's varints are the file's last bytes.
    assert!(names_the_file(store.stream(&b())), "stream");
    assert!(
        names_the_file(store.query(&Region::coordinate(&b()))),
        "query"
    );
    // The other stream's positions are intact, and so are reads that do
    // not list positions by stream.
    assert_eq!(store.stream::<Payload>(&a()).unwrap().len(), 6);
    assert_eq!(store.query::<Payload>(&Region::all()).unwrap().len(), 12);
    let damage = store.verify().unwrap().damage.unwrap();
    assert_eq!(damage.coordinate, Some(b()), "{damage:?}");
    assert!(damage.reason.contains("cannot be read"), "{damage:?}");
    // An index seen to disagree is never checkpointed: the next open
    // rebuilds it from the sealed indexes and the log.
    store.close().unwrap();
    let store = Store::open(config.clone()).unwrap();
    assert!(!store.stats().opened_from_checkpoint);
    assert_both_streams_whole(&store, "after a close");
    store.close().unwrap();
    // Damaged again, and opened with `verify_on_open`: the checkpoint is
    // discarded and the index rebuilt at once.
    let mut file = std::fs::read(&path).unwrap();
    let last = file.len() - 1;
    file[last] ^= 0x40;
    std::fs::write(&path, &file).unwrap();
    let store = Store::open(config.verify_on_open(true)).unwrap();
    assert!(store.stats().checkpoint_discarded);
    assert_both_streams_whole(&store, "after verify_on_open");
    assert!(store.verify().unwrap().is_ok());
}

/// A positions file that is missing, cut short or grown, or whose header
/// is not its own, is not the file the checkpoint recorded: the open
/// refuses the checkpoint and rebuilds the index from the sealed indexes
/// and the log, with every event in place.
#[test]
fn a_missing_or_resized_positions_file_makes_the_open_rebuild_the_index() {
    type Alter = fn(&Path);
    let alterations: [(&str, Alter); 4] = [
        ("removed", |p| std::fs::remove_file(p).unwrap()),
        ("cut", |p| {
            let bytes = std::fs::read(p).unwrap();
            std::fs::write(p, &bytes[..bytes.len() - 1]).unwrap();
        }),
        ("grown", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            bytes.push(0);
            std::fs::write(p, &bytes).unwrap();
        }),
        ("header", |p| {
            let mut bytes = std::fs::read(p).unwrap();
            bytes[0] ^= 1;
            std::fs::write(p, &bytes).unwrap();
        }),
    ];
    for (name, alter) in alterations {
        let dir = tempfile::tempdir().unwrap();
        let config = closed_store_with_filed_positions(dir.path());
        alter(&dir.path().join("index.positions"));
        let store = Store::open(config).unwrap();
        assert!(!store.stats().opened_from_checkpoint, "{name}");
        assert_both_streams_whole(&store, name);
        assert!(store.verify().unwrap().is_ok(), "{name}");
    }
}

/// Where stream `n`'s head hash lies in a checkpoint (FORMAT.md, version 4).
fn head_at(ckpt: &[u8], n: usize) -> usize {
    let u64_at = |at: usize| u64::from_le_bytes(ckpt[at..at + 8].try_into().unwrap()) as usize;
    let u32_at = |at: usize| u32::from_le_bytes(ckpt[at..at + 4].try_into().unwrap()) as usize;
    let mut at = 10;
    at += 8 + 8 * u64_at(at);
    at += 8;
    at += 8 + u64_at(at) * (4 + 8 + 8 + 8 + 4);
    at += 8;
    for stream in 0.. {
        at += 4 + u32_at(at);
        at += 4 + u32_at(at);
        if stream == n {
            return at;
        }
        at += 32;
        let filed = u64_at(at);
        at += 8 + if filed > 0 { 8 + 8 + 8 + 4 + 4 } else { 0 };
        at += 8;
        at += 4 + u32_at(at);
    }
    unreachable!()
}

/// A checkpoint stays after an open loads it: after a kill, the next open
/// starts from it and indexes what was appended after it. A checkpoint
/// altered under a valid checksum (a stream's head) that the frames after
/// it contradict is not believed over the log: the open indexes the whole
/// log instead, and removes it.
#[test]
fn an_open_after_a_kill_resumes_from_the_checkpoint_unless_the_log_contradicts_it() {
    let dir = tempfile::tempdir().unwrap();
    closed_store(dir.path());
    let resume = |forge: bool| {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        store.append(&a(), PAID, &payload(4)).unwrap();
        store.exit_without_checkpoint();
        if forge {
            forge_checkpoint(dir.path(), |ckpt| {
                let head = head_at(ckpt, 0);
                ckpt[head] ^= 1;
            });
        }
        Store::open(StoreConfig::new(dir.path())).unwrap()
    };
    let store = resume(false);
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!((stats.events, stats.events_rescanned), (5, 1), "{stats:?}");
    let events: Vec<StoredEvent<Payload>> = store.stream(&a()).unwrap();
    assert_eq!(events.len(), 3);
    assert!(store.verify().unwrap().is_ok());
    store.exit_without_checkpoint();
    // A read-only open resumes the same way, and writes nothing.
    let files = |dir: &Path| -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
            .collect();
        files.sort();
        files
    };
    let before = files(dir.path());
    let store = Store::open_read_only(StoreConfig::new(dir.path())).unwrap();
    let stats = store.stats();
    assert!(stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!((stats.events, stats.events_rescanned), (5, 1), "{stats:?}");
    assert_eq!(store.stream::<Payload>(&a()).unwrap().len(), 3);
    drop(store);
    assert!(files(dir.path()) == before, "a read-only open wrote");

    // A's head forged in the checkpoint: A's next event, appended after
    // it, names another previous hash.
    let store = resume(true);
    let stats = store.stats();
    assert!(!stats.opened_from_checkpoint, "{stats:?}");
    assert_eq!((stats.events, stats.events_rescanned), (6, 6), "{stats:?}");
    assert!(!dir.path().join("index.ckpt").exists());
    let events: Vec<StoredEvent<Payload>> = store.stream(&a()).unwrap();
    assert_eq!(events.len(), 4);
    assert!(store.verify().unwrap().is_ok());
}
