//! Scale rows: what opening and reading a store costs as its history grows.
//!
//! `cargo bench -p batpak-bench --bench scale` builds a segment store of
//! `BATPAK_SCALE_EVENTS` events (a comma-separated list, default
//! `1000000`) over `BATPAK_SCALE_ENTITIES` entities (default 100,000),
//! written round-robin with the store bench's ~100-byte payload, and prints
//! one markdown row per size. Each open is measured in a fresh child
//! process (this binary, re-run with `BATPAK_SCALE_CHILD`), so its resident
//! memory (`VmRSS`, and the peak `VmHWM`, from `/proc/self/status`) is the
//! open's own, not the builder's. Figures are medians over
//! `BATPAK_SCALE_ROUNDS` child runs (default 3). `BATPAK_SCALE_DIR` puts the
//! stores somewhere other than the system temp directory (a 10M-event store
//! takes ~3 GB).
//!
//! Rows: clean open (a checkpoint; with the index's own estimate of its
//! memory, `StoreStats::index_memory_bytes`), open after a crash of a store
//! that has no checkpoint (removed here: sealed segment indexes plus a scan
//! of the unsealed tail), open after a crash with the sealed indexes removed (a full rescan: what every crash cost
//! before them), reads of single streams from the open store (warm, 1,000
//! random entities), a replay of every event (payloads decoded), and an
//! open after the build was killed (it starts from the checkpoint the
//! build's last rotation wrote, `StoreConfig::checkpoint_every_bytes`), an
//! open after a kill that followed a clean close and
//! `BATPAK_SCALE_RESUME_EVENTS` more appends (default 500,000, about two
//! segments): it starts from the checkpoint and indexes only those. The
//! build's cell gives its seconds and its slowest append (a rotation's);
//! `BATPAK_SCALE_SEAL_INLINE=1` has rotating appends write their sealed
//! index themselves (`StoreConfig::seal_in_background(false)`).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use batpak::prelude::*;
use batpak::{Store, StoreConfig, SyncPolicy};
use serde::{Deserialize, Serialize};

const KIND: EventKind = EventKind::new(7, 1);
const SCOPE: &str = "shop:bench";
/// Streams read per child for the latency row.
const READS: usize = 1_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Payment {
    order: String,
    amount_cents: u64,
    currency: String,
    note: String,
}

fn payment(i: u64) -> Payment {
    Payment {
        order: format!("order-{i}"),
        amount_cents: i * 7 % 100_000,
        currency: "EUR".to_owned(),
        note: "standing order, monthly, reference 0042-7781-AB".to_owned(),
    }
}

