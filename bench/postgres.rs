//! PostgreSQL benchmark: batpak's shared log (`PgStore`) beside the
//! embedded segment store and SQLite, in one run, on one workload.
//!
//! `scripts/with-postgres.sh cargo bench -p batpak-bench --features postgres
//! --bench postgres` prints one markdown table (the script starts a
//! throw-away server on this machine's disk and exports `BATPAK_PG_URL`;
//! without it the bench says so and exits). Every system stores the same
//! events (~100-byte msgpack payload, 100 entities round-robin) and waits
//! for durability as configured: batpak `SyncPolicy::Always`, SQLite WAL
//! with `synchronous=FULL`, PostgreSQL its default `synchronous_commit=on`.
//! Figures are medians over `BATPAK_BENCH_ROUNDS` rounds (default 3).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use batpak::prelude::*;
#[cfg(feature = "postgres")]
use batpak::{PgConfig, PgStore};
use serde::{Deserialize, Serialize};

const KIND: EventKind = EventKind::new(7, 1);
const ENTITIES: u64 = 100;
const THREADS: u64 = 8;
const BATCH: usize = 100;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Payment {
    order: String,
    amount_cents: u64,
    note: String,
}

fn payment(n: u64) -> Payment {
    Payment {
        order: format!("order:{}", n % ENTITIES),
        amount_cents: n * 100 + 1,
        note: "card ending 4242, captured by the nightly batch".to_owned(),
    }
}

fn coord(n: u64) -> Coordinate {
    Coordinate::new(format!("order:{}", n % ENTITIES), "shop:acme").unwrap()
}

/// One system under test.
trait Log: Sync {
    fn append(&self, n: u64);
    fn append_batch(&self, first: u64, len: usize);
    fn replay(&self) -> usize;
}

impl Log for Store {
    fn append(&self, n: u64) {
        Store::append(self, &coord(n), KIND, &payment(n)).unwrap();
    }
    fn append_batch(&self, first: u64, len: usize) {
        // One stream per batch, as `append_batch` is atomic per stream.
        let events: Vec<_> = (first..first + len as u64)
            .map(|n| (KIND, payment(n)))
            .collect();
        Store::append_batch(self, &coord(first), &events, AppendOptions::new()).unwrap();
    }
    fn replay(&self) -> usize {
        self.query::<Payment>(&Region::all()).unwrap().len()
    }
}

#[cfg(feature = "postgres")]
impl Log for PgStore {
    fn append(&self, n: u64) {
        PgStore::append(self, &coord(n), KIND, &payment(n)).unwrap();
    }
    fn append_batch(&self, first: u64, len: usize) {
        let events: Vec<_> = (first..first + len as u64)
            .map(|n| (KIND, payment(n)))
            .collect();
        PgStore::append_batch(self, &coord(first), &events, AppendOptions::new()).unwrap();
    }
    fn replay(&self) -> usize {
        self.query::<Payment>(&Region::all()).unwrap().len()
    }
}

/// SQLite as a user would use it for an event table: WAL, FULL sync, one
/// connection shared by the threads (SQLite has one writer at a time).
struct Sqlite(Mutex<rusqlite::Connection>);

impl Sqlite {
    fn open(dir: &Path) -> Self {
        let conn = rusqlite::Connection::open(dir.join("bench.sqlite")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE events (position INTEGER PRIMARY KEY, entity TEXT NOT NULL,
               payload BLOB NOT NULL);",
        )
        .unwrap();
        Self(Mutex::new(conn))
    }

    fn insert(&self, range: std::ops::Range<u64>) {
        let mut conn = self.0.lock().unwrap();
        let txn = conn.transaction().unwrap();
        {
            let mut stmt = txn
                .prepare_cached("INSERT INTO events (entity, payload) VALUES (?1, ?2)")
                .unwrap();
            for n in range {
                let payload = rmp_serde::to_vec_named(&payment(n)).unwrap();
                stmt.execute(rusqlite::params![
                    format!("order:{}", n % ENTITIES),
                    payload
                ])
                .unwrap();
            }
        }
        txn.commit().unwrap();
    }
}

impl Log for Sqlite {
    fn append(&self, n: u64) {
        self.insert(n..n + 1);
    }
    fn append_batch(&self, first: u64, len: usize) {
        self.insert(first..first + len as u64);
    }
    fn replay(&self) -> usize {
        let conn = self.0.lock().unwrap();
        let mut stmt = conn.prepare("SELECT payload FROM events").unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut n = 0;
        while let Some(row) = rows.next().unwrap() {
            let bytes: Vec<u8> = row.get(0).unwrap();
            let p: Payment = rmp_serde::from_slice(&bytes).unwrap();
            n += usize::from(p.amount_cents > 0);
        }
        n
    }
}

