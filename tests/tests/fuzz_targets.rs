//! The fuzz targets (`batpak::__fuzz`; cargo-fuzz runs them for long in
//! `fuzz/`), run here over seeds and deterministic mutations, so the normal
//! test command fuzzes a little on every run and replays every committed
//! seed and regression.
//!
//! Seeds: files made from a real store in this process (segments, the
//! checkpoint and positions file written by `close`, every event's header
//! and payload), and the
//! committed files in `fuzz/seeds/<target>/`. Mutations: bit flips,
//! interesting bytes, truncations, insertions, deletions, copied ranges,
//! length fields nudged or set to extremes, splices of two seeds, other
//! flags; one to three per input.
//!
//! `BATPAK_FUZZ_SEED=<n>` changes the generator's seed (default fixed, so a
//! run is repeatable), `BATPAK_FUZZ_CASES=<n>` the mutations per target. A
//! failing input is saved to the system temporary directory and its path
//! printed; copy it into `fuzz/seeds/<target>/` to keep it as a regression.
//! `BATPAK_WRITE_SEEDS=1 cargo test -p batpak-tests --test fuzz_targets`
//! rewrites the committed seeds from a fresh store; without it, a test
//! checks they still match the current format.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Instant;

use batpak::__fuzz::{self, CHECKPOINT_CRC, CHECKPOINT_EXTENT, REPAIR, RESEAL, VERIFY_ON_OPEN};
use batpak::{
    AppendOptions, Bypass, FnGate, GateSet, Proposal, Store, StoreConfig, SyncPolicy, bypass,
    encode_payload,
};
use common::*;

/// A target: its entry point, the stage that shows an input got through
/// every check before the properties, and mutations per run by default
/// (sized so the whole test stays well under 20 s in a debug build).
struct Target {
    name: &'static str,
    run: fn(&[u8]) -> &'static str,
    deepest: &'static str,
    cases: u64,
}

const FRAME: Target = Target {
    name: "frame",
    run: __fuzz::frame,
    deepest: "valid frame, header decoded",
    cases: 4_000,
};
const HEADER: Target = Target {
    name: "header",
    run: __fuzz::header,
    deepest: "decoded",
    cases: 4_000,
};
const CHECKPOINT: Target = Target {
    name: "checkpoint",
    run: __fuzz::checkpoint,
    deepest: "store opened from the checkpoint",
    cases: 1_500,
};
const RECOVERY: Target = Target {
    name: "recovery",
    run: __fuzz::recovery,
    deepest: "opened with events",
    cases: 1_500,
};
const RENDER: Target = Target {
    name: "render",
    run: __fuzz::render,
    deepest: "store rendered",
    cases: 1_500,
};

#[test]
fn frame_decoder_survives_mutated_frames() {
    run(&FRAME);
}

#[test]
fn header_decoder_survives_mutated_headers() {
    run(&HEADER);
}

#[test]
fn checkpoint_decoder_and_store_survive_mutated_checkpoints() {
    run(&CHECKPOINT);
}

#[test]
fn recovery_survives_mutated_segments() {
    run(&RECOVERY);
}

#[test]
fn cli_rendering_survives_mutated_stores_and_values() {
    run(&RENDER);
}

/// The committed seed corpora (`fuzz/seeds/<target>/seed-N`) are what a
/// fresh store gives now, up to its ids, times and hashes: the same seeds
/// of the same lengths. A format change that left them behind would have
/// cargo-fuzz start from inputs every decoder refuses at their first bytes.
/// `BATPAK_WRITE_SEEDS=1` rewrites them from a fresh store (regressions,
/// files not named `seed-N`, are kept).
#[test]
fn committed_seed_corpora_speak_the_current_format() {
    let rewrite = std::env::var_os("BATPAK_WRITE_SEEDS").is_some();
    for target in [&FRAME, &HEADER, &CHECKPOINT, &RECOVERY, &RENDER] {
        let dir = seeds_dir(target.name);
        let fresh = generated_seeds(target.name, true);
        if rewrite {
            std::fs::create_dir_all(&dir).unwrap();
            for (i, seed) in fresh.iter().enumerate() {
                std::fs::write(dir.join(format!("seed-{i}")), seed).unwrap();
            }
        }
        for (i, seed) in fresh.iter().enumerate() {
            let path = dir.join(format!("seed-{i}"));
            let committed = std::fs::read(&path).unwrap_or_default();
            assert_eq!(
                committed.len(),
                seed.len(),
                "{} is not what a store writes now (a format change?); rewrite the seeds with \
                 BATPAK_WRITE_SEEDS=1 cargo test -p batpak-tests --test fuzz_targets",
                path.display()
            );
        }
    }
}

