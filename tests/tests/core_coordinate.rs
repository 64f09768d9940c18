//! Coordinate validation: each rule refuses with exact data, the same rules
//! run when a coordinate is decoded from msgpack, every valid coordinate
//! survives a msgpack round trip, and no two coordinates display alike.

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
fn every_class_of_format_character_is_refused_with_part_and_byte_offset() {
    let cases = [
        // Bidi: override, embedding, isolate, marks.
        ("ab\u{202e}cd", 2, 0x202E),
        ("\u{202a}x", 0, 0x202A),
        ("x\u{2066}", 1, 0x2066),
        ("x\u{200f}", 1, 0x200F),
        ("é\u{061c}", 2, 0x061C),
        // Invisible: zero width space and joiners, word joiner, BOM.
        ("zero\u{200b}width", 4, 0x200B),
        ("a\u{200d}b", 1, 0x200D),
        ("a\u{2060}b", 1, 0x2060),
        ("\u{feff}bom", 0, 0xFEFF),
        ("soft\u{ad}hyphen", 4, 0x00AD),
        ("mongolian\u{180e}", 9, 0x180E),
        // Line and paragraph separators (Zl, Zp).
        ("line\u{2028}", 4, 0x2028),
        ("para\u{2029}graph", 4, 0x2029),
        // Outside the BMP: tag characters, shorthand format controls.
        ("flag\u{e0067}", 4, 0xE0067),
        ("x\u{1bca0}", 1, 0x1BCA0),
    ];
    for (text, index, code) in cases {
        assert_eq!(
            Coordinate::new(text, "shop"),
            Err(CoordinateError::FormatCharacter {
                part: Entity,
                index,
                code
            }),
            "entity {text:?}"
        );
        assert_eq!(
            Coordinate::new("order:1", text),
            Err(CoordinateError::FormatCharacter {
                part: Scope,
                index,
                code
            }),
            "scope {text:?}"
        );
    }
}

#[test]
fn the_first_refused_character_is_the_one_reported() {
    assert_eq!(
        Coordinate::new("a\u{200b}b\0", "s"),
        Err(CoordinateError::FormatCharacter {
            part: Entity,
            index: 1,
            code: 0x200B
        })
    );
    assert_eq!(
        Coordinate::new("a\nb\u{200b}", "s"),
        Err(CoordinateError::ControlCharacter {
            part: Entity,
            index: 1,
            code: 0x0A
        })
    );
}

