//! Store benchmark: batpak against what users would pick instead.
//!
//! `cargo bench -p batpak-bench` prints one markdown table. Every
//! system stores the same events (a header of ids, clocks, place and chain
//! link plus a ~100-byte msgpack payload; ~250 bytes a record) keyed by
//! (entity, sequence), 1,000 entities written round-robin. Figures are
//! medians over `ROUNDS` rounds, measured in one process, one after another.
//!
//! Environment knobs (for quick local runs): `BATPAK_BENCH_ROUNDS`,
//! `BATPAK_BENCH_EVENTS`, `BATPAK_BENCH_REOPEN_EVENTS`,
//! `BATPAK_BENCH_BACKEND=segment|redb|lmdb` (the engine under batpak's
//! rows; redb and lmdb need `--features redb,lmdb` or `--all-features`),
//! `BATPAK_BENCH_ONLY=segment` (only the segment engine's own rows: torn
//! frame recovery and the open-file bound; no peers) and `BATPAK_BENCH_TORN_MIB` (payload limit of the torn-frame
//! row, default the store's 16 MiB).
#![allow(
    missing_docs,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::cast_precision_loss
)]

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use batpak::prelude::*;
use batpak::{Backend, EventId, Store, StoreConfig, SyncPolicy};
use serde::{Deserialize, Serialize};

const ENTITIES: usize = 1_000;
const BATCH: usize = 1_000;
const DURABLE_EVENTS: usize = 2_000;
const THREADS: usize = 8;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Payment {
    order: String,
    amount_cents: u64,
    currency: String,
    note: String,
}

/// The header fields the peers store beside the payload, mirroring batpak's.
#[derive(Serialize, Deserialize)]
struct PeerRecord<'a> {
    #[serde(with = "bytes16")]
    id: u128,
    #[serde(with = "bytes16")]
    correlation: u128,
    timestamp_us: u64,
    sequence: u64,
    position: u64,
    kind: u32,
    entity: &'a str,
    scope: &'a str,
    #[serde(with = "serde_bytes32")]
    prev_hash: [u8; 32],
    payload: Payment,
}

mod bytes16 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&v.to_be_bytes())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let b: &[u8] = Deserialize::deserialize(d)?;
        Ok(u128::from_be_bytes(b.try_into().unwrap_or([0; 16])))
    }
}

mod serde_bytes32 {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let b: &[u8] = Deserialize::deserialize(d)?;
        Ok(b.try_into().unwrap_or([0; 32]))
    }
}

/// One event of the workload: its stream and payload.
struct Ev {
    entity: String,
    /// The stream, built once: callers hold coordinates, as peers hold keys.
    coordinate: Coordinate,
    sequence: u64,
    payload: Payment,
}

fn workload(events: usize) -> Vec<Ev> {
    (0..events)
        .map(|i| {
            let e = i % ENTITIES;
            Ev {
                entity: format!("order:{e:06}"),
                coordinate: Coordinate::new(format!("order:{e:06}"), SCOPE).unwrap(),
                sequence: (i / ENTITIES) as u64 + 1,
                payload: Payment {
                    order: format!("order:{e:06}"),
                    amount_cents: 1_000 + i as u64,
                    currency: "EUR".to_owned(),
                    note: format!("payment {i:08} settled by card ending 4242; ref"),
                },
            }
        })
        .collect()
}

const SCOPE: &str = "shop:acme";
const KIND: EventKind = EventKind::new(7, 1);

fn peer_record(ev: &Ev, position: u64) -> Vec<u8> {
    let record = PeerRecord {
        id: u128::from(position) << 64 | 0xBEEF,
        correlation: u128::from(position) << 64 | 0xBEEF,
        timestamp_us: 1_764_000_000_000_000 + position,
        sequence: ev.sequence,
        position,
        kind: KIND.to_u32(),
        entity: &ev.entity,
        scope: SCOPE,
        prev_hash: [7; 32],
        payload: ev.payload.clone(),
    };
    // Compact: struct as array, as a user storing records in a key-value
    // store would pick (batpak keeps field names in payloads, for schema
    // evolution, and pays for them in bytes per event).
    rmp_serde::to_vec(&record).unwrap()
}

