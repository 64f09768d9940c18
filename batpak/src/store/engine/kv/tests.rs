//! I/O-error countdown: an in-memory store that fails its N-th write
//! (commit or meta put), for N = 1, 2, ... until the workload completes.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::*;

#[derive(Debug, Default)]
struct State {
    records: BTreeMap<u64, Vec<u8>>,
    meta: HashMap<String, Vec<u8>>,
    writes: u64,
}

#[derive(Debug)]
struct MemLog {
    state: Arc<Mutex<State>>,
    fail_at: u64,
}

impl MemLog {
    fn write(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut state = self.state.lock().unwrap();
        state.writes += 1;
        if state.writes == self.fail_at {
            return Err(StoreError::io(
                "commit",
                "mem",
                std::io::Error::other("injected failure"),
            ));
        }
        Ok(state)
    }
}

impl KvLog for MemLog {
    fn commit(&self, records: &mut dyn Iterator<Item = (u64, &[u8])>) -> Result<(), StoreError> {
        let mut state = self.write()?;
        // All or nothing, like a transaction.
        let batch: Vec<(u64, Vec<u8>)> = records.map(|(p, v)| (p, v.to_vec())).collect();
        state.records.extend(batch);
        Ok(())
    }
    fn get(&self, position: u64, out: &mut Vec<u8>) -> Result<bool, StoreError> {
        let state = self.state.lock().unwrap();
        Ok(state.records.get(&position).is_some_and(|v| {
            out.clone_from(v);
            true
        }))
    }
    fn read_ranges(
        &self,
        ranges: &[(u64, u64)],
        visit: &mut RangeVisitor<'_>,
    ) -> Result<ControlFlow<()>, StoreError> {
        let state = self.state.lock().unwrap();
        for (run, &(a, b)) in ranges.iter().enumerate() {
            for (p, v) in state.records.range(a..=b) {
                if visit(run, *p, v)?.is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
        }
        Ok(ControlFlow::Continue(()))
    }
    fn scan(&self, visit: &mut RecordVisitor<'_>) -> Result<ControlFlow<()>, StoreError> {
        let state = self.state.lock().unwrap();
        for (p, v) in &state.records {
            if visit(*p, v)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
        Ok(ControlFlow::Continue(()))
    }
    fn bounds(&self) -> Result<(u64, Option<(u64, u64)>), StoreError> {
        let state = self.state.lock().unwrap();
        let keys = state
            .records
            .keys()
            .next()
            .copied()
            .zip(state.records.keys().next_back().copied());
        Ok((state.records.len() as u64, keys))
    }
    fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.state.lock().unwrap().meta.get(key).cloned())
    }
    fn meta_put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.write()?.meta.insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn disk_bytes(&self) -> u64 {
        0
    }
}

fn open(state: &Arc<Mutex<State>>, fail_at: u64) -> Result<KvEngine<MemLog>, StoreError> {
    let log = MemLog {
        state: Arc::clone(state),
        fail_at,
    };
    KvEngine::open(
        log,
        Backend::Redb,
        true,
        &mut |_, _, _| false,
        &mut |_, _| ControlFlow::Continue(()),
    )
    .map(|opened| match opened {
        ControlFlow::Continue((engine, _)) => engine,
        ControlFlow::Break(()) => unreachable!("the visitor never breaks"),
    })
}

fn call(first: u64, n: u64) -> BodyBatch {
    let mut batch = BodyBatch::default();
    for p in first..first + n {
        batch.buf.extend_from_slice(format!("body {p}").as_bytes());
        batch.ends.push(batch.buf.len());
    }
    batch
}

#[test]
fn a_failed_commit_poisons_and_keeps_whole_calls_only() {
    // Call i holds 1 + i % 3 bodies; every other call is synced.
    let sizes: Vec<u64> = (0..12).map(|i| 1 + i % 3).collect();
    let mut completed = false;
    for fail_at in 1.. {
        let state = Arc::new(Mutex::new(State::default()));
        let Ok(engine) = open(&state, fail_at) else {
            continue; // the format write failed: nothing to check
        };
        let (mut next, mut acked, mut failed) = (0u64, 0u64, false);
        let mut locs = Vec::new();
        for (i, &n) in sizes.iter().enumerate() {
            let appended = engine.append(next, &call(next, n), false, &mut locs);
            let synced = appended.and_then(|()| {
                next += n;
                if i % 2 == 1 { engine.sync() } else { Ok(()) }
            });
            match synced {
                Ok(()) if i % 2 == 1 => acked = next,
                Ok(()) => {}
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if !failed {
            engine.sync().unwrap();
            completed = true;
        } else {
            assert!(matches!(engine.sync(), Err(StoreError::Poisoned)));
            assert!(matches!(
                engine.append(next, &call(next, 1), false, &mut locs),
                Err(StoreError::Poisoned)
            ));
        }
        drop(engine);
        // "Reopen": everything acknowledged is there, only whole calls.
        let mut bodies = Vec::new();
        let log = MemLog {
            state: Arc::clone(&state),
            fail_at: 0,
        };
        let _: ControlFlow<(), _> = KvEngine::open(
            log,
            Backend::Redb,
            true,
            &mut |_, _, _| false,
            &mut |loc, body| {
                assert_eq!(body, format!("body {}", loc.offset).as_bytes());
                bodies.push(loc.offset);
                ControlFlow::Continue(())
            },
        )
        .unwrap();
        let stored = bodies.len() as u64;
        assert!(stored >= acked, "fail_at {fail_at}: acknowledged lost");
        let boundaries: Vec<u64> = sizes
            .iter()
            .scan(0, |end, n| {
                *end += n;
                Some(*end)
            })
            .collect();
        assert!(
            stored == 0 || boundaries.contains(&stored),
            "fail_at {fail_at}: {stored} records is not a call boundary"
        );
        if completed {
            break;
        }
    }
}