fn run(target: &Target) {
    let seed: u64 = env_number("BATPAK_FUZZ_SEED").unwrap_or(0x5eed_f022);
    let cases = env_number("BATPAK_FUZZ_CASES").unwrap_or(target.cases);
    eprintln!("seed: BATPAK_FUZZ_SEED={seed}");
    let mut rng = Rng::new(seed ^ fnv(target.name));
    let mut seeds = generated_seeds(target.name, false);
    seeds.extend(committed_seeds(target.name));
    let started = Instant::now();
    for (i, input) in seeds.iter().enumerate() {
        run_one(target, input, &format!("seed {i}"));
    }
    let mut reached: BTreeMap<&'static str, u64> = BTreeMap::new();
    for case in 0..cases {
        let base = &seeds[rng.below(seeds.len() as u64) as usize];
        let input = mutate(&mut rng, base, &seeds);
        let stage = run_one(
            target,
            &input,
            &format!("case {case} (BATPAK_FUZZ_SEED={seed})"),
        );
        *reached.entry(stage).or_default() += 1;
    }
    eprintln!(
        "{}: {} seeds and {cases} mutations in {:?}; mutations reached {reached:?}",
        target.name,
        seeds.len(),
        started.elapsed()
    );
    assert!(
        reached.contains_key(target.deepest) || cases < 100,
        "{}: no mutation reached `{}`: the mutations stop at the first check",
        target.name,
        target.deepest
    );
}

/// Runs one input; on a panic saves it and says where before failing.
fn run_one(target: &Target, input: &[u8], what: &str) -> &'static str {
    let outcome = std::panic::catch_unwind(|| (target.run)(input));
    outcome.unwrap_or_else(|panic| {
        let path = std::env::temp_dir().join(format!(
            "batpak-fuzz-{}-{}.bin",
            target.name,
            what.split(' ').nth(1).unwrap_or("input")
        ));
        std::fs::write(&path, input).unwrap();
        eprintln!(
            "{} failed on {what}; input saved to {} (replay: `cargo +nightly fuzz run {} {}` from the workspace root)",
            target.name,
            path.display(),
            target.name,
            path.display()
        );
        std::panic::resume_unwind(panic)
    })
}

// ---- seeds ----

/// What a small real store holds, as files and parts of frames.
struct Sample {
    segments: Vec<Vec<u8>>,
    checkpoint: Vec<u8>,
    positions: Vec<u8>,
    headers: Vec<Vec<u8>>,
    payloads: Vec<Vec<u8>>,
}