fn peer_key(ev: &Ev) -> Vec<u8> {
    let mut key = ev.entity.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&ev.sequence.to_be_bytes());
    key
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let meta = entry.metadata().unwrap();
            total += if meta.is_dir() {
                dir_bytes(&entry.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn rate(events: usize, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64()
}

// ---------------------------------------------------------------- batpak

/// The engine under batpak's rows, from `BATPAK_BENCH_BACKEND`.
fn backend() -> Backend {
    match std::env::var("BATPAK_BENCH_BACKEND").as_deref() {
        Ok("redb") => Backend::Redb,
        Ok("lmdb") => Backend::Lmdb,
        Ok("segment") | Err(_) => Backend::Segment,
        Ok(other) => panic!("BATPAK_BENCH_BACKEND={other}: use segment, redb or lmdb"),
    }
}

fn batpak_open(dir: &Path, policy: SyncPolicy) -> Store {
    Store::open(StoreConfig::new(dir).sync_policy(policy).backend(backend())).unwrap()
}

fn coord(ev: &Ev) -> &Coordinate {
    &ev.coordinate
}

fn batpak_append_each(store: &Store, events: &[Ev]) {
    for ev in events {
        store.append(coord(ev), KIND, &ev.payload).unwrap();
    }
}

/// Appends `events` from `THREADS` threads, each append waiting for
/// durability; returns the time taken and the fdatasyncs made (group
/// commit covers several threads' events with one).
fn batpak_durable_threads(dir: &Path, events: &[Ev]) -> (Duration, u64) {
    let store = Arc::new(batpak_open(dir, SyncPolicy::Always));
    let syncs_before = store.stats().syncs;
    let per = events.len() / THREADS;
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let store = Arc::clone(&store);
            let chunk = &events[t * per..(t + 1) * per];
            s.spawn(move || batpak_append_each(&store, chunk));
        }
    });
    (start.elapsed(), store.stats().syncs - syncs_before)
}

fn batpak_pipelined(store: &Store, events: &[Ev]) {
    let mut tickets = Vec::with_capacity(BATCH);
    for chunk in events.chunks(BATCH) {
        for ev in chunk {
            tickets.push(
                store
                    .append_pipelined(coord(ev), KIND, &ev.payload, AppendOptions::new())
                    .unwrap(),
            );
        }
        for ticket in tickets.drain(..) {
            ticket.wait().unwrap();
        }
    }
    store.sync().unwrap();
}

fn batpak_replay(store: &Store) -> usize {
    let events: Vec<StoredEvent<Payment>> = store.query(&Region::all()).unwrap();
    events.len()
}

// ---------------------------------------------------------------- peers

/// Writes each record and fdatasyncs: the floor any durable log pays.
fn raw_fsync_loop(dir: &Path, events: &[Ev]) -> Duration {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("raw.log"))
        .unwrap();
    let start = Instant::now();
    for (position, ev) in events.iter().enumerate() {
        let record = peer_record(ev, position as u64);
        file.write_all(&(record.len() as u32).to_le_bytes())
            .unwrap();
        file.write_all(&record).unwrap();
        file.sync_data().unwrap();
    }
    start.elapsed()
}

trait Peer {
    fn name(&self) -> &'static str;
    /// Writes events in transactions of `per_txn`, each committed durably
    /// (`durable`) or with the engine's fastest safe-on-crash setting.
    fn write(&mut self, events: &[Ev], per_txn: usize, durable: bool);
    fn replay(&self) -> usize;
}

const REDB_EVENTS: redb::TableDefinition<'_, &[u8], &[u8]> = redb::TableDefinition::new("events");

struct RedbPeer {
    db: redb::Database,
    position: u64,
}

impl RedbPeer {
    fn open(dir: &Path) -> Self {
        Self {
            db: redb::Database::create(dir.join("bench.redb")).unwrap(),
            position: 0,
        }
    }
}

