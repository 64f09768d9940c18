//! The store's conformance suite, written once and run on every backend.
//!
//! Each body below takes the [`Backend`] to test; the `conformance!` macro
//! turns it into one `#[test]` per backend (modules `segment`, `redb`,
//! `lmdb`), the way okaywal runs each test body on several file systems. A
//! backend passes when every body passes on it unchanged: the core owns all
//! semantics, so none may depend on the engine.
//!
//! The bodies of `shared_conformance!` speak only the API every event log
//! shares ([`SharedLog`]), so they run on PostgreSQL too (module
//! `shared::postgres`, with the `postgres` feature and a server: see
//! `scripts/with-postgres.sh`; without one each says it was skipped).

use batpak::prelude::*;
use batpak::{Admission, Backend, Delivery, EventId, FnGate, Hash, Projection, StreamHead, bypass};
use serde::{Deserialize, Serialize};

#[path = "common/shared_log.rs"]
mod shared_log;
use shared_log::*;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Payment {
    order: String,
    amount_cents: u64,
}

#[derive(Debug, Deserialize)]
struct NotAPayment {
    #[allow(dead_code)]
    colour: [u8; 3],
}

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

fn pay(n: u64) -> Payment {
    Payment {
        order: format!("order:{n}"),
        amount_cents: n * 100,
    }
}

fn config(b: Backend, dir: &std::path::Path) -> StoreConfig {
    StoreConfig::new(dir).backend(b)
}

fn open(b: Backend, dir: &std::path::Path) -> Store {
    Store::open(config(b, dir)).unwrap()
}

