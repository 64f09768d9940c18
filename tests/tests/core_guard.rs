//! Gates, receipts and the pipeline: which gate denies, what a receipt
//! carries, and what committing (or bypassing) writes to a real store.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use batpak::{Admission, encode_payload};
use batpak::{
    Bypass, BypassError, Coordinate, Denial, EventKind, ExpectedVersion, FnGate, Gate, GateError,
    GateSet, Hash, Proposal, Region, Store, StoreConfig, StoreError, StoredEvent, bypass,
};
use serde::{Deserialize, Serialize};

const PLACED: EventKind = EventKind::new(7, 1);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Order {
    total_cents: u64,
}

fn proposal(total_cents: u64) -> Proposal<Order> {
    Proposal::new(
        Coordinate::new("order:1", "shop:acme").unwrap(),
        PLACED,
        Order { total_cents },
    )
    .expect(ExpectedVersion::Exact(3))
}

fn pass(name: &'static str) -> impl Gate<u64, Order> + Send + Sync + 'static {
    FnGate::new(name, |_: &u64, _: &Proposal<Order>| Ok(()))
}

fn deny(name: &'static str, code: &'static str) -> impl Gate<u64, Order> + Send + Sync + 'static {
    FnGate::new(name, move |_: &u64, _: &Proposal<Order>| {
        Err(Denial::new(code, format!("{code} said no")))
    })
}

/// A gate written as a type: it sees the context (a limit) and the proposal.
struct WithinLimit;

impl Gate<u64, Order> for WithinLimit {
    fn name(&self) -> &str {
        "within_limit"
    }

    fn description(&self) -> &str {
        "Orders above the limit are refused."
    }

    fn evaluate(&self, limit: &u64, proposal: &Proposal<Order>) -> Result<(), Denial> {
        let total = proposal.payload().total_cents;
        if total <= *limit {
            Ok(())
        } else {
            Err(Denial::new("over_limit", "order total exceeds the limit")
                .with("limit_cents", limit)
                .with("total_cents", total))
        }
    }
}

/// A real segment store whose `order:1` stream already holds three events,
/// so the proposals (which expect version 3) fit it.
fn store_at_version_3() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    for total_cents in 1..=3 {
        store
            .append(&coord, PLACED, &Order { total_cents })
            .unwrap();
    }
    (dir, store)
}

#[test]
fn gate_set_stops_at_first_denial_and_names_the_gate() {
    let later_runs = std::sync::Arc::new(AtomicUsize::new(0));
    let counter = later_runs.clone();
    let gates = GateSet::new()
        .with(pass("shop_is_open"))
        .with(deny("credit_check", "no_credit"))
        .with(FnGate::new(
            "audited",
            move |_: &u64, _: &Proposal<Order>| {
                counter.fetch_add(1, Ordering::SeqCst);
                Ok(())
            },
        ));
    let Err(GateError::Denied(denial)) = gates.evaluate(&0, proposal(10)) else {
        panic!("expected a denial");
    };
    assert_eq!(denial.gate(), "credit_check");
    assert_eq!(denial.code(), "no_credit");
    assert_eq!(denial.message(), "no_credit said no");
    assert_eq!(
        later_runs.load(Ordering::SeqCst),
        0,
        "a gate after the denial ran"
    );
    assert_eq!(
        denial.to_string(),
        "gate `credit_check` denied (no_credit): no_credit said no"
    );
}

#[test]
fn gates_run_in_the_order_added() {
    let order = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut gates = GateSet::new();
    for name in ["first", "second", "third"] {
        let order = order.clone();
        gates.push(FnGate::new(name, move |_: &u64, _: &Proposal<Order>| {
            order.lock().unwrap().push(name);
            Ok(())
        }));
    }
    assert_eq!(
        gates.names().collect::<Vec<_>>(),
        ["first", "second", "third"]
    );
    let receipt = gates.evaluate(&0, proposal(1)).unwrap();
    assert_eq!(*order.lock().unwrap(), ["first", "second", "third"]);
    assert_eq!(receipt.gates(), ["first", "second", "third"]);
}

#[test]
fn check_all_collects_every_denial_in_order() {
    let gates = GateSet::new()
        .with(deny("a", "a_no"))
        .with(pass("b"))
        .with(deny("c", "c_no"))
        .with(WithinLimit);
    let denials = gates.check_all(&5, &proposal(10));
    let named: Vec<(&str, &str)> = denials.iter().map(|d| (d.gate(), d.code())).collect();
    assert_eq!(
        named,
        [("a", "a_no"), ("c", "c_no"), ("within_limit", "over_limit")]
    );
    assert!(
        GateSet::new()
            .with(pass("b"))
            .with(WithinLimit)
            .check_all(&50, &proposal(10))
            .is_empty()
    );
}