impl Peer for RedbPeer {
    fn name(&self) -> &'static str {
        "redb"
    }
    fn write(&mut self, events: &[Ev], per_txn: usize, _durable: bool) {
        for chunk in events.chunks(per_txn) {
            let txn = self.db.begin_write().unwrap();
            {
                let mut table = txn.open_table(REDB_EVENTS).unwrap();
                for ev in chunk {
                    let record = peer_record(ev, self.position);
                    self.position += 1;
                    table
                        .insert(peer_key(ev).as_slice(), record.as_slice())
                        .unwrap();
                }
            }
            txn.commit().unwrap();
        }
    }
    fn replay(&self) -> usize {
        use redb::{ReadableDatabase, ReadableTable};
        let txn = self.db.begin_read().unwrap();
        let table = txn.open_table(REDB_EVENTS).unwrap();
        let mut n = 0;
        for row in table.iter().unwrap() {
            let (_, value) = row.unwrap();
            let record: PeerRecord<'_> = rmp_serde::from_slice(value.value()).unwrap();
            n += usize::from(record.payload.amount_cents > 0);
        }
        n
    }
}

struct LmdbPeer {
    env: heed::Env,
    db: heed::Database<heed::types::Bytes, heed::types::Bytes>,
    position: u64,
}

impl LmdbPeer {
    #[allow(unsafe_code)]
    fn open(dir: &Path) -> Self {
        let path = dir.join("lmdb");
        std::fs::create_dir_all(&path).unwrap();
        // SAFETY: the environment is opened once, by this process only, on a
        // fresh directory nobody else maps; LMDB's rule is that one process
        // must not open the same environment twice.
        let env = unsafe {
            heed::EnvOpenOptions::new()
                .map_size(4 << 30)
                .max_dbs(1)
                .open(&path)
                .unwrap()
        };
        let mut wtxn = env.write_txn().unwrap();
        let db = env.create_database(&mut wtxn, Some("events")).unwrap();
        wtxn.commit().unwrap();
        Self {
            env,
            db,
            position: 0,
        }
    }
}

impl Peer for LmdbPeer {
    fn name(&self) -> &'static str {
        "LMDB (heed)"
    }
    fn write(&mut self, events: &[Ev], per_txn: usize, _durable: bool) {
        for chunk in events.chunks(per_txn) {
            let mut txn = self.env.write_txn().unwrap();
            for ev in chunk {
                let record = peer_record(ev, self.position);
                self.position += 1;
                self.db.put(&mut txn, &peer_key(ev), &record).unwrap();
            }
            txn.commit().unwrap();
        }
    }
    fn replay(&self) -> usize {
        let txn = self.env.read_txn().unwrap();
        let mut n = 0;
        for row in self.db.iter(&txn).unwrap() {
            let (_, value) = row.unwrap();
            let record: PeerRecord<'_> = rmp_serde::from_slice(value).unwrap();
            n += usize::from(record.payload.amount_cents > 0);
        }
        n
    }
}

struct SqlitePeer {
    conn: rusqlite::Connection,
    position: u64,
}

impl SqlitePeer {
    fn open(dir: &Path) -> Self {
        let conn = rusqlite::Connection::open(dir.join("bench.sqlite")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;
             CREATE TABLE IF NOT EXISTS events (entity TEXT NOT NULL, sequence INTEGER NOT NULL,
               record BLOB NOT NULL, PRIMARY KEY (entity, sequence)) WITHOUT ROWID;",
        )
        .unwrap();
        Self { conn, position: 0 }
    }
}

impl Peer for SqlitePeer {
    fn name(&self) -> &'static str {
        "SQLite (WAL, FULL)"
    }
    fn write(&mut self, events: &[Ev], per_txn: usize, _durable: bool) {
        for chunk in events.chunks(per_txn) {
            let txn = self.conn.transaction().unwrap();
            {
                let mut stmt = txn
                    .prepare_cached(
                        "INSERT INTO events (entity, sequence, record) VALUES (?1, ?2, ?3)",
                    )
                    .unwrap();
                for ev in chunk {
                    let record = peer_record(ev, self.position);
                    self.position += 1;
                    stmt.execute(rusqlite::params![ev.entity, ev.sequence as i64, record])
                        .unwrap();
                }
            }
            txn.commit().unwrap();
        }
    }
    fn replay(&self) -> usize {
        let mut stmt = self.conn.prepare("SELECT record FROM events").unwrap();
        let mut rows = stmt.query([]).unwrap();
        let mut n = 0;
        while let Some(row) = rows.next().unwrap() {
            let bytes: Vec<u8> = row.get(0).unwrap();
            let record: PeerRecord<'_> = rmp_serde::from_slice(&bytes).unwrap();
            n += usize::from(record.payload.amount_cents > 0);
        }
        n
    }
}