macro_rules! conformance {
    ($(fn $name:ident($b:ident: Backend) $body:block)*) => {
        $(fn $name($b: Backend) $body)*

        mod segment {
            $(#[test] fn $name() { super::$name(batpak::Backend::Segment) })*
        }
        mod redb {
            $(#[test] fn $name() { super::$name(batpak::Backend::Redb) })*
        }
        mod lmdb {
            $(#[test] fn $name() { super::$name(batpak::Backend::Lmdb) })*
        }
    };
}

/// Revenue over the region (for the views body below).
#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
struct Revenue {
    cents: u64,
}

impl Projection for Revenue {
    type Event = Payment;
    const NAME: &'static str = "conformance.revenue";
    const VERSION: u32 = 1;
    fn kinds() -> Option<&'static [EventKind]> {
        Some(&[PAID])
    }
    fn apply(&mut self, event: &StoredEvent<Payment>) {
        self.cents += event.payload.amount_cents;
    }
}

conformance! {
    fn replay_visits_what_query_returns_and_stops_when_told(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(config(b, dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
        for n in 0..300u64 {
            let kind = if n % 3 == 0 { PAID } else { PLACED };
            store.append(&coord(&format!("order:{}", n % 7)), kind, &pay(n)).unwrap();
            if n == 150 {
                store.sync().unwrap();
            }
        }
        for region in [
            Region::all(),
            Region::entity("order:3"),
            Region::all().kind(PAID).positions(20..=200),
        ] {
            let want = store.query::<Payment>(&region).unwrap();
            let mut got = Vec::new();
            let visited = store
                .replay::<Payment, _>(&region, |view| {
                    got.push(view.into_stored().unwrap());
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(visited, want.len() as u64);
            assert_eq!(got, want);
        }
        let mut seen = 0;
        let visited = store
            .replay::<Payment, _>(&Region::all(), |view| {
                seen += 1;
                if view.position() == 9 {
                    std::ops::ControlFlow::Break(())
                } else {
                    std::ops::ControlFlow::Continue(())
                }
            })
            .unwrap();
        assert_eq!((visited, seen), (10, 10));
    }

    fn append_stream_and_get_return_what_was_written(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let a = coord("order:1");
        for n in 1..=3 {
            let r = store.append(&a, PLACED, &pay(n)).unwrap();
            assert_eq!((r.sequence, r.position), (n, n - 1));
        }
        let events = store.stream::<Payment>(&a).unwrap();
        assert_eq!(events.len(), 3);
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.payload, pay(i as u64 + 1));
            assert_eq!(e.sequence(), i as u64 + 1);
        }
        assert_eq!(events[0].header.prev_hash, Hash::ZERO);
        assert_eq!(events[2].header.prev_hash, events[1].hash);
        assert_eq!(store.head(&a), StreamHead { version: 3, hash: events[2].hash });
        let got = store.get::<Payment>(events[1].header.id).unwrap().unwrap();
        assert_eq!(got, events[1]);
        assert!(store.get::<Payment>(EventId::from_u128(42)).unwrap().is_none());
    }

    fn expected_version_distinguishes_no_stream_from_one_event(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let a = coord("a");
        let opts = |v| AppendOptions::new().expect(v);
        let err = store
            .append_with(&a, PLACED, &pay(0), opts(ExpectedVersion::Exact(1)))
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::VersionMismatch { expected: ExpectedVersion::Exact(1), actual: 0, .. }
        ));
        assert_eq!(store.stats().events, 0, "a mismatch wrote something");
        store.append_with(&a, PLACED, &pay(1), opts(ExpectedVersion::NoStream)).unwrap();
        let err = store
            .append_with(&a, PLACED, &pay(2), opts(ExpectedVersion::NoStream))
            .unwrap_err();
        assert!(matches!(
            err,
            StoreError::VersionMismatch { expected: ExpectedVersion::NoStream, actual: 1, .. }
        ));
        let second = store.append_with(&a, PLACED, &pay(3), opts(ExpectedVersion::Exact(1))).unwrap();
        assert_eq!(second.sequence, 2);
        let before = store.stats();
        assert!(matches!(
            store.append_with(&a, PLACED, &pay(4), opts(ExpectedVersion::Exact(7))),
            Err(StoreError::VersionMismatch { actual: 2, .. })
        ));
        assert_eq!(store.head(&a).version, 2);
        assert_eq!(store.stats().events, 2);
        assert_eq!(store.stats().log_bytes, before.log_bytes, "a mismatch wrote bytes");
        assert_eq!(store.stream::<Payment>(&a).unwrap().len(), 2);
    }

    fn idempotency_returns_the_original_receipt_also_after_reopen(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let a = coord("a");
        let keyed = |v| AppendOptions::new().expect(v).idempotency_key("order-507-placed");
        let original = {
            let store = open(b, dir.path());
            let original = store
                .append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::NoStream))
                .unwrap();
            let retry = store
                .append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::NoStream))
                .unwrap();
            assert_eq!(retry, original);
            let err = store
                .append_with(&a, PLACED, &pay(2), keyed(ExpectedVersion::Any))
                .unwrap_err();
            assert!(matches!(
                err,
                StoreError::IdempotencyConflict { ref key, position: 0 } if key == "order-507-placed"
            ));
            // The key is store-wide: reusing it on another stream is a conflict too.
            assert!(matches!(
                store.append_with(&coord("b"), PLACED, &pay(1), keyed(ExpectedVersion::Any)),
                Err(StoreError::IdempotencyConflict { .. })
            ));
            assert_eq!(store.stats().events, 1);
            // A process ending without cleanup: keys are rebuilt by a scan.
            store.exit_without_checkpoint();
            original
        };
        let store = open(b, dir.path());
        assert!(!store.stats().opened_from_checkpoint);
        let retry = store
            .append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::NoStream))
            .unwrap();
        assert_eq!(retry, original);
        store.close().unwrap();
        let store = open(b, dir.path());
        assert!(store.stats().opened_from_checkpoint);
        let retry = store
            .append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::Any))
            .unwrap();
        assert_eq!(retry, original);
        assert!(matches!(
            store.append_with(&a, PAID, &pay(1), keyed(ExpectedVersion::Any)),
            Err(StoreError::IdempotencyConflict { .. })
        ));
        assert_eq!(store.stats().events, 1);
    }

    fn a_dropped_store_leaves_a_checkpoint_that_the_next_open_loads(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = || config(b, dir.path()).sync_policy(SyncPolicy::Manual);
        let (before, head, keyed) = {
            let store = Store::open(cfg()).unwrap();
            for n in 0..12 {
                store.append(&coord(&format!("e{}", n % 3)), PLACED, &pay(n)).unwrap();
            }
            let options = AppendOptions::new().idempotency_key("dropped-key");
            let keyed = store.append_with(&coord("e0"), PAID, &pay(99), options).unwrap();
            // Pipelined and never waited on: the drop must still sync it.
            let _ticket = store.append_pipelined(&coord("e1"), PAID, &pay(100), AppendOptions::new()).unwrap();
            let before = store.query::<Payment>(&Region::all()).unwrap();
            (before, store.head(&coord("e1")), keyed)
        }; // dropped, never closed, under a policy that never syncs by itself
        let store = Store::open(cfg().verify_on_open(true)).unwrap();
        let stats = store.stats();
        assert!(stats.opened_from_checkpoint, "{stats:?}");
        assert!(!stats.checkpoint_discarded, "{stats:?}");
        assert_eq!(stats.events, 14);
        assert_eq!(store.query::<Payment>(&Region::all()).unwrap(), before);
        assert_eq!(store.head(&coord("e1")), head);
        // The idempotency key came back with the checkpoint.
        let options = AppendOptions::new().idempotency_key("dropped-key");
        assert_eq!(store.append_with(&coord("e0"), PAID, &pay(99), options).unwrap(), keyed);
        assert_eq!(store.stats().events, 14);
        assert!(store.verify().unwrap().is_ok());
        // A store that appended after loading the checkpoint and then ended
        // without cleanup: a segment store resumes from the checkpoint (it
        // describes a prefix of the log) and indexes the one event after
        // it; a key-value store, whose checkpoint must match its record
        // count, rescans.
        store.append(&coord("e2"), PLACED, &pay(7)).unwrap();
        store.exit_without_checkpoint();
        let store = Store::open(cfg()).unwrap();
        let stats = store.stats();
        let resumes = b == Backend::Segment;
        assert_eq!(stats.opened_from_checkpoint, resumes, "{stats:?}");
        if resumes {
            assert_eq!(stats.events_rescanned, 1, "{stats:?}");
        }
        assert_eq!(store.stats().events, 15);
        assert_eq!(store.query::<Payment>(&Region::all()).unwrap()[..14], before[..]);
    }

    fn positions_stay_gapless_across_reopen(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let mut next = 0;
        for round in 0..4 {
            let store = open(b, dir.path());
            assert_eq!(store.stats().events, next);
            for i in 0..5 {
                let r = store.append(&coord(&format!("e{}", i % 2)), PLACED, &pay(i)).unwrap();
                assert_eq!(r.position, next);
                next += 1;
            }
            // A clean close, a process killed after writing, a dropped store.
            match round % 3 {
                0 => store.close().unwrap(),
                1 => store.exit_without_checkpoint(),
                _ => drop(store),
            }
        }
        let store = open(b, dir.path());
        let all = store.query_headers(&Region::all()).unwrap();
        assert_eq!(all.iter().map(|h| h.position).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
        assert!(store.verify().unwrap().is_ok());
    }

    fn append_batch_is_all_or_nothing(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let a = coord("a");
        let batch: Vec<(EventKind, Payment)> = (0..4).map(|i| (PLACED, pay(i))).collect();
        let receipts = store
            .append_batch(&a, &batch, AppendOptions::new().expect(ExpectedVersion::NoStream))
            .unwrap();
        assert_eq!(receipts.iter().map(|r| r.position).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(matches!(
            store.append_batch(&a, &batch, AppendOptions::new().expect(ExpectedVersion::NoStream)),
            Err(StoreError::VersionMismatch { actual: 4, .. })
        ));
        let bad = vec![(PLACED, pay(9)), (EventKind::new(0, 1), pay(10))];
        assert!(matches!(
            store.append_batch(&a, &bad, AppendOptions::new()),
            Err(StoreError::ReservedKind { .. })
        ));
        assert_eq!(store.stats().events, 4);
        drop(store);
        let store = open(b, dir.path());
        let events = store.stream::<Payment>(&a).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(events[3].hash, receipts[3].hash);
    }

    fn query_selects_by_region(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(config(b, dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
        for n in 0..20u64 {
            let kind = if n % 2 == 0 { PLACED } else { PAID };
            let entity = if n % 4 < 2 { format!("order:{}", n % 5) } else { format!("user:{}", n % 5) };
            store.append(&coord(&entity), kind, &pay(n)).unwrap();
        }
        let paid = store.query::<Payment>(&Region::all().kind(PAID)).unwrap();
        assert_eq!(paid.len(), 10);
        assert!(paid.iter().all(|e| e.header.kind == PAID));
        let orders = store.query_headers(&Region::entity_prefix("order:")).unwrap();
        assert_eq!(orders.len(), 10);
        assert!(orders.iter().all(|h| h.coordinate.entity().starts_with("order:")));
        assert!(orders.windows(2).all(|w| w[0].position < w[1].position));
        let region = Region::all().sequences(2..=3).positions(5..=15);
        let expected: Vec<u64> = store
            .query_headers(&Region::all())
            .unwrap()
            .into_iter()
            .filter(|h| region.matches(h))
            .map(|h| h.position)
            .collect();
        let got = store.query_headers(&region).unwrap();
        assert_eq!(got.iter().map(|h| h.position).collect::<Vec<_>>(), expected);
        let (start, end) = (5, 1);
        assert!(matches!(
            store.query_headers(&Region::all().positions(start..=end)),
            Err(StoreError::InvalidRegion(_))
        ));
    }

    fn walk_causation_follows_links_and_inherits_correlation(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let root = store.append(&coord("a"), PLACED, &pay(0)).unwrap();
        let child = store
            .append_with(&coord("b"), PLACED, &pay(1), AppendOptions::new().caused_by(root.event_id))
            .unwrap();
        let unrelated = store.append(&coord("a"), PLACED, &pay(2)).unwrap();
        let grandchild = store
            .append_with(&coord("c"), PLACED, &pay(3), AppendOptions::new().caused_by(child.event_id))
            .unwrap();
        let walked = store.walk_causation(root.event_id).unwrap();
        let ids: Vec<_> = walked.iter().map(|h| h.id).collect();
        assert_eq!(ids, [root.event_id, child.event_id, grandchild.event_id]);
        assert!(walked.iter().all(|h| h.correlation == root.event_id));
        assert_eq!(store.walk_causation(unrelated.event_id).unwrap().len(), 1);
        drop(store);
        let store = open(b, dir.path());
        assert_eq!(store.walk_causation(root.event_id).unwrap().len(), 3);
    }

    fn verify_is_clean_and_reopen_keeps_everything(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let mut receipts = Vec::new();
        for n in 0..30 {
            receipts.push(store.append(&coord(&format!("e{}", n % 4)), PLACED, &pay(n)).unwrap());
        }
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.damage);
        assert_eq!((report.events, report.streams), (30, 4));
        let before = store.query::<Payment>(&Region::all()).unwrap();
        store.close().unwrap();
        for _ in 0..2 {
            let store = open(b, dir.path());
            assert!(store.stats().opened_from_checkpoint);
            assert_eq!(store.query::<Payment>(&Region::all()).unwrap(), before);
            assert!(store.verify().unwrap().is_ok());
            store.close().unwrap();
        }
        // A reopen after the log grew past the checkpoint (resumed from it
        // by a segment store, rescanned by a key-value one).
        let store = open(b, dir.path());
        let r = store.append(&coord("e0"), PLACED, &pay(99)).unwrap();
        assert_eq!((r.position, r.sequence), (30, 9));
        store.exit_without_checkpoint();
        let store = Store::open(config(b, dir.path()).verify_on_open(true)).unwrap();
        let stats = store.stats();
        assert_eq!(stats.opened_from_checkpoint, b == Backend::Segment, "{stats:?}");
        assert!(!stats.checkpoint_discarded, "{stats:?}");
        let after = store.query::<Payment>(&Region::all()).unwrap();
        assert_eq!(&after[..30], &before[..]);
        assert_eq!(after[30].header.id, r.event_id);
        for (e, r) in after.iter().zip(&receipts) {
            assert_eq!(e.hash, r.hash);
        }
    }

    fn a_second_writer_is_refused_even_when_files_are_removed_or_replaced(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        store.append(&coord("a"), PLACED, &pay(1)).unwrap();
        // Whatever sits in the directory besides the log, a lock file of an
        // older build included, can be removed or replaced while the writer
        // runs: the second writer is still refused and the log untouched.
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n == "LOCK" || n == "BACKEND") {
                std::fs::remove_file(&path).unwrap();
            }
        }
        std::fs::write(dir.path().join("LOCK"), b"").unwrap();
        assert!(matches!(Store::open(config(b, dir.path())), Err(StoreError::StoreLocked { .. })));
        store.append(&coord("a"), PLACED, &pay(2)).unwrap();
        store.close().unwrap();
        let store = open(b, dir.path());
        assert_eq!(store.stream::<Payment>(&coord("a")).unwrap().len(), 2);
        assert!(store.verify().unwrap().is_ok());
    }

    fn a_second_opener_gets_store_locked(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        store.append(&coord("a"), PLACED, &pay(1)).unwrap();
        assert!(matches!(Store::open(config(b, dir.path())), Err(StoreError::StoreLocked { .. })));
        assert!(matches!(
            Store::open_read_only(config(b, dir.path())),
            Err(StoreError::StoreLocked { .. })
        ));
        store.close().unwrap();
        let reader = Store::open_read_only(config(b, dir.path())).unwrap();
        assert_eq!(reader.stream::<Payment>(&coord("a")).unwrap().len(), 1);
        // Read-only stores share the directory, also within one process.
        let second = Store::open_read_only(config(b, dir.path())).unwrap();
        assert_eq!(second.stream::<Payment>(&coord("a")).unwrap().len(), 1);
        drop(second);
        assert_eq!(reader.stats().events, 1);
        assert!(matches!(
            reader.append(&coord("a"), PLACED, &pay(2)),
            Err(StoreError::ReadOnly)
        ));
        assert!(matches!(Store::open(config(b, dir.path())), Err(StoreError::StoreLocked { .. })));
        drop(reader);
        let store = open(b, dir.path());
        store.append(&coord("a"), PLACED, &pay(3)).unwrap();
        store.close().unwrap();
    }

    fn a_read_only_open_of_an_empty_directory_is_an_empty_store(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let reader = Store::open_read_only(config(b, dir.path())).unwrap();
        assert_eq!(reader.stats().events, 0);
        assert!(reader.query_headers(&Region::all()).unwrap().is_empty());
        assert!(reader.verify().unwrap().is_ok());
        assert!(matches!(reader.append(&coord("a"), PLACED, &pay(1)), Err(StoreError::ReadOnly)));
        drop(reader);
        assert!(std::fs::read_dir(dir.path()).unwrap().all(|e| {
            let name = e.unwrap().file_name();
            name != "BACKEND" && name != "log.redb" && name != "log.lmdb"
        }));
        let store = open(b, dir.path());
        store.append(&coord("a"), PLACED, &pay(1)).unwrap();
    }

    fn readers_see_consistent_prefixes_while_writers_commit(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let policy = SyncPolicy::EveryN { events: 16, max_delay_ms: 2 };
        let store = Store::open(config(b, dir.path()).sync_policy(policy)).unwrap();
        let finished = std::sync::atomic::AtomicU64::new(0);
        let finished = &finished;
        std::thread::scope(|s| {
            for w in 0..2u64 {
                let store = &store;
                s.spawn(move || {
                    for n in 0..300 {
                        let entity = format!("w{w}");
                        store.append(&coord(&entity), PLACED, &pay(n)).unwrap();
                        if n % 37 == 0 {
                            store.sync().unwrap();
                        }
                    }
                    finished.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                });
            }
            let store = &store;
            s.spawn(move || {
                // Every read sees, per stream, exactly payloads 0..k in order,
                // whether the events are committed, being committed or buffered.
                let mut reads = 0;
                while finished.load(std::sync::atomic::Ordering::SeqCst) < 2 || reads < 10 {
                    for w in 0..2 {
                        let events = store.stream::<Payment>(&coord(&format!("w{w}"))).unwrap();
                        for (i, e) in events.iter().enumerate() {
                            assert_eq!(e.payload, pay(i as u64), "{b}: stream w{w} at {i}");
                        }
                    }
                    let all = store.query_headers(&Region::all()).unwrap();
                    assert!(all.iter().enumerate().all(|(i, h)| h.position == i as u64));
                    reads += 1;
                }
            });
        });
        store.sync().unwrap();
        assert_eq!(store.stats().events, 600);
        assert!(store.verify().unwrap().is_ok());
    }

    fn pipeline_records_gates_and_bypasses(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let a = coord("order:1");
        let gates = GateSet::<u64, Payment>::new().with(FnGate::new(
            "limit",
            |limit: &u64, p: &Proposal<Payment>| {
                if p.payload().amount_cents <= *limit {
                    Ok(())
                } else {
                    Err(Denial::new("over", "too much"))
                }
            },
        ));
        let proposal = Proposal::new(a.clone(), PLACED, pay(1)).expect(ExpectedVersion::NoStream);
        let committed = gates.evaluate(&1_000, proposal).unwrap().commit(&store).unwrap();
        assert_eq!(committed.receipt().sequence, 1);
        let stale = Proposal::new(a.clone(), PLACED, pay(2)).expect(ExpectedVersion::NoStream);
        assert!(matches!(
            gates.evaluate(&1_000, stale).unwrap().commit(&store),
            Err(StoreError::VersionMismatch { .. })
        ));
        bypass(
            &store,
            Proposal::new(a.clone(), PLACED, pay(3)),
            Bypass::new("ops", "incident 42").unwrap(),
        )
        .unwrap();
        drop(store);
        let store = open(b, dir.path());
        let events = store.stream::<Payment>(&a).unwrap();
        assert_eq!(events[0].header.admission.gates(), ["limit"]);
        let bypasses = store.query_headers(&Region::all().bypassed()).unwrap();
        assert_eq!(bypasses.len(), 1);
        assert!(matches!(&bypasses[0].admission, Admission::Bypassed { by, .. } if by == "ops"));
    }

    fn admission_regions_find_every_ungated_event_also_after_reopen(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let a = coord("order:1");
        let gates = GateSet::<(), Payment>::new().with(FnGate::new(
            "any",
            |_: &(), _: &Proposal<Payment>| Ok(()),
        ));
        let store = open(b, dir.path());
        // Positions 0..4: gated, direct, bypassed, direct.
        gates
            .evaluate(&(), Proposal::new(a.clone(), PLACED, pay(1)))
            .unwrap()
            .commit(&store)
            .unwrap();
        store.append(&a, PAID, &pay(2)).unwrap();
        let audited = Bypass::new("ops", "incident 7").unwrap();
        bypass(&store, Proposal::new(a.clone(), PAID, pay(3)), audited).unwrap();
        store.append(&coord("order:2"), PAID, &pay(4)).unwrap();
        let positions = |store: &Store, region: Region| -> Vec<u64> {
            let headers = store.query_headers(&region).unwrap();
            headers.iter().map(|h| h.position).collect()
        };
        let check = |store: &Store| {
            assert_eq!(positions(store, Region::all().direct()), [1, 3]);
            assert_eq!(positions(store, Region::all().bypassed()), [2]);
            assert_eq!(positions(store, Region::all().ungated()), [1, 2, 3]);
            assert_eq!(positions(store, Region::coordinate(&a).ungated()), [1, 2]);
            let mut replayed = Vec::new();
            store
                .replay::<Payment, _>(&Region::all().ungated(), |view| {
                    replayed.push(view.position());
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(replayed, [1, 2, 3]);
            assert!(matches!(
                store.query_headers(&Region::all().direct().bypassed()),
                Err(StoreError::InvalidRegion(batpak::RegionError::DisjointAdmissions))
            ));
        };
        check(&store);
        // From the index a clean close checkpoints, and from a rescan.
        store.close().unwrap();
        let store = open(b, dir.path());
        check(&store);
        assert!(store.verify().unwrap().is_ok());
    }

    fn a_payload_of_another_type_is_a_codec_error(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        let a = coord("a");
        let r = store.append(&a, PLACED, &pay(1)).unwrap();
        assert!(matches!(store.stream::<NotAPayment>(&a), Err(StoreError::Codec(_))));
        assert!(matches!(store.get::<NotAPayment>(r.event_id), Err(StoreError::Codec(_))));
        assert_eq!(store.stream::<Payment>(&a).unwrap()[0].payload, pay(1));
        assert!(store.verify().unwrap().is_ok());
    }

    fn buffered_policies_are_readable_at_once_and_durable_after_sync(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let policies = [
            SyncPolicy::Manual,
            SyncPolicy::EveryN { events: 7, max_delay_ms: 5 },
        ];
        let (mut total, mut in_a) = (0, 0);
        for policy in policies {
            let store = Store::open(config(b, dir.path()).sync_policy(policy)).unwrap();
            for n in 0..20 {
                store.append(&coord("a"), PLACED, &pay(n)).unwrap();
                total += 1;
                in_a += 1;
                assert_eq!(store.stream::<Payment>(&coord("a")).unwrap().len() as u64, in_a);
            }
            let ticket = store.append_pipelined(&coord("b"), PAID, &pay(1), AppendOptions::new()).unwrap();
            total += 1;
            assert_eq!(store.get::<Payment>(ticket.receipt().event_id).unwrap().unwrap().payload, pay(1));
            ticket.wait().unwrap();
            store.sync().unwrap();
            let stats = store.stats();
            assert_eq!(stats.durable_events, stats.events);
            assert!(store.verify().unwrap().is_ok());
            drop(store); // drop hands buffered events to the engine
        }
        let store = open(b, dir.path());
        assert_eq!(store.stats().events, total);
        assert!(store.verify().unwrap().is_ok());
    }

    fn default_policy_acknowledges_only_durable_events(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(b, dir.path());
        for i in 0..5 {
            store.append(&coord("a"), PLACED, &pay(i)).unwrap();
            let stats = store.stats();
            assert_eq!(stats.durable_events, stats.events, "append returned before sync");
        }
        assert!(store.stats().syncs >= 1);
        std::thread::scope(|s| {
            for t in 0..4 {
                let store = &store;
                s.spawn(move || {
                    for i in 0..25 {
                        store.append(&coord(&format!("t{t}")), PLACED, &pay(i)).unwrap();
                    }
                });
            }
        });
        assert_eq!(store.stats().events, 105);
        for t in 0..4 {
            assert_eq!(store.head(&coord(&format!("t{t}"))).version, 25);
        }
        assert!(store.verify().unwrap().is_ok());
    }

    fn projections_subscriptions_and_cursors_work_unchanged(b: Backend) {
        let dir = tempfile::tempdir().unwrap();
        let caches = tempfile::tempdir().unwrap();
        let cache_path = caches.path().join("projections.redb");
        let open_views = || {
            let cache = batpak::RedbCache::open(&cache_path).unwrap();
            Store::open(config(b, dir.path()).projection_cache(cache)).unwrap()
        };
        let store = open_views();
        let sub = store.subscribe::<Payment>(Region::all().kind(PAID)).unwrap();
        for n in 1..=6 {
            let kind = if n % 2 == 0 { PAID } else { PLACED };
            store.append(&coord(&format!("order:{}", n % 3)), kind, &pay(n)).unwrap();
        }
        let (r, report) = store.project_with_report::<Revenue>(&Region::all()).unwrap();
        assert_eq!((r.cents, report.applied), (1200, 3));
        for n in [2, 4, 6] {
            match sub.recv_timeout(std::time::Duration::from_secs(5)).unwrap() {
                Some(Delivery::Event(e)) => assert_eq!(e.payload, pay(n)),
                other => panic!("{b}: expected the event paid {n}, got {other:?}"),
            }
        }
        let mut cursor = store.cursor::<Payment>(Region::all(), 2).unwrap();
        assert_eq!(cursor.try_next().unwrap().unwrap().position(), 2);
        drop((sub, cursor));
        store.close().unwrap();
        // A new process: the log and the cache file are reopened from disk.
        let store = open_views();
        store.append(&coord("order:9"), PAID, &pay(10)).unwrap();
        let (r, report) = store.project_with_report::<Revenue>(&Region::all()).unwrap();
        assert_eq!(r.cents, 2200);
        assert!(report.from_cache, "{b}: the persistent cache was not used");
        assert_eq!((report.applied, report.rebuilt), (1, None));
    }
}

macro_rules! shared_conformance {
    ($(fn $name:ident($log:ident) $body:block)*) => {
        $(fn $name<L: SharedLog>($log: &L) $body)*

        mod shared {
            mod segment {
                $(#[test] fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::super::$name(&super::super::open(batpak::Backend::Segment, dir.path()))
                })*
            }
            mod redb {
                $(#[test] fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::super::$name(&super::super::open(batpak::Backend::Redb, dir.path()))
                })*
            }
            mod lmdb {
                $(#[test] fn $name() {
                    let dir = tempfile::tempdir().unwrap();
                    super::super::$name(&super::super::open(batpak::Backend::Lmdb, dir.path()))
                })*
            }
            mod postgres {
                $(#[test] fn $name() {
                    #[cfg(feature = "postgres")]
                    if let Some(log) = crate::shared_log::fresh_pg(stringify!($name)) {
                        super::super::$name(&log.store)
                    }
                    #[cfg(not(feature = "postgres"))]
                    crate::shared_log::skipped(
                        stringify!($name),
                        "batpak-tests was built without its `postgres` feature",
                    );
                })*
            }
        }
    };
}

