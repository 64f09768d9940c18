//! Bad input: each a typed error, and nothing stored is damaged afterwards.

mod common;

use batpak::prelude::*;
use batpak::{BypassError, CodecError, CoordinateError};
use common::*;

fn assert_intact(store: &Store, events: u64) {
    assert_eq!(store.stats().events, events);
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn invalid_coordinates_are_refused_before_reaching_the_store() {
    assert!(matches!(
        Coordinate::new("", "s"),
        Err(CoordinateError::Empty { .. })
    ));
    assert!(matches!(
        Coordinate::new("a\0b", "s"),
        Err(CoordinateError::ControlCharacter { .. })
    ));
    assert!(matches!(
        Coordinate::new("x".repeat(1025), "s"),
        Err(CoordinateError::TooLong { .. })
    ));
}

#[test]
fn format_characters_in_a_coordinate_are_refused_before_reaching_the_store() {
    assert!(matches!(
        Coordinate::new("a\u{202e}b", "s"),
        Err(CoordinateError::FormatCharacter { index: 1, .. })
    ));
}

/// Commits one event admitted by gates named `gates` (each passes).
fn commit_gated(store: &Store, gates: &[&str]) -> Result<(), StoreError> {
    let mut set = GateSet::<(), Payload>::new();
    for name in gates {
        set.push(FnGate::new(
            (*name).to_owned(),
            |(): &(), _: &Proposal<Payload>| Ok(()),
        ));
    }
    let proposal = Proposal::new(coord("a"), KIND, payload(1));
    set.evaluate(&(), proposal)
        .unwrap()
        .commit(store)
        .map(|_| ())
}

#[test]
fn gate_names_and_bypass_texts_that_would_print_as_something_else_are_refused() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    // Gate names: the gates pass, the commit is refused.
    let cases = [
        (&["ok", "credit\nok"][..], "credit\nok", 6, 0x0A),
        (&["\u{202e}kcehc"][..], "\u{202e}kcehc", 0, 0x202E),
        (&["shop\u{feff}open"][..], "shop\u{feff}open", 4, 0xFEFF),
    ];
    for (gates, text, index, code) in cases {
        let err = commit_gated(&store, gates).unwrap_err();
        assert!(
            matches!(
                &err,
                StoreError::UnprintableAdmission { field: "gate name", text: t, index: i, code: c }
                    if t == text && *i == index && *c == code
            ),
            "{err:?}"
        );
    }
    // The message shows the text escaped, never raw.
    let err = commit_gated(&store, &["credit\nok"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"admission gate name "credit\nok" contains U+000A at byte 6, a control or format character"#
    );
    // Bypass texts: the same rule refuses them before they reach a store
    // (only the pipeline builds an admission, from a checked `Bypass`).
    let bypasses = [
        (("ops\u{200b}", "why"), "by", 3, 0x200B),
        (("ops", "r\u{2028}"), "reason", 1, 0x2028),
        (("ops", "\u{1b}[31m"), "reason", 0, 0x1B),
    ];
    for ((by, reason), field, index, code) in bypasses {
        assert_eq!(
            Bypass::new(by, reason),
            Err(BypassError::Unprintable { field, index, code }),
            "{by:?} {reason:?}"
        );
    }
    assert_intact(&store, 0);
    // Printable text of any script passes.
    commit_gated(&store, &["проверка кредита", "信用"]).unwrap();
    let audited = Bypass::new("ops:alice", "ledger outage; see INC-7").unwrap();
    batpak::bypass(&store, Proposal::new(coord("a"), KIND, payload(2)), audited).unwrap();
    assert_intact(&store, 2);
}

#[test]
fn oversized_payload_and_reserved_kind_are_refused_and_write_nothing() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path()).max_payload_bytes(1_000)).unwrap();
    store.append(&coord("a"), KIND, &payload(1)).unwrap();
    let big = "x".repeat(2_000);
    let err = store.append(&coord("a"), KIND, &big).unwrap_err();
    assert!(matches!(err, StoreError::PayloadTooLarge { max: 1_000, len } if len > 2_000));
    let err = store
        .append(&coord("a"), EventKind::new(0, 9), &payload(2))
        .unwrap_err();
    assert!(matches!(err, StoreError::ReservedKind { .. }));
    assert_intact(&store, 1);
    drop(store);
    // Reopening with a larger limit accepts larger payloads (in a new segment).
    let store = Store::open(StoreConfig::new(dir.path()).max_payload_bytes(1 << 20)).unwrap();
    store.append(&coord("a"), KIND, &big).unwrap();
    drop(store);
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert_intact(&store, 2);
}