/// Two segments holding a direct append, a keyed batch caused by it, a
/// gated and a bypassed commit (its reason with quotes), closed
/// cleanly so a checkpoint describes them. `small` keeps payloads tiny (the
/// committed seeds).
fn build_sample(small: bool) -> Sample {
    let dir = fast_dir();
    let config = StoreConfig::new(dir.path())
        .sync_policy(SyncPolicy::Manual)
        .segment_max_bytes(if small { 420 } else { 900 });
    let store = Store::open(config).unwrap();
    let body = |n: u64| {
        let mut p = payload(n);
        if small {
            p.note = format!("n{n}");
        }
        p
    };
    let (c1, c2, c3) = (coord("order:1"), coord("order:2"), coord("order:3"));
    let first = store.append(&c1, KIND, &body(1)).unwrap();
    let options = AppendOptions::new()
        .idempotency_key("batch-1")
        .caused_by(first.event_id);
    store
        .append_batch(&c2, &[(KIND, body(2)), (OTHER_KIND, body(3))], options)
        .unwrap();
    let gates = GateSet::new().with(FnGate::new("credit_ok", |_: &(), _: &Proposal<Payload>| {
        Ok(())
    }));
    let proposal = Proposal::new(c1.clone(), KIND, body(4));
    gates
        .evaluate(&(), proposal)
        .unwrap()
        .commit(&store)
        .unwrap();
    let why = Bypass::new("ops", "said \"go\" at night").unwrap();
    bypass(&store, Proposal::new(c3.clone(), KIND, body(5)), why).unwrap();
    for n in 6..if small { 7 } else { 10 } {
        store.append(&c3, OTHER_KIND, &body(n)).unwrap();
    }
    store.close().unwrap();
    let mut segments = Vec::new();
    for n in 1.. {
        match std::fs::read(segment_path(dir.path(), n)) {
            Ok(bytes) => segments.push(bytes),
            Err(_) => break,
        }
    }
    assert!(segments.len() >= 2, "the sample should span segments");
    let (mut headers, mut payloads) = (Vec::new(), Vec::new());
    for segment in &segments {
        for (at, len) in frames(segment) {
            // Body (FORMAT.md): header length u32, batch rest u32, header, payload.
            let body = &segment[at + FRAME_PREFIX_LEN..at + len];
            let header_len = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
            headers.push(body[8..8 + header_len].to_vec());
            payloads.push(body[8 + header_len..].to_vec());
        }
    }
    let checkpoint = std::fs::read(dir.path().join("index.ckpt")).unwrap();
    let positions = std::fs::read(dir.path().join("index.positions")).unwrap();
    Sample {
        segments,
        checkpoint,
        positions,
        headers,
        payloads,
    }
}

fn sample() -> &'static Sample {
    static SAMPLE: OnceLock<Sample> = OnceLock::new();
    SAMPLE.get_or_init(|| build_sample(false))
}

/// Seeds for `target` from a real store; `committed` picks the few small
/// ones written to `fuzz/seeds/`.
fn generated_seeds(target: &str, committed: bool) -> Vec<Vec<u8>> {
    let fresh;
    let s = if committed {
        fresh = build_sample(true);
        &fresh
    } else {
        sample()
    };
    let with = |flags: u8, parts: &[&[u8]]| {
        let mut out = vec![flags];
        parts.iter().for_each(|p| out.extend_from_slice(p));
        out
    };
    let all: Vec<u8> = s.segments.concat();
    let first = &s.segments[0];
    let frames_of = |segment: &Vec<u8>| segment[32..].to_vec();
    let mut out = match target {
        "frame" => vec![
            with(RESEAL, &[&frames_of(first)]),
            with(0, &[&frames_of(&s.segments[1])]),
        ],
        "header" => {
            let mut seeds = s.headers.clone();
            seeds.push(odd_gates_header(s));
            seeds
        }
        "checkpoint" => {
            let whole = &s.checkpoint[..];
            let without_crc = &whole[..whole.len() - 4];
            let mut seeds = Vec::new();
            for (flags, ckpt) in [
                (CHECKPOINT_CRC | CHECKPOINT_EXTENT, without_crc),
                (0, whole),
                (
                    VERIFY_ON_OPEN | CHECKPOINT_CRC | CHECKPOINT_EXTENT,
                    without_crc,
                ),
            ] {
                let len = u16::try_from(ckpt.len()).unwrap().to_le_bytes();
                let positions = &s.positions[..];
                let positions_len = u16::try_from(positions.len()).unwrap().to_le_bytes();
                seeds.push(with(flags, &[&len, ckpt, &positions_len, positions, &all]));
            }
            seeds
        }
        "recovery" => vec![
            with(RESEAL, &[&all]),
            with(0, &[&all[..all.len() - 5]]),
            with(REPAIR, &[first]),
        ],
        "render" => {
            let mut seeds = vec![with(RESEAL, &[&all]), with(0, &[&odd_gates_header(s)])];
            seeds.extend(s.payloads.iter().map(|p| with(0, &[p])));
            seeds.extend(s.headers.iter().map(|h| with(0, &[h])));
            let nested = encode_payload(&vec![(1u8, "a\tb", vec![-1.5f64]); 2]).unwrap();
            seeds.push(with(0, &[&nested]));
            seeds
        }
        other => unreachable!("no target {other}"),
    };
    if committed {
        // One of each shape is enough to start from.
        out.truncate(match target {
            "header" => 2,
            "render" => 3,
            _ => 1,
        });
    }
    out
}