/// A machine for the shared bodies: steps run gates and commit at the
/// handle's version on any log.
#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(states(Draft, Placed, Paid), initial = Draft, gates(under_limit), context = u64)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
    #[transition(Placed -> Paid)]
    Paid { amount_cents: u64 },
}

/// Orders above the context's limit are refused.
#[gate(Order::Placed)]
fn under_limit(limit: &u64, event: &Order) -> bool {
    matches!(event, Order::Placed { total_cents } if total_cents <= limit)
}

shared_conformance! {
    fn shared_append_stream_and_get_return_what_was_written(log) {
        let a = coord("order:1");
        for n in 1..=3 {
            let r = log.append(&a, PLACED, &pay(n)).unwrap();
            assert_eq!((r.sequence, r.position), (n, n - 1));
        }
        let events = log.stream::<Payment>(&a).unwrap();
        assert_eq!(events.iter().map(|e| e.payload.clone()).collect::<Vec<_>>(), [pay(1), pay(2), pay(3)]);
        assert_eq!(events[0].header.prev_hash, Hash::ZERO);
        assert_eq!(events[2].header.prev_hash, events[1].hash);
        assert_eq!(log.head(&a), StreamHead { version: 3, hash: events[2].hash });
        assert_eq!(log.get::<Payment>(events[1].header.id).unwrap().unwrap(), events[1]);
        assert!(log.get::<Payment>(EventId::from_u128(42)).unwrap().is_none());
        assert_eq!(log.head(&coord("nobody")), StreamHead { version: 0, hash: Hash::ZERO });
    }

    fn shared_expected_version_is_compare_and_append(log) {
        let a = coord("a");
        let opts = |v| AppendOptions::new().expect(v);
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(0), opts(ExpectedVersion::Exact(1))),
            Err(StoreError::VersionMismatch { expected: ExpectedVersion::Exact(1), actual: 0, .. })
        ));
        assert_eq!(log.events(), 0, "a mismatch wrote something");
        log.append_with(&a, PLACED, &pay(1), opts(ExpectedVersion::NoStream)).unwrap();
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(2), opts(ExpectedVersion::NoStream)),
            Err(StoreError::VersionMismatch { expected: ExpectedVersion::NoStream, actual: 1, .. })
        ));
        let second = log.append_with(&a, PLACED, &pay(3), opts(ExpectedVersion::Exact(1))).unwrap();
        assert_eq!(second.sequence, 2);
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(4), opts(ExpectedVersion::Exact(7))),
            Err(StoreError::VersionMismatch { actual: 2, .. })
        ));
        assert_eq!((log.head(&a).version, log.events()), (2, 2));
    }

    fn shared_idempotency_returns_the_original_receipt(log) {
        let a = coord("a");
        let keyed = |v| AppendOptions::new().expect(v).idempotency_key("order-507-placed");
        let original = log.append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::NoStream)).unwrap();
        let retry = log.append_with(&a, PLACED, &pay(1), keyed(ExpectedVersion::NoStream)).unwrap();
        assert_eq!(retry, original);
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(2), keyed(ExpectedVersion::Any)),
            Err(StoreError::IdempotencyConflict { ref key, position: 0 }) if key == "order-507-placed"
        ));
        assert!(matches!(
            log.append_with(&coord("b"), PLACED, &pay(1), keyed(ExpectedVersion::Any)),
            Err(StoreError::IdempotencyConflict { .. })
        ));
        let long = "k".repeat(batpak::MAX_IDEMPOTENCY_KEY_LEN + 1);
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(1), AppendOptions::new().idempotency_key(long)),
            Err(StoreError::IdempotencyKeyTooLong { .. })
        ));
        // A keyed batch replays whole.
        let batch = [(PLACED, pay(5)), (PAID, pay(6))];
        let first = log.append_batch(&a, &batch, AppendOptions::new().idempotency_key("batch")).unwrap();
        let again = log.append_batch(&a, &batch, AppendOptions::new().idempotency_key("batch")).unwrap();
        assert_eq!(first, again);
        assert_eq!(log.events(), 3);
    }

    fn shared_append_batch_is_all_or_nothing(log) {
        let a = coord("a");
        let batch: Vec<(EventKind, Payment)> = (0..4).map(|i| (PLACED, pay(i))).collect();
        let receipts = log
            .append_batch(&a, &batch, AppendOptions::new().expect(ExpectedVersion::NoStream))
            .unwrap();
        assert_eq!(receipts.iter().map(|r| r.position).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert!(matches!(
            log.append_batch(&a, &batch, AppendOptions::new().expect(ExpectedVersion::NoStream)),
            Err(StoreError::VersionMismatch { actual: 4, .. })
        ));
        let bad = vec![(PLACED, pay(9)), (EventKind::new(0, 1), pay(10))];
        assert!(matches!(
            log.append_batch(&a, &bad, AppendOptions::new()),
            Err(StoreError::ReservedKind { .. })
        ));
        assert!(matches!(
            log.append_batch::<Payment>(&a, &[], AppendOptions::new()),
            Err(StoreError::BatchSize { len: 0, .. })
        ));
        assert!(matches!(
            log.append(&a, EventKind::new(0, 3), &pay(1)),
            Err(StoreError::ReservedKind { .. })
        ));
        assert_eq!(log.events(), 4);
        let events = log.stream::<Payment>(&a).unwrap();
        assert_eq!(events[3].hash, receipts[3].hash);
        assert!(log.verify().unwrap().is_ok());
    }

    fn shared_a_large_batch_is_one_chained_run_of_positions(log) {
        log.append(&coord("other"), PLACED, &pay(0)).unwrap();
        let a = coord("a");
        let batch: Vec<(EventKind, Payment)> = (0..1_200).map(|i| (PAID, pay(i))).collect();
        let receipts = log.append_batch(&a, &batch, AppendOptions::new()).unwrap();
        assert_eq!(receipts.len(), 1_200);
        assert!(receipts.iter().enumerate().all(|(i, r)| r.position == i as u64 + 1 && r.sequence == i as u64 + 1));
        let events = log.stream::<Payment>(&a).unwrap();
        assert!(events.windows(2).all(|w| w[1].header.prev_hash == w[0].hash));
        assert_eq!(events.iter().map(|e| e.hash).collect::<Vec<_>>(), receipts.iter().map(|r| r.hash).collect::<Vec<_>>());
        assert!(log.verify().unwrap().is_ok());
    }

    fn shared_query_selects_by_region(log) {
        for n in 0..20u64 {
            let kind = if n % 2 == 0 { PLACED } else { PAID };
            let entity = if n % 4 < 2 { format!("order:{}", n % 5) } else { format!("user:{}", n % 5) };
            log.append(&coord(&entity), kind, &pay(n)).unwrap();
        }
        let paid = log.query::<Payment>(&Region::all().kind(PAID)).unwrap();
        assert_eq!(paid.len(), 10);
        assert!(paid.iter().all(|e| e.header.kind == PAID));
        let orders = log.query_headers(&Region::entity_prefix("order:")).unwrap();
        assert_eq!(orders.len(), 10);
        assert!(orders.iter().all(|h| h.coordinate.entity().starts_with("order:")));
        assert!(orders.windows(2).all(|w| w[0].position < w[1].position));
        for region in [
            Region::all().sequences(2..=3).positions(5..=15),
            Region::entity("user:2").scope("shop:acme"),
            Region::all().scope("elsewhere"),
            Region::entity_prefix("order:").category(7).from_position(11),
        ] {
            let expected: Vec<u64> = log
                .query_headers(&Region::all())
                .unwrap()
                .into_iter()
                .filter(|h| region.matches(h))
                .map(|h| h.position)
                .collect();
            let got = log.query_headers(&region).unwrap();
            assert_eq!(got.iter().map(|h| h.position).collect::<Vec<_>>(), expected, "{region:?}");
        }
        // A prefix is text, not a pattern: `_`, `%` and `\` match only themselves.
        for entity in ["a_b", "axb", "a%c", "abc", "a\\d", "aed"] {
            log.append(&coord(entity), PLACED, &pay(1)).unwrap();
        }
        for (prefix, only) in [("a_", "a_b"), ("a%", "a%c"), ("a\\", "a\\d")] {
            let got = log.query_headers(&Region::entity_prefix(prefix)).unwrap();
            assert_eq!(got.len(), 1, "prefix {prefix}");
            assert_eq!(got[0].coordinate.entity(), only);
        }
        let (start, end) = (5, 1);
        assert!(matches!(
            log.query_headers(&Region::all().positions(start..=end)),
            Err(StoreError::InvalidRegion(_))
        ));
    }

    fn shared_walk_causation_follows_links_and_inherits_correlation(log) {
        let root = log.append(&coord("a"), PLACED, &pay(0)).unwrap();
        let child = log
            .append_with(&coord("b"), PLACED, &pay(1), AppendOptions::new().caused_by(root.event_id))
            .unwrap();
        let unrelated = log.append(&coord("a"), PLACED, &pay(2)).unwrap();
        let grandchild = log
            .append_with(&coord("c"), PLACED, &pay(3), AppendOptions::new().caused_by(child.event_id))
            .unwrap();
        let walked = log.walk_causation(root.event_id).unwrap();
        let ids: Vec<_> = walked.iter().map(|h| h.id).collect();
        assert_eq!(ids, [root.event_id, child.event_id, grandchild.event_id]);
        assert!(walked.iter().all(|h| h.correlation == root.event_id));
        assert_eq!(log.walk_causation(unrelated.event_id).unwrap().len(), 1);
        assert!(log.walk_causation(EventId::from_u128(7)).unwrap().is_empty());
    }

    fn shared_concurrent_writers_lose_nothing_and_readers_see_prefixes(log) {
        std::thread::scope(|s| {
            for w in 0..4u64 {
                s.spawn(move || {
                    for n in 0..40 {
                        log.append(&coord(&format!("w{w}")), PLACED, &pay(n)).unwrap();
                    }
                });
            }
            s.spawn(move || {
                for _ in 0..10 {
                    for w in 0..4 {
                        let events = log.stream::<Payment>(&coord(&format!("w{w}"))).unwrap();
                        for (i, e) in events.iter().enumerate() {
                            assert_eq!(e.payload, pay(i as u64), "stream w{w} at {i}");
                        }
                    }
                    let all = log.query_headers(&Region::all()).unwrap();
                    assert!(all.iter().enumerate().all(|(i, h)| h.position == i as u64));
                }
            });
        });
        assert_eq!(log.events(), 160);
        for w in 0..4 {
            assert_eq!(log.head(&coord(&format!("w{w}"))).version, 40);
        }
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.damage);
        assert_eq!((report.events, report.streams), (160, 4));
    }

    fn shared_pipeline_records_gates_and_bypasses(log) {
        let a = coord("order:1");
        let gates = GateSet::<u64, Payment>::new().with(FnGate::new(
            "limit",
            |limit: &u64, p: &Proposal<Payment>| {
                if p.payload().amount_cents <= *limit { Ok(()) } else { Err(Denial::new("over", "too much")) }
            },
        ));
        let proposal = Proposal::new(a.clone(), PLACED, pay(1)).expect(ExpectedVersion::NoStream);
        let committed = gates.evaluate(&1_000, proposal).unwrap().commit(log).unwrap();
        assert_eq!(committed.receipt().sequence, 1);
        let stale = Proposal::new(a.clone(), PLACED, pay(2)).expect(ExpectedVersion::NoStream);
        assert!(matches!(
            gates.evaluate(&1_000, stale).unwrap().commit(log),
            Err(StoreError::VersionMismatch { .. })
        ));
        bypass(log, Proposal::new(a.clone(), PAID, pay(3)), Bypass::new("ops", "incident 42").unwrap())
            .unwrap();
        log.append(&coord("order:2"), PAID, &pay(4)).unwrap();
        let events = log.stream::<Payment>(&a).unwrap();
        assert_eq!(events[0].header.admission.gates(), ["limit"]);
        let positions = |region: Region| -> Vec<u64> {
            log.query_headers(&region).unwrap().iter().map(|h| h.position).collect()
        };
        assert_eq!(positions(Region::all().bypassed()), [1]);
        assert_eq!(positions(Region::all().direct()), [2]);
        assert_eq!(positions(Region::all().ungated()), [1, 2]);
        let bypasses = log.query_headers(&Region::all().bypassed()).unwrap();
        assert!(matches!(&bypasses[0].admission, Admission::Bypassed { by, .. } if by == "ops"));
    }

    fn shared_bad_input_is_a_typed_error_and_writes_nothing(log) {
        let a = coord("a");
        log.append(&a, PLACED, &pay(1)).unwrap();
        let gates = GateSet::<(), Payment>::new()
            .with(FnGate::new("bell\u{7}", |_: &(), _: &Proposal<Payment>| Ok(())));
        let receipt = gates.evaluate(&(), Proposal::new(a.clone(), PLACED, pay(2))).unwrap();
        assert!(matches!(
            receipt.commit(log),
            Err(StoreError::UnprintableAdmission { field: "gate name", index: 4, code: 7, .. })
        ));
        assert!(matches!(log.append(&a, EventKind::new(0, 9), &pay(3)), Err(StoreError::ReservedKind { .. })));
        assert!(matches!(
            log.append_with(&a, PLACED, &pay(4), AppendOptions::new().idempotency_key("k".repeat(257))),
            Err(StoreError::IdempotencyKeyTooLong { len: 257, max: 256 })
        ));
        assert_eq!(log.events(), 1);
        assert_eq!(log.head(&a).version, 1);
        assert!(log.verify().unwrap().is_ok());
    }

    fn shared_a_payload_of_another_type_is_a_codec_error(log) {
        let a = coord("a");
        let r = log.append(&a, PLACED, &pay(1)).unwrap();
        assert!(matches!(log.stream::<NotAPayment>(&a), Err(StoreError::Codec(_))));
        assert!(matches!(log.get::<NotAPayment>(r.event_id), Err(StoreError::Codec(_))));
        assert_eq!(log.stream::<Payment>(&a).unwrap()[0].payload, pay(1));
        assert!(log.verify().unwrap().is_ok());
    }

    fn shared_projections_fold_only_new_events(log) {
        for n in 1..=6 {
            let kind = if n % 2 == 0 { PAID } else { PLACED };
            log.append(&coord(&format!("order:{}", n % 3)), kind, &pay(n)).unwrap();
        }
        let (r, report) = log.project_with_report::<Revenue>(&Region::all()).unwrap();
        assert_eq!((r.cents, report.applied, report.position), (1200, 3, 6));
        log.append(&coord("order:9"), PAID, &pay(10)).unwrap();
        let (r, report) = log.project_with_report::<Revenue>(&Region::all()).unwrap();
        assert_eq!((r.cents, report.applied, report.from_cache), (2200, 1, true));
        let (r, _) = log.project_with_report::<Revenue>(&Region::entity("order:0")).unwrap();
        assert_eq!(r.cents, 600);
    }

    fn shared_cursors_and_subscriptions_see_every_event_in_order(log) {
        let paid = log.subscription::<Payment>(Region::all().kind(PAID));
        for n in 1..=6 {
            let kind = if n % 2 == 0 { PAID } else { PLACED };
            log.append(&coord(&format!("order:{}", n % 3)), kind, &pay(n)).unwrap();
        }
        for n in [2, 4, 6] {
            match paid(std::time::Duration::from_secs(10)) {
                Some(Delivery::Event(e)) => assert_eq!(e.payload, pay(n)),
                other => panic!("expected the event paid {n}, got {other:?}"),
            }
        }
        let from_two: Vec<u64> = log.cursor_read::<Payment>(Region::all(), 2, 100).iter().map(|e| e.position()).collect();
        assert_eq!(from_two, [2, 3, 4, 5]);
        let order_1: Vec<u64> = log
            .cursor_read::<Payment>(Region::entity("order:1"), 0, 100)
            .iter()
            .map(|e| e.position())
            .collect();
        assert_eq!(order_1, [0, 3]);
        assert_eq!(log.cursor_read::<Payment>(Region::all(), 0, 3).len(), 3);
    }

    fn shared_machines_step_with_gates_and_refuse_stale_handles(log) {
        let c = coord("order:507");
        let draft = Order::create(log, c.clone()).unwrap();
        let stale = Order::create(log, c.clone()).unwrap();
        let refused = Order::create(log, c.clone()).unwrap().placed(log, &100, 900).unwrap_err();
        assert!(matches!(refused.error(), MachineError::Denied(_)));
        let placed = draft.placed(log, &5_000, 4_200).unwrap();
        assert!(stale.placed(log, &5_000, 10).is_err(), "a stale handle committed");
        let paid = placed.paid(log, &5_000, 4_200).unwrap();
        assert_eq!(paid.version(), 2);
        assert_eq!(Order::state_of(log, &c).unwrap(), OrderState::Paid);
        let events = log.stream::<Order>(&c).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].header.admission.gates(), ["under_limit"]);
        assert!(log.verify().unwrap().is_ok());
    }
}

