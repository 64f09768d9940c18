//! Coordinate validation: each rule refuses with exact data, the same rules
//! run when a coordinate is decoded from msgpack, and every valid coordinate
//! survives a msgpack round trip.

use batpak::{Coordinate, CoordinateError, CoordinatePart, MAX_COORDINATE_PART_LEN};
use proptest::collection::vec;
use proptest::prelude::*;

use CoordinatePart::{Entity, Scope};

#[test]
fn empty_parts_are_refused_naming_the_part() {
    assert_eq!(
        Coordinate::new("", "shop:acme"),
        Err(CoordinateError::Empty { part: Entity })
    );
    assert_eq!(
        Coordinate::new("order:1", ""),
        Err(CoordinateError::Empty { part: Scope })
    );
}

#[test]
fn entity_checked_before_scope() {
    assert_eq!(
        Coordinate::new("", ""),
        Err(CoordinateError::Empty { part: Entity })
    );
}

#[test]
fn too_long_part_is_refused_with_length_and_limit() {
    let long = "e".repeat(2000);
    assert_eq!(
        Coordinate::new(long, "shop"),
        Err(CoordinateError::TooLong {
            part: Entity,
            len: 2000,
            max: 1024
        })
    );
    assert_eq!(
        Coordinate::new("order:1", "s".repeat(1025)),
        Err(CoordinateError::TooLong {
            part: Scope,
            len: 1025,
            max: 1024
        })
    );
}

#[test]
fn length_limit_is_inclusive_and_counts_bytes_not_chars() {
    assert_eq!(MAX_COORDINATE_PART_LEN, 1024);
    assert!(Coordinate::new("e".repeat(1024), "s".repeat(1024)).is_ok());
    // 513 two-byte characters: 513 chars, 1026 bytes.
    assert_eq!(
        Coordinate::new("é".repeat(513), "shop"),
        Err(CoordinateError::TooLong {
            part: Entity,
            len: 1026,
            max: 1024
        })
    );
}

#[test]
fn nul_is_refused_with_its_byte_offset() {
    assert_eq!(
        Coordinate::new("order\0x", "shop"),
        Err(CoordinateError::ControlCharacter {
            part: Entity,
            index: 5,
            code: 0
        })
    );
}

#[test]
fn every_control_character_is_refused() {
    let cases = [
        ("\tindent", 0, 0x09),
        ("line\n", 4, 0x0A),
        ("bell\u{7}", 4, 0x07),
        ("del\u{7f}", 3, 0x7F),
        // C1 control after a two-byte character: the offset is in bytes.
        ("é\u{85}", 2, 0x85),
        ("esc\u{1b}[31m", 3, 0x1B),
    ];
    for (scope, index, code) in cases {
        assert_eq!(
            Coordinate::new("order:1", scope),
            Err(CoordinateError::ControlCharacter {
                part: Scope,
                index,
                code
            }),
            "scope {scope:?}"
        );
    }
}

#[test]
fn printable_unicode_and_spaces_are_accepted() {
    let coord = Coordinate::new("заказ: 507 🧾", "магазин/acme").unwrap();
    assert_eq!(coord.entity(), "заказ: 507 🧾");
    assert_eq!(coord.scope(), "магазин/acme");
}

#[test]
fn errors_read_as_sentences_with_the_data() {
    let too_long = Coordinate::new("e".repeat(2000), "s").unwrap_err();
    assert_eq!(
        too_long.to_string(),
        "coordinate entity is 2000 bytes long; the maximum is 1024"
    );
    let nul = Coordinate::new("a", "b\0").unwrap_err();
    assert_eq!(
        nul.to_string(),
        "coordinate scope contains control character U+0000 at byte 1"
    );
    assert_eq!(
        Coordinate::new("", "s").unwrap_err().to_string(),
        "coordinate entity is empty"
    );
}

#[test]
fn coordinate_encodes_as_a_two_string_array() {
    let coord = Coordinate::new("o:1", "s").unwrap();
    let bytes = rmp_serde::to_vec(&coord).unwrap();
    assert_eq!(bytes, [0x92, 0xA3, b'o', b':', b'1', 0xA1, b's']);
}

#[test]
fn decoding_an_invalid_coordinate_from_msgpack_is_refused() {
    let invalid = [
        ("", "shop"),
        ("order:1", ""),
        ("order\0", "shop"),
        ("order:1", "shop\u{85}"),
    ];
    for (entity, scope) in invalid {
        let bytes = rmp_serde::to_vec(&(entity, scope)).unwrap();
        let decoded = rmp_serde::from_slice::<Coordinate>(&bytes);
        assert!(decoded.is_err(), "decoded {entity:?} @ {scope:?}");
    }
    let long = rmp_serde::to_vec(&("e".repeat(2000), "shop")).unwrap();
    let err = rmp_serde::from_slice::<Coordinate>(&long).unwrap_err();
    assert!(err.to_string().contains("2000 bytes long"), "{err}");
}

/// Characters biased towards the edge cases: controls, DEL, C1, multi-byte.
fn edgy_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        1 => (0_u32..0x20).prop_map(|c| char::from_u32(c).unwrap()),
        1 => (0x7F_u32..=0x9F).prop_map(|c| char::from_u32(c).unwrap()),
        2 => proptest::char::range('a', 'z'),
    ]
}

fn valid_part() -> impl Strategy<Value = String> {
    "[^\\p{Cc}]{1,64}"
}

proptest! {
    #[test]
    fn valid_coordinates_round_trip_through_msgpack(entity in valid_part(), scope in valid_part()) {
        let coord = Coordinate::new(entity.clone(), scope.clone()).unwrap();
        let bytes = rmp_serde::to_vec(&coord).unwrap();
        let back: Coordinate = rmp_serde::from_slice(&bytes).unwrap();
        prop_assert_eq!(back.entity(), entity.as_str());
        prop_assert_eq!(back.scope(), scope.as_str());
        prop_assert_eq!(back, coord);
    }

    #[test]
    fn new_accepts_exactly_the_strings_the_rules_allow(
        chars in vec(edgy_char(), 0..12),
        repeat in prop_oneof![Just(1_usize), Just(100), Just(300)],
    ) {
        let entity: String = chars.iter().collect::<String>().repeat(repeat);
        let allowed = !entity.is_empty()
            && entity.len() <= MAX_COORDINATE_PART_LEN
            && !entity.chars().any(char::is_control);
        let result = Coordinate::new(entity.clone(), "scope");
        prop_assert_eq!(result.is_ok(), allowed, "entity {:?}", entity);
        // Decoding obeys the same rules as constructing.
        let bytes = rmp_serde::to_vec(&(entity.as_str(), "scope")).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<Coordinate>(&bytes).is_ok(), allowed);
    }
}
