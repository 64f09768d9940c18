//! Kill loop: a child process appends with the default (durable) policy and
//! prints every acknowledged receipt; the parent SIGKILLs it at a random
//! moment, reopens, and checks every acknowledged event is there, positions
//! are gapless and `verify()` passes. Replay with BATPAK_CRASH_SEED=<seed>;
//! set BATPAK_CRASH_ROUNDS to run more rounds.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use batpak::EventId;
use batpak::prelude::*;
use common::*;

const CHILD_ENV: &str = "BATPAK_CRASH_CHILD_DIR";

/// Child half: does nothing unless started by the kill loop.
#[test]
fn crash_child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = std::sync::Arc::new(Store::open(StoreConfig::new(dir)).unwrap());
    let out = std::sync::Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..2u64)
        .map(|t| {
            let store = store.clone();
            let out = out.clone();
            std::thread::spawn(move || {
                for i in 0u64.. {
                    let c = coord(&format!("e{}", (i + t) % 5));
                    let receipts = if i % 4 == 3 {
                        let batch: Vec<_> = (0..3).map(|k| (KIND, payload(i * 10 + k))).collect();
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
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn killed_appender_loses_no_acknowledged_event() {
    let (mut rng, seed) = Rng::from_env("BATPAK_CRASH_SEED");
    let rounds: usize = std::env::var("BATPAK_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked: Vec<(u64, u128)> = Vec::new();
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_appender",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
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
        std::thread::sleep(Duration::from_millis(20 + rng.below(80)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let round_acks = reader.join().unwrap();
        acked.extend(round_acks.iter().copied());

        let store = Store::open(StoreConfig::new(dir.path()))
            .unwrap_or_else(|e| panic!("seed {seed} round {round}: reopen failed: {e}"));
        for &(pos, id) in &acked {
            let got = store
                .get::<Payload>(EventId::from_u128(id))
                .unwrap_or_else(|e| panic!("seed {seed} round {round}: {e}"));
            let got = got.unwrap_or_else(|| {
                panic!("seed {seed} round {round}: acknowledged event {id} at {pos} lost")
            });
            assert_eq!(got.position(), pos, "seed {seed} round {round}");
        }
        let report = store.verify().unwrap();
        assert!(report.is_ok(), "seed {seed} round {round}: {report:?}");
        let headers = store.query_headers(&Region::all()).unwrap();
        assert!(
            headers
                .iter()
                .enumerate()
                .all(|(i, h)| h.position == i as u64),
            "seed {seed} round {round}: positions not gapless"
        );
        drop(store);
    }
    eprintln!(
        "{rounds} rounds, {} acknowledged events, all present (seed {seed})",
        acked.len()
    );
    assert!(!acked.is_empty(), "the child never acknowledged anything");
}