// ---- backend choice (not generic: it is about pairs of backends) ----

const ALL: [Backend; 3] = [Backend::Segment, Backend::Redb, Backend::Lmdb];

#[test]
fn opening_with_another_backend_is_a_typed_error_and_changes_nothing() {
    for created in ALL {
        let dir = tempfile::tempdir().unwrap();
        let store = open(created, dir.path());
        store.append(&coord("a"), PLACED, &pay(1)).unwrap();
        store.close().unwrap();
        let marker = std::fs::read(dir.path().join(batpak::BACKEND_FILE)).unwrap();
        for requested in ALL.into_iter().filter(|&r| r != created) {
            let err = Store::open(config(requested, dir.path())).unwrap_err();
            assert!(
                matches!(err, StoreError::BackendMismatch { found, requested: r } if found == created && r == requested),
                "{created} opened as {requested}: {err}"
            );
            assert!(matches!(
                Store::open_read_only(config(requested, dir.path())),
                Err(StoreError::BackendMismatch { .. })
            ));
        }
        assert_eq!(
            std::fs::read(dir.path().join(batpak::BACKEND_FILE)).unwrap(),
            marker
        );
        let store = open(created, dir.path());
        assert_eq!(
            store.stream::<Payment>(&coord("a")).unwrap()[0].payload,
            pay(1)
        );
    }
}

