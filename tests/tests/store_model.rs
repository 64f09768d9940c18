//! Model-based test: random scripts of append / batch / reopen / query run
//! against the store and against a plain in-memory model give the same
//! results. proptest prints the failing script (and persists its seed).

mod common;

use std::collections::HashMap;

use batpak::prelude::*;
use common::*;
use proptest::prelude::*;

/// How a reopen lets go of the store first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    /// `close()`: checkpointed.
    Close,
    /// Dropped: checkpointed as by `close()`.
    Drop,
    /// A process ending without cleanup: no checkpoint, the open rescans.
    Exit,
}

#[derive(Debug, Clone)]
enum Op {
    Append {
        entity: u8,
        kind: bool,
        n: u64,
        expect: Option<u64>,
        key: Option<u8>,
    },
    Batch {
        entity: u8,
        len: u8,
        n: u64,
        expect: Option<u64>,
        key: Option<u8>,
    },
    Reopen {
        how: Release,
    },
    Query(u8, u64, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let expect = prop::option::of(0u64..4);
    let key = prop::option::of(0u8..3);
    prop_oneof![
        6 => (0u8..4, any::<bool>(), 0u64..4, expect.clone(), key.clone())
            .prop_map(|(entity, kind, n, expect, key)| Op::Append { entity, kind, n, expect, key }),
        2 => (0u8..4, 1u8..4, 0u64..4, expect, key)
            .prop_map(|(entity, len, n, expect, key)| Op::Batch { entity, len, n, expect, key }),
        1 => prop_oneof![Just(Release::Close), Just(Release::Drop), Just(Release::Exit)]
            .prop_map(|how| Op::Reopen { how }),
        2 => (0u8..6, 0u64..10, 0u64..10).prop_map(|(r, a, b)| Op::Query(r, a, b)),
    ]
}

/// One event of the model: (entity, kind, payload n, sequence).
type ModelEvent = (u8, EventKind, u64, u64);

/// What a key was first used for: entity, content, positions written.
type KeyRecord = (u8, Vec<(EventKind, u64)>, Vec<u64>);

#[derive(Default)]
struct Model {
    events: Vec<ModelEvent>,
    keys: HashMap<u8, KeyRecord>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Ok(Vec<u64>),
    Version(u64),
    Conflict,
}

impl Model {
    fn version(&self, entity: u8) -> u64 {
        self.events.iter().filter(|e| e.0 == entity).count() as u64
    }
    fn append(
        &mut self,
        entity: u8,
        items: Vec<(EventKind, u64)>,
        expect: Option<u64>,
        key: Option<u8>,
    ) -> Outcome {
        if let Some(k) = key
            && let Some((e, content, positions)) = self.keys.get(&k)
        {
            return if *e == entity && *content == items {
                Outcome::Ok(positions.clone())
            } else {
                Outcome::Conflict
            };
        }
        let version = self.version(entity);
        if let Some(v) = expect
            && v != version
        {
            return Outcome::Version(version);
        }
        let first = self.events.len() as u64;
        for (i, (kind, n)) in items.iter().enumerate() {
            self.events
                .push((entity, *kind, *n, version + 1 + i as u64));
        }
        let positions: Vec<u64> = (first..self.events.len() as u64).collect();
        if let Some(k) = key {
            self.keys.insert(k, (entity, items, positions.clone()));
        }
        Outcome::Ok(positions)
    }
}

fn region(r: u8, a: u64, b: u64) -> (Region, impl Fn(&ModelEvent, u64) -> bool) {
    let (lo, hi) = (a.min(b), a.max(b));
    let region = match r {
        0 => Region::all(),
        1 => Region::coordinate(&coord(&format!("e{}", a % 4))),
        2 => Region::entity_prefix("e1"),
        3 => Region::all().kind(OTHER_KIND),
        4 => Region::all().sequences(lo + 1..=hi + 1),
        _ => Region::all().positions(lo..=hi),
    };
    let keep = move |e: &ModelEvent, pos: u64| match r {
        0 => true,
        1 => u64::from(e.0) == a % 4,
        2 => e.0 == 1,
        3 => e.1 == OTHER_KIND,
        4 => (lo + 1..=hi + 1).contains(&e.3),
        _ => (lo..=hi).contains(&pos),
    };
    (region, keep)
}

fn outcome(result: Result<Vec<batpak::AppendReceipt>, StoreError>) -> Outcome {
    match result {
        Ok(receipts) => Outcome::Ok(receipts.iter().map(|r| r.position).collect()),
        Err(StoreError::VersionMismatch { actual, .. }) => Outcome::Version(actual),
        Err(StoreError::IdempotencyConflict { .. }) => Outcome::Conflict,
        Err(e) => panic!("unexpected error {e}"),
    }
}

fn run(ops: Vec<Op>) {
    let dir = fast_dir();
    let config = || {
        StoreConfig::new(dir.path())
            .sync_policy(SyncPolicy::Manual)
            .segment_max_bytes(1_500)
    };
    let mut store = Some(Store::open(config()).unwrap());
    let mut model = Model::default();
    // A checkpoint, once written, stays until the next close replaces it;
    // an open after an exit resumes from it.
    let mut checkpointed = false;
    for op in ops {
        let s = store.as_ref().unwrap();
        match op {
            Op::Append {
                entity,
                kind,
                n,
                expect,
                key,
            } => {
                let kind = if kind { KIND } else { OTHER_KIND };
                let mut options = AppendOptions::new();
                if let Some(v) = expect {
                    options = options.expect(ExpectedVersion::Exact(v));
                }
                if let Some(k) = key {
                    options = options.idempotency_key(format!("key-{k}"));
                }
                let got = outcome(
                    s.append_with(&coord(&format!("e{entity}")), kind, &payload(n), options)
                        .map(|r| vec![r]),
                );
                assert_eq!(got, model.append(entity, vec![(kind, n)], expect, key));
            }
            Op::Batch {
                entity,
                len,
                n,
                expect,
                key,
            } => {
                let items: Vec<(EventKind, u64)> =
                    (0..u64::from(len)).map(|i| (KIND, n + i)).collect();
                let batch: Vec<(EventKind, Payload)> =
                    items.iter().map(|(k, n)| (*k, payload(*n))).collect();
                let mut options = AppendOptions::new();
                if let Some(v) = expect {
                    options = options.expect(ExpectedVersion::Exact(v));
                }
                if let Some(k) = key {
                    options = options.idempotency_key(format!("key-{k}"));
                }
                let got = outcome(s.append_batch(&coord(&format!("e{entity}")), &batch, options));
                assert_eq!(got, model.append(entity, items, expect, key));
            }
            Op::Reopen { how } => {
                let s = store.take().unwrap();
                match how {
                    Release::Close => s.close().unwrap(),
                    Release::Drop => drop(s),
                    Release::Exit => s.exit_without_checkpoint(),
                }
                checkpointed |= how != Release::Exit;
                store = Some(Store::open(config()).unwrap());
                assert_eq!(
                    store.as_ref().unwrap().stats().opened_from_checkpoint,
                    checkpointed
                );
            }
            Op::Query(r, a, b) => {
                let (reg, keep) = region(r, a, b);
                let got: Vec<(u64, u64)> = s
                    .query::<Payload>(&reg)
                    .unwrap()
                    .into_iter()
                    .map(|e| (e.position(), e.payload.n))
                    .collect();
                let want: Vec<(u64, u64)> = model
                    .events
                    .iter()
                    .enumerate()
                    .filter(|(p, e)| keep(e, *p as u64))
                    .map(|(p, e)| (p as u64, e.2))
                    .collect();
                assert_eq!(got, want, "query {r} {a} {b}");
            }
        }
    }
    let s = store.unwrap();
    assert_eq!(s.stats().events, model.events.len() as u64);
    for entity in 0..4u8 {
        assert_eq!(
            s.head(&coord(&format!("e{entity}"))).version,
            model.version(entity)
        );
    }
    assert!(s.verify().unwrap().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_in_memory_model(ops in prop::collection::vec(op(), 1..40)) {
        run(ops);
    }
}
