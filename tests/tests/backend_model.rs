//! Model-based test on the redb and LMDB backends: random scripts of
//! append / batch / sync / reopen (clean or dropped) / query, under a
//! buffered policy so reads hit committed records, the commit in flight and
//! the in-memory buffer, compared with a plain in-memory model. proptest
//! prints the failing script (and persists its seed).

use batpak::Backend;
use batpak::prelude::*;
use proptest::prelude::*;

const KIND: EventKind = EventKind::new(7, 1);

#[derive(Debug, Clone)]
enum Op {
    Append { entity: u8, n: u64 },
    Batch { entity: u8, len: u8, n: u64 },
    Sync,
    Reopen { clean: bool },
    QueryEntity(u8),
    QueryFrom(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..3u8, any::<u64>()).prop_map(|(entity, n)| Op::Append { entity, n }),
        2 => (0..3u8, 1..5u8, any::<u64>()).prop_map(|(entity, len, n)| Op::Batch { entity, len, n }),
        1 => Just(Op::Sync),
        1 => any::<bool>().prop_map(|clean| Op::Reopen { clean }),
        1 => (0..3u8).prop_map(Op::QueryEntity),
        1 => (0..40u64).prop_map(Op::QueryFrom),
    ]
}

fn coord(entity: u8) -> Coordinate {
    Coordinate::new(format!("e{entity}"), "shop:model").unwrap()
}

fn run(b: Backend, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let config = || {
        StoreConfig::new(dir.path())
            .backend(b)
            .sync_policy(SyncPolicy::Manual)
    };
    let mut store = Some(Store::open(config()).unwrap());
    // The model: (entity, payload) in position order.
    let mut model: Vec<(u8, u64)> = Vec::new();
    for op in ops {
        let s = store.as_ref().unwrap();
        match op {
            Op::Append { entity, n } => {
                let r = s.append(&coord(entity), KIND, &n).unwrap();
                assert_eq!(r.position, model.len() as u64);
                model.push((entity, n));
            }
            Op::Batch { entity, len, n } => {
                let batch: Vec<(EventKind, u64)> = (0..u64::from(len))
                    .map(|i| (KIND, n.wrapping_add(i)))
                    .collect();
                let rs = s
                    .append_batch(&coord(entity), &batch, AppendOptions::new())
                    .unwrap();
                assert_eq!(rs[0].position, model.len() as u64);
                model.extend(batch.iter().map(|(_, n)| (entity, *n)));
            }
            Op::Sync => {
                s.sync().unwrap();
                assert_eq!(s.stats().durable_events, model.len() as u64);
            }
            Op::Reopen { clean } => {
                let s = store.take().unwrap();
                if clean {
                    s.close().unwrap();
                } else {
                    // A process ending without cleanup: the buffer reaches
                    // the engine, no checkpoint is written.
                    s.exit_without_checkpoint();
                }
                store = Some(Store::open(config()).unwrap());
                assert_eq!(store.as_ref().unwrap().stats().events, model.len() as u64);
            }
            Op::QueryEntity(entity) => {
                let got: Vec<u64> = s
                    .stream::<u64>(&coord(entity))
                    .unwrap()
                    .into_iter()
                    .map(|e| e.payload)
                    .collect();
                let want: Vec<u64> = model
                    .iter()
                    .filter(|(e, _)| *e == entity)
                    .map(|(_, n)| *n)
                    .collect();
                assert_eq!(got, want, "stream e{entity}");
            }
            Op::QueryFrom(from) => {
                let got: Vec<(u64, u64)> = s
                    .query::<u64>(&Region::all().positions(from..=u64::MAX - 1))
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.position(), e.payload))
                    .collect();
                let want: Vec<(u64, u64)> = model
                    .iter()
                    .enumerate()
                    .skip(usize::try_from(from).unwrap())
                    .map(|(p, (_, n))| (p as u64, *n))
                    .collect();
                assert_eq!(got, want, "query from {from}");
            }
        }
    }
    let s = store.unwrap();
    assert_eq!(s.stats().events, model.len() as u64);
    assert!(s.verify().unwrap().is_ok());
    s.close().unwrap();
    let s = Store::open(config()).unwrap();
    assert_eq!(s.query::<u64>(&Region::all()).unwrap().len(), model.len());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn redb_store_matches_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        run(Backend::Redb, ops);
    }

    #[test]
    fn lmdb_store_matches_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        run(Backend::Lmdb, ops);
    }
}