#[test]
fn a_store_without_a_marker_is_recognised_by_its_files() {
    for created in ALL {
        let dir = tempfile::tempdir().unwrap();
        open(created, dir.path()).close().unwrap();
        std::fs::remove_file(dir.path().join(batpak::BACKEND_FILE)).unwrap();
        for requested in ALL.into_iter().filter(|&r| r != created) {
            assert!(matches!(
                Store::open(config(requested, dir.path())),
                Err(StoreError::BackendMismatch { found, .. }) if found == created
            ));
        }
        // A marker-less store is left as it is (its files name it).
        open(created, dir.path()).close().unwrap();
        assert!(!dir.path().join(batpak::BACKEND_FILE).exists());
    }
}

#[test]
fn a_refused_or_read_only_open_writes_no_marker() {
    let dir = tempfile::tempdir().unwrap();
    let ro = Store::open_read_only(config(Backend::Segment, dir.path())).unwrap();
    drop(ro);
    assert!(!dir.path().join(batpak::BACKEND_FILE).exists());
    for b in ALL {
        let dir = tempfile::tempdir().unwrap();
        open(b, dir.path()).close().unwrap();
        let marker = std::fs::read_to_string(dir.path().join(batpak::BACKEND_FILE)).unwrap();
        assert_eq!(marker, format!("batpak-backend v1 {b}\n"));
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn every_flipped_payload_byte_is_reported_never_returned() {
    // redb and LMDB records carry a CRC over (position, body): a flipped
    // byte anywhere in the stored payload is found by verify and by reads,
    // whether open loads the checkpoint (closed store) or scans (a process that
    // exited without cleanup).
    let marker = "find-me-in-the-file-0123456789-abcdefghijklmnopqrstuvwxyz";
    for b in [Backend::Redb, Backend::Lmdb] {
        for closed in [true, false] {
            let original = tempfile::tempdir().unwrap();
            {
                let store = open(b, original.path());
                store.append(&coord("a"), PLACED, &marker).unwrap();
                store.append(&coord("a"), PLACED, &"second").unwrap();
                if closed {
                    store.close().unwrap();
                } else {
                    store.exit_without_checkpoint();
                }
            }
            let file = match b {
                Backend::Redb => std::path::Path::new("log.redb").to_path_buf(),
                _ => std::path::Path::new("log.lmdb").join("data.mdb"),
            };
            let bytes = std::fs::read(original.path().join(&file)).unwrap();
            // Copy-on-write engines keep stale copies of old pages: damage
            // the same byte of every copy so the live one is surely hit.
            let copies: Vec<usize> = bytes
                .windows(marker.len())
                .enumerate()
                .filter(|(_, w)| *w == marker.as_bytes())
                .map(|(at, _)| at)
                .collect();
            assert!(!copies.is_empty(), "payload bytes are stored in the file");
            for i in 0..marker.len() {
                let copy = tempfile::tempdir().unwrap();
                copy_dir(original.path(), copy.path());
                let mut damaged = bytes.clone();
                for at in &copies {
                    damaged[at + i] ^= 0x01;
                }
                std::fs::write(copy.path().join(&file), &damaged).unwrap();
                let ctx = format!("{b} closed={closed} byte {i}");
                match Store::open(config(b, copy.path())) {
                    // A scan at open checks every CRC.
                    Err(e) => assert!(matches!(e, StoreError::Corrupt { .. }), "{ctx}: {e}"),
                    Ok(store) => {
                        assert!(closed, "{ctx}: a scanning open missed the damage");
                        let report = store.verify().unwrap();
                        assert!(!report.is_ok(), "{ctx}: damage not found");
                        assert!(
                            matches!(
                                store.stream::<String>(&coord("a")),
                                Err(StoreError::Corrupt { .. })
                            ),
                            "{ctx}: damaged event returned"
                        );
                    }
                }
            }
        }
    }
}
