//! Events: kinds, the byte-exact msgpack encoding of headers and payloads
//! (golden bytes), strict decoding, and the blake3 hash chain.

mod common;

use batpak::{
    Admission, CodecError, Coordinate, EventHeader, EventId, EventKind, Hash, KindError,
    decode_header, decode_payload, encode_header, encode_payload,
};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use common::{AdmissionRecord, gated_record, read_admission};

/// Lower-case hex, one space between bytes.
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Joins golden lines (one per field) into one hex string.
fn golden(lines: &[&str]) -> String {
    lines.join(" ")
}

const ID: u128 = 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10;
const CORRELATION: u128 = 0x1111_1111_1111_1111_1111_1111_1111_1111;

fn fixed_header() -> EventHeader {
    let mut h = EventHeader::new(
        EventId::from_u128(ID),
        Coordinate::new("order:1", "shop").unwrap(),
        EventKind::new(7, 1),
    );
    h.correlation = EventId::from_u128(CORRELATION);
    h.timestamp_us = 1_700_000_000_000_000;
    h.sequence = 3;
    h.position = 42;
    h.prev_hash = Hash::from_bytes([0xAB; 32]);
    h
}

const ID_BIN: &str = "c4 10 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10";
const CORRELATION_BIN: &str = "c4 10 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11 11";
const PREV_BIN: &str = "c4 20 ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab \
                        ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab ab";

// ---- golden bytes: header ------------------------------------------------------

#[test]
fn direct_header_encodes_to_pinned_bytes() {
    let expected = golden(&[
        "9b", // array of the 11 header fields (payload version and state code left out at their defaults)
        ID_BIN, // id: bin 16, big-endian
        CORRELATION_BIN, // correlation: bin 16
        "c0", // causation: nil
        "cf 00 06 0a 24 18 1e 40 00", // timestamp_us: u64 1_700_000_000_000_000
        "03", // sequence: 3
        "2a", // position: 42
        "ce 00 07 00 01", // kind: u32, category 7 << 16 | code 1
        "92 a7 6f 72 64 65 72 3a 31 a4 73 68 6f 70", // coordinate: ["order:1", "shop"]
        PREV_BIN, // prev_hash: bin 32
        "c0", // idempotency_key: nil
        "00", // admission: 0 (direct)
    ]);
    let bytes = encode_header(&fixed_header()).unwrap();
    assert_eq!(hex(&bytes), expected);
    assert_eq!(decode_header(&bytes).unwrap(), fixed_header());
}

#[test]
fn gated_header_with_causation_and_key_encodes_to_pinned_bytes() {
    let mut header = fixed_header();
    header.causation = Some(EventId::from_u128(5));
    header.idempotency_key = Some("k".to_owned());
    header.admission = gated_record(&["g"]);
    let expected = golden(&[
        "9b",
        ID_BIN,
        CORRELATION_BIN,
        "c4 10 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05", // causation: bin 16
        "cf 00 06 0a 24 18 1e 40 00",
        "03",
        "2a",
        "ce 00 07 00 01",
        "92 a7 6f 72 64 65 72 3a 31 a4 73 68 6f 70",
        PREV_BIN,
        "a1 6b",          // idempotency_key: "k"
        "92 01 91 a1 67", // admission: [1, ["g"]] (gated)
    ]);
    let bytes = encode_header(&header).unwrap();
    assert_eq!(hex(&bytes), expected);
    assert_eq!(decode_header(&bytes).unwrap(), header);
}

#[test]
fn bypassed_header_records_who_and_why_in_pinned_bytes() {
    let mut header = fixed_header();
    header.admission = common::bypassed_record("ops", "r");
    let bytes = encode_header(&header).unwrap();
    let tail = "93 02 a3 6f 70 73 a1 72"; // [2, "ops", "r"] (bypassed)
    assert!(
        hex(&bytes).ends_with(&format!("c0 {tail}")),
        "{}",
        hex(&bytes)
    );
    assert_eq!(decode_header(&bytes).unwrap(), header);
}

