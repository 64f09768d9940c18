//! Reactors and timers, end to end on the real disk.
//!
//! `cargo bench -p batpak-bench --bench wiring` prints one markdown table:
//!
//! - **reactions/s, catching up**: `EVENTS` source events are durable; one
//!   `ReactorRunner::run_pending` reacts to all of them (each reaction: the
//!   handled check, the reactor, the target's gates, one durable commit).
//! - **reactions/s, live**: a runner thread is running; one producer commits
//!   `EVENTS` source events back to back; the figure is events over the
//!   time from the first commit to the last reaction being durable.
//! - **latency**: a runner thread is running; a source event is committed,
//!   and the clock stops when its reaction is durable (a cursor on the
//!   target's events wakes on it); p50 and p99 over `SAMPLES` events.
//! - **timers fired/s**: `EVENTS` entities wait in a timed state;
//!   one `Timers::run_due` fires them all.
//!
//! Beside each rate, what a user would write instead with no exactly-once
//! promise: a cursor loop that calls `submit` for each event (at-least-once
//! after a crash), and a loop of `submit` for the timers they would have to
//! track themselves. Default sync policy (`Always`: every commit fsyncs),
//! then the catch-up and timer rows again with `Manual` (no fsync), which
//! leaves the CPU cost of the wiring; figures are medians over `ROUNDS`
//! rounds on fresh stores.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batpak::prelude::*;
use batpak::{ReactorRunner, Timers};
use serde::{Deserialize, Serialize};

const ROUNDS: usize = 3;
const EVENTS: u64 = 1_000;
const SAMPLES: usize = 300;

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(states(New, Waiting, Answered, Lapsed), initial = New, terminal(Answered, Lapsed))]
enum Ping {
    #[transition(New -> Waiting)]
    Asked { n: u64 },
    #[transition(Waiting -> Answered)]
    Answered,
    #[transition(Waiting -> Lapsed, after = "1m")]
    Lapsed,
}

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(states(None, Replied), initial = None, terminal(Replied))]
enum Pong {
    #[transition(None -> Replied)]
    Replied { n: u64 },
}

/// Every question gets its reply.
#[react(Ping::Asked)]
fn reply(_ctx: (), asked: &StoredEvent<Ping>) -> Reaction<Pong> {
    let Ping::Asked { n } = asked.payload else {
        return Reaction::Nothing;
    };
    Reaction::step(pong_of(&asked.header.coordinate), Pong::Replied { n })
}

fn ping(n: u64) -> Coordinate {
    Coordinate::new(format!("ping:{n}"), "bench").unwrap()
}

fn pong_of(ping: &Coordinate) -> Coordinate {
    Coordinate::new(format!("pong:{}", ping.entity()), "bench").unwrap()
}

fn tempdir() -> tempfile::TempDir {
    // On the real disk (not tmpfs): fsync must cost what it costs.
    let base = std::env::var_os("BATPAK_BENCH_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data"),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("batpak-bench-")
        .tempdir_in(base)
        .unwrap()
}

/// Whether the timed rows fsync each commit (`Always`, the default) or
/// never (`Manual`): the second shows what the wiring costs in CPU alone.
static POLICY: std::sync::Mutex<SyncPolicy> = std::sync::Mutex::new(SyncPolicy::Always);

fn policy() -> SyncPolicy {
    *POLICY.lock().unwrap()
}

/// A store holding `EVENTS` durable questions, reopened under `policy()`.
fn asked() -> (tempfile::TempDir, Store) {
    let dir = tempdir();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    for n in 0..EVENTS {
        Ping::submit(&store, &ping(n), Ping::Asked { n }).unwrap();
    }
    store.close().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(policy())).unwrap();
    (dir, store)
}

/// Events per second of `EVENTS` events in `elapsed`.
fn rate(elapsed: Duration) -> f64 {
    EVENTS as f64 / elapsed.as_secs_f64()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn catch_up_runner() -> f64 {
    let (_dir, store) = asked();
    let start = Instant::now();
    let report = ReactorRunner::<reply>::new(&store, &())
        .unwrap()
        .run_pending()
        .unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.committed, EVENTS);
    rate(elapsed)
}

