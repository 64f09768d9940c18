//! Crash-model and I/O-error tests of the whole store, through the file seam.
//!
//! [`MemFs`] keeps, per file, what was written and what was synced, and a
//! namespace as of the last directory sync. `crash` keeps only durable
//! state (plus a random prefix of each file's unsynced tail: a torn write);
//! the store reopened on it must hold every event it acknowledged as
//! durable. The countdown test fails the N-th file operation for N = 1, 2, …
//! until a workload completes: never a panic, never an acknowledged event
//! lost, and the store refuses appends after the failure.
//! `BATPAK_CRASH_MODEL_SEEDS=<n>` runs more power-loss scripts (default 200).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::fs::{FileSystem, FsFile};
use super::{Store, StoreConfig, StoreError, SyncPolicy};
use crate::coordinate::Coordinate;
use crate::event::{EventId, EventKind};
use crate::guard::AppendOptions;
use crate::region::Region;

#[derive(Debug, Default)]
struct FileState {
    data: Vec<u8>,
    synced: Vec<u8>,
}

type Node = Arc<Mutex<FileState>>;

#[derive(Debug, Default)]
struct Inner {
    names: HashMap<PathBuf, Node>,
    durable_names: HashMap<PathBuf, Node>,
    ops: u64,
    fail_at: Option<u64>,
}

#[derive(Debug, Default, Clone)]
struct MemFs(Arc<Mutex<Inner>>);

fn injected() -> io::Error {
    io::Error::other("injected failure")
}

impl MemFs {
    fn failing_at(n: u64) -> Self {
        let fs = Self::default();
        fs.0.lock().unwrap().fail_at = Some(n);
        fs
    }

    /// Counts an operation; errs when it is the one chosen to fail.
    fn op(&self) -> io::Result<()> {
        let mut inner = self.0.lock().unwrap();
        inner.ops += 1;
        if inner.fail_at == Some(inner.ops) {
            return Err(injected());
        }
        Ok(())
    }