fn open_peer(kind: usize, dir: &Path) -> Box<dyn Peer> {
    match kind {
        0 => Box::new(RedbPeer::open(dir)),
        1 => Box::new(LmdbPeer::open(dir)),
        _ => Box::new(SqlitePeer::open(dir)),
    }
}

const PEERS: usize = 3;

/// A peer's database and the directory that holds it.
type PeerStore = (tempfile::TempDir, Box<dyn Peer>);

// ---------------------------------------------------------------- segment recovery

/// A payload that is one binary blob (msgpack bin 32), as a user storing a
/// document or a column of numbers would write it.
#[derive(Serialize, Deserialize)]
struct Blob {
    #[serde(with = "blob_bytes")]
    data: Vec<u8>,
}

mod blob_bytes {
    use serde::{Deserialize, Deserializer, Serializer};
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let b: &[u8] = Deserialize::deserialize(d)?;
        Ok(b.to_vec())
    }
}

/// Bytes of msgpack around a [`Blob`]'s data (map, field name, bin header).
const BLOB_OVERHEAD: usize = 64;

/// The segment file of a store whose last frame holds the largest payload
/// `max_payload` allows, after 10 ordinary events (released as a killed
/// process would: no checkpoint, so open scans it). The blob is little-endian `u32`
/// counters: a column of integers, whose 4-byte windows look like
/// plausible frame lengths at most offsets.
fn max_frame_segment(max_payload: usize) -> Vec<u8> {
    let dir = tempdir();
    let store = Store::open(torn_config(dir.path(), max_payload)).unwrap();
    for ev in workload(10) {
        store.append(coord(&ev), KIND, &ev.payload).unwrap();
    }
    let data: Vec<u8> = (0..(max_payload - BLOB_OVERHEAD) / 4)
        .flat_map(|i| (i as u32).to_le_bytes())
        .collect();
    let c = Coordinate::new("blob:1", SCOPE).unwrap();
    store.append(&c, KIND, &Blob { data }).unwrap();
    store.sync().unwrap();
    store.exit_without_checkpoint();
    std::fs::read(dir.path().join("0000000001.seg")).unwrap()
}

fn torn_config(dir: &Path, max_payload: usize) -> StoreConfig {
    StoreConfig::new(dir)
        .sync_policy(SyncPolicy::Manual)
        .max_payload_bytes(max_payload)
}

/// Ms to open a fresh store directory holding `segment`, checking it
/// finds `events` events.
fn open_segment_ms(segment: &[u8], max_payload: usize, events: u64) -> f64 {
    let dir = tempdir();
    let path = dir.path().join("0000000001.seg");
    std::fs::write(&path, segment).unwrap();
    let start = Instant::now();
    let store = Store::open(torn_config(dir.path(), max_payload)).unwrap();
    let ms = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(store.stats().events, events);
    ms
}

/// Medians, in ms: open of the store with its last (max-size) frame cut in
/// half, open of the same store whole, and a read of the torn file.
fn torn_max_frame_open(max_payload: usize, rounds: usize) -> (f64, f64, f64) {
    let whole = max_frame_segment(max_payload);
    let torn = &whole[..whole.len() - max_payload / 2];
    let (mut torn_ms, mut whole_ms, mut read_ms) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        torn_ms.push(open_segment_ms(torn, max_payload, 10));
        whole_ms.push(open_segment_ms(&whole, max_payload, 11));
        let dir = tempdir();
        let path = dir.path().join("torn.seg");
        std::fs::write(&path, torn).unwrap();
        let start = Instant::now();
        assert_eq!(std::fs::read(&path).unwrap().len(), torn.len());
        read_ms.push(start.elapsed().as_secs_f64() * 1e3);
    }
    (median(torn_ms), median(whole_ms), median(read_ms))
}

