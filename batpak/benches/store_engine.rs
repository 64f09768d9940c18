//! Quick figures for the segment store alone (the comparison against redb,
//! LMDB and SQLite lives in the `store` bench). Prints one table.
//!
//! `cargo bench -p batpak --bench store_engine` (BATPAK_BENCH_REOPEN=1000000
//! to size the reopen row; default 1,000,000).

use std::sync::Arc;
use std::time::Instant;

use batpak::{AppendOptions, Coordinate, EventKind, Region, Store, StoreConfig, SyncPolicy};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    customer: String,
    items: u32,
    total_cents: u64,
    note: String,
}

fn order(n: u64) -> Order {
    Order {
        customer: format!("customer-{:08}", n % 10_000),
        items: (n % 17) as u32,
        total_cents: n * 137,
        note: "standard delivery, leave at the front door please".to_owned(),
    }
}

const KIND: EventKind = EventKind::new(7, 1);

fn coords(n: usize) -> Vec<Coordinate> {
    (0..n)
        .map(|i| {
            Coordinate::new(format!("order:{i:06}"), "shop:acme").unwrap_or_else(|_| unreachable!())
        })
        .collect()
}

fn dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::tempdir_in(std::env::var("BATPAK_BENCH_DIR").unwrap_or_else(|_| "/tmp".into()))
}

fn rate(n: u64, secs: f64) -> String {
    format!("{:>10.0}/s", n as f64 / secs)
}

type R<T> = Result<T, Box<dyn std::error::Error>>;

/// Runs a row unless BATPAK_BENCH_ONLY is set and does not name it.
fn want(row: &str) -> bool {
    std::env::var("BATPAK_BENCH_ONLY").map_or(true, |only| only.split(',').any(|o| row.contains(o)))
}