#[test]
fn payload_version_and_state_code_trail_the_header_only_when_not_defaults() {
    let mut header = fixed_header();
    header.admission = gated_record(&["g"]);
    let gated = "92 01 91 a1 67"; // [1, ["g"]]
    // Defaults (version 1, no state): 11 fields, nothing added.
    let plain = encode_header(&header).unwrap();
    assert!(hex(&plain).starts_with("9b "), "{}", hex(&plain));
    assert!(hex(&plain).ends_with(gated), "{}", hex(&plain));
    // A newer payload version alone: 12 fields, one byte.
    header.payload_version = 2;
    let versioned = encode_header(&header).unwrap();
    assert!(hex(&versioned).starts_with("9c "), "{}", hex(&versioned));
    assert!(hex(&versioned).ends_with(&format!("{gated} 02")));
    assert_eq!(decode_header(&versioned).unwrap(), header);
    // A machine step: version and state code, 13 fields.
    header.payload_version = 1;
    header.state_code = 0xd905;
    let stamped = encode_header(&header).unwrap();
    assert!(hex(&stamped).starts_with("9d "), "{}", hex(&stamped));
    assert!(
        hex(&stamped).ends_with(&format!("{gated} 01 cd d9 05")),
        "{}",
        hex(&stamped)
    );
    assert_eq!(decode_header(&stamped).unwrap(), header);
    assert_eq!(stamped.len(), plain.len() + 4);
}

#[test]
fn a_default_payload_version_or_state_code_written_out_is_refused() {
    // One header, one encoding: the defaults are only ever left out.
    let mut header = fixed_header();
    header.payload_version = 3;
    let mut bytes = encode_header(&header).unwrap();
    assert_eq!(bytes[0], 0x9c);
    *bytes.last_mut().unwrap() = 1; // version 1 written out
    assert!(decode_header(&bytes).is_err());
    *bytes.last_mut().unwrap() = 0; // version 0
    assert!(decode_header(&bytes).is_err());
    bytes[0] = 0x9d; // a state code of 0 written out
    bytes.pop();
    bytes.extend_from_slice(&[3, 0]);
    assert!(decode_header(&bytes).is_err());
}

#[test]
fn a_correlation_equal_to_the_id_is_stored_as_one_nil_byte() {
    let mut header = fixed_header();
    header.correlation = header.id;
    let bytes = encode_header(&header).unwrap();
    let expected_start = format!("9b {ID_BIN} c0 c0 cf");
    assert!(hex(&bytes).starts_with(&expected_start), "{}", hex(&bytes));
    assert_eq!(decode_header(&bytes).unwrap(), header);
}

#[test]
fn a_correlation_stored_explicitly_equal_to_the_id_is_refused() {
    // One header, one encoding: the default correlation is only ever nil.
    let explicit = hex(&encode_header(&fixed_header()).unwrap())
        .replace(CORRELATION_BIN, ID_BIN)
        .split(' ')
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect::<Vec<u8>>();
    let err = decode_header(&explicit).unwrap_err().to_string();
    assert!(err.contains("correlation equal to the id"), "{err}");
}

#[test]
fn admissions_in_any_other_stored_form_are_refused() {
    let stored = hex(&encode_header(&fixed_header()).unwrap());
    let base = stored.strip_suffix("00").unwrap().to_owned();
    for (admission, why) in [
        ("03", "admission tag 3"),
        ("a6 44 69 72 65 63 74", "admission"), // the variant's name
        ("92 02 a1 61", "missing a field"),    // a bypass without its reason
        ("92 07 90", "admission tag 7"),
        ("93 01 90 90", "extra fields"),
    ] {
        let bytes: Vec<u8> = format!("{base}{admission}")
            .split(' ')
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        let err = decode_header(&bytes).unwrap_err().to_string();
        assert!(err.contains(why), "{admission}: {err}");
    }
}

