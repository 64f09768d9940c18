//! The `batpak` command-line tool, run as a real process against real
//! stores: output, exit codes, filters, damage reports, and proof that no
//! command changes a byte of the store directory.
#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::{Mutex, MutexGuard};

use batpak::prelude::*;
use serde::Serialize;

// The same helpers as the `tests` package's, one copy: see their files.
#[path = "../../tests/tests/common/dirs.rs"]
mod dirs;
#[path = "../../tests/tests/common/segment_bytes.rs"]
mod segment_bytes;

use dirs::snapshot;
use segment_bytes::{FRAME_PREFIX_LEN, frames, replace_in_frame, reseal_frame, segment_path};

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);
const NOTE: EventKind = EventKind::new(8, 1);

#[derive(Debug, Clone, Serialize)]
struct Order {
    total_cents: u64,
    note: String,
}

fn order(total_cents: u64, note: &str) -> Order {
    Order {
        total_cents,
        note: note.to_owned(),
    }
}

/// What a run of the tool printed and returned.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }
}

/// Held while a test store is open in this process and while a child is
/// spawned. A child forked while a store's `LOCK` is open keeps that lock
/// until it execs (FORMAT.md, `LOCK`), so without this a test running in
/// parallel could make another test's closed store look locked.
static FORK_GUARD: Mutex<()> = Mutex::new(());

fn fork_guard() -> MutexGuard<'static, ()> {
    FORK_GUARD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn batpak(args: &[&str]) -> Run {
    let _guard = fork_guard();
    batpak_unguarded(args)
}

/// Runs the tool; the caller holds [`fork_guard`].
fn batpak_unguarded(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_batpak"))
        .args(args)
        .output()
        .expect("the batpak binary runs");
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs the tool and asserts the store directory is byte-identical after.
fn batpak_read_only(dir: &Path, args: &[&str]) -> Run {
    let before = snapshot(dir);
    let run = batpak(args);
    assert_eq!(
        snapshot(dir),
        before,
        "`batpak {}` changed the store",
        args.join(" ")
    );
    run
}

/// A closed store of six events over four streams, in two segments:
///
/// | pos | stream | kind | admission |
/// |---|---|---|---|
/// | 0 | order:1@shop:acme | 7:1 | direct |
/// | 1 | order:2@shop:acme | 7:1 | direct |
/// | 2 | order:1@shop:acme | 7:2 | gates=["credit_ok","shop_open"] |
/// | 3 | user:9@shop:acme | 8:1 | bypass |
/// | 4 | order:3@shop:beta | 7:1 | direct |
/// | 5 | order:2@shop:acme | 7:2 | direct |
fn build() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let _guard = fork_guard();
    let store = Store::open(StoreConfig::new(dir.path()).segment_max_bytes(700)).unwrap();
    let acme = |e: &str| Coordinate::new(e, "shop:acme").unwrap();
    store
        .append(&acme("order:1"), PLACED, &order(4_200, "first"))
        .unwrap();
    store
        .append(&acme("order:2"), PLACED, &order(100, "say \"hi\"\n"))
        .unwrap();
    let gates = GateSet::<(), Order>::new()
        .with(FnGate::new("credit_ok", |(): &(), _: &Proposal<Order>| {
            Ok(())
        }))
        .with(FnGate::new("shop_open", |(): &(), _: &Proposal<Order>| {
            Ok(())
        }));
    gates
        .evaluate(&(), Proposal::new(acme("order:1"), PAID, order(4_200, "")))
        .unwrap()
        .commit(&store)
        .unwrap();
    batpak::bypass(
        &store,
        Proposal::new(acme("user:9"), NOTE, vec![1u8, 2, 3]),
        Bypass::new("ops:alice", "ledger outage").unwrap(),
    )
    .unwrap();
    store
        .append(
            &Coordinate::new("order:3", "shop:beta").unwrap(),
            PLACED,
            &order(7, "beta"),
        )
        .unwrap();
    store
        .append(&acme("order:2"), PAID, &order(100, "paid"))
        .unwrap();
    store.close().unwrap();
    dir
}

fn path(dir: &tempfile::TempDir) -> &str {
    dir.path().to_str().unwrap()
}

/// The positions printed by a dump, in order.
fn positions(run: &Run) -> Vec<u64> {
    run.lines()
        .iter()
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn verify_prints_a_one_line_summary_and_exits_0() {
    let dir = build();
    let segments = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count();
    assert!(segments >= 2, "the store should span segments");
    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.stdout,
        format!("ok: 6 events, 4 streams, {segments} segments\n")
    );
    assert_eq!(run.stderr, "");
}