fn entity(i: u64) -> Coordinate {
    Coordinate::new(format!("account:{i}"), SCOPE).unwrap()
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The store's settings: the defaults but `SyncPolicy::Manual`,
/// `BATPAK_SCALE_CHECKPOINT_EVERY` for `checkpoint_every_bytes` when set,
/// and sealing inline when `BATPAK_SCALE_SEAL_INLINE=1`.
fn config(dir: &Path) -> StoreConfig {
    let every = env_u64(
        "BATPAK_SCALE_CHECKPOINT_EVERY",
        batpak::DEFAULT_CHECKPOINT_EVERY_BYTES,
    );
    StoreConfig::new(dir)
        .sync_policy(SyncPolicy::Manual)
        .checkpoint_every_bytes(every)
        .seal_in_background(env_u64("BATPAK_SCALE_SEAL_INLINE", 0) == 0)
}

/// `VmRSS` and `VmHWM` of this process, in MB.
fn memory_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// What one child measured.
#[derive(Debug, Default, Clone, Copy)]
struct Measured {
    open_ms: f64,
    rss_open: f64,
    hwm_open: f64,
    rescanned: u64,
    sealed_loaded: u64,
    from_checkpoint: bool,
    read_p50_us: f64,
    read_p99_us: f64,
    rss_read: f64,
    hwm_read: f64,
    /// `StoreStats::index_memory_bytes` after open, in MB.
    index_mb: f64,
    /// `Store::replay` of every event, millions of events per second.
    replay_m: f64,
}

/// The child: opens the store, measures, and leaves it as `mode` says:
/// `crash` ends without a checkpoint (the next open is after a crash too);
/// `clean` reads streams and closes (the next open loads the checkpoint).
/// `resume` appends `BATPAK_SCALE_RESUME_EVENTS` events after the open and
/// ends without a checkpoint. `build` (by hand, for profiling an open) builds a store of
/// `BATPAK_SCALE_EVENTS` events in the directory instead; `open` (by hand,
/// for timing an open alone) opens and closes, reading nothing.
fn child(mode: &str, dir: &Path, entities: u64) {
    if mode == "build" {
        let events = env_u64("BATPAK_SCALE_EVENTS", 1_000_000);
        let (secs, slowest) = build(dir, events, entities);
        println!(
            "built {events} events in {secs:.1} s, the slowest append {:.1} ms",
            slowest.as_secs_f64() * 1e3
        );
        return;
    }
    let start = Instant::now();
    let store = Store::open(config(dir)).unwrap();
    let open_ms = start.elapsed().as_secs_f64() * 1e3;
    let (rss_open, hwm_open) = memory_mb();
    let stats = store.stats();
    let mut m = Measured {
        open_ms,
        rss_open,
        hwm_open,
        rescanned: stats.events_rescanned,
        sealed_loaded: stats.sealed_indexes_loaded,
        from_checkpoint: stats.opened_from_checkpoint,
        index_mb: stats.index_memory_bytes as f64 / 1e6,
        ..Measured::default()
    };
    if mode == "resume" {
        let n = env_u64("BATPAK_SCALE_RESUME_EVENTS", 500_000);
        let first = stats.events;
        for i in first..first + n {
            store
                .append(&entity(i % entities), KIND, &payment(i))
                .unwrap();
        }
        store.sync().unwrap();
    }
    if mode == "clean" {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut pick = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % entities
        };
        // Warm: one pass, then the timed one.
        for _ in 0..READS {
            store.stream::<Payment>(&entity(pick())).unwrap();
        }
        let mut times: Vec<Duration> = (0..READS)
            .map(|_| {
                let c = entity(pick());
                let t = Instant::now();
                let events = store.stream::<Payment>(&c).unwrap();
                let elapsed = t.elapsed();
                assert!(!events.is_empty());
                elapsed
            })
            .collect();
        times.sort();
        m.read_p50_us = times[READS / 2].as_secs_f64() * 1e6;
        m.read_p99_us = times[READS * 99 / 100].as_secs_f64() * 1e6;
        (m.rss_read, m.hwm_read) = memory_mb();
        // Every event, payloads decoded: what a projection rebuild reads.
        let t = Instant::now();
        let events = store
            .replay::<Payment, _>(&Region::all(), |_| std::ops::ControlFlow::Continue(()))
            .unwrap();
        m.replay_m = events as f64 / t.elapsed().as_secs_f64() / 1e6;
    }
    println!(
        "MEASURED {} {} {} {} {} {} {} {} {} {} {} {}",
        m.open_ms,
        m.rss_open,
        m.hwm_open,
        m.rescanned,
        m.sealed_loaded,
        u8::from(m.from_checkpoint),
        m.read_p50_us,
        m.read_p99_us,
        m.rss_read,
        m.hwm_read,
        m.index_mb,
        m.replay_m
    );
    if mode == "crash" || mode == "resume" {
        store.exit_without_checkpoint();
    } else {
        store.close().unwrap();
    }
}