    fn node(&self, path: &Path) -> io::Result<Node> {
        self.0
            .lock()
            .unwrap()
            .names
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    /// The state after a power loss: durable names, synced bytes, and a
    /// random prefix (per `keep`) of each file's unsynced appended tail.
    fn crash(&self, keep: &mut dyn FnMut(usize) -> usize) -> Self {
        self.after(true, keep)
    }

    /// The same files, with failures switched off (a process restart
    /// without power loss: every name and byte written survives).
    fn restarted(&self) -> Self {
        self.after(false, &mut |len| len)
    }

    fn after(&self, power_loss: bool, keep: &mut dyn FnMut(usize) -> usize) -> Self {
        let inner = self.0.lock().unwrap();
        let mut names = HashMap::new();
        let survivors = if power_loss {
            &inner.durable_names
        } else {
            &inner.names
        };
        for (path, node) in survivors {
            let f = node.lock().unwrap();
            let mut data = f.synced.clone();
            if f.data.starts_with(&f.synced) {
                let tail = &f.data[f.synced.len()..];
                data.extend_from_slice(&tail[..keep(tail.len())]);
            }
            let state = FileState {
                synced: data.clone(),
                data,
            };
            names.insert(path.clone(), Arc::new(Mutex::new(state)));
        }
        Self(Arc::new(Mutex::new(Inner {
            durable_names: names.clone(),
            names,
            ops: 0,
            fail_at: None,
        })))
    }
}

#[derive(Debug)]
struct MemFile {
    fs: MemFs,
    node: Node,
}

impl FsFile for MemFile {
    fn append(&self, bytes: &[u8]) -> io::Result<()> {
        let failed = self.fs.op();
        let mut f = self.node.lock().unwrap();
        if failed.is_err() {
            // A short write: half the bytes land, then the error.
            f.data.extend_from_slice(&bytes[..bytes.len() / 2]);
            return failed;
        }
        f.data.extend_from_slice(bytes);
        Ok(())
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let f = self.node.lock().unwrap();
        let start = offset as usize;
        let src = f
            .data
            .get(start..start + buf.len())
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.fs.op()?;
        let mut f = self.node.lock().unwrap();
        f.synced = f.data.clone();
        Ok(())
    }
    fn sync_all(&self) -> io::Result<()> {
        self.sync_data()
    }
}

impl FileSystem for MemFs {
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        self.op()?;
        let inner = self.0.lock().unwrap();
        Ok(inner
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.op()?;
        Ok(self.node(path)?.lock().unwrap().data.clone())
    }
    fn len(&self, path: &Path) -> io::Result<u64> {
        self.op()?;
        Ok(self.node(path)?.lock().unwrap().data.len() as u64)
    }
    fn create_new(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.op()?;
        let mut inner = self.0.lock().unwrap();
        if inner.names.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        let node = Node::default();
        inner.names.insert(path.to_path_buf(), node.clone());
        Ok(Arc::new(MemFile {
            fs: self.clone(),
            node,
        }))
    }
    fn open_append(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.op()?;
        Ok(Arc::new(MemFile {
            fs: self.clone(),
            node: self.node(path)?,
        }))
    }
    fn open_read(&self, path: &Path) -> io::Result<Arc<dyn FsFile>> {
        self.open_append(path)
    }
    fn truncate(&self, path: &Path, len: u64) -> io::Result<()> {
        self.op()?;
        let node = self.node(path)?;
        let mut f = node.lock().unwrap();
        f.data.truncate(len as usize);
        f.synced = f.data.clone();
        Ok(())
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        self.op()?;
        self.0
            .lock()
            .unwrap()
            .names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn write_synced(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        self.op()?;
        let node = Arc::new(Mutex::new(FileState {
            data: bytes.to_vec(),
            synced: bytes.to_vec(),
        }));
        self.0
            .lock()
            .unwrap()
            .names
            .insert(path.to_path_buf(), node);
        Ok(())
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.op()?;
        let mut inner = self.0.lock().unwrap();
        let node = inner
            .names
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        inner.names.insert(to.to_path_buf(), node);
        Ok(())
    }
    fn sync_dir(&self, _dir: &Path) -> io::Result<()> {
        self.op()?;
        let mut inner = self.0.lock().unwrap();
        inner.durable_names = inner.names.clone();
        Ok(())
    }
}

// The tests' one copy of the generator (it names no batpak type).
#[path = "../../../tests/tests/common/rng.rs"]
mod rng;
use rng::Rng;

const KIND: EventKind = EventKind::new(7, 1);

fn coord(i: u64) -> Coordinate {
    Coordinate::new(format!("e{i}"), "crash").unwrap()
}

fn open(dir: &Path, fs: &MemFs, policy: SyncPolicy) -> Result<Store, StoreError> {
    let config = StoreConfig::new(dir)
        .sync_policy(policy)
        .segment_max_bytes(1_500);
    Store::open_with_fs(config, true, Arc::new(fs.clone()))
}

/// Checks that every acknowledged id is in a store reopened on `fs`, that
/// positions are gapless and `verify` passes.
fn check(dir: &Path, fs: &MemFs, acked: &[EventId], context: &str) {
    let store = open(dir, fs, SyncPolicy::Always)
        .unwrap_or_else(|e| panic!("{context}: reopen failed: {e}"));
    for id in acked {
        let found = store
            .get::<u64>(*id)
            .unwrap_or_else(|e| panic!("{context}: {e}"));
        assert!(found.is_some(), "{context}: acknowledged event {id} lost");
    }
    let headers = store.query_headers(&Region::all()).unwrap();
    assert!(
        headers
            .iter()
            .enumerate()
            .all(|(i, h)| h.position == i as u64),
        "{context}: positions not gapless"
    );
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{context}: {report:?}");
}

#[test]
fn power_loss_at_any_point_keeps_every_durable_event() {
    let dir = tempfile::tempdir().unwrap();
    let seeds: u64 = std::env::var("BATPAK_CRASH_MODEL_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    for seed in 1..=seeds {
        let mut rng = Rng::new(seed);
        let fs = MemFs::default();
        let manual = seed % 3 == 0;
        let policy = if manual {
            SyncPolicy::Manual
        } else {
            SyncPolicy::Always
        };
        let mut store = open(dir.path(), &fs, policy).unwrap();
        let mut durable: Vec<EventId> = Vec::new();
        let mut pending: Vec<EventId> = Vec::new();
        let steps = 1 + rng.below(40);
        for _ in 0..steps {
            let c = coord(rng.below(4));
            match rng.below(12) {
                // A clean close (checkpoint) and reopen, or a process exit
                // without close (rescan), on the same files.
                10 => {
                    store.close().unwrap();
                    durable.append(&mut pending);
                    store = open(dir.path(), &fs, policy).unwrap();
                    assert!(store.stats().opened_from_checkpoint, "seed {seed}");
                }
                11 => {
                    drop(store);
                    // Open syncs what it found: buffered events are now durable.
                    durable.append(&mut pending);
                    store = open(dir.path(), &fs, policy).unwrap();
                }
                0..=5 => pending.push(store.append(&c, KIND, &rng.next()).unwrap().event_id),
                6..=7 => {
                    let batch: Vec<_> = (0..1 + rng.below(4)).map(|i| (KIND, i)).collect();
                    let receipts = store
                        .append_batch(&c, &batch, AppendOptions::new())
                        .unwrap();
                    pending.extend(receipts.iter().map(|r| r.event_id));
                }
                _ => {
                    store.sync().unwrap();
                    durable.append(&mut pending);
                }
            }
            if !manual {
                durable.append(&mut pending);
            }
        }
        let crashed = fs.crash(&mut |len| rng.below(len as u64 + 1) as usize);
        drop(store);
        check(dir.path(), &crashed, &durable, &format!("seed {seed}"));
    }
}

#[test]
fn failing_the_nth_file_operation_never_loses_an_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut completed = false;
    for n in 1..2_000u64 {
        let fs = MemFs::failing_at(n);
        let mut acked: Vec<EventId> = Vec::new();
        let context = format!("failing operation {n}");
        // Failures the store absorbs (an unreadable checkpoint means a
        // rescan) may let the workload finish; both outcomes are checked.
        let outcome = (|| -> Result<(), StoreError> {
            let store = open(dir.path(), &fs, SyncPolicy::Always)?;
            for i in 0..30u64 {
                let r = if i % 5 == 4 {
                    let batch: Vec<_> = (0..3u64).map(|k| (KIND, k)).collect();
                    store.append_batch(&coord(i % 3), &batch, AppendOptions::new())
                } else {
                    store.append(&coord(i % 3), KIND, &i).map(|r| vec![r])
                };
                match r {
                    Ok(receipts) => acked.extend(receipts.iter().map(|r| r.event_id)),
                    Err(e) => {
                        // Sticky: nothing more is accepted until reopen.
                        let again = store.append(&coord(0), KIND, &0u64);
                        assert!(
                            matches!(again, Err(StoreError::Poisoned)),
                            "{context}: {again:?}"
                        );
                        return Err(e);
                    }
                }
            }
            store.close()
        })();
        check(dir.path(), &fs.restarted(), &acked, &context);
        let reached = fs.0.lock().unwrap().ops >= n;
        if !reached {
            assert!(outcome.is_ok(), "{context}: {outcome:?}");
            eprintln!("workload completed in {} file operations", n - 1);
            completed = true;
            break;
        }
    }
    assert!(completed, "the workload never completed");
}