/// What a user would write without the runner: a cursor and `submit`,
/// no key, no causation, no check (a crash repeats a step or, after the
/// first, fails it).
fn catch_up_by_hand() -> f64 {
    let (_dir, store) = asked();
    let start = Instant::now();
    let mut cursor = store
        .cursor::<Ping>(Region::all().category(<Ping as StateMachine>::CATEGORY), 0)
        .unwrap();
    let mut replied = 0;
    while let Some(event) = cursor.try_next().unwrap() {
        if let Ping::Asked { n } = event.payload {
            Pong::submit(
                &store,
                &pong_of(&event.header.coordinate),
                Pong::Replied { n },
            )
            .unwrap();
            replied += 1;
        }
    }
    let elapsed = start.elapsed();
    assert_eq!(replied, EVENTS);
    rate(elapsed)
}

/// A cursor over the replies from the current end of the log.
fn replies(store: &Store) -> batpak::Cursor<'_, Pong> {
    let region = Region::all().category(<Pong as StateMachine>::CATEGORY);
    store.cursor(region, store.stats().events).unwrap()
}

fn live_runner() -> f64 {
    let dir = tempdir();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path())).unwrap());
    let thread = ReactorRunner::<reply>::spawn(Arc::clone(&store), Arc::new(())).unwrap();
    let mut replies = replies(&store);
    let start = Instant::now();
    for n in 0..EVENTS {
        Ping::submit(&*store, &ping(n), Ping::Asked { n }).unwrap();
    }
    for _ in 0..EVENTS {
        replies.next_blocking().unwrap();
    }
    let elapsed = start.elapsed();
    assert_eq!(thread.shutdown().unwrap().committed, EVENTS);
    rate(elapsed)
}

/// Latencies in µs, sorted: source event committed → reaction durable.
fn latencies() -> Vec<f64> {
    let dir = tempdir();
    let store = Arc::new(Store::open(StoreConfig::new(dir.path())).unwrap());
    let thread = ReactorRunner::<reply>::spawn(Arc::clone(&store), Arc::new(())).unwrap();
    let mut replies = replies(&store);
    let mut all = Vec::with_capacity(SAMPLES);
    for n in 0..SAMPLES as u64 {
        Ping::submit(&*store, &ping(n), Ping::Asked { n }).unwrap();
        let committed = Instant::now();
        replies.next_blocking().unwrap();
        all.push(committed.elapsed().as_secs_f64() * 1e6);
    }
    thread.shutdown().unwrap();
    all.sort_by(f64::total_cmp);
    all
}

fn timers_run_due() -> f64 {
    let (_dir, store) = asked();
    let mut timers = Timers::<Ping>::new(&store).unwrap();
    let start = Instant::now();
    let report = timers.run_due(&(), u64::MAX).unwrap();
    let elapsed = start.elapsed();
    assert_eq!(report.fired, EVENTS);
    rate(elapsed)
}

/// What a user would write without timers: a loop of `submit` over the
/// entities they tracked as due themselves.
fn timers_by_hand() -> f64 {
    let (_dir, store) = asked();
    let start = Instant::now();
    for n in 0..EVENTS {
        Ping::submit(&store, &ping(n), Ping::Lapsed).unwrap();
    }
    rate(start.elapsed())
}

fn main() {
    let runs = |f: fn() -> f64| median((0..ROUNDS).map(|_| f()).collect());
    println!("| figure | batpak | by hand (no exactly-once) |");
    println!("|---|---:|---:|");
    println!(
        "| reactions/s, catching up ({EVENTS} events) | {:.0} | {:.0} |",
        runs(catch_up_runner),
        runs(catch_up_by_hand)
    );
    println!(
        "| reactions/s, live (runner thread, {EVENTS} events) | {:.0} | |",
        runs(live_runner)
    );
    let (p50, p99): (Vec<f64>, Vec<f64>) = (0..ROUNDS)
        .map(|_| {
            let all = latencies();
            (all[all.len() / 2], all[all.len() * 99 / 100])
        })
        .unzip();
    println!(
        "| latency committed → reaction durable, p50 / p99 ({SAMPLES} events) | {:.0} µs / {:.0} µs | |",
        median(p50),
        median(p99)
    );
    println!(
        "| timers fired/s ({EVENTS} due) | {:.0} | {:.0} |",
        runs(timers_run_due),
        runs(timers_by_hand)
    );
    // The same catch-up rows without fsync: the wiring's CPU cost.
    *POLICY.lock().unwrap() = SyncPolicy::Manual;
    println!(
        "| reactions/s, catching up, no fsync (`Manual`) | {:.0} | {:.0} |",
        runs(catch_up_runner),
        runs(catch_up_by_hand)
    );
    println!(
        "| timers fired/s, no fsync (`Manual`) | {:.0} | {:.0} |",
        runs(timers_run_due),
        runs(timers_by_hand)
    );
}