/// Runs one child in `mode` on `dir` and parses what it printed.
fn run_child(mode: &str, dir: &Path, entities: u64) -> Measured {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("BATPAK_SCALE_CHILD", mode)
        .env("BATPAK_SCALE_CHILD_DIR", dir)
        .env("BATPAK_SCALE_ENTITIES", entities.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("MEASURED "))
        .unwrap_or_else(|| {
            panic!(
                "child {mode} failed: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<f64> = line.split(' ').map(|v| v.parse().unwrap()).collect();
    Measured {
        open_ms: f[0],
        rss_open: f[1],
        hwm_open: f[2],
        rescanned: f[3] as u64,
        sealed_loaded: f[4] as u64,
        from_checkpoint: f[5] > 0.0,
        read_p50_us: f[6],
        read_p99_us: f[7],
        rss_read: f[8],
        hwm_read: f[9],
        index_mb: f[10],
        replay_m: f[11],
    }
}

/// The median by `key` of `runs`.
fn median_by(runs: &[Measured], key: impl Fn(&Measured) -> f64) -> f64 {
    let mut v: Vec<f64> = runs.iter().map(key).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The cells of one kind of open after a kill: open ms | events rescanned
/// | RSS MB (peak).
fn reopened_cells(runs: &[Measured]) -> String {
    format!(
        "{:.0} | {:.0} | {:.0} ({:.0})",
        median_by(runs, |m| m.open_ms),
        median_by(runs, |m| m.rescanned as f64),
        median_by(runs, |m| m.rss_open),
        median_by(runs, |m| m.hwm_open),
    )
}

/// Removes the sealed segment indexes (`*.idx`) of the store in `dir`.
fn remove_sealed(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "idx") {
            std::fs::remove_file(path).unwrap();
        }
    }
}

/// Removes the checkpoint and the positions file of the store in `dir`.
fn remove_checkpoint(dir: &Path) {
    for name in ["index.ckpt", "index.positions"] {
        let _ = std::fs::remove_file(dir.join(name));
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

/// Builds the store and leaves it as a killed process would (no
/// checkpoint); returns the seconds the appends took and the slowest
/// append.
fn build(dir: &Path, events: u64, entities: u64) -> (f64, Duration) {
    let store = Store::open(config(dir)).unwrap();
    let coords: Vec<Coordinate> = (0..entities).map(entity).collect();
    let mut slowest = Duration::ZERO;
    let start = Instant::now();
    for i in 0..events {
        let c = &coords[(i % entities) as usize];
        let payment = payment(i);
        let t = Instant::now();
        store.append(c, KIND, &payment).unwrap();
        slowest = slowest.max(t.elapsed());
    }
    store.sync().unwrap();
    let secs = start.elapsed().as_secs_f64();
    store.exit_without_checkpoint();
    (secs, slowest)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    let entities = env_u64("BATPAK_SCALE_ENTITIES", 100_000);
    if let Ok(mode) = std::env::var("BATPAK_SCALE_CHILD") {
        let dir = std::env::var("BATPAK_SCALE_CHILD_DIR").unwrap();
        child(&mode, Path::new(&dir), entities);
        return;
    }
    let rounds = usize::try_from(env_u64("BATPAK_SCALE_ROUNDS", 3)).unwrap();
    let sizes: Vec<u64> = std::env::var("BATPAK_SCALE_EVENTS")
        .unwrap_or_else(|_| "1000000".to_owned())
        .split(',')
        .map(|s| s.trim().replace('_', "").parse().unwrap())
        .collect();
    println!(
        "Segment store, {entities} entities, ~100-byte payloads; medians of {rounds} child processes each.\n"
    );
    println!(
        "| events | disk MB | build s (slowest append ms) | clean open ms | RSS after open MB (peak) | index MB | stream read p50 / p99 µs (events per stream) | RSS after reads MB (peak) | replay M events/s | crash open ms (sealed + tail) | events rescanned | RSS MB (peak) | crash open ms, no sealed indexes (full rescan) | RSS MB (peak) | open after a close, appends and a kill, ms (checkpoint + sealed + tail) | events rescanned | RSS MB (peak) | open after the build was killed, ms (its last rotation's checkpoint + tail) | events rescanned | RSS MB (peak) |"
    );
    println!(
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    for events in sizes {
        let parent = std::env::var("BATPAK_SCALE_DIR").map_or_else(
            |_| tempfile::tempdir().unwrap(),
            |p| tempfile::tempdir_in(p).unwrap(),
        );
        let dir = parent.path();
        let (build_s, slowest) = build(dir, events, entities);
        let slowest_ms = slowest.as_secs_f64() * 1e3;
        // The build was killed: the open starts from the checkpoint its
        // last rotation wrote.
        let killed: Vec<Measured> = (0..rounds)
            .map(|_| run_child("crash", dir, entities))
            .collect();
        // As a store that never wrote a checkpoint: sealed indexes only.
        let crash: Vec<Measured> = (0..rounds)
            .map(|_| {
                remove_checkpoint(dir);
                run_child("crash", dir, entities)
            })
            .collect();
        let rescan: Vec<Measured> = (0..rounds)
            .map(|_| {
                remove_sealed(dir);
                run_child("crash", dir, entities)
            })
            .collect();
        // Leaves a checkpoint; the clean opens follow.
        run_child("clean", dir, entities);
        let clean: Vec<Measured> = (0..rounds)
            .map(|_| run_child("clean", dir, entities))
            .collect();
        assert!(clean.iter().all(|m| m.from_checkpoint));
        let disk_mb = dir_bytes(dir) as f64 / 1e6;
        run_child("resume", dir, entities);
        let resumed: Vec<Measured> = (0..rounds)
            .map(|_| run_child("crash", dir, entities))
            .collect();
        assert!(resumed.iter().all(|m| m.from_checkpoint));
        println!(
            "| {events} | {disk_mb:.0} | {build_s:.1} ({slowest_ms:.0}) | {:.1} | {:.0} ({:.0}) | {:.1} | {:.1} / {:.1} ({}) | {:.0} ({:.0}) | {:.2} | {} | {:.0} | {:.0} ({:.0}) | {} | {} |",
            median_by(&clean, |m| m.open_ms),
            median_by(&clean, |m| m.rss_open),
            median_by(&clean, |m| m.hwm_open),
            median_by(&clean, |m| m.index_mb),
            median_by(&clean, |m| m.read_p50_us),
            median_by(&clean, |m| m.read_p99_us),
            events / entities,
            median_by(&clean, |m| m.rss_read),
            median_by(&clean, |m| m.hwm_read),
            median_by(&clean, |m| m.replay_m),
            reopened_cells(&crash),
            median_by(&rescan, |m| m.open_ms),
            median_by(&rescan, |m| m.rss_open),
            median_by(&rescan, |m| m.hwm_open),
            reopened_cells(&resumed),
            reopened_cells(&killed),
        );
    }
}