/// Opens a fresh log of one system.
type Opener<'a> = Box<dyn Fn() -> Box<dyn Log> + 'a>;

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The four figures for one system, on a fresh log per round.
fn measure(open: &dyn Fn() -> Box<dyn Log>, durable: u64, batched: u64) -> [f64; 4] {
    let one = {
        let log = open();
        let start = Instant::now();
        (0..durable).for_each(|n| log.append(n));
        rate(durable, start.elapsed())
    };
    let eight = {
        let log = open();
        let per = durable / THREADS;
        let start = Instant::now();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let log = &log;
                s.spawn(move || (t * per..(t + 1) * per).for_each(|n| log.append(n)));
            }
        });
        rate(per * THREADS, start.elapsed())
    };
    let log = open();
    let start = Instant::now();
    for first in (0..batched).step_by(BATCH) {
        log.append_batch(first, BATCH);
    }
    let batches = rate(batched, start.elapsed());
    let start = Instant::now();
    let replayed = log.replay() as u64;
    let replay = rate(replayed, start.elapsed());
    [one, eight, batches, replay]
}

fn tempdir() -> tempfile::TempDir {
    // On the real disk (not tmpfs): fsync must cost what it costs.
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-data");
    std::fs::create_dir_all(&base).unwrap();
    tempfile::Builder::new()
        .prefix("batpak-pg-bench-")
        .tempdir_in(base)
        .unwrap()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    #[cfg(not(feature = "postgres"))]
    println!("postgres bench: build with `--features postgres` (see the file's docs)");
    #[cfg(feature = "postgres")]
    run();
}

#[cfg(feature = "postgres")]
fn run() {
    let Ok(url) = std::env::var("BATPAK_PG_URL") else {
        println!(
            "postgres bench skipped: BATPAK_PG_URL is not set; run it with \
             scripts/with-postgres.sh cargo bench -p batpak-bench --features postgres --bench postgres"
        );
        return;
    };
    let rounds = env_u64("BATPAK_BENCH_ROUNDS", 3);
    let durable = env_u64("BATPAK_BENCH_DURABLE", 800);
    let batched = env_u64("BATPAK_BENCH_BATCHED", 20_000);
    let dirs = Mutex::new(Vec::new());
    let next_schema = std::sync::atomic::AtomicU64::new(0);
    let systems: [(&str, Opener<'_>); 3] = [
        (
            "batpak PgStore",
            Box::new(|| {
                let n = next_schema.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let schema = format!("bench_{}_{n}", std::process::id());
                Box::new(PgStore::connect(PgConfig::new(url.clone()).schema(schema)).unwrap())
            }),
        ),
        (
            "batpak segment (Always)",
            Box::new(|| {
                let dir = tempdir();
                let store = Store::open(StoreConfig::new(dir.path())).unwrap();
                dirs.lock().unwrap().push(dir);
                Box::new(store)
            }),
        ),
        (
            "SQLite (WAL, FULL)",
            Box::new(|| {
                let dir = tempdir();
                let log = Sqlite::open(dir.path());
                dirs.lock().unwrap().push(dir);
                Box::new(log)
            }),
        ),
    ];
    let figures = [
        format!("durable append, 1 thread ({durable} events)"),
        format!("durable append, {THREADS} threads ({durable} events)"),
        format!("batches of {BATCH}, 1 thread ({batched} events)"),
        format!("replay (query all, {batched} events)"),
    ];
    let mut table = vec![Vec::new(); figures.len()];
    for (_, open) in &systems {
        let mut samples = vec![Vec::new(); figures.len()];
        for _ in 0..rounds {
            for (i, v) in measure(open.as_ref(), durable, batched)
                .into_iter()
                .enumerate()
            {
                samples[i].push(v);
            }
        }
        for (i, s) in samples.into_iter().enumerate() {
            table[i].push(format!("{:.1}k/s", median(s) / 1e3));
        }
    }
    println!();
    println!("batpak PostgreSQL benchmark: median of {rounds} rounds, events per second");
    println!();
    println!("| figure | {} |", systems.map(|(n, _)| n).join(" | "));
    println!("|---|---|---|---|");
    for (figure, cells) in figures.iter().zip(table) {
        println!("| {figure} | {} |", cells.join(" | "));
    }
}