#[test]
fn stats_prints_every_field_one_per_line() {
    let dir = build();
    let run = batpak_read_only(dir.path(), &["stats", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    let names: Vec<&str> = run
        .lines()
        .iter()
        .map(|l| l.split_once(": ").unwrap().0)
        .collect();
    assert_eq!(
        names,
        [
            "events",
            "streams",
            "segments",
            "log_bytes",
            "durable_events",
            "syncs",
            "truncated_bytes",
            "opened_from_checkpoint",
            "checkpoint_discarded",
            "lost_events",
            "sealed_indexes_loaded",
            "sealed_indexes_written",
            "events_rescanned"
        ]
    );
    for line in ["events: 6", "streams: 4", "opened_from_checkpoint: true"] {
        assert!(run.lines().contains(&line), "missing {line:?} in {run:?}");
    }
}

#[test]
fn dump_shows_the_stored_payload_version_and_state_code() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _guard = fork_guard();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let coord = Coordinate::new("loan:1", "bank").unwrap();
        let stamped = AppendOptions::new().payload_version(3).state_code(40_000);
        store
            .append_with(&coord, PLACED, &order(1, "v3"), stamped)
            .unwrap();
        store.close().unwrap();
    }
    let run = batpak_read_only(dir.path(), &["dump", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.lines()[0].starts_with("0 loan:1@bank seq=1 kind=7:1 v=3 state=40000 id="),
        "{run:?}"
    );
}

#[test]
fn dump_prints_every_event_with_admission_and_payload() {
    let dir = build();
    let run = batpak_read_only(dir.path(), &["dump", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.lines();
    assert_eq!(lines.len(), 6, "{run:?}");
    assert_eq!(positions(&run), [0, 1, 2, 3, 4, 5]);

    let id = |line: &str| {
        let id = line
            .split(" id=")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        assert_eq!(id.len(), 32, "{line}");
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{line}");
        id.to_owned()
    };
    let first = lines[0].replace(&id(lines[0]), "ID");
    assert_eq!(
        first,
        r#"0 order:1@shop:acme seq=1 kind=7:1 v=1 id=ID direct {"total_cents": 4200, "note": "first"}"#
    );
    let escaped = lines[1].replace(&id(lines[1]), "ID");
    assert_eq!(
        escaped,
        r#"1 order:2@shop:acme seq=1 kind=7:1 v=1 id=ID direct {"total_cents": 100, "note": "say \"hi\"\n"}"#
    );
    assert!(
        lines[2].starts_with("2 order:1@shop:acme seq=2 kind=7:2 v=1 id="),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].ends_with(r#" gates=["credit_ok","shop_open"] {"total_cents": 4200, "note": ""}"#),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].ends_with(r#" bypass by="ops:alice" why="ledger outage" [1, 2, 3]"#),
        "{}",
        lines[3]
    );
}

#[test]
fn dump_filters_select_the_same_events_as_a_region() {
    let dir = build();
    let d = path(&dir);
    let cases: &[(&[&str], &[u64])] = &[
        (&["--entity", "order:1"], &[0, 2]),
        (&["--entity=order:2", "--scope", "shop:acme"], &[1, 5]),
        (&["--prefix", "order:"], &[0, 1, 2, 4, 5]),
        (&["--scope", "shop:beta"], &[4]),
        (&["--kind", "7:2"], &[2, 5]),
        (&["--kind", "8"], &[3]),
        (&["--kind", "7:2", "--kind", "8:1"], &[2, 3, 5]),
        (&["--from", "2", "--limit", "2"], &[2, 3]),
        (&["--prefix", "order:", "--from", "3"], &[4, 5]),
        (&["--limit", "0"], &[]),
        (&["--from", "99"], &[]),
        (&["--bypassed"], &[3]),
        (&["--bypassed", "--prefix", "order:"], &[]),
    ];
    for (filters, expected) in cases {
        let mut args = vec!["dump", d];
        args.extend_from_slice(filters);
        let run = batpak_read_only(dir.path(), &args);
        assert_eq!(run.code, 0, "{filters:?}: {run:?}");
        assert_eq!(positions(&run), *expected, "{filters:?}");
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    for args in [
        &["help"][..],
        &["--help"],
        &["-h"],
        &["dump", "x", "--help"],
    ] {
        let run = batpak(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.starts_with("batpak: "), "{run:?}");
        assert!(run.stdout.contains("usage:"), "{run:?}");
        assert!(run.stdout.contains("--bypassed"), "{run:?}");
    }
}

#[test]
fn bad_arguments_exit_2_with_usage_and_touch_nothing() {
    let dir = build();
    let d = path(&dir);
    for args in [
        &[][..],
        &["frobnicate", d],
        &["verify"],
        &["stats", d, "extra"],
        &["verify", d, "--limit", "1"],
        &["dump", d, "--limit", "many"],
        &["dump", d, "--kind", "7-1"],
        &["dump", d, "--entity", "a", "--prefix", "b"],
        &["dump", d, "--from"],
        &["dump", d, "--colour"],
    ] {
        let run = batpak_read_only(dir.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert_eq!(run.stdout, "", "{args:?}");
        assert!(run.stderr.starts_with("batpak: "), "{args:?}: {run:?}");
        assert!(run.stderr.contains("usage:"), "{args:?}: {run:?}");
    }
}

#[test]
fn a_missing_store_exits_2_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    let run = batpak(&["stats", missing.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("cannot read store"), "{run:?}");
    assert!(!missing.exists());
}

#[test]
fn a_store_held_by_a_writer_is_reported_as_locked() {
    let dir = build();
    let _guard = fork_guard();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    for command in ["verify", "stats", "dump"] {
        let run = batpak_unguarded(&[command, path(&dir)]);
        assert_eq!(run.code, 2, "{command}: {run:?}");
        assert!(run.stderr.contains("is locked"), "{command}: {run:?}");
        assert!(run.stderr.contains("writer"), "{command}: {run:?}");
    }
    store.close().unwrap();
}

/// Flips one byte inside the body of the middle frame of segment 1 and
/// returns that frame's offset.
fn damage_middle_frame(dir: &Path) -> usize {
    let file = segment_path(dir, 1);
    let mut bytes = std::fs::read(&file).unwrap();
    let frames = frames(&bytes);
    assert!(frames.len() >= 3, "segment 1 holds {} frames", frames.len());
    let (offset, _) = frames[frames.len() / 2];
    bytes[offset + FRAME_PREFIX_LEN + 10] ^= 0x40;
    std::fs::write(&file, &bytes).unwrap();
    offset
}

#[test]
fn verify_names_segment_and_offset_of_a_damaged_middle_frame() {
    let dir = build();
    let offset = damage_middle_frame(dir.path());
    // The checkpoint still matches the file lengths, so open succeeds and
    // the damage is found by verify's full rescan.
    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("damage: segment 1 offset {offset}: ")),
        "{run:?}"
    );
    assert_eq!(run.lines().len(), 1, "{run:?}");
    // Reading the damaged event is damage too, never a wrong payload.
    let run = batpak_read_only(dir.path(), &["dump", path(&dir)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("damage: segment 1 offset {offset}")),
        "{run:?}"
    );
}

#[test]
fn damage_found_while_opening_exits_1_naming_segment_and_offset() {
    let dir = build();
    // Without the checkpoint and the sealed segment indexes, open scans
    // every segment (a sealed index, like the checkpoint, is trusted when it
    // matches its segment's length; verify is what rereads the frames).
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "index.ckpt" || name.ends_with(".idx") {
            std::fs::remove_file(path).unwrap();
        }
    }
    let offset = damage_middle_frame(dir.path());
    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("damage: segment 1 offset {offset}: ")),
        "{run:?}"
    );
    for command in ["stats", "dump"] {
        let run = batpak_read_only(dir.path(), &[command, path(&dir)]);
        assert_eq!(run.code, 1, "{command}: {run:?}");
        assert_eq!(run.stdout, "", "{command}");
        assert!(
            run.stderr
                .contains(&format!("damage: segment 1 offset {offset}: ")),
            "{command}: {run:?}"
        );
    }
}