/// Events and segments of the open-file rows: ~280 bytes a frame, so
/// about `READ_EVENTS / READ_SEGMENTS` events a segment.
const READ_EVENTS: usize = 100_000;
const READ_SEGMENTS: u64 = 256;

/// A closed store of [`READ_EVENTS`] events over about [`READ_SEGMENTS`]
/// segments, and the ids of its events.
fn many_segments_store() -> (tempfile::TempDir, Vec<EventId>) {
    let dir = tempdir();
    let store = Store::open(many_segments_config(dir.path(), 64)).unwrap();
    let events = workload(READ_EVENTS);
    let ids = events
        .iter()
        .map(|ev| store.append(coord(ev), KIND, &ev.payload).unwrap().event_id)
        .collect();
    store.close().unwrap();
    (dir, ids)
}

fn many_segments_config(dir: &Path, max_open: usize) -> StoreConfig {
    let frame = 280;
    StoreConfig::new(dir)
        .sync_policy(SyncPolicy::Manual)
        .segment_max_bytes(READ_EVENTS as u64 * frame / READ_SEGMENTS)
        .max_open_segments(max_open)
}

/// Random `get`s per second over the store's segments, with at most
/// `max_open` segment files open; and the segments the store has.
fn random_gets(dir: &Path, ids: &[EventId], max_open: usize, rounds: usize) -> (f64, u64) {
    let store = Store::open(many_segments_config(dir, max_open)).unwrap();
    let segments = store.stats().segments;
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    let samples = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..ids.len() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let id = ids[(x % ids.len() as u64) as usize];
                assert!(store.get::<Payment>(id).unwrap().is_some());
            }
            rate(ids.len(), start.elapsed())
        })
        .collect();
    store.close().unwrap();
    (median(samples), segments)
}