#[test]
fn ids_and_hashes_are_bin_not_integer_arrays() {
    assert_eq!(
        hex(&rmp_serde::to_vec(&EventId::from_u128(ID)).unwrap()),
        ID_BIN
    );
    assert_eq!(
        hex(&rmp_serde::to_vec(&Hash::from_bytes([0xAB; 32])).unwrap()),
        PREV_BIN.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    // The same 16 bytes as an array of integers is refused.
    let as_array = rmp_serde::to_vec(&ID.to_be_bytes()).unwrap();
    assert_eq!(as_array[0], 0xdc, "array 16 marker");
    assert!(rmp_serde::from_slice::<EventId>(&as_array).is_err());
    let hash_array = rmp_serde::to_vec(&[0xAB_u8; 32]).unwrap();
    assert!(rmp_serde::from_slice::<Hash>(&hash_array).is_err());
}

#[test]
fn every_width_of_integers_strings_and_lists_encodes_as_serde_encodes_it() {
    for (i, n) in [
        0u64,
        127,
        128,
        255,
        256,
        65_535,
        65_536,
        u64::from(u32::MAX),
        u64::MAX,
    ]
    .into_iter()
    .enumerate()
    {
        let len = [1usize, 31, 32, 255, 256, 1024][i % 6];
        let mut header = fixed_header();
        header.coordinate = Coordinate::new("e".repeat(len), "s".repeat(1025 - len)).unwrap();
        (header.timestamp_us, header.sequence, header.position) = (n, n / 3, n.rotate_left(9));
        header.kind = EventKind::from_u32(u32::try_from(n).unwrap_or(u32::MAX));
        header.idempotency_key = Some("k".repeat(len / 4));
        header.admission = gated_record(&["g"; 40][..(i * 5).min(40)]);
        (header.payload_version, header.state_code) = (u8::try_from(i + 1).unwrap(), 0);
        let bytes = encode_header(&header).unwrap();
        assert_eq!(bytes, rmp_serde::to_vec(&header).unwrap(), "case {i}");
        assert_eq!(decode_header(&bytes).unwrap(), header, "case {i}");
    }
}

#[test]
fn a_header_in_a_valid_form_the_encoder_does_not_write_decodes_as_serde_reads_it() {
    let header = fixed_header();
    let bytes = encode_header(&header).unwrap();
    // The id (bytes 1..19) as `bin 16` rather than `bin 8`: the same 16
    // bytes, which serde reads and the in-place reader leaves to it.
    let mut wide = vec![bytes[0], 0xc5, 0x00, 0x10];
    wide.extend_from_slice(&bytes[3..]);
    assert_eq!(decode_header(&wide).unwrap(), header);
    // A payload version in a wider integer than needed (the last field).
    let mut stamped = header.clone();
    stamped.payload_version = 3;
    let bytes = encode_header(&stamped).unwrap();
    let mut wider = bytes[..bytes.len() - 1].to_vec();
    wider.extend_from_slice(&[0xcf, 0, 0, 0, 0, 0, 0, 0, 3]);
    assert_eq!(decode_header(&wider).unwrap(), stamped);
}

#[test]
fn header_with_an_integer_array_id_is_refused() {
    let bytes = encode_header(&fixed_header()).unwrap();
    // Replace the id (bytes 1..19, `c4 10` + 16) with `dc 00 10` + 16 fixints.
    let mut forged = vec![bytes[0], 0xdc, 0x00, 0x10];
    forged.extend_from_slice(&bytes[3..19]);
    forged.extend_from_slice(&bytes[19..]);
    assert!(matches!(
        decode_header(&forged),
        Err(CodecError::Decode { what: "header", .. })
    ));
}

#[test]
fn wrong_length_id_is_refused() {
    let mut bytes = encode_header(&fixed_header()).unwrap();
    bytes[2] = 0x0f; // claims 15 bytes: the rest no longer parses as a header
    assert!(decode_header(&bytes).is_err());
}

#[test]
fn trailing_bytes_after_a_header_are_refused() {
    let mut bytes = encode_header(&fixed_header()).unwrap();
    bytes.extend_from_slice(&[0xc0, 0xc0]);
    assert!(matches!(
        decode_header(&bytes),
        Err(CodecError::TrailingBytes {
            what: "header",
            extra: 2
        })
    ));
}

#[test]
fn truncated_header_is_refused() {
    let bytes = encode_header(&fixed_header()).unwrap();
    for len in 0..bytes.len() {
        assert!(
            decode_header(&bytes[..len]).is_err(),
            "prefix of {len} bytes decoded"
        );
    }
}

#[test]
fn header_with_a_format_character_in_its_coordinate_is_refused_on_decode() {
    // U+202E is three bytes in UTF-8, like the "der" it replaces.
    let mut bytes = encode_header(&fixed_header()).unwrap();
    let at = bytes.windows(3).position(|w| w == b"der").unwrap();
    bytes[at..at + 3].copy_from_slice("\u{202e}".as_bytes());
    let err = decode_header(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Decode { what: "header", .. }));
    assert!(
        err.to_string()
            .contains("coordinate entity contains format character U+202E at byte 2"),
        "{err}"
    );
}

