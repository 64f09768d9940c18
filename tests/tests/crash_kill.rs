//! Kill loop, written once and run on every backend: a child process appends
//! (single events and batches, two threads, default durable policy) and
//! prints every acknowledged receipt; the parent SIGKILLs it at a random
//! moment, reopens, and checks that every acknowledged event is there at its
//! position, positions are gapless, no batch is partial and `verify()`
//! passes. The store directory lives across all rounds of a backend.
//!
//! Each test prints its seed; replay one with
//! `BATPAK_CRASH_SEED=<seed> cargo test -p batpak-tests --all-features --test
//! crash_kill <backend>::` (backend: `segment`, `redb`, `lmdb`).
//! `BATPAK_CRASH_ROUNDS` overrides the rounds per backend (default: segment
//! 50, redb 12, LMDB 12). `segment_small::` runs the segment engine with
//! 1.5 kB segments, so kills land during rotations and the writes of sealed
//! segment indexes; its reopens load those, and `verify` finds every one
//! true to its segment.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use batpak::prelude::*;
use batpak::{Backend, EventId};
use common::*;

const CHILD_DIR: &str = "BATPAK_CRASH_CHILD_DIR";
const CHILD_BACKEND: &str = "BATPAK_CRASH_CHILD_BACKEND";
const CHILD_SEGMENT_BYTES: &str = "BATPAK_CRASH_CHILD_SEGMENT_BYTES";
const BATCH: usize = 3;
/// Batch members carry this note prefix and a note unique to their batch.
const BATCH_NOTE: &str = "batch ";

fn backend_named(name: &str) -> Backend {
    [Backend::Segment, Backend::Redb, Backend::Lmdb]
        .into_iter()
        .find(|b| b.name() == name)
        .unwrap_or_else(|| panic!("unknown backend {name}"))
}

/// Child half: does nothing unless started by the kill loop.
#[test]
fn crash_child_appender() {
    let (Ok(dir), Ok(name)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_BACKEND)) else {
        return;
    };
    let mut config = StoreConfig::new(dir).backend(backend_named(&name));
    if let Some(bytes) = std::env::var(CHILD_SEGMENT_BYTES)
        .ok()
        .and_then(|b| b.parse().ok())
    {
        config = config.segment_max_bytes(bytes);
    }
    let store = Store::open(config).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (store, out) = (&store, &out);
            s.spawn(move || {
                for i in 0u64.. {
                    let c = coord(&format!("e{}", (i + t) % 5));
                    let receipts = if i % 4 == 3 {
                        // Unique across threads and rounds (each round is a new process).
                        let note = format!("{BATCH_NOTE}{} {t} {i}", std::process::id());
                        let batch: Vec<_> = (0..BATCH as u64)
                            .map(|k| {
                                let mut p = payload(i * 10 + k);
                                p.note.clone_from(&note);
                                (KIND, p)
                            })
                            .collect();
                        store
                            .append_batch(&c, &batch, AppendOptions::new())
                            .unwrap()
                    } else {
                        vec![store.append(&c, KIND, &payload(i)).unwrap()]
                    };
                    let mut out = out.lock().unwrap();
                    for r in receipts {
                        writeln!(out, "ACK {} {} END", r.position, r.event_id.as_u128()).unwrap();
                    }
                    out.flush().unwrap();
                }
            });
        }
    });
}

/// Runs `default_rounds` kill rounds on `backend`, killing the child
/// `min_ms + [0, spread_ms)` after it starts.
fn kill_loop(backend: Backend, default_rounds: usize, min_ms: u64, spread_ms: u64) {
    kill_loop_with(backend, None, default_rounds, min_ms, spread_ms);
}

/// [`kill_loop`] with segments of `segment_bytes` (when given).
fn kill_loop_with(
    backend: Backend,
    segment_bytes: Option<u64>,
    default_rounds: usize,
    min_ms: u64,
    spread_ms: u64,
) {
    let _serial = serial();
    let (mut rng, seed) = Rng::from_env("BATPAK_CRASH_SEED");
    let rounds: usize = std::env::var("BATPAK_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default_rounds);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let config = || {
        let config = StoreConfig::new(dir.path()).backend(backend);
        match segment_bytes {
            Some(bytes) => config.segment_max_bytes(bytes),
            None => config,
        }
    };
    let mut acked: Vec<(u64, u128)> = Vec::new();
    let mut sealed_loaded = 0;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_BACKEND, backend.name())
            .env(
                CHILD_SEGMENT_BYTES,
                segment_bytes.map(|b| b.to_string()).unwrap_or_default(),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| {
                    let parts: Vec<&str> = line.split(' ').collect();
                    match parts.as_slice() {
                        ["ACK", pos, id, "END"] => Some((pos.parse().ok()?, id.parse().ok()?)),
                        _ => None,
                    }
                })
                .collect::<Vec<(u64, u128)>>()
        });
        std::thread::sleep(Duration::from_millis(min_ms + rng.below(spread_ms)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());

        let ctx = format!("{backend} BATPAK_CRASH_SEED={seed} round {round}");
        let store = Store::open(config()).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        sealed_loaded += store.stats().sealed_indexes_loaded;
        for &(pos, id) in &acked {
            let got = store
                .get::<Payload>(EventId::from_u128(id))
                .unwrap_or_else(|e| panic!("{ctx}: {e}"))
                .unwrap_or_else(|| panic!("{ctx}: acknowledged event {id} at {pos} lost"));
            assert_eq!(got.position(), pos, "{ctx}");
        }
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "{ctx}: {report:?}");
        // The open loaded or wrote a sealed index for every full segment,
        // each true to its segment.
        assert_eq!(report.sealed_indexes_rewritten, 0, "{ctx}: {report:?}");
        let events = store.query::<Payload>(&Region::all()).unwrap();
        assert!(
            events
                .iter()
                .enumerate()
                .all(|(i, e)| e.position() == i as u64),
            "{ctx}: positions not gapless"
        );
        // All of a batch or none of it.
        let mut batches = HashMap::<&str, usize>::new();
        for e in &events {
            if e.payload.note.starts_with(BATCH_NOTE) {
                *batches.entry(&e.payload.note).or_default() += 1;
            }
        }
        assert!(
            batches.values().all(|&n| n == BATCH),
            "{ctx}: a partial batch is visible"
        );
        drop(store);
    }
    eprintln!(
        "{backend}: {rounds} rounds, {} acknowledged events, all present; {sealed_loaded} \
         sealed segment indexes loaded (seed {seed})",
        acked.len()
    );
    if segment_bytes.is_some() {
        assert!(
            sealed_loaded > 0,
            "{backend}: no open loaded a sealed index"
        );
    }
    assert!(
        !acked.is_empty(),
        "{backend}: the child never acknowledged anything"
    );
}

mod segment {
    #[test]
    fn killed_appender_loses_no_acknowledged_event() {
        super::kill_loop(batpak::Backend::Segment, 50, 20, 80);
    }
}

mod segment_small {
    #[test]
    fn killed_appender_loses_no_acknowledged_event() {
        super::kill_loop_with(batpak::Backend::Segment, Some(1_500), 30, 20, 80);
    }
}

mod redb {
    #[test]
    fn killed_appender_loses_no_acknowledged_event() {
        super::kill_loop(batpak::Backend::Redb, 12, 30, 120);
    }
}

mod lmdb {
    #[test]
    fn killed_appender_loses_no_acknowledged_event() {
        super::kill_loop(batpak::Backend::Lmdb, 12, 30, 120);
    }
}