#[test]
fn verify_names_the_stream_and_sequence_where_a_chain_breaks() {
    let dir = build();
    // Rewrite the last payload byte of position 0 (order:1, sequence 1) and
    // fix its CRC: the frame is whole, but order:1's next event (position
    // 2, sequence 2) no longer links to it.
    let file = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&file).unwrap();
    let frames = frames(&bytes);
    let ((first, _), (second, _)) = (frames[0], frames[1]);
    bytes[second - 1] ^= 0x01;
    reseal_frame(&mut bytes, first);
    std::fs::write(&file, &bytes).unwrap();
    let (third, _) = frames[2];

    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stdout
            .starts_with(&format!("damage: segment 1 offset {third}: ")),
        "{run:?}"
    );
    assert!(
        run.stdout
            .ends_with("(entity order:1@shop:acme, sequence 2)\n"),
        "{run:?}"
    );
}

#[test]
fn a_torn_tail_is_reported_but_not_cut() {
    let dir = build();
    std::fs::remove_file(dir.path().join("index.ckpt")).unwrap();
    let segments = snapshot(dir.path())
        .iter()
        .filter(|(name, _)| Path::new(name).extension() == Some("seg".as_ref()))
        .count();
    let last = segment_path(dir.path(), u32::try_from(segments).unwrap());
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[0xAB; 13]);
    std::fs::write(&last, &bytes).unwrap();
    let run = batpak_read_only(dir.path(), &["stats", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.lines().contains(&"truncated_bytes: 13"), "{run:?}");
    assert!(run.lines().contains(&"events: 6"), "{run:?}");
    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("ok: 6 events"), "{run:?}");
}