#[test]
fn denial_carries_structured_context() {
    let gates = GateSet::new().with(WithinLimit);
    let Err(GateError::Denied(denial)) = gates.evaluate(&5_000, proposal(7_250)) else {
        panic!("expected a denial");
    };
    assert_eq!(denial.gate(), "within_limit");
    assert_eq!(denial.context()["limit_cents"], "5000");
    assert_eq!(denial.context()["total_cents"], "7250");
    assert_eq!(
        WithinLimit.description(),
        "Orders above the limit are refused."
    );
}

#[test]
fn receipt_carries_gate_names_payload_and_payload_hash() {
    let gates = GateSet::new().with(pass("shop_is_open")).with(WithinLimit);
    let receipt = gates.evaluate(&5_000, proposal(4_200)).unwrap();
    assert_eq!(receipt.gates(), ["shop_is_open", "within_limit"]);
    assert_eq!(receipt.payload(), &Order { total_cents: 4_200 });
    let encoded = encode_payload(&Order { total_cents: 4_200 }).unwrap();
    assert_eq!(receipt.payload_hash(), Hash::of(&encoded));
    assert_eq!(
        receipt.proposal().expected_version(),
        ExpectedVersion::Exact(3)
    );
    assert_eq!(receipt.proposal().kind(), PLACED);
    assert_eq!(receipt.proposal().coordinate().entity(), "order:1");
}

#[test]
fn empty_gate_set_issues_a_receipt_naming_no_gates() {
    let receipt = GateSet::<u64, Order>::new()
        .evaluate(&0, proposal(1))
        .unwrap();
    assert!(receipt.gates().is_empty());
}