#[test]
fn characters_next_to_the_format_ranges_are_accepted() {
    // Each is one code point outside a refused range: U+2027 (Po) before
    // the separators, U+202F (narrow no-break space) after the overrides,
    // U+2065 (unassigned) between the invisible operators and the isolates,
    // U+FFFC (object replacement, So) after the annotation characters.
    for c in [
        '\u{ac}', '\u{ae}', '\u{2027}', '\u{202f}', '\u{2065}', '\u{fffc}',
    ] {
        assert!(
            Coordinate::new(format!("a{c}b"), "s").is_ok(),
            "U+{:04X} refused",
            u32::from(c)
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
    assert_eq!(
        Coordinate::new("a", "b\u{202e}").unwrap_err().to_string(),
        "coordinate scope contains format character U+202E at byte 1"
    );
}

#[test]
fn display_quotes_a_part_only_when_it_could_be_misread() {
    let shown = |e: &str, s: &str| Coordinate::new(e, s).unwrap().to_string();
    assert_eq!(shown("order:1", "shop:acme"), "order:1@shop:acme");
    assert_eq!(shown("заказ:507", "магазин/acme"), "заказ:507@магазин/acme");
    assert_eq!(shown("o'neil", "shop"), "o'neil@shop");
    // The two readings of `a@b@c` print differently.
    assert_eq!(shown("a@b", "c"), r#""a@b"@c"#);
    assert_eq!(shown("a", "b@c"), r#"a@"b@c""#);
    // Spaces, quotes and backslashes are quoted; other whitespace and
    // combining marks are escaped as a Rust string literal would.
    assert_eq!(shown("order 1", "shop"), r#""order 1"@shop"#);
    assert_eq!(shown(r#"say "hi""#, r"a\b"), r#""say \"hi\""@"a\\b""#);
    assert_eq!(shown("a\u{a0}b", "e\u{301}"), r#""a\u{a0}b"@"e\u{301}""#);
    assert_eq!(shown("\"", "s"), r#""\""@s"#);
}

#[test]
fn parts_that_join_to_the_same_text_stay_apart() {
    let a = Coordinate::new("ab", "c").unwrap();
    let b = Coordinate::new("a", "bc").unwrap();
    assert_ne!(a, b);
    assert_eq!((a.entity(), a.scope()), ("ab", "c"));
    // Ordered by entity first: "a" < "ab".
    assert!(b < a);
    let set: std::collections::HashSet<Coordinate> = [a, b].into_iter().collect();
    assert_eq!(set.len(), 2);
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
    for (entity, scope, message) in [
        (
            "a\u{202e}b",
            "shop",
            "entity contains format character U+202E at byte 1",
        ),
        (
            "order:1",
            "\u{2028}",
            "scope contains format character U+2028 at byte 0",
        ),
        (
            "\u{feff}",
            "shop",
            "entity contains format character U+FEFF at byte 0",
        ),
        (
            "order:1",
            "x\u{200b}",
            "scope contains format character U+200B at byte 1",
        ),
    ] {
        let bytes = rmp_serde::to_vec(&(entity, scope)).unwrap();
        let err = rmp_serde::from_slice::<Coordinate>(&bytes).unwrap_err();
        assert!(err.to_string().contains(message), "{err}");
    }
    let long = rmp_serde::to_vec(&("e".repeat(2000), "shop")).unwrap();
    let err = rmp_serde::from_slice::<Coordinate>(&long).unwrap_err();
    assert!(err.to_string().contains("2000 bytes long"), "{err}");
}

/// Characters the rules refuse: control (Cc) and format (Cf) characters
/// and the line and paragraph separators. The class comes from the Unicode
/// tables of proptest's regex engine, not from batpak's own list.
const REFUSED: &str = "[\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]";
/// Every other character.
const ACCEPTED: &str = "[^\\p{Cc}\\p{Cf}\\p{Zl}\\p{Zp}]";

/// A character and whether the rules refuse it, biased towards the edges:
/// refused characters, ASCII, and the characters `Display` treats specially.
fn edgy_char() -> impl Strategy<Value = (char, bool)> {
    prop_oneof![
        4 => ACCEPTED.prop_map(|s| (s.chars().next().unwrap(), false)),
        2 => REFUSED.prop_map(|s| (s.chars().next().unwrap(), true)),
        2 => proptest::char::range('a', 'z').prop_map(|c| (c, false)),
        1 => prop_oneof![Just('@'), Just('"'), Just('\\'), Just(' ')].prop_map(|c| (c, false)),
    ]
}

fn valid_part() -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("{ACCEPTED}{{1,64}}")).unwrap()
}

/// Short parts over the characters a display could confuse: the
/// separator, quotes, the escape character, a space, a combining mark.
fn confusable_part() -> impl Strategy<Value = String> {
    vec(
        prop_oneof![
            Just('a'),
            Just('@'),
            Just('"'),
            Just('\\'),
            Just('\''),
            Just(' '),
            Just('\u{301}'),
        ],
        1..5,
    )
    .prop_map(|chars| chars.into_iter().collect())
}

/// Reads a display back into (entity, scope) by the grammar documented on
/// `Coordinate`'s `Display`: a part is a Rust string literal if it starts
/// with `"`, else everything up to the first `@`.
fn parse_display(text: &str) -> Option<(String, String)> {
    let (entity, rest) = parse_part(text, true)?;
    let rest = rest.strip_prefix('@')?;
    let (scope, rest) = parse_part(rest, false)?;
    rest.is_empty().then_some((entity, scope))
}

/// One part and the text after it.
fn parse_part(text: &str, before_at: bool) -> Option<(String, &str)> {
    let Some(mut rest) = text.strip_prefix('"') else {
        let end = if before_at {
            text.find('@')?
        } else {
            text.len()
        };
        return Some((text[..end].to_owned(), &text[end..]));
    };
    let mut part = String::new();
    loop {
        let c = rest.chars().next()?;
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => return Some((part, rest)),
            '\\' => {
                let e = rest.chars().next()?;
                rest = &rest[e.len_utf8()..];
                match e {
                    '"' | '\\' | '\'' => part.push(e),
                    'n' => part.push('\n'),
                    'u' => {
                        let close = rest.find('}')?;
                        let code = u32::from_str_radix(rest.get(1..close)?, 16).ok()?;
                        part.push(char::from_u32(code)?);
                        rest = &rest[close + 1..];
                    }
                    _ => return None,
                }
            }
            c => part.push(c),
        }
    }
}

/// The characters of `text` outside its Rust string literals.
fn outside_quotes(text: &str) -> String {
    let (mut out, mut quoted, mut escaped) = (String::new(), false, false);
    for c in text.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (_, false, '"') => quoted = !quoted,
            (true, false, _) => {}
            (false, _, c) => out.push(c),
        }
    }
    out
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
        let entity: String = chars.iter().map(|&(c, _)| c).collect::<String>().repeat(repeat);
        let allowed = !entity.is_empty()
            && entity.len() <= MAX_COORDINATE_PART_LEN
            && !chars.iter().any(|&(_, refused)| refused);
        let result = Coordinate::new(entity.clone(), "scope");
        prop_assert_eq!(result.is_ok(), allowed, "entity {:?}", entity);
        // Decoding obeys the same rules as constructing.
        let bytes = rmp_serde::to_vec(&(entity.as_str(), "scope")).unwrap();
        prop_assert_eq!(rmp_serde::from_slice::<Coordinate>(&bytes).is_ok(), allowed);
    }

    #[test]
    fn every_format_character_is_refused(c in "\\p{Cf}") {
        let result = Coordinate::new(format!("a{c}"), "scope");
        let code = u32::from(c.chars().next().unwrap());
        prop_assert_eq!(
            result,
            Err(CoordinateError::FormatCharacter { part: Entity, index: 1, code })
        );
    }

    #[test]
    fn display_is_injective_over_pairs_of_parts(
        a in (confusable_part(), confusable_part()),
        b in (confusable_part(), confusable_part()),
    ) {
        let first = Coordinate::new(a.0.clone(), a.1.clone()).unwrap();
        let second = Coordinate::new(b.0.clone(), b.1.clone()).unwrap();
        prop_assert_eq!(first == second, first.to_string() == second.to_string(),
            "{:?} and {:?} display as {} and {}", first, second, first, second);
        // Stronger: the display reads back into exactly its parts.
        prop_assert_eq!(parse_display(&first.to_string()), Some(a));
    }

    #[test]
    fn equality_order_and_hash_are_those_of_the_pair_of_parts(
        a in (confusable_part(), confusable_part()),
        b in (confusable_part(), confusable_part()),
    ) {
        use std::hash::BuildHasher;
        let first = Coordinate::new(a.0.clone(), a.1.clone()).unwrap();
        let second = Coordinate::new(b.0.clone(), b.1.clone()).unwrap();
        prop_assert_eq!(first == second, a == b);
        prop_assert_eq!(first.cmp(&second), a.cmp(&b), "{:?} vs {:?}", first, second);
        if first == second {
            let keys = std::collections::hash_map::RandomState::new();
            prop_assert_eq!(keys.hash_one(&first), keys.hash_one(&second));
        }
    }

    #[test]
    fn any_valid_coordinate_displays_as_its_parts(entity in valid_part(), scope in valid_part()) {
        let coord = Coordinate::new(entity.clone(), scope.clone()).unwrap();
        let shown = coord.to_string();
        prop_assert_eq!(parse_display(&shown), Some((entity, scope)), "{}", shown);
        // Outside quotes there is no whitespace: a coordinate is one field
        // of a space-separated line.
        prop_assert!(!outside_quotes(&shown).contains(char::is_whitespace), "{}", shown);
    }
}
