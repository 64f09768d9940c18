//! `Region::matches`, the one predicate over stored events: a truth table over
//! every filter, and refusal of ranges that can never match.

// Inverted ranges are exactly what some of these tests feed in.
#![allow(clippy::reversed_empty_ranges)]

mod common;

use batpak::Admission;
use batpak::{Coordinate, EventHeader, EventId, EventKind, Region, RegionError};
use common::{bypassed_record, gated_record};

const PLACED: EventKind = EventKind::new(7, 1);
const PAID: EventKind = EventKind::new(7, 2);
const OPENED: EventKind = EventKind::new(9, 1);

/// A header for `entity@scope` with the given kind, sequence and position.
fn header(entity: &str, scope: &str, kind: EventKind, sequence: u64, position: u64) -> EventHeader {
    let mut header = EventHeader::new(
        EventId::from_u128(1),
        Coordinate::new(entity, scope).unwrap(),
        kind,
    );
    header.sequence = sequence;
    header.position = position;
    header
}

fn at(entity: &str, scope: &str) -> EventHeader {
    header(entity, scope, PLACED, 1, 0)
}

fn with_admission(admission: Admission) -> EventHeader {
    let mut h = at("order:1", "shop:a");
    h.admission = admission;
    h
}

#[test]
fn matches_truth_table() {
    let order1 = Coordinate::new("order:1", "shop:a").unwrap();
    #[rustfmt::skip]
    let table: Vec<(&str, Region, EventHeader, bool)> = vec![
        ("all matches anything", Region::all(), at("x", "y"), true),
        // entity: exact
        ("exact entity, same", Region::entity("order:1"), at("order:1", "shop:b"), true),
        ("exact entity is not a prefix", Region::entity("order:1"), at("order:10", "shop:a"), false),
        ("exact entity is case-sensitive", Region::entity("order:1"), at("Order:1", "shop:a"), false),
        // entity: prefix
        ("prefix, longer entity", Region::entity_prefix("order:"), at("order:77", "shop:a"), true),
        ("prefix, equal entity", Region::entity_prefix("order:"), at("order:", "shop:a"), true),
        ("prefix, other entity", Region::entity_prefix("order:"), at("orders", "shop:a"), false),
        // scope
        ("scope, same", Region::all().scope("shop:a"), at("order:1", "shop:a"), true),
        ("scope, other", Region::all().scope("shop:a"), at("order:1", "shop:b"), false),
        ("scope is exact, not a prefix", Region::all().scope("shop"), at("order:1", "shop:a"), false),
        ("coordinate, same", Region::coordinate(&order1), at("order:1", "shop:a"), true),
        ("coordinate, same entity other scope", Region::coordinate(&order1), at("order:1", "shop:b"), false),
        ("coordinate, same scope other entity", Region::coordinate(&order1), at("order:2", "shop:a"), false),
        // kinds: exact kinds and categories combine with OR
        ("no kind filter, any kind", Region::all(), header("o", "s", OPENED, 1, 0), true),
        ("exact kind, same", Region::all().kind(PLACED), header("o", "s", PLACED, 1, 0), true),
        ("exact kind, sibling", Region::all().kind(PLACED), header("o", "s", PAID, 1, 0), false),
        ("kind OR category, kind hit", Region::all().kind(PAID).category(9), header("o", "s", PAID, 1, 0), true),
        ("kind OR category, category hit", Region::all().kind(PAID).category(9), header("o", "s", OPENED, 1, 0), true),
        ("kind OR category, neither", Region::all().kind(PAID).category(9), header("o", "s", PLACED, 1, 0), false),
        ("category, any code", Region::all().category(7), header("o", "s", EventKind::new(7, 999), 1, 0), true),
        ("category, other", Region::all().category(7), header("o", "s", OPENED, 1, 0), false),
        // sequence range, inclusive both ends
        ("sequence below", Region::all().sequences(2..=4), header("o", "s", PLACED, 1, 0), false),
        ("sequence start", Region::all().sequences(2..=4), header("o", "s", PLACED, 2, 0), true),
        ("sequence end", Region::all().sequences(2..=4), header("o", "s", PLACED, 4, 0), true),
        ("sequence above", Region::all().sequences(2..=4), header("o", "s", PLACED, 5, 0), false),
        // position range, inclusive both ends
        ("position below", Region::all().positions(10..=20), header("o", "s", PLACED, 1, 9), false),
        ("position start", Region::all().positions(10..=20), header("o", "s", PLACED, 1, 10), true),
        ("position end", Region::all().positions(10..=20), header("o", "s", PLACED, 1, 20), true),
        ("position above", Region::all().positions(10..=20), header("o", "s", PLACED, 1, 21), false),
        ("from position, at", Region::all().from_position(15), header("o", "s", PLACED, 1, 15), true),
        ("from position, before", Region::all().from_position(15), header("o", "s", PLACED, 1, 14), false),
        ("from position, far after", Region::all().from_position(15), header("o", "s", PLACED, 1, u64::MAX), true),
        // bypassed
        ("bypassed, direct", Region::all().bypassed(), with_admission(Admission::Direct), false),
        ("bypassed, gated", Region::all().bypassed(),
            with_admission(gated_record(&["g"])), false),
        ("bypassed, bypass", Region::all().bypassed(),
            with_admission(bypassed_record("ops", "outage")), true),
        ("no bypass filter, bypass", Region::all(),
            with_admission(bypassed_record("ops", "outage")), true),
        // direct and ungated
        ("direct, direct", Region::all().direct(), with_admission(Admission::Direct), true),
        ("direct, gated", Region::all().direct(), with_admission(gated_record(&["g"])), false),
        ("direct, bypass", Region::all().direct(), with_admission(bypassed_record("ops", "outage")), false),
        ("ungated, direct", Region::all().ungated(), with_admission(Admission::Direct), true),
        ("ungated, gated", Region::all().ungated(), with_admission(gated_record(&["g"])), false),
        ("ungated, gated by no gate", Region::all().ungated(), with_admission(gated_record(&[])), false),
        ("ungated, bypass", Region::all().ungated(), with_admission(bypassed_record("ops", "outage")), true),
        ("ungated then bypassed, bypass", Region::all().ungated().bypassed(),
            with_admission(bypassed_record("ops", "outage")), true),
        ("ungated then bypassed, direct", Region::all().ungated().bypassed(),
            with_admission(Admission::Direct), false),
        // filters combine with AND
        ("all filters hit", Region::entity_prefix("order:").scope("s").kind(PLACED).sequences(1..=3).positions(0..=9),
            header("order:1", "s", PLACED, 2, 5), true),
        ("all filters but position hit", Region::entity_prefix("order:").scope("s").kind(PLACED).sequences(1..=3).positions(0..=9),
            header("order:1", "s", PLACED, 2, 10), false),
        ("all filters but kind hit", Region::entity_prefix("order:").scope("s").kind(PLACED).sequences(1..=3).positions(0..=9),
            header("order:1", "s", PAID, 2, 5), false),
    ];
    let mut wrong = Vec::new();
    for (name, region, header, expected) in &table {
        assert!(region.check().is_ok(), "{name}: region should be valid");
        if region.matches(header) != *expected {
            wrong.push(*name);
        }
    }
    assert!(wrong.is_empty(), "rows that disagree: {wrong:?}");
}