// ---------------------------------------------------------------- harness

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn tempdir() -> tempfile::TempDir {
    // Benchmarks run on the real disk (not tmpfs): fsync must cost what it costs.
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

struct Row {
    figure: String,
    batpak: f64,
    unit: &'static str,
    peers: Vec<(String, f64)>,
    target: String,
}

fn print_table(rows: &[Row], rounds: usize, events: usize) {
    println!();
    println!(
        "batpak store benchmark ({} backend): {events} events over {ENTITIES} entities, median of {rounds} rounds",
        backend()
    );
    println!();
    println!("| figure | batpak | peers (batpak / peer) | target |");
    println!("|---|---|---|---|");
    for row in rows {
        let peers: Vec<String> = row
            .peers
            .iter()
            .map(|(name, value)| {
                let ratio = row.batpak / value;
                format!("{name} {} ({ratio:.2}x)", fmt_value(*value, row.unit))
            })
            .collect();
        println!(
            "| {} | {} | {} | {} |",
            row.figure,
            fmt_value(row.batpak, row.unit),
            if peers.is_empty() {
                "—".to_owned()
            } else {
                peers.join("; ")
            },
            row.target
        );
    }
}

fn fmt_value(value: f64, unit: &str) -> String {
    match unit {
        "ev/s" if value >= 1e6 => format!("{:.2}M/s", value / 1e6),
        "ev/s" => format!("{:.1}k/s", value / 1e3),
        "ms" => format!("{value:.1} ms"),
        "bytes" => format!("{value:.0} B"),
        _ => format!("{value:.2}"),
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; nothing to list.
    }
    let rounds = env_usize("BATPAK_BENCH_ROUNDS", 5);
    if std::env::var("BATPAK_BENCH_ONLY").as_deref() == Ok("segment") {
        let mut rows = Vec::new();
        segment_rows(&mut rows, rounds);
        print_table(&rows, rounds, 0);
        return;
    }
    let n = env_usize("BATPAK_BENCH_EVENTS", 200_000);
    let reopen_n = env_usize("BATPAK_BENCH_REOPEN_EVENTS", 1_000_000);
    let events = workload(n);
    let durable = &events[..DURABLE_EVENTS.min(n)];
    let mut rows = Vec::new();

    // 1. Durable append, one thread, fsync per event.
    let mut raw = Vec::new();
    let mut ours = Vec::new();
    let mut peers = vec![Vec::new(); PEERS];
    for _ in 0..rounds {
        let dir = tempdir();
        raw.push(rate(durable.len(), raw_fsync_loop(dir.path(), durable)));
        let dir = tempdir();
        let store = batpak_open(dir.path(), SyncPolicy::Always);
        let start = Instant::now();
        batpak_append_each(&store, durable);
        ours.push(rate(durable.len(), start.elapsed()));
        drop(store);
        for (kind, samples) in peers.iter_mut().enumerate() {
            let dir = tempdir();
            let mut peer = open_peer(kind, dir.path());
            let start = Instant::now();
            peer.write(durable, 1, true);
            samples.push(rate(durable.len(), start.elapsed()));
        }
    }
    let raw_median = median(raw);
    let one_thread = median(ours);
    let mut peer_rows = vec![("raw write+fdatasync".to_owned(), raw_median)];
    for (kind, samples) in peers.into_iter().enumerate() {
        let dir = tempdir();
        peer_rows.push((
            open_peer(kind, dir.path()).name().to_owned(),
            median(samples),
        ));
    }
    rows.push(Row {
        figure: format!(
            "durable append, 1 thread, fsync per event ({} events)",
            durable.len()
        ),
        batpak: one_thread,
        unit: "ev/s",
        peers: peer_rows,
        target: format!("≥ 0.85 × raw = {}", fmt_value(0.85 * raw_median, "ev/s")),
    });

    // 2. Durable append, 8 threads, each waits for durability.
    let mut per_sync = Vec::new();
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let dir = tempdir();
            let (took, syncs) = batpak_durable_threads(dir.path(), durable);
            per_sync.push(durable.len() as f64 / syncs.max(1) as f64);
            rate(durable.len(), took)
        })
        .collect();
    rows.push(Row {
        figure: format!(
            "durable append, {THREADS} threads ({} events; {:.1} per fdatasync)",
            durable.len(),
            median(per_sync)
        ),
        batpak: median(samples),
        unit: "ev/s",
        peers: Vec::new(),
        target: format!("≥ 5 × 1 thread = {}", fmt_value(5.0 * one_thread, "ev/s")),
    });

    // 3. One thread, EveryN (peers: 1,000 events per transaction); keep the
    //    stores of the last round for the replay and size rows.
    let mut ours = Vec::new();
    let mut peers = vec![Vec::new(); PEERS];
    let mut kept: Option<(tempfile::TempDir, Vec<PeerStore>)> = None;
    for _ in 0..rounds {
        let dir = tempdir();
        let store = batpak_open(
            dir.path(),
            SyncPolicy::EveryN {
                events: BATCH as u32,
                max_delay_ms: 10,
            },
        );
        let start = Instant::now();
        batpak_append_each(&store, &events);
        store.sync().unwrap();
        ours.push(rate(events.len(), start.elapsed()));
        store.close().unwrap();
        let mut peer_stores = Vec::new();
        for (kind, samples) in peers.iter_mut().enumerate() {
            let pdir = tempdir();
            let mut peer = open_peer(kind, pdir.path());
            let start = Instant::now();
            peer.write(&events, BATCH, true);
            samples.push(rate(events.len(), start.elapsed()));
            peer_stores.push((pdir, peer));
        }
        kept = Some((dir, peer_stores));
    }
    let (ours_dir, peer_stores) = kept.unwrap();
    rows.push(Row {
        figure: "append, 1 thread, EveryN (peers: 1,000 per txn)".to_owned(),
        batpak: median(ours),
        unit: "ev/s",
        peers: peer_stores
            .iter()
            .zip(peers)
            .map(|((_, p), s)| (p.name().to_owned(), median(s)))
            .collect(),
        target: "≥ 300k/s".to_owned(),
    });

    // 4. Pipelined appends (`append_pipelined`).
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let dir = tempdir();
            let store = batpak_open(
                dir.path(),
                SyncPolicy::EveryN {
                    events: BATCH as u32,
                    max_delay_ms: 10,
                },
            );
            let start = Instant::now();
            batpak_pipelined(&store, &events);
            rate(events.len(), start.elapsed())
        })
        .collect();
    rows.push(Row {
        figure: "append_pipelined, 1 thread".to_owned(),
        batpak: median(samples),
        unit: "ev/s",
        peers: Vec::new(),
        target: "≥ 1,000k/s".to_owned(),
    });

    // 4b. append_batch: one atomic call per entity (its share of the workload).
    let mut per_entity: Vec<Vec<(EventKind, Payment)>> = vec![Vec::new(); ENTITIES];
    for (i, ev) in events.iter().enumerate() {
        per_entity[i % ENTITIES].push((KIND, ev.payload.clone()));
    }
    let coords: Vec<Coordinate> = events[..ENTITIES.min(events.len())]
        .iter()
        .map(|ev| coord(ev).clone())
        .collect();
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let dir = tempdir();
            let store = batpak_open(
                dir.path(),
                SyncPolicy::EveryN {
                    events: BATCH as u32,
                    max_delay_ms: 10,
                },
            );
            let start = Instant::now();
            for (c, batch) in coords.iter().zip(&per_entity) {
                store.append_batch(c, batch, AppendOptions::new()).unwrap();
            }
            store.sync().unwrap();
            rate(events.len(), start.elapsed())
        })
        .collect();
    rows.push(Row {
        figure: format!(
            "append_batch, 1 thread, one call per entity ({} events each)",
            events.len() / ENTITIES.max(1)
        ),
        batpak: median(samples),
        unit: "ev/s",
        peers: Vec::new(),
        target: "≥ 1,000k/s".to_owned(),
    });

    // 5. Replay everything, payloads decoded.
    let store = batpak_open(ours_dir.path(), SyncPolicy::Always);
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            assert_eq!(batpak_replay(&store), events.len());
            rate(events.len(), start.elapsed())
        })
        .collect();
    store.close().unwrap();
    let store = batpak_open(ours_dir.path(), SyncPolicy::Always);
    let visitor: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let mut cents = 0_u64;
            let visited = store
                .replay::<Payment, _>(&Region::all(), |event| {
                    cents += event.payload().amount_cents;
                    std::ops::ControlFlow::Continue(())
                })
                .unwrap();
            assert_eq!(visited as usize, events.len());
            assert!(cents > 0);
            rate(events.len(), start.elapsed())
        })
        .collect();
    store.close().unwrap();
    let peer_replay: Vec<(String, f64)> = peer_stores
        .iter()
        .map(|(_, p)| {
            let s: Vec<f64> = (0..rounds)
                .map(|_| {
                    let start = Instant::now();
                    assert_eq!(p.replay(), events.len());
                    rate(events.len(), start.elapsed())
                })
                .collect();
            (p.name().to_owned(), median(s))
        })
        .collect();
    rows.push(Row {
        figure: "replay all with `Store::replay` (visitor), payloads decoded".to_owned(),
        batpak: median(visitor),
        unit: "ev/s",
        peers: peer_replay.clone(),
        target: "≥ 3M/s".to_owned(),
    });
    rows.push(Row {
        figure: "replay all with `Store::query` (owned `StoredEvent`s)".to_owned(),
        batpak: median(samples),
        unit: "ev/s",
        peers: peer_replay,
        target: "—".to_owned(),
    });

    // 6. Bytes on disk per event.
    rows.push(Row {
        figure: "bytes on disk per event".to_owned(),
        batpak: dir_bytes(ours_dir.path()) as f64 / events.len() as f64,
        unit: "bytes",
        peers: peer_stores
            .iter()
            .map(|(d, p)| {
                (
                    p.name().to_owned(),
                    dir_bytes(d.path()) as f64 / events.len() as f64,
                )
            })
            .collect(),
        target: "≤ 320 B".to_owned(),
    });
    drop(peer_stores);

    // 7. Clean reopen of a large store.
    let big = tempdir();
    {
        let store = batpak_open(big.path(), SyncPolicy::Manual);
        let template = workload(ENTITIES);
        for i in 0..reopen_n {
            let ev = &template[i % ENTITIES];
            store.append(coord(ev), KIND, &ev.payload).unwrap();
        }
        store.close().unwrap();
    }
    let samples: Vec<f64> = (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let store = batpak_open(big.path(), SyncPolicy::Always);
            let ms = start.elapsed().as_secs_f64() * 1e3;
            store.close().unwrap();
            ms
        })
        .collect();
    rows.push(Row {
        figure: format!("clean reopen of {reopen_n} events"),
        batpak: median(samples),
        unit: "ms",
        peers: Vec::new(),
        target: "≤ 100 ms".to_owned(),
    });

    // 7b. Reopen without the checkpoint (what open does after a crash): the
    //     sealed segment indexes loaded and the last segment scanned; then
    //     with the sealed indexes removed too, a full scan. Segment engine
    //     only.
    if backend() == Backend::Segment {
        let crash_open = |full_rescan: bool| -> f64 {
            let samples: Vec<f64> = (0..rounds)
                .map(|_| {
                    let _ = std::fs::remove_file(big.path().join("index.ckpt"));
                    if full_rescan {
                        for entry in std::fs::read_dir(big.path()).unwrap() {
                            let path = entry.unwrap().path();
                            if path.extension().is_some_and(|e| e == "idx") {
                                std::fs::remove_file(path).unwrap();
                            }
                        }
                    }
                    let start = Instant::now();
                    let store = batpak_open(big.path(), SyncPolicy::Always);
                    let ms = start.elapsed().as_secs_f64() * 1e3;
                    store.close().unwrap();
                    ms
                })
                .collect();
            median(samples)
        };
        rows.push(Row {
            figure: format!(
                "reopen of {reopen_n} events after a crash (sealed segment indexes + tail scan)"
            ),
            batpak: crash_open(false),
            unit: "ms",
            peers: Vec::new(),
            target: "≤ 1 s at 10M".to_owned(),
        });
        rows.push(Row {
            figure: format!("reopen of {reopen_n} events by full rescan (no sealed indexes)"),
            batpak: crash_open(true),
            unit: "ms",
            peers: Vec::new(),
            target: "—".to_owned(),
        });
        segment_rows(&mut rows, rounds);
    }

    print_table(&rows, rounds, n);
}