#[test]
fn header_with_invalid_coordinate_is_refused_on_decode() {
    let mut bytes = encode_header(&fixed_header()).unwrap();
    let at = bytes.windows(2).position(|w| w == [0xa7, b'o']).unwrap() + 1;
    bytes[at] = 0x00; // entity becomes "\0rder:1"
    let err = decode_header(&bytes).unwrap_err();
    assert!(matches!(err, CodecError::Decode { what: "header", .. }));
    assert!(
        err.to_string().contains("control character U+0000"),
        "{err}"
    );
}

// ---- golden bytes: payload -------------------------------------------------------

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Placed {
    items: u32,
    total_cents: u64,
}

#[test]
fn payload_encodes_as_map_with_field_names() {
    let bytes = encode_payload(&Placed {
        items: 3,
        total_cents: 4_200,
    })
    .unwrap();
    let expected = golden(&[
        "82",                                           // map of 2
        "a5 69 74 65 6d 73 03",                         // "items": 3
        "ab 74 6f 74 61 6c 5f 63 65 6e 74 73 cd 10 68", // "total_cents": 4200 (u16)
    ]);
    assert_eq!(hex(&bytes), expected);
    assert_eq!(
        decode_payload::<Placed>(&bytes).unwrap(),
        Placed {
            items: 3,
            total_cents: 4_200
        }
    );
}

#[test]
fn trailing_bytes_after_a_payload_are_refused() {
    let mut bytes = encode_payload(&7_u32).unwrap();
    bytes.push(0x01);
    assert!(matches!(
        decode_payload::<u32>(&bytes),
        Err(CodecError::TrailingBytes {
            what: "payload",
            extra: 1
        })
    ));
}

#[test]
fn deeply_nested_payload_is_refused_not_overflowing_the_stack() {
    // 100_000 nested one-element arrays: far deeper than MAX_DECODE_DEPTH.
    let mut bytes = vec![0x91; 100_000];
    bytes.push(0xc0);
    assert!(decode_payload::<serde::de::IgnoredAny>(&bytes).is_err());
}

// ---- hash chain ---------------------------------------------------------------

#[test]
fn hash_is_blake3() {
    // The BLAKE3 digest of the empty input, from the BLAKE3 test vectors.
    assert_eq!(
        Hash::of(b"").to_string(),
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    );
}

#[test]
fn chain_is_blake3_of_prev_then_header_then_payload() {
    let prev = Hash::from_bytes([0x01; 32]);
    let chained = Hash::chain(&prev, b"header", b"payload");
    let mut concatenated = vec![0x01; 32];
    concatenated.extend_from_slice(b"headerpayload");
    assert_eq!(chained, Hash::of(&concatenated));
}