fn main() -> R<()> {
    let cs = coords(1_000);
    println!("| figure | batpak |");
    println!("|---|---|");

    // Raw write + fdatasync loop, the durable ceiling.
    if want("raw") {
        use std::io::Write;
        let d = dir()?;
        let mut f = std::fs::File::create(d.path().join("raw"))?;
        let buf = vec![7u8; 250];
        let n = 2_000;
        let t = Instant::now();
        for _ in 0..n {
            f.write_all(&buf)?;
            f.sync_data()?;
        }
        println!(
            "| raw write+fdatasync loop | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
    // Durable, one thread.
    if want("durable1") {
        let d = dir()?;
        let store = Store::open(StoreConfig::new(d.path()))?;
        let n = 2_000u64;
        let t = Instant::now();
        for i in 0..n {
            store.append(&cs[(i % 1000) as usize], KIND, &order(i))?;
        }
        println!(
            "| durable append, 1 thread | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
    // Durable, 8 threads.
    if want("durable8") {
        let d = dir()?;
        let store = Arc::new(Store::open(StoreConfig::new(d.path()))?);
        let per = 1_000u64;
        let t = Instant::now();
        let hs: Vec<_> = (0..8u64)
            .map(|k| {
                let store = store.clone();
                let cs = cs.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        let _ = store.append(&cs[((i * 8 + k) % 1000) as usize], KIND, &order(i));
                    }
                })
            })
            .collect();
        for h in hs {
            let _ = h.join();
        }
        let secs = t.elapsed().as_secs_f64();
        println!(
            "| durable append, 8 threads | {} ({} fsyncs) |",
            rate(per * 8, secs),
            store.stats().syncs
        );
    }
    let n = 200_000u64;
    // EveryN, one thread.
    if want("everyn") {
        let d = dir()?;
        let store = Store::open(StoreConfig::new(d.path()).sync_policy(SyncPolicy::EveryN {
            events: 1_000,
            max_delay_ms: 10,
        }))?;
        let t = Instant::now();
        for i in 0..n {
            store.append(&cs[(i % 1000) as usize], KIND, &order(i))?;
        }
        store.sync()?;
        println!(
            "| append, 1 thread, EveryN(1000) | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
    // Pipelined submit, durable policy.
    let d = dir()?;
    if want("submit") {
        let store = Store::open(StoreConfig::new(d.path()))?;
        let t = Instant::now();
        let mut last = None;
        for i in 0..n {
            last = Some(store.submit(
                &cs[(i % 1000) as usize],
                KIND,
                &order(i),
                AppendOptions::new(),
            )?);
        }
        if let Some(t) = last {
            t.wait()?;
        }
        println!(
            "| submit, pipelined, one wait | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
        let bytes = store.stats().log_bytes;
        println!(
            "| bytes on disk per event | {:>10.1} |",
            bytes as f64 / n as f64
        );
        // Replay all entities, payloads decoded.
        let t = Instant::now();
        let events = store.query::<Order>(&Region::all())?;
        println!(
            "| replay all, decoded | {} |",
            rate(events.len() as u64, t.elapsed().as_secs_f64())
        );
        // The same replay through the streaming visitor.
        let t = Instant::now();
        let mut cents = 0u64;
        let visited = store.replay::<Order, _>(&Region::all(), |event| {
            cents = cents.wrapping_add(event.payload().total_cents);
            std::ops::ControlFlow::Continue(())
        })?;
        println!(
            "| replay all, visitor (replay), decoded | {} |",
            rate(visited, t.elapsed().as_secs_f64())
        );
        std::hint::black_box(cents);
        let t = Instant::now();
        let mut total = 0;
        for c in &cs {
            total += store.stream::<Order>(c)?.len();
        }
        println!(
            "| replay per stream, decoded | {} |",
            rate(total as u64, t.elapsed().as_secs_f64())
        );
    }
    // append_batch of 100.
    if want("batch") {
        let d = dir()?;
        let store = Store::open(StoreConfig::new(d.path()))?;
        let t = Instant::now();
        for b in 0..(n / 100) {
            let batch: Vec<_> = (0..100).map(|i| (KIND, order(b * 100 + i))).collect();
            store.append_batch(&cs[(b % 1000) as usize], &batch, AppendOptions::new())?;
        }
        println!(
            "| append_batch of 100, durable | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
    // append_batch of 1000, EveryN: the CPU cost of encoding, hashing, writing.
    if want("batch") {
        let d = dir()?;
        let store = Store::open(StoreConfig::new(d.path()).sync_policy(SyncPolicy::EveryN {
            events: 10_000,
            max_delay_ms: 10,
        }))?;
        let batches: Vec<Vec<(EventKind, Order)>> = (0..(n / 1000))
            .map(|b| (0..1000).map(|i| (KIND, order(b * 1000 + i))).collect())
            .collect();
        let t = Instant::now();
        for (b, batch) in batches.iter().enumerate() {
            store.append_batch(&cs[b % 1000], batch, AppendOptions::new())?;
        }
        store.sync()?;
        println!(
            "| append_batch of 1000, EveryN | {} |",
            rate(n, t.elapsed().as_secs_f64())
        );
    }
    // Clean reopen.
    if want("reopen") {
        let m: u64 = std::env::var("BATPAK_BENCH_REOPEN")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1_000_000);
        let d = dir()?;
        let store = Store::open(StoreConfig::new(d.path()).sync_policy(SyncPolicy::Manual))?;
        for b in 0..(m / 1000) {
            let batch: Vec<_> = (0..1000).map(|i| (KIND, order(b * 1000 + i))).collect();
            store.append_batch(&cs[(b % 1000) as usize], &batch, AppendOptions::new())?;
        }
        store.close()?;
        let t = Instant::now();
        let store = Store::open(StoreConfig::new(d.path()))?;
        let clean = t.elapsed();
        assert!(store.stats().opened_from_checkpoint);
        drop(store);
        let t = Instant::now();
        let store = Store::open(StoreConfig::new(d.path()))?;
        let scan = t.elapsed();
        drop(store);
        println!(
            "| clean reopen of {m} events | {:>9.1} ms |",
            clean.as_secs_f64() * 1e3
        );
        println!(
            "| reopen by full scan of {m} events | {:>9.1} ms |",
            scan.as_secs_f64() * 1e3
        );
    }
    Ok(())
}
