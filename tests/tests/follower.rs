//! `Follower`: reads a segment store beside its writer, without the lock;
//! shows whole frames and whole batches only, in position order.

mod common;

use batpak::{AppendOptions, Backend, Follower, Store, StoreConfig, StoreError};
use common::{KIND, OTHER_KIND, Payload, coord, fast_dir, frames, payload, segment_path};

#[test]
fn a_follower_reads_beside_the_writer_that_holds_the_lock() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).segment_max_bytes(600)).unwrap();
    assert!(matches!(
        Store::open_read_only(StoreConfig::new(dir.path())),
        Err(StoreError::StoreLocked { .. })
    ));
    let mut follower = Follower::open(dir.path()).unwrap();
    let mut seen = Vec::new();
    for n in 0..20 {
        store.append(&coord("a"), KIND, &payload(n)).unwrap();
        if n % 7 == 0 {
            seen.extend(follower.poll::<Payload>().unwrap());
        }
    }
    seen.extend(follower.poll::<Payload>().unwrap());
    assert!(store.stats().segments > 1, "the log rotated");
    let ns: Vec<u64> = seen.iter().map(|e| e.payload.n).collect();
    assert_eq!(ns, (0..20).collect::<Vec<_>>(), "each event once, in order");
    let positions: Vec<u64> = seen.iter().map(|e| e.header.position).collect();
    assert_eq!(positions, (0..20).collect::<Vec<_>>());
    // The hash it reports is the chain link the store reports.
    let stored = store.stream::<Payload>(&coord("a")).unwrap();
    assert_eq!(seen.last().unwrap().hash, stored.last().unwrap().hash);
    store.close().unwrap();
}

#[test]
fn a_half_written_batch_is_not_shown_until_its_last_frame_is_whole() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(&coord("a"), KIND, &payload(0)).unwrap();
    let batch: Vec<_> = (1..=3).map(|n| (OTHER_KIND, payload(n))).collect();
    store
        .append_batch(&coord("a"), &batch, AppendOptions::default())
        .unwrap();
    store.close().unwrap();
    let seg = segment_path(dir.path(), 1);
    let whole = std::fs::read(&seg).unwrap();
    let (last_frame, _) = *frames(&whole).last().unwrap();
    // The batch's last frame cut short: what a reader sees mid-write.
    std::fs::write(&seg, &whole[..last_frame + 10]).unwrap();
    let mut follower = Follower::open(dir.path()).unwrap();
    let seen = follower.poll::<Payload>().unwrap();
    assert_eq!(seen.len(), 1, "only the event before the batch");
    assert!(follower.poll::<Payload>().unwrap().is_empty());
    // The write completes: the whole batch appears at once.
    std::fs::write(&seg, &whole).unwrap();
    let batch: Vec<u64> = follower
        .poll::<Payload>()
        .unwrap()
        .iter()
        .map(|e| e.payload.n)
        .collect();
    assert_eq!(batch, [1, 2, 3]);
}

#[test]
fn a_write_in_progress_inside_reserved_space_is_read_again_until_whole() {
    // The writer writes into zeros it reserved, so a read can see the
    // first bytes of a frame, then zeros where the rest is still coming.
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    for n in 0..3 {
        store.append(&coord("a"), KIND, &payload(n)).unwrap();
    }
    store.exit_without_checkpoint(); // the segment keeps its reserve
    let seg = segment_path(dir.path(), 1);
    let whole = std::fs::read(&seg).unwrap();
    let (last, len) = *frames(&whole).last().unwrap();
    assert!(
        whole.len() > last + len,
        "space is reserved after the last frame"
    );
    let mut partial = whole.clone();
    partial[last + len / 2..last + len].fill(0);
    std::fs::write(&seg, &partial).unwrap();
    let mut follower = Follower::open(dir.path()).unwrap();
    let seen = follower.poll::<Payload>().unwrap();
    assert_eq!(seen.len(), 2, "the events before the one being written");
    assert!(follower.poll::<Payload>().unwrap().is_empty());
    // The rest of the frame lands: it is read again, whole this time.
    std::fs::write(&seg, &whole).unwrap();
    let seen = follower.poll::<Payload>().unwrap();
    assert_eq!(seen.iter().map(|e| e.payload.n).collect::<Vec<_>>(), [2]);
    assert!(follower.poll::<Payload>().unwrap().is_empty());
}

#[test]
fn frames_and_batches_longer_than_a_read_window_are_shown_whole() {
    // A poll reads 64 KiB at a time past what it holds; a longer frame or
    // batch is read on until it is whole.
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let mut follower = Follower::open(dir.path()).unwrap();
    let long = |n: u64, bytes: usize| Payload {
        n,
        amount_cents: n,
        note: "x".repeat(bytes),
    };
    store.append(&coord("a"), KIND, &long(0, 300_000)).unwrap();
    let batch: Vec<_> = (1..=40).map(|n| (KIND, long(n, 5_000))).collect();
    store
        .append_batch(&coord("a"), &batch, AppendOptions::default())
        .unwrap();
    store.append(&coord("a"), KIND, &payload(41)).unwrap();
    let seen = follower.poll::<Payload>().unwrap();
    let ns: Vec<u64> = seen.iter().map(|e| e.payload.n).collect();
    assert_eq!(ns, (0..=41).collect::<Vec<_>>());
    assert_eq!(seen[0].payload.note.len(), 300_000);
    assert!(follower.poll::<Payload>().unwrap().is_empty());
    store.close().unwrap();
}

#[test]
fn a_follower_refuses_a_store_of_another_engine() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).backend(Backend::Redb)).unwrap();
    store.close().unwrap();
    assert!(matches!(
        Follower::open(dir.path()),
        Err(StoreError::BackendMismatch {
            found: Backend::Redb,
            requested: Backend::Segment
        })
    ));
}