#[test]
fn chain_over_fixed_inputs_gives_pinned_digest() {
    let header = encode_header(&fixed_header()).unwrap();
    let payload = encode_payload(&Placed {
        items: 3,
        total_cents: 4_200,
    })
    .unwrap();
    let first = Hash::chain(&Hash::ZERO, &header, &payload);
    assert_eq!(first.to_string(), GOLDEN_FIRST);
    let second = Hash::chain(&first, &header, &payload);
    assert_eq!(second.to_string(), GOLDEN_SECOND);
}

/// Pinned from this implementation, whose blake3 is checked against the
/// published vector in `hash_is_blake3` and whose chain is checked to be
/// blake3 of the concatenation in `chain_is_blake3_of_prev_then_header_then_payload`.
const GOLDEN_FIRST: &str = "2436b2cbf89009b730bcbfcd227ccfdcf3ebc4fee882acf8294112d020800759";
const GOLDEN_SECOND: &str = "00e4a20743676ffe32106a7efc199d455cdbc1fe36819e4c5cd880d9f359ddd5";

#[test]
fn genesis_is_all_zeros() {
    assert_eq!(Hash::ZERO.as_bytes(), &[0_u8; 32]);
    assert_eq!(Hash::default(), Hash::ZERO);
    let header = EventHeader::new(
        EventId::generate(),
        Coordinate::new("order:1", "shop").unwrap(),
        EventKind::new(7, 1),
    );
    assert_eq!(header.prev_hash, Hash::ZERO);
    assert_eq!(header.sequence, 1);
}

#[test]
fn identical_payloads_at_different_positions_hash_differently() {
    let payload = encode_payload(&Placed {
        items: 1,
        total_cents: 100,
    })
    .unwrap();
    let mut first = fixed_header();
    first.sequence = 1;
    first.position = 0;
    first.prev_hash = Hash::ZERO;
    let first_hash = Hash::chain(&first.prev_hash, &encode_header(&first).unwrap(), &payload);

    // The same payload, next in the stream.
    let mut second = first.clone();
    second.sequence = 2;
    second.position = 1;
    second.prev_hash = first_hash;
    let second_hash = Hash::chain(
        &second.prev_hash,
        &encode_header(&second).unwrap(),
        &payload,
    );
    assert_ne!(first_hash, second_hash);

    // Even with the same previous hash, another position alone changes the hash.
    let mut moved = first.clone();
    moved.position = 7;
    let moved_hash = Hash::chain(&moved.prev_hash, &encode_header(&moved).unwrap(), &payload);
    assert_ne!(first_hash, moved_hash);
}

#[test]
fn changing_any_input_changes_the_link() {
    let base = Hash::chain(&Hash::ZERO, b"h", b"p");
    assert_ne!(base, Hash::chain(&Hash::from_bytes([1; 32]), b"h", b"p"));
    assert_ne!(base, Hash::chain(&Hash::ZERO, b"H", b"p"));
    assert_ne!(base, Hash::chain(&Hash::ZERO, b"h", b"P"));
}

// ---- kinds -----------------------------------------------------------------------

#[test]
fn custom_kind_in_system_category_is_refused() {
    assert_eq!(
        EventKind::custom(0, 1),
        Err(KindError::ReservedCategory { category: 0 })
    );
    assert_eq!(
        EventKind::custom(0, 0),
        Err(KindError::ReservedCategory { category: 0 })
    );
    assert_eq!(EventKind::custom(1, 0), Ok(EventKind::new(1, 0)));
    assert!(EventKind::new(0, 5).is_system());
    assert!(!EventKind::custom(65_535, 65_535).unwrap().is_system());
}

#[test]
fn kind_packs_category_high_and_code_low() {
    let kind = EventKind::new(0x1234, 0x5678);
    assert_eq!(kind.to_u32(), 0x1234_5678);
    assert_eq!(hex(&rmp_serde::to_vec(&kind).unwrap()), "ce 12 34 56 78");
}