/// The segment engine's own rows: recovery of a torn frame, and reads by
/// the bound on open segment files.
fn segment_rows(rows: &mut Vec<Row>, rounds: usize) {
    // 8. Open after a torn max-size frame: recovery must look for a valid
    //    frame after the damage without re-checking the tail at every offset.
    let max_payload = env_usize("BATPAK_BENCH_TORN_MIB", 16) * 1024 * 1024;
    let (torn_ms, whole_ms, read_ms) = torn_max_frame_open(max_payload, rounds);
    rows.push(Row {
        figure: format!(
            "open after a torn max-size frame ({} MiB payload limit, frame cut in half)",
            max_payload >> 20
        ),
        batpak: torn_ms,
        unit: "ms",
        peers: Vec::new(),
        target: format!(
            "≈ open of the same store untorn ({}); the torn file reads in {}",
            fmt_value(whole_ms, "ms"),
            fmt_value(read_ms, "ms")
        ),
    });

    // 9. Random point reads over many segments, by the open-file bound: a
    //    bound below the segments read in turn costs an open per read.
    let (dir, ids) = many_segments_store();
    let (large, segments) = random_gets(dir.path(), &ids, 1024, rounds);
    for bound in [8, 64] {
        let (small, _) = random_gets(dir.path(), &ids, bound, rounds);
        rows.push(Row {
            figure: format!(
                "random `get` of {} events over {segments} segments, max_open_segments({bound})",
                ids.len()
            ),
            batpak: small,
            unit: "ev/s",
            peers: vec![("max_open_segments(1024)".to_owned(), large)],
            target: "—".to_owned(),
        });
    }
}
