//! Kill loop on the redb and LMDB backends: a child process appends (single
//! events and batches, two threads, default durable policy) and prints every
//! acknowledged receipt; the parent SIGKILLs it at a random moment, reopens,
//! and checks that every acknowledged event is there, positions are gapless,
//! no batch is partial and `verify()` passes. Replay with
//! `BATPAK_BACKEND_CRASH_SEED=<seed>`; `BATPAK_BACKEND_CRASH_ROUNDS` sets the
//! rounds per backend (default 12).

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use batpak::prelude::*;
use batpak::{Backend, EventId};

const CHILD_DIR: &str = "BATPAK_BACKEND_CRASH_DIR";
const CHILD_BACKEND: &str = "BATPAK_BACKEND_CRASH_BACKEND";
const KIND: EventKind = EventKind::new(7, 1);
const BATCH: u64 = 3;
/// Batch payloads are `BATCH_BASE + id * 10 + k`; single events stay below.
const BATCH_BASE: u64 = 1 << 62;

fn coord(e: &str) -> Coordinate {
    Coordinate::new(e, "shop:acme").unwrap()
}

fn backend(name: &str) -> Backend {
    match name {
        "redb" => Backend::Redb,
        _ => Backend::Lmdb,
    }
}

/// xorshift64*: enough randomness for kill times, replayable by seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// Child half: does nothing unless started by the kill loop.
#[test]
fn backend_crash_child_appender() {
    let (Ok(dir), Ok(name)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_BACKEND)) else {
        return;
    };
    let store = Store::open(StoreConfig::new(dir).backend(backend(&name))).unwrap();
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|s| {
        for t in 0..2u64 {
            let (store, out) = (&store, &out);
            s.spawn(move || {
                for i in 0u64.. {
                    let c = coord(&format!("e{}", (i + t) % 5));
                    let receipts = if i % 4 == 3 {
                        // Unique across threads and rounds (each round is a new process).
                        let id = u64::from(std::process::id()) * 1_000_000 + i * 2 + t;
                        let batch: Vec<_> = (0..BATCH)
                            .map(|k| (KIND, BATCH_BASE + id * 10 + k))
                            .collect();
                        store
                            .append_batch(&c, &batch, AppendOptions::new())
                            .unwrap()
                    } else {
                        vec![store.append(&c, KIND, &i).unwrap()]
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

fn kill_loop(name: &str, rng: &mut Rng, seed: u64, rounds: usize) {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let config = || StoreConfig::new(dir.path()).backend(backend(name));
    let mut acked: Vec<(u64, u128)> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "backend_crash_child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .env(CHILD_BACKEND, name)
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
        std::thread::sleep(Duration::from_millis(30 + rng.below(120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        acked.extend(reader.join().unwrap());

        let ctx = format!("{name} seed {seed} round {round}");
        let store = Store::open(config()).unwrap_or_else(|e| panic!("{ctx}: reopen failed: {e}"));
        for &(pos, id) in &acked {
            let got = store
                .get::<u64>(EventId::from_u128(id))
                .unwrap_or_else(|e| panic!("{ctx}: {e}"))
                .unwrap_or_else(|| panic!("{ctx}: acknowledged event at {pos} lost"));
            assert_eq!(got.position(), pos, "{ctx}");
        }
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "{ctx}: {report:?}");
        let events = store.query::<u64>(&Region::all()).unwrap();
        assert!(
            events
                .iter()
                .enumerate()
                .all(|(i, e)| e.position() == i as u64),
            "{ctx}: positions not gapless"
        );
        // All of a batch or none of it.
        let mut batches = std::collections::HashMap::<u64, u64>::new();
        for e in &events {
            if let Some(member) = e.payload.checked_sub(BATCH_BASE) {
                *batches.entry(member / 10).or_default() += 1;
            }
        }
        assert!(
            batches.values().all(|&n| n == BATCH),
            "{ctx}: a partial batch is visible"
        );
        drop(store);
    }
    eprintln!(
        "{name}: {rounds} rounds, {} acknowledged events, all present (seed {seed})",
        acked.len()
    );
    assert!(
        !acked.is_empty(),
        "{name}: the child never acknowledged anything"
    );
}

#[test]
fn killed_appender_loses_no_acknowledged_event_on_redb_and_lmdb() {
    let seed = std::env::var("BATPAK_BACKEND_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    let rounds = std::env::var("BATPAK_BACKEND_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    eprintln!("BATPAK_BACKEND_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    for name in ["redb", "lmdb"] {
        kill_loop(name, &mut rng, seed, rounds);
    }
}