proptest! {
    #[test]
    fn kind_packing_round_trips(category in any::<u16>(), code in any::<u16>()) {
        let kind = EventKind::new(category, code);
        prop_assert_eq!(EventKind::from_u32(kind.to_u32()), kind);
        prop_assert_eq!((kind.category(), kind.code()), (category, code));
        let bytes = rmp_serde::to_vec(&kind).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<EventKind>(&bytes).unwrap(), kind);
    }

    #[test]
    fn every_u32_is_one_kind(packed in any::<u32>()) {
        prop_assert_eq!(EventKind::from_u32(packed).to_u32(), packed);
    }

    #[test]
    fn id_byte_order_is_numeric_order(a in any::<u128>(), b in any::<u128>()) {
        let ea = rmp_serde::to_vec(&EventId::from_u128(a)).unwrap();
        let eb = rmp_serde::to_vec(&EventId::from_u128(b)).unwrap();
        prop_assert_eq!(ea.cmp(&eb), a.cmp(&b));
        prop_assert_eq!(rmp_serde::from_slice::<EventId>(&ea).unwrap(), EventId::from_u128(a));
    }
}

// ---- event ids -----------------------------------------------------------------

fn now_millis() -> u64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    u64::try_from(since.as_millis()).unwrap()
}

#[test]
fn event_ids_strictly_increase_and_carry_the_time() {
    let before = now_millis();
    let ids: Vec<EventId> = (0..10_000).map(|_| EventId::generate()).collect();
    let after = now_millis();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "ids are not strictly increasing"
    );
    for id in [ids[0], ids[ids.len() - 1]] {
        assert!(
            (before..=after).contains(&id.millis()),
            "{id:?} outside {before}..={after}"
        );
    }
}

#[test]
fn event_ids_are_unique_and_ordered_across_threads() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 20_000;
    let start = EventId::generate();
    let per_thread: Vec<Vec<EventId>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                scope.spawn(|| {
                    (0..PER_THREAD)
                        .map(|_| EventId::generate())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let end = EventId::generate();
    let mut all = std::collections::HashSet::new();
    for ids in &per_thread {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "a thread saw ids go backwards"
        );
        for id in ids {
            assert!(
                start < *id && *id < end,
                "{id:?} not between ids made before and after"
            );
            assert!(all.insert(*id), "duplicate id {id:?}");
        }
    }
    assert_eq!(all.len(), THREADS * PER_THREAD);
}

// ---- any header ------------------------------------------------------------------

fn any_admission() -> impl Strategy<Value = Admission> {
    prop_oneof![
        Just(Admission::Direct),
        proptest::collection::vec("[a-z_]{1,12}", 0..4)
            .prop_map(|gates| read_admission(&AdmissionRecord::Gated { gates })),
        ("[a-z:]{1,12}", "[ -~]{1,24}")
            .prop_map(|(by, reason)| read_admission(&AdmissionRecord::Bypassed { by, reason })),
    ]
}

prop_compose! {
    fn any_header()(
        ids in any::<(u128, u128, Option<u128>)>(),
        numbers in any::<(u64, u64, u64, u32)>(),
        entity in "[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]{1,40}",
        scope in "[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]{1,40}",
        prev in any::<[u8; 32]>(),
        key in proptest::option::of("[^\\p{Cc}]{0,40}"),
        admission in any_admission(),
        stamp in prop_oneof![
            Just((1u8, 0u16)),
            (2u8..).prop_map(|v| (v, 0)),
            (1u8.., 1u16..),
        ],
    ) -> EventHeader {
        let (id, correlation, causation) = ids;
        let (timestamp_us, sequence, position, kind) = numbers;
        let coordinate = Coordinate::new(entity, scope).unwrap();
        let mut header = EventHeader::new(EventId::from_u128(id), coordinate, EventKind::from_u32(kind));
        header.correlation = EventId::from_u128(correlation);
        header.causation = causation.map(EventId::from_u128);
        header.timestamp_us = timestamp_us;
        header.sequence = sequence;
        header.position = position;
        header.prev_hash = Hash::from_bytes(prev);
        header.idempotency_key = key;
        header.admission = admission;
        (header.payload_version, header.state_code) = stamp;
        header
    }
}