#[test]
fn committing_a_receipt_appends_the_admitted_bytes_with_gate_names() {
    let (_dir, store) = store_at_version_3();
    let gates = GateSet::new().with(pass("shop_is_open")).with(WithinLimit);
    let receipt = gates.evaluate(&5_000, proposal(4_200)).unwrap();
    let payload_hash = receipt.payload_hash();
    let committed = receipt.commit(&store).unwrap();

    let names = vec!["shop_is_open".to_owned(), "within_limit".to_owned()];
    assert_eq!(committed.admission().gates(), names);
    assert_eq!(committed.receipt().sequence, 4);
    let stored: StoredEvent<Order> = store.get(committed.receipt().event_id).unwrap().unwrap();
    assert!(stored.header.admission.is_gated());
    assert_eq!(stored.header.admission.gates(), names);
    assert_eq!(stored.header.kind, PLACED);
    assert_eq!(stored.payload, Order { total_cents: 4_200 });
    assert_eq!(
        Hash::of(&encode_payload(&stored.payload).unwrap()),
        payload_hash
    );
    assert_eq!(committed.into_payload(), Order { total_cents: 4_200 });
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn receipt_for_a_stream_that_moved_is_refused_and_writes_nothing() {
    let (_dir, store) = store_at_version_3();
    let receipt = GateSet::new()
        .with(WithinLimit)
        .evaluate(&5_000, proposal(1))
        .unwrap();
    // Someone appends after the gates looked: the stream is at 4, not 3.
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    store
        .append(&coord, PLACED, &Order { total_cents: 9 })
        .unwrap();
    assert!(matches!(
        receipt.commit(&store),
        Err(StoreError::VersionMismatch { actual: 4, .. })
    ));
    assert_eq!(store.head(&coord).version, 4);
}

#[test]
fn bypass_records_who_and_why_and_is_found_by_region() {
    let (_dir, store) = store_at_version_3();
    let committed = bypass(
        &store,
        proposal(99_999),
        Bypass::new("ops:alice", "ledger outage").unwrap(),
    )
    .unwrap();
    let is_the_bypass = |admission: &Admission| {
        matches!(admission, Admission::Bypassed { by, reason, .. }
            if by == "ops:alice" && reason == "ledger outage")
    };
    assert!(is_the_bypass(committed.admission()));

    // An audit query finds exactly the bypassed event, with who and why.
    let audited: Vec<StoredEvent<Order>> = store.query(&Region::all().bypassed()).unwrap();
    let [event] = audited.as_slice() else {
        panic!("expected one bypassed event, found {}", audited.len())
    };
    assert!(is_the_bypass(&event.header.admission));
    assert_eq!(
        event.payload,
        Order {
            total_cents: 99_999
        }
    );
    assert_eq!(event.header.id, committed.receipt().event_id);
}

#[test]
fn a_gate_cannot_deny_in_another_gates_name() {
    let impostor = FnGate::new("impostor", |_: &u64, _: &Proposal<Order>| {
        Err(Denial::new("no", "blame someone else").from_gate("within_limit"))
    });
    let gates = GateSet::new().with(impostor);
    let Err(GateError::Denied(denial)) = gates.evaluate(&5_000, proposal(1)) else {
        panic!("the impostor denies")
    };
    assert_eq!(denial.gate(), "impostor");
    assert_eq!(gates.check_all(&5_000, &proposal(1))[0].gate(), "impostor");
}

#[test]
fn bypass_without_who_or_why_is_refused() {
    assert_eq!(
        Bypass::new("", "outage"),
        Err(BypassError::Empty { field: "by" })
    );
    assert_eq!(
        Bypass::new("ops:alice", " \t"),
        Err(BypassError::Empty { field: "reason" })
    );
    let ok = Bypass::new("ops:alice", "outage").unwrap();
    assert_eq!((ok.by(), ok.reason()), ("ops:alice", "outage"));
}

#[test]
fn bypass_text_that_would_print_as_something_else_or_nothing_is_refused_naming_the_field() {
    // (text, byte offset and code of the first control or format character)
    let unprintable = [
        ("\u{200B}", 0, 0x200B),            // zero-width space alone
        ("\u{202E}ecila", 0, 0x202E),       // right-to-left override
        ("\u{FEFF}", 0, 0xFEFF),            // byte-order mark
        ("ops\u{2028}", 3, 0x2028),         // line separator after text
        (" \u{200D}\u{2060}\t", 1, 0x200D), // joiner, word joiner, whitespace
        ("\u{7}\u{1B}[31m", 0, 0x7),        // controls
        ("\u{E0041}", 0, 0xE0041),          // a tag character
    ];
    for (text, index, code) in unprintable {
        assert_eq!(
            Bypass::new(text, "outage"),
            Err(BypassError::Unprintable {
                field: "by",
                index,
                code
            }),
            "{text:?} as who"
        );
        assert_eq!(
            Bypass::new("ops:alice", text),
            Err(BypassError::Unprintable {
                field: "reason",
                index,
                code
            }),
            "{text:?} as why"
        );
    }
    // Printable, but rendering as nothing: no visible character at all.
    let invisible = [
        ("\u{3164}", 0x3164),           // Hangul filler
        (" \u{115F}\u{1160} ", 0x115F), // Hangul choseong and jungseong fillers
        ("\u{FE0F}\u{034F}", 0xFE0F),   // variation selector, grapheme joiner
        ("\u{E0100}", 0xE0100),         // variation selector supplement
    ];
    for (text, code) in invisible {
        assert_eq!(
            Bypass::new(text, "outage"),
            Err(BypassError::Invisible { field: "by", code }),
            "{text:?} as who"
        );
        assert_eq!(
            Bypass::new("ops:alice", text),
            Err(BypassError::Invisible {
                field: "reason",
                code
            }),
            "{text:?} as why"
        );
    }
    // Whitespace alone is empty, whatever the kind of space.
    for text in ["", "\u{3000}", "\u{A0} \t"] {
        assert_eq!(
            Bypass::new(text, "outage"),
            Err(BypassError::Empty { field: "by" }),
            "{text:?}"
        );
    }
    // Any visible text of any script passes, with a variation selector too.
    let ok = Bypass::new("оператор 信用", "❤\u{FE0F} outage").unwrap();
    assert_eq!(ok.by(), "оператор 信用");
    let messages = [
        BypassError::Unprintable {
            field: "reason",
            index: 3,
            code: 0x202E,
        }
        .to_string(),
        BypassError::Invisible {
            field: "by",
            code: 0x3164,
        }
        .to_string(),
    ];
    assert_eq!(
        messages,
        [
            "bypass reason contains U+202E at byte 3, a control or format character; write who \
             bypassed and why in plain text",
            "bypass by has no visible character (U+3164 renders as nothing); a bypass must say \
             who bypassed and why",
        ]
    );
}

#[test]
fn a_refused_bypass_writes_nothing_to_the_store() {
    let (_dir, store) = store_at_version_3();
    for (by, reason) in [("", ""), ("\u{200B}", "outage"), ("ops", "\u{3164}")] {
        assert!(Bypass::new(by, reason).is_err(), "{by:?} {reason:?}");
    }
    // The only way to a bypass record is a `Bypass` that passed.
    assert!(
        store
            .query_headers(&Region::all().bypassed())
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.stats().events, 3);
}