/// A gate name that would forge a second dump line if printed raw.
const FORGING_GATE: &str = "credit\n9 forged@line seq=1 kind=7:1 v=1 id=00 direct null";
/// A gate name that would print reversed.
const REVERSED_GATE: &str = "\u{202e}kcehc";
/// A bypass `by` with invisible characters and a line separator.
const HIDDEN_BY: &str = "ops\u{200b}:alice\u{2028}";
/// A bypass `why` with a carriage return, a BOM and a terminal escape.
const ESCAPING_WHY: &str = "outage\r\n\u{feff}\u{1b}[31mred";

/// A store holding every kind of text a dump line could be misread by:
///
/// | pos | stream | admission | payload note |
/// |---|---|---|---|
/// | 0 | (`a@b`, `c`) | direct | newline, bidi override, zero width space |
/// | 1 | (`a`, `b@c`) | gates [`FORGING_GATE`], [`REVERSED_GATE`] | - |
/// | 2 | (`order 1`, `shop acme`) | bypass by [`HIDDEN_BY`] why [`ESCAPING_WHY`] | - |
///
/// The store refuses such gate names and bypass texts
/// (`StoreError::UnprintableAdmission`), so they are written as harmless
/// placeholders of the same length and then put in place byte for byte,
/// as a store written by an older build or by hand would hold them. Each
/// stream has one event and the checkpoint is removed, so the store is
/// whole: `verify` finds nothing wrong with it.
fn build_misleading() -> tempfile::TempDir {
    let placeholder = |fill: char, text: &str| fill.to_string().repeat(text.len());
    let dir = tempfile::tempdir().unwrap();
    let _guard = fork_guard();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store
        .append(
            &Coordinate::new("a@b", "c").unwrap(),
            PLACED,
            &order(1, "line\nbreak \u{202e}evil\u{200b}"),
        )
        .unwrap();
    let gates = GateSet::<(), Order>::new()
        .with(FnGate::new(
            placeholder('G', FORGING_GATE),
            |(): &(), _: &Proposal<Order>| Ok(()),
        ))
        .with(FnGate::new(
            placeholder('H', REVERSED_GATE),
            |(): &(), _: &Proposal<Order>| Ok(()),
        ));
    let gated = Proposal::new(Coordinate::new("a", "b@c").unwrap(), PAID, order(2, ""));
    gates.evaluate(&(), gated).unwrap().commit(&store).unwrap();
    batpak::bypass(
        &store,
        Proposal::new(
            Coordinate::new("order 1", "shop acme").unwrap(),
            NOTE,
            vec![1u8],
        ),
        Bypass::new(placeholder('B', HIDDEN_BY), placeholder('W', ESCAPING_WHY)).unwrap(),
    )
    .unwrap();
    store.close().unwrap();
    std::fs::remove_file(dir.path().join("index.ckpt")).unwrap();
    let file = segment_path(dir.path(), 1);
    let mut bytes = std::fs::read(&file).unwrap();
    for (fill, text) in [
        ('G', FORGING_GATE),
        ('H', REVERSED_GATE),
        ('B', HIDDEN_BY),
        ('W', ESCAPING_WHY),
    ] {
        replace_in_frame(
            &mut bytes,
            placeholder(fill, text).as_bytes(),
            text.as_bytes(),
        );
    }
    std::fs::write(&file, &bytes).unwrap();
    dir
}