/// A header as serde alone decodes it (`EventHeader`'s `Deserialize`, the
/// reference), refusing trailing bytes as `decode_header` does.
fn header_by_serde(bytes: &[u8]) -> Option<EventHeader> {
    let mut rest = bytes;
    let header = EventHeader::deserialize(&mut rmp_serde::Deserializer::new(&mut rest)).ok()?;
    rest.is_empty().then_some(header)
}

/// Bytes that mean something to msgpack or to a header: small integers,
/// markers of arrays, strings, `nil`, `bin` and wider integers.
const MARKERS: [u8; 18] = [
    0x00, 0x01, 0x02, 0x03, 0x7f, 0x90, 0x92, 0x93, 0x9b, 0x9c, 0x9d, 0xa0, 0xc0, 0xc4, 0xc5, 0xcc,
    0xcf, 0xd9,
];

/// `bytes` with one change: a byte flipped or set to a marker, the tail
/// cut, or a byte inserted (a `mutation` picks which, where and what; half
/// the changes fall in the last four bytes, where the optional fields are).
fn mutated(bytes: &[u8], mutation: (u8, usize, u8)) -> Vec<u8> {
    let (how, at, byte) = mutation;
    let at = if how & 0x80 == 0 {
        at % (bytes.len() + 1)
    } else {
        bytes.len().saturating_sub(at % 4)
    };
    let marker = MARKERS[usize::from(byte) % MARKERS.len()];
    let mut out = bytes.to_vec();
    match how % 4 {
        0 if at < out.len() => out[at] ^= byte.max(1),
        1 if at < out.len() => out[at] = marker,
        2 => out.truncate(at),
        _ => out.insert(at, marker),
    }
    out
}

proptest! {
    #[test]
    fn any_header_round_trips_and_encodes_deterministically(header in any_header()) {
        let bytes = encode_header(&header).unwrap();
        let back = decode_header(&bytes).unwrap();
        prop_assert_eq!(&back, &header);
        prop_assert_eq!(encode_header(&back).unwrap(), bytes);
    }

    /// The header writer is held to serde's bytes (`EventHeader`'s
    /// `Serialize` through rmp-serde, the reference).
    #[test]
    fn encode_header_writes_what_serde_writes(header in any_header()) {
        prop_assert_eq!(encode_header(&header).unwrap(), rmp_serde::to_vec(&header).unwrap());
    }

    /// `decode_header` reads the encoder's form in place and falls back to
    /// serde for anything else: either way it must answer exactly what
    /// serde answers, for a header and for any change to its bytes.
    #[test]
    fn decode_header_agrees_with_serde_on_headers_and_their_corruptions(
        header in any_header(),
        mutations in proptest::collection::vec(any::<(u8, usize, u8)>(), 1..64),
    ) {
        let bytes = encode_header(&header).unwrap();
        prop_assert_eq!(header_by_serde(&bytes), Some(header.clone()));
        for mutation in mutations {
            let changed = mutated(&bytes, mutation);
            prop_assert_eq!(decode_header(&changed).ok(), header_by_serde(&changed), "{:?}", mutation);
        }
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_header(&bytes);
    }
}

#[test]
fn every_single_byte_corruption_of_a_header_is_refused_or_changes_it() {
    let mut header = fixed_header();
    header.causation = Some(EventId::from_u128(5));
    header.idempotency_key = Some("key".to_owned());
    header.admission = gated_record(&["g"]);
    let bytes = encode_header(&header).unwrap();
    for at in 0..bytes.len() {
        for mask in [0x01, 0x10, 0x80, 0xFF] {
            let mut corrupt = bytes.clone();
            corrupt[at] ^= mask;
            if let Ok(decoded) = decode_header(&corrupt) {
                assert_ne!(
                    decoded, header,
                    "flip {mask:#04x} at byte {at} went unnoticed"
                );
            }
        }
    }
}