/// The sample's gated header with its gate renamed `credit\nok` (the same
/// length, so nothing else moves): a dump line must stay one line.
fn odd_gates_header(s: &Sample) -> Vec<u8> {
    let gate = b"credit_ok";
    let mut header = s
        .headers
        .iter()
        .find(|h| h.windows(gate.len()).any(|w| w == gate))
        .expect("the sample has a gated event")
        .clone();
    let at = header.windows(gate.len()).position(|w| w == gate).unwrap();
    header[at + "credit".len()] = b'\n';
    header
}

fn seeds_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/seeds")
        .join(target)
}

/// The committed seeds and regressions of `target`.
fn committed_seeds(target: &str) -> Vec<Vec<u8>> {
    let Ok(entries) = std::fs::read_dir(seeds_dir(target)) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

// ---- mutations ----

/// One to three mutations of `base`.
fn mutate(rng: &mut Rng, base: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut b = base.to_vec();
    for _ in 0..1 + rng.below(3) {
        let at = |rng: &mut Rng, b: &[u8]| rng.below(b.len() as u64 + 1) as usize;
        match rng.below(10) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len() as u64) as usize;
                const INTERESTING: [u8; 9] = [0, 1, 0x7f, 0x80, 0xff, 0xc0, 0xc4, 0x9b, 0x92];
                b[i] = INTERESTING[rng.below(INTERESTING.len() as u64) as usize];
            }
            2 => b.truncate(at(rng, &b)),
            3 => {
                let i = at(rng, &b);
                let extra: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                b.splice(i..i, extra);
            }
            4 => {
                let i = at(rng, &b);
                let end = (i + 1 + rng.below(16) as usize).min(b.len());
                b.drain(i..end);
            }
            5 if !b.is_empty() => {
                let from = rng.below(b.len() as u64) as usize;
                let len = (1 + rng.below(32) as usize).min(b.len() - from);
                let chunk = b[from..from + len].to_vec();
                let to = rng.below(b.len() as u64) as usize;
                let end = (to + len).min(b.len());
                b[to..end].copy_from_slice(&chunk[..end - to]);
            }
            6 => tweak_length(rng, &mut b),
            7 => {
                let other = &seeds[rng.below(seeds.len() as u64) as usize];
                let i = at(rng, &b);
                let j = rng.below(other.len() as u64 + 1) as usize;
                b.truncate(i);
                b.extend_from_slice(&other[j..]);
            }
            8 if !b.is_empty() => b[0] = rng.next() as u8 & 0x1f,
            _ => {
                // A random count or position, little-endian, anywhere.
                let i = at(rng, &b);
                let bits = rng.below(40);
                let value = rng.below(1 << bits).to_le_bytes();
                let end = (i + 8).min(b.len());
                b[i..end].copy_from_slice(&value[..end - i]);
            }
        }
    }
    b
}

/// Nudges a frame's length field (or a header length inside its body) by a
/// little, or sets it to an extreme; any u32 when no frame is found.
fn tweak_length(rng: &mut Rng, b: &mut [u8]) {
    let mut fields = Vec::new();
    for (m, _) in b.windows(8).enumerate().filter(|(_, w)| w == b"BATPAKSG") {
        for (at, _) in frames(&b[m..]) {
            fields.push(m + at);
            fields.push(m + at + FRAME_PREFIX_LEN);
        }
    }
    let i = match fields.len() {
        0 if b.len() >= 4 => rng.below(b.len() as u64 - 3) as usize,
        0 => return,
        n => fields[rng.below(n as u64) as usize],
    };
    let old = u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let new = match rng.below(8) {
        0 => old.wrapping_add(1),
        1 => old.wrapping_sub(1),
        2 => old.wrapping_add(8),
        3 => old.wrapping_sub(8),
        4 => 0,
        5 => u32::MAX,
        6 => 1 << 31,
        _ => old.wrapping_mul(2),
    };
    b[i..i + 4].copy_from_slice(&new.to_le_bytes());
}

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.parse().ok()
}

/// FNV-1a, to give each target its own stream of mutations from one seed.
fn fnv(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