#[test]
fn payload_version_zero_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(&coord("a"), KIND, &payload(1)).unwrap();
    let zero = AppendOptions::new().payload_version(0);
    let err = store
        .append_with(&coord("a"), KIND, &payload(2), zero)
        .unwrap_err();
    assert!(matches!(err, StoreError::PayloadVersionZero), "{err:?}");
    assert_intact(&store, 1);
}

#[test]
fn path_like_entity_is_plain_data_and_creates_no_file() {
    let root = fast_dir();
    let dir = root.path().join("store");
    let store = Store::open(StoreConfig::new(&dir)).unwrap();
    let evil = Coordinate::new("../../etc", "../passwd").unwrap();
    store.append(&evil, KIND, &payload(1)).unwrap();
    assert_eq!(
        store.stream::<Payload>(&evil).unwrap()[0].header.coordinate,
        evil
    );
    drop(store);
    let outside: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside, ["store"]);
    let mut inside: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    inside.sort();
    // BACKEND: the marker naming the engine that created the store (the
    // lock is on the directory itself, not a file); EXTENT and index.ckpt:
    // the extent record and the index checkpoint the drop wrote.
    assert_eq!(
        inside,
        ["0000000001.seg", "BACKEND", "EXTENT", "index.ckpt"]
    );
}

#[test]
fn store_path_that_is_a_file_is_refused() {
    let root = fast_dir();
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, b"hello").unwrap();
    let err = Store::open(StoreConfig::new(&file)).unwrap_err();
    assert!(matches!(err, StoreError::NotADirectory { .. }));
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");
}

#[test]
fn symlink_to_a_directory_is_followed_and_to_a_file_is_refused() {
    let root = fast_dir();
    let real = root.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = root.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let store = Store::open(StoreConfig::new(&link)).unwrap();
    store.append(&coord("a"), KIND, &payload(1)).unwrap();
    drop(store);
    assert!(real.join("0000000001.seg").exists());
    let file = root.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let file_link = root.path().join("file-link");
    std::os::unix::fs::symlink(&file, &file_link).unwrap();
    assert!(matches!(
        Store::open(StoreConfig::new(&file_link)),
        Err(StoreError::NotADirectory { .. })
    ));
}

#[test]
fn second_opener_gets_store_locked_until_the_first_closes() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let err = Store::open(StoreConfig::new(dir.path())).unwrap_err();
    assert!(matches!(err, StoreError::StoreLocked { .. }));
    assert!(matches!(
        Store::open_read_only(StoreConfig::new(dir.path())),
        Err(StoreError::StoreLocked { .. })
    ));
    store.append(&coord("a"), KIND, &payload(1)).unwrap();
    store.close().unwrap();
    let a = Store::open_read_only(StoreConfig::new(dir.path())).unwrap();
    let b = Store::open_read_only(StoreConfig::new(dir.path())).unwrap();
    assert_eq!(a.stats().events, 1);
    assert_eq!(b.stats().events, 1);
    assert!(matches!(
        Store::open(StoreConfig::new(dir.path())),
        Err(StoreError::StoreLocked { .. })
    ));
    drop((a, b));
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    assert_intact(&store, 1);
}

#[test]
fn payload_decoded_as_the_wrong_type_is_a_typed_error() {
    let dir = fast_dir();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let r = store.append(&coord("a"), KIND, &payload(1)).unwrap();
    let err = store.stream::<Vec<u64>>(&coord("a")).unwrap_err();
    assert!(matches!(err, StoreError::Codec(CodecError::Decode { .. })));
    let err = store.get::<String>(r.event_id).unwrap_err();
    assert!(matches!(err, StoreError::Codec(CodecError::Decode { .. })));
    assert_eq!(
        store.stream::<Payload>(&coord("a")).unwrap()[0].payload,
        payload(1)
    );
    assert_intact(&store, 1);
}

#[test]
fn missing_directory_without_create_is_an_io_error() {
    let root = fast_dir();
    let err = Store::open(StoreConfig::new(root.path().join("nope")).create_if_missing(false))
        .unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }));
    let err = Store::open_read_only(StoreConfig::new(root.path().join("nope"))).unwrap_err();
    assert!(matches!(err, StoreError::Io { .. }));
}
