//! `load` and `submit` of one machine entity with data, at 1k, 10k and
//! 100k events in its stream.
//!
//! `cargo bench -p batpak-bench --bench machine_load` prints one markdown
//! table; `BATPAK_LOAD_EVENTS` picks the stream lengths (comma-separated,
//! default `1000,10000,100000`). `load` reads the machine's projection (state, version, head and
//! data) from the store's projection cache and folds only the events after
//! the cached position; `submit` (the dynamic path) reads the same way and
//! commits one event; the "replay" row is what `load` did before it read
//! the projection (read the whole stream, fold every event), written here by
//! hand. Figures are medians over `ROUNDS` rounds of `CALLS` calls.
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::time::{Duration, Instant};

use batpak::MachineTypes;
use batpak::prelude::*;
use serde::{Deserialize, Serialize};

const ROUNDS: usize = 5;
const CALLS: usize = 20;

#[derive(StateMachine, Debug, Serialize, Deserialize)]
#[machine(states(Open, Closed), initial = Open, data = Tally)]
enum Account {
    #[transition(Open -> Open)]
    Deposited { cents: u64, note: String },
    #[transition(Open -> Closed)]
    Closed,
}

/// What the account's events add up to.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Tally {
    deposits: u64,
    cents: u64,
}

impl MachineData<Account> for Tally {
    fn apply(&mut self, event: &Account) {
        if let Account::Deposited { cents, .. } = event {
            self.deposits += 1;
            self.cents += cents;
        }
    }
}

/// A store holding one account of `events` deposits, all durable.
fn account(events: u64) -> (tempfile::TempDir, Store, Coordinate) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
    let coord = Coordinate::new("account:1", "bank:acme").unwrap();
    let mut open = Account::create(&store, coord.clone()).unwrap();
    for n in 0..events {
        open = open
            .deposited(&store, n, "monthly deposit, standing order 1".to_owned())
            .unwrap();
    }
    store.sync().unwrap();
    (dir, store, coord)
}

/// Median time of one call of `f`, over `ROUNDS` rounds of `CALLS` calls.
fn median(mut f: impl FnMut()) -> Duration {
    let mut rounds: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..CALLS {
                f();
            }
            start.elapsed() / u32::try_from(CALLS).unwrap()
        })
        .collect();
    rounds.sort();
    rounds[ROUNDS / 2]
}

/// The stream read and folded from the start, as `load` used to.
fn replay(store: &Store, coord: &Coordinate) -> (AccountState, u64, Tally) {
    let mut state = <Account as StateMachine>::INITIAL;
    let mut data = <Account as MachineTypes>::Data::default();
    let mut version = 0;
    for event in store.stream::<Account>(coord).unwrap() {
        state = Account::apply(state, &event.payload).unwrap();
        data.apply(&event.payload);
        version = event.sequence();
    }
    (state, version, data)
}

/// Median of `ROUNDS * CALLS` durations that `f` measures itself.
fn median_of(mut f: impl FnMut() -> Duration) -> Duration {
    let mut all: Vec<Duration> = (0..ROUNDS * CALLS).map(|_| f()).collect();
    all.sort();
    all[all.len() / 2]
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn main() {
    println!(
        "| events | replay (stream + fold) | load, first (folds all, caches) | load, cached | load, 1 new event | submit (dynamic, 1 event) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    let sizes: Vec<u64> = std::env::var("BATPAK_LOAD_EVENTS")
        .unwrap_or_else(|_| "1000,10000,100000".to_owned())
        .split(',')
        .map(|s| s.trim().replace('_', "").parse().unwrap())
        .collect();
    for events in sizes {
        let (_dir, store, coord) = account(events);
        let replayed = median(|| {
            let (_, version, data) = replay(&store, &coord);
            assert_eq!((version, data.deposits), (events, events));
        });
        // The first load of a fresh cache folds the whole stream once.
        let first = {
            let (_dir, store, coord) = account(events);
            let start = Instant::now();
            let loaded = Account::load(&store, &coord).unwrap();
            let elapsed = start.elapsed();
            assert_eq!(loaded.data().deposits, events);
            elapsed
        };
        Account::load(&store, &coord).unwrap();
        let cached = median(|| {
            let loaded = Account::load(&store, &coord).unwrap();
            assert_eq!(loaded.version(), events);
        });
        // Each timed load follows one new durable event: the projection
        // folds that one event on top of the cached state.
        let mut extra = 0;
        let one_new = median_of(|| {
            let AccountHandle::Open(open) = Account::load(&store, &coord).unwrap() else {
                panic!("the account stays open");
            };
            open.deposited(&store, 1, "top-up".to_owned()).unwrap();
            store.sync().unwrap();
            extra += 1;
            let start = Instant::now();
            let loaded = Account::load(&store, &coord).unwrap();
            let elapsed = start.elapsed();
            assert_eq!(loaded.version(), events + extra);
            elapsed
        });
        // Each timed submit commits one event through the dynamic path.
        let submitted = median(|| {
            let state = Account::submit(
                &store,
                &coord,
                Account::Deposited {
                    cents: 1,
                    note: "top-up".to_owned(),
                },
            )
            .unwrap();
            assert!(matches!(state, AccountState::Open));
        });
        println!(
            "| {events} | {} | {} | {} | {} | {} |",
            micros(replayed),
            micros(first),
            micros(cached),
            micros(one_new),
            micros(submitted)
        );
    }
}