#[test]
fn matches_coordinate_agrees_with_matches_on_entity_and_scope() {
    let region = Region::entity_prefix("order:").scope("shop:a");
    for (entity, scope) in [
        ("order:1", "shop:a"),
        ("order:1", "shop:b"),
        ("cart:1", "shop:a"),
    ] {
        let coord = Coordinate::new(entity, scope).unwrap();
        assert_eq!(
            region.matches_coordinate(&coord),
            region.matches(&at(entity, scope))
        );
    }
}

#[test]
fn inverted_sequence_range_is_refused() {
    assert_eq!(
        Region::all().sequences(5..=2).check(),
        Err(RegionError::InvertedRange {
            field: "sequence",
            start: 5,
            end: 2
        })
    );
}

#[test]
fn inverted_position_range_is_refused() {
    assert_eq!(
        Region::entity("order:1").positions(100..=99).check(),
        Err(RegionError::InvertedRange {
            field: "position",
            start: 100,
            end: 99
        })
    );
}

#[test]
fn single_point_range_is_valid_and_matches_only_that_point() {
    let region = Region::all().sequences(3..=3);
    assert_eq!(region.check(), Ok(()));
    assert!(region.matches(&header("o", "s", PLACED, 3, 0)));
    assert!(!region.matches(&header("o", "s", PLACED, 2, 0)));
}

#[test]
fn inverted_range_matches_nothing() {
    let region = Region::all().sequences(5..=2);
    assert!((0..10).all(|seq| !region.matches(&header("o", "s", PLACED, seq, 0))));
}

#[test]
fn inverted_range_error_names_the_field() {
    let err = Region::all().positions(9..=1).check().unwrap_err();
    assert_eq!(
        err.to_string(),
        "region position range 9..=1 is inverted and can never match"
    );
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    // Tiny alphabets so that equal and prefix-related names come up often.
    proptest! {
        #[test]
        fn coordinate_region_selects_exactly_that_stream(
            want in ("[ab]{1,3}", "[xy]{1,2}"),
            have in ("[ab]{1,3}", "[xy]{1,2}"),
        ) {
            let region = Region::coordinate(&Coordinate::new(&want.0, &want.1).unwrap());
            prop_assert_eq!(region.matches(&at(&have.0, &have.1)), want == have);
        }

        #[test]
        fn prefix_region_selects_exactly_the_names_with_that_prefix(
            prefix in "[ab]{0,3}",
            entity in "[ab]{1,4}",
        ) {
            let region = Region::entity_prefix(prefix.as_str());
            prop_assert_eq!(region.matches(&at(&entity, "s")), entity.starts_with(&prefix));
        }

        #[test]
        fn sequence_range_selects_exactly_the_sequences_inside(
            start in 0_u64..20, len in 0_u64..20, sequence in 0_u64..45,
        ) {
            let region = Region::all().sequences(start..=start + len);
            let h = header("o", "s", PLACED, sequence, 0);
            prop_assert_eq!(region.matches(&h), start <= sequence && sequence <= start + len);
        }
    }
}

#[test]
fn admission_filters_that_exclude_each_other_are_refused() {
    for region in [
        Region::all().bypassed().direct(),
        Region::all().direct().bypassed(),
        Region::all().ungated().direct().bypassed(),
    ] {
        assert_eq!(region.check(), Err(RegionError::DisjointAdmissions));
    }
    assert!(Region::all().ungated().direct().check().is_ok());
    assert_eq!(
        RegionError::DisjointAdmissions.to_string(),
        "region admission filters exclude each other (an event is admitted one way) and can never match"
    );
}