#[test]
fn dump_prints_one_line_per_event_with_every_stored_string_escaped() {
    let dir = build_misleading();
    let run = batpak_read_only(dir.path(), &["verify", path(&dir)]);
    assert_eq!(
        run.stdout, "ok: 3 events, 3 streams, 1 segments\n",
        "{run:?}"
    );

    let run = batpak_read_only(dir.path(), &["dump", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    // One line per event, and nothing in the output that breaks a line,
    // drives a terminal, hides or reorders text: every character the
    // coordinate rules refuse is escaped.
    assert_eq!(run.stdout.split_terminator('\n').count(), 3, "{run:?}");
    let refused = |c: char| Coordinate::new(c.to_string(), "s").is_err();
    for line in run.stdout.split_terminator('\n') {
        assert!(!line.contains(refused), "{line}");
    }
    let lines = run.lines();
    assert!(
        lines[0].starts_with(r#"0 "a@b"@c seq=1 kind=7:1 v=1 id="#),
        "{}",
        lines[0]
    );
    assert!(
        lines[0]
            .ends_with(r#" direct {"total_cents": 1, "note": "line\nbreak \u{202e}evil\u{200b}"}"#),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].starts_with(r#"1 a@"b@c" seq=1 kind=7:2 v=1 id="#),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(
            r#" gates=["credit\n9 forged@line seq=1 kind=7:1 v=1 id=00 direct null","\u{202e}kcehc"] {"total_cents": 2, "note": ""}"#
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with(r#"2 "order 1"@"shop acme" seq=1 kind=8:1 v=1 id="#),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].ends_with(
            r#" bypass by="ops\u{200b}:alice\u{2028}" why="outage\r\n\u{feff}\u{1b}[31mred" [1]"#
        ),
        "{}",
        lines[2]
    );
    // Filters take the parts as they are, not as they are displayed.
    let run = batpak_read_only(dir.path(), &["dump", path(&dir), "--entity", "order 1"]);
    assert_eq!(positions(&run), [2]);
}

/// Rewrites the payload of the store's last event (position 5, the last of
/// order:2) so it is no msgpack value at all, with a correct CRC.
fn rewrite_last_payload(dir: &Path) {
    let segments = snapshot(dir)
        .iter()
        .filter(|(name, _)| Path::new(name).extension() == Some("seg".as_ref()))
        .count();
    let file = segment_path(dir, u32::try_from(segments).unwrap());
    let mut bytes = std::fs::read(&file).unwrap();
    let (at, _) = *frames(&bytes).last().unwrap();
    let body = at + FRAME_PREFIX_LEN;
    let header_len = u32::from_le_bytes(bytes[body..body + 4].try_into().unwrap()) as usize;
    // 0xc1 is the one byte msgpack never uses.
    bytes[body + 8 + header_len] = 0xc1;
    reseal_frame(&mut bytes, at);
    std::fs::write(&file, &bytes).unwrap();
}

#[test]
fn dump_shows_every_other_event_when_one_payload_is_not_msgpack() {
    let dir = build();
    rewrite_last_payload(dir.path());
    let run = batpak_read_only(dir.path(), &["dump", path(&dir)]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(positions(&run), [0, 1, 2, 3, 4, 5]);
    let lines = run.lines();
    assert!(
        lines[5].starts_with("5 order:2@shop:acme seq=2 kind=7:2 v=1 id="),
        "{run:?}"
    );
    assert!(
        lines[5].contains(" direct <undecodable payload: "),
        "{run:?}"
    );
    assert!(lines[4].ends_with(r#"{"total_cents": 7, "note": "beta"}"#));
    assert!(run.stderr.contains("1 payload is not"), "{run:?}");
    // Filters still apply on the slow path.
    let run = batpak_read_only(dir.path(), &["dump", path(&dir), "--entity", "order:2"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(positions(&run), [1, 5]);
}

#[test]
fn dump_into_a_closed_pipe_stops_quietly() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let dir = tempfile::tempdir().unwrap();
    let _guard = fork_guard();
    {
        let store =
            Store::open(StoreConfig::new(dir.path()).sync_policy(SyncPolicy::Manual)).unwrap();
        let coord = Coordinate::new("order:1", "shop:acme").unwrap();
        // Far more output than a pipe buffers, so writing must hit the
        // closed pipe.
        let note = "x".repeat(200);
        for i in 0..3_000 {
            store.append(&coord, PLACED, &order(i, &note)).unwrap();
        }
        store.close().unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_batpak"))
        .args(["dump", path(&dir)])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("0 order:1@shop:acme seq=1 "), "{first}");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stderr).unwrap(), "");
}

/// A machine with a timer, for `batpak timers`.
mod lease {
    use batpak::prelude::*;
    use serde::{Deserialize, Serialize};

    #[derive(StateMachine, Debug, Serialize, Deserialize)]
    #[machine(states(Free, Held, Released, Lapsed), initial = Free, terminal(Released, Lapsed))]
    pub enum Lease {
        #[transition(Free -> Held)]
        Taken,
        #[transition(Held -> Released)]
        Released,
        #[transition(Held -> Lapsed, after = "1h")]
        Lapsed,
    }
}

#[test]
fn timers_lists_pending_timers_soonest_first_and_leaves_out_the_settled() {
    use lease::Lease;
    let dir = tempfile::tempdir().unwrap();
    let lease = |n: u32| Coordinate::new(format!("lease:{n}"), "desk").unwrap();
    let taken_at = {
        let _guard = fork_guard();
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        for n in [1, 2] {
            Lease::submit(&store, &lease(n), Lease::Taken).unwrap();
        }
        // The scheduler records the machine's timer table when it starts.
        drop(batpak::Timers::<Lease>::new(&store).unwrap());
        Lease::submit(&store, &lease(2), Lease::Released).unwrap();
        Lease::submit(&store, &lease(3), Lease::Taken).unwrap();
        let taken_at: Vec<(u64, String)> = [1, 3]
            .map(|n| {
                let taken = &store.stream::<Lease>(&lease(n)).unwrap()[0];
                (taken.header.timestamp_us, taken.header.id.to_string())
            })
            .into();
        store.close().unwrap();
        taken_at
    };
    let run = batpak_read_only(dir.path(), &["timers", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.lines();
    assert_eq!(lines.len(), 2, "lease:2 was released: {run:?}");
    for (line, (n, (at, id))) in lines.iter().zip([1, 3].iter().zip(&taken_at)) {
        let due = at + 3_600 * 1_000_000;
        let expected = format!("{due} \"Lease\" \"Lapsed\" lease:{n}@desk entered={id} (");
        assert!(line.starts_with(&expected), "{line:?} vs {expected:?}");
        assert!(
            line.contains("(in 59m") || line.contains("(in 1h"),
            "{line:?}"
        );
    }
}

#[test]
fn timers_on_a_store_without_a_scheduler_lists_nothing() {
    let dir = build();
    let run = batpak_read_only(dir.path(), &["timers", path(&dir)]);
    assert_eq!((run.code, run.stdout.as_str()), (0, ""), "{run:?}");
}

#[test]
fn export_ndjson_writes_one_json_object_per_selected_event() {
    let dir = build();
    let run = batpak_read_only(dir.path(), &["export", path(&dir), "--ndjson"]);
    assert_eq!(run.code, 0, "{run:?}");
    let lines = run.lines();
    assert_eq!(lines.len(), 6, "{run:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with('{') && l.ends_with('}') && l.is_ascii())
    );
    assert!(
        lines[1].starts_with(
            r#"{"position":1,"entity":"order:2","scope":"shop:acme","sequence":1,"kind":"7:1","category":7,"code":1,"id":""#
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[1].ends_with(
            r#""admission":{"direct":true},"payload":{"total_cents":100,"note":"say \"hi\"\n"}}"#
        ),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(r#""admission":{"gates":["credit_ok","shop_open"]}"#),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains(
            r#""admission":{"bypass":{"by":"ops:alice","reason":"ledger outage"}},"payload":[1,2,3]"#
        ),
        "{}",
        lines[3]
    );
    // The dump filters select the same events.
    let beta = batpak_read_only(
        dir.path(),
        &["export", path(&dir), "--ndjson", "--scope", "shop:beta"],
    );
    assert_eq!(beta.lines().len(), 1, "{beta:?}");
    assert!(beta.stdout.contains(r#""entity":"order:3""#), "{beta:?}");
}

#[test]
fn export_without_a_format_is_a_usage_error() {
    let dir = build();
    let run = batpak_read_only(dir.path(), &["export", path(&dir)]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("export needs a format: --ndjson"),
        "{run:?}"
    );
}

/// Waits for `child` to exit (it should, once it printed what it was asked
/// for); kills it and fails after a minute rather than hanging the suite.
fn wait_or_kill(mut child: std::process::Child) -> std::process::Output {
    for _ in 0..600 {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    panic!(
        "tail did not stop; it printed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn tail_follows_a_store_while_its_writer_appends_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let guard = fork_guard();
    let store = Store::open(StoreConfig::new(dir.path()).segment_max_bytes(700)).unwrap();
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    store.append(&coord, PLACED, &order(1, "before")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_batpak"))
        .args(["tail", path(&dir), "--limit", "12", "--kind", "7:1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(guard);
    // The writer keeps the lock and appends while tail runs: a batch, then
    // enough single events to rotate segments, and a kind tail filters out.
    let batch: Vec<(EventKind, Order)> = (2..=4).map(|n| (PLACED, order(n, "batch"))).collect();
    store
        .append_batch(&coord, &batch, AppendOptions::default())
        .unwrap();
    for n in 5..=13 {
        store.append(&coord, PLACED, &order(n, "live")).unwrap();
        store.append(&coord, NOTE, &order(n, "note")).unwrap();
    }
    let out = wait_or_kill(child);
    assert!(store.stats().segments > 1, "the log rotated");
    store.close().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let totals: Vec<String> = stdout
        .lines()
        .map(|l| {
            assert!(l.contains("kind=7:1"), "{l}");
            l.split("\"total_cents\": ")
                .nth(1)
                .unwrap()
                .split(',')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (1..=12).map(|n: u64| n.to_string()).collect();
    assert_eq!(
        totals, expected,
        "every event once, in order, across segments"
    );
}

#[test]
fn tail_shows_no_half_written_frame() {
    let dir = build();
    let last = (1..)
        .take_while(|n| segment_path(dir.path(), *n).exists())
        .last()
        .unwrap();
    let seg = segment_path(dir.path(), last);
    let mut bytes = std::fs::read(&seg).unwrap();
    let frames = frames(&bytes);
    let (last_offset, _) = *frames.last().unwrap();
    // Cut the last frame in half: what a reader sees mid-write.
    bytes.truncate(last_offset + FRAME_PREFIX_LEN + 3);
    std::fs::write(&seg, &bytes).unwrap();
    let run = batpak_read_only(dir.path(), &["tail", path(&dir), "--limit", "5"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        positions(&run),
        [0, 1, 2, 3, 4],
        "the half frame is not shown"
    );
}

// ---- machines: the catalog, explain, machines, dump by name, report ----

/// The lending desk the loan's gate reads.
struct Desk {
    authority_cents: u64,
}

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[machine(
    states(Draft, Submitted, Approved, Disbursed),
    initial = Draft,
    terminal(Disbursed),
    gates(within_authority),
    context = Desk,
)]
enum Loan {
    #[transition(Draft -> Submitted)]
    Submitted { requested_cents: u64 },
    #[transition(Submitted -> Approved)]
    Approved { officer: String, amount_cents: u64 },
    #[transition(Approved -> Disbursed)]
    Disbursed { amount_cents: u64 },
}

/// An approval stays within the desk's authority.
#[gate(Loan::Approved)]
fn within_authority(desk: &Desk, event: &Loan) -> bool {
    matches!(event, Loan::Approved { amount_cents, .. } if *amount_cents <= desk.authority_cents)
}

/// A closed store of three loans: loan:1 disbursed, loan:2 approved through
/// a bypass (above the desk's authority), loan:3 submitted.
fn build_loans() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let _guard = fork_guard();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let desk = Desk {
        authority_cents: 100_000,
    };
    let loan = |n: u32| Coordinate::new(format!("loan:{n}"), "bank:acme").unwrap();
    for n in 1..=3 {
        Loan::submit(
            &store,
            &desk,
            &loan(n),
            Loan::Submitted {
                requested_cents: 50_000 * u64::from(n),
            },
        )
        .unwrap();
    }
    let approve = |amount_cents| Loan::Approved {
        officer: "bob".to_owned(),
        amount_cents,
    };
    Loan::submit(&store, &desk, &loan(1), approve(40_000)).unwrap();
    Loan::submit(
        &store,
        &desk,
        &loan(1),
        Loan::Disbursed {
            amount_cents: 40_000,
        },
    )
    .unwrap();
    batpak::bypass(
        &store,
        Proposal::new(loan(2), Loan::APPROVED, approve(150_000)).expect(ExpectedVersion::Exact(1)),
        Bypass::new("ops:alice", "board approved <above authority>").unwrap(),
    )
    .unwrap();
    store.close().unwrap();
    dir
}

#[test]
fn machines_lists_each_machine_with_entities_per_state() {
    let dir = build_loans();
    let run = batpak_read_only(dir.path(), &["machines", path(&dir)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        run.lines(),
        [
            &*format!(
                "Loan (category {}, 3 variants, gates within_authority): 3 entities",
                Loan::CATEGORY
            ),
            "  Draft            0",
            "  Submitted        1",
            "  Approved         1",
            "  Disbursed        1",
        ]
    );
}

#[test]
fn explain_tells_an_entitys_story_with_gates_bypasses_and_states() {
    let dir = build_loans();
    let run = batpak_read_only(dir.path(), &["explain", path(&dir), "loan:2"]);
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    assert!(
        out.starts_with("loan:2@bank:acme: Loan, 2 events, state Approved\n"),
        "{out}"
    );
    assert!(
        out.contains("Loan::Submitted { requested_cents: 100000 }"),
        "{out}"
    );
    assert!(
        out.contains("admitted by gates: \"within_authority\"") || out.contains("admitted: gated"),
        "{out}"
    );
    assert!(out.contains("state: Draft -> Submitted"), "{out}");
    assert!(
        out.contains("Loan::Approved { officer: \"bob\", amount_cents: 150000 }"),
        "{out}"
    );
    assert!(
        out.contains("BYPASSED by \"ops:alice\" because \"board approved <above authority>\""),
        "{out}"
    );
    assert!(out.contains("state: Submitted -> Approved"), "{out}");
    assert!(
        out.contains("states: Draft  Submitted  [Approved]  Disbursed"),
        "{out}"
    );
    assert!(
        out.contains("Submitted --Approved--> Approved   <- here"),
        "{out}"
    );
    let missing = batpak_read_only(dir.path(), &["explain", path(&dir), "loan:404"]);
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(
        missing.stderr.contains("no events for entity \"loan:404\""),
        "{missing:?}"
    );
}

#[test]
fn dump_takes_kinds_by_machine_and_variant_name() {
    let dir = build_loans();
    let run = batpak_read_only(
        dir.path(),
        &["dump", path(&dir), "--kind", "Loan::Approved"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.lines().len(), 2, "{run:?}");
    assert!(
        run.lines()
            .iter()
            .all(|l| l.contains(&format!("kind={}", Loan::APPROVED)))
    );
    let all = batpak_read_only(dir.path(), &["dump", path(&dir), "--kind", "Loan"]);
    assert_eq!(all.lines().len(), 6, "{all:?}");
    let unknown = batpak_read_only(
        dir.path(),
        &["dump", path(&dir), "--kind", "Loan::Rejected"],
    );
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown.stderr.contains(
            "machine Loan has no variant \"Rejected\" (it has: Submitted, Approved, Disbursed)"
        ),
        "{unknown:?}"
    );
    let none = batpak_read_only(
        dir.path(),
        &["dump", path(&dir), "--kind", "Lone::Approved"],
    );
    assert!(
        none.stderr
            .contains("no machine named \"Lone\" in the store's catalog (it has: Loan)"),
        "{none:?}"
    );
}

#[test]
fn report_writes_one_self_contained_page_and_nothing_else() {
    let dir = build_loans();
    let out_dir = tempfile::tempdir().unwrap();
    let page = out_dir.path().join("report.html");
    let run = batpak_read_only(
        dir.path(),
        &["report", path(&dir), "-o", page.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for absent in ["<script", "http://", "https://", "src=", "<link"] {
        let outside_svg_ns = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
        assert!(!outside_svg_ns.contains(absent), "the page holds {absent}");
    }
    assert!(html.contains("<svg"), "an inline diagram");
    assert!(html.contains("data-state=\"Approved\">1</td>"));
    assert!(
        html.contains("board approved &lt;above authority&gt;"),
        "escaped"
    );
    assert!(html.contains("<h2>Bypasses (1)</h2>"));
    // Six loan events and the catalog record.
    assert!(html.contains("class=\"ok\">ok: 7 events"), "verify result");
}

/// Set by `.ci/run`: the browser test must run, not skip.
const REQUIRE_CHROMIUM: &str = "BATPAK_REQUIRE_CHROMIUM";

/// Runs headless Chromium with the flags that keep it off the network and
/// out of any profile, and returns its stdout; `None` when it is not
/// installed (and not required).
fn chromium(args: &[&str]) -> Option<String> {
    let profile = tempfile::tempdir().unwrap();
    let user_data = format!("--user-data-dir={}", profile.path().display());
    let mut command = Command::new("chromium");
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &user_data,
        ])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = match command.spawn() {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var_os(REQUIRE_CHROMIUM).is_none(),
                "{REQUIRE_CHROMIUM} is set but chromium is not installed"
            );
            return None;
        }
        Err(e) => panic!("cannot run chromium: {e}"),
    };
    let out = wait_or_kill(child);
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

#[test]
fn the_report_renders_in_a_real_browser_with_diagrams_counts_and_bypasses() {
    let dir = build_loans();
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/batpak-report");
    std::fs::create_dir_all(&target).unwrap();
    let page = target.join("report.html");
    let run = batpak_read_only(
        dir.path(),
        &["report", path(&dir), "-o", page.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let url = format!("file://{}", page.canonicalize().unwrap().display());
    let _guard = fork_guard();
    let Some(dom) = chromium(&["--dump-dom", &url]) else {
        eprintln!(
            "SKIPPED the_report_renders_in_a_real_browser: chromium is not installed. \
             Install it (`apt-get install -y chromium`) and rerun \
             `cargo test -p batpak --features cli --test cli report`; \
             `.ci/run` sets {REQUIRE_CHROMIUM}=1 so CI fails instead of skipping."
        );
        return;
    };
    // The DOM as the browser built it from the page.
    assert!(dom.contains("<svg"), "{dom}");
    assert!(
        dom.contains("aria-label=\"state diagram of Loan\""),
        "{dom}"
    );
    for (state, n) in [
        ("Draft", 0),
        ("Submitted", 1),
        ("Approved", 1),
        ("Disbursed", 1),
    ] {
        assert!(
            dom.contains(&format!("data-state=\"{state}\">{n}</td>")),
            "count of {state}: {dom}"
        );
    }
    assert!(dom.contains("<h2>Bypasses (1)</h2>"), "{dom}");
    assert!(
        dom.contains("board approved &lt;above authority&gt;"),
        "{dom}"
    );
    assert!(dom.contains("ok: 7 events"), "{dom}");
    let shot = target.join("report.png");
    let _ = std::fs::remove_file(&shot);
    let screenshot = format!("--screenshot={}", shot.display());
    chromium(&["--window-size=1200,1000", &screenshot, &url]).unwrap();
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "a PNG screenshot at {}",
        shot.display()
    );
}
