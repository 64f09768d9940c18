//! The `tracing` feature: a machine step emits `step`, `gate`, `commit` and
//! `sync` spans with their fields and outcome; a denial is an event with
//! its gate, code and context. Checked with a tiny in-test subscriber that
//! records every span and event with its fields (no `tracing-subscriber`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use batpak::prelude::*;
use serde::{Deserialize, Serialize};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
#[machine(
    states(Draft, Placed),
    initial = Draft,
    gates(within_limit),
    context = u64
)]
enum Order {
    #[transition(Draft -> Placed)]
    Placed { total_cents: u64 },
}

/// Orders above the limit are refused.
#[gate(Order::Placed)]
fn within_limit(limit: &u64, event: &Order) -> Result<(), Denial> {
    match event {
        Order::Placed { total_cents } if total_cents > limit => {
            Err(Denial::new("over_limit", "order total exceeds the limit")
                .with("limit_cents", limit))
        }
        Order::Placed { .. } => Ok(()),
    }
}

/// A span or event as the subscriber saw it: its name and every field
/// recorded on it, as text.
#[derive(Debug, Clone)]
struct Seen {
    name: &'static str,
    fields: BTreeMap<String, String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }
}

/// Everything recorded, spans in creation order (a span's id is its index
/// plus one).
#[derive(Debug, Default)]
struct Seens {
    spans: Vec<Seen>,
    events: Vec<Seen>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seens>>);

impl Recorder {
    fn spans(&self, name: &str) -> Vec<Seen> {
        let seen = self.0.lock().unwrap();
        seen.spans
            .iter()
            .filter(|s| s.name == name)
            .cloned()
            .collect()
    }

    fn events(&self) -> Vec<Seen> {
        self.0.lock().unwrap().events.clone()
    }
}

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut fields = BTreeMap::new();
        span.record(&mut Fields(&mut fields));
        let mut seen = self.0.lock().unwrap();
        seen.spans.push(Seen {
            name: span.metadata().name(),
            fields,
        });
        Id::from_u64(seen.spans.len() as u64)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        let mut seen = self.0.lock().unwrap();
        let index = usize::try_from(span.into_u64() - 1).unwrap();
        values.record(&mut Fields(&mut seen.spans[index].fields));
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        self.0.lock().unwrap().events.push(Seen {
            name: event.metadata().name(),
            fields,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

fn coord() -> Coordinate {
    Coordinate::new("order:1", "shop:acme").unwrap()
}

/// Runs `f` with a fresh recorder as this thread's subscriber.
fn recorded(f: impl FnOnce()) -> Recorder {
    let recorder = Recorder::default();
    tracing::subscriber::with_default(recorder.clone(), f);
    recorder
}

#[test]
fn a_step_emits_step_gate_commit_and_sync_spans_with_their_fields() {
    let dir = tempfile::tempdir().unwrap();
    let mut kind = String::new();
    let seen = recorded(|| {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let draft = Order::create(&store, coord()).unwrap();
        draft.placed(&store, &5_000, 4_200).unwrap();
        kind = store.stream::<Order>(&coord()).unwrap()[0]
            .header
            .kind
            .to_string();
    });

    let step = seen.spans("step");
    assert_eq!(step.len(), 1, "{step:?}");
    assert_eq!(step[0].field("machine"), Some("Order"));
    assert_eq!(step[0].field("entity"), Some(coord().to_string().as_str()));
    assert_eq!(step[0].field("kind"), Some(kind.as_str()));
    assert_eq!(step[0].field("outcome"), Some("committed"));

    let gate = seen.spans("gate");
    assert_eq!(gate.len(), 1, "{gate:?}");
    assert_eq!(gate[0].field("gate"), Some("within_limit"));
    assert_eq!(gate[0].field("kind"), Some(kind.as_str()));
    assert_eq!(gate[0].field("outcome"), Some("admitted"));

    let commit = seen.spans("commit");
    assert_eq!(commit.len(), 1, "{commit:?}");
    assert_eq!(
        commit[0].field("entity"),
        Some(coord().to_string().as_str())
    );
    assert_eq!(commit[0].field("admission"), Some("gated"));
    assert_eq!(commit[0].field("outcome"), Some("ok"));

    let sync = seen.spans("sync");
    assert!(!sync.is_empty(), "SyncPolicy::Always syncs the step");
    assert!(sync.iter().all(|s| s.field("outcome") == Some("ok")));

    let open = seen.spans("open");
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0].field("outcome"), Some("ok"));
    assert_eq!(open[0].field("events"), Some("0"));
    assert!(seen.events().is_empty(), "no denial, no event");
}

#[test]
fn a_denial_is_an_event_with_its_gate_code_and_context() {
    let dir = tempfile::tempdir().unwrap();
    let seen = recorded(|| {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let draft = Order::create(&store, coord()).unwrap();
        let refused = draft.placed(&store, &5_000, 9_000).unwrap_err();
        assert!(matches!(refused.error(), MachineError::Denied(_)));
    });

    let events = seen.events();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].field("gate"), Some("within_limit"));
    assert_eq!(events[0].field("code"), Some("over_limit"));
    assert!(
        events[0]
            .field("context")
            .is_some_and(|c| c.contains("limit_cents") && c.contains("5000")),
        "{events:?}"
    );
    assert_eq!(seen.spans("step")[0].field("outcome"), Some("denied"));
    assert_eq!(seen.spans("gate")[0].field("outcome"), Some("denied"));
    assert!(seen.spans("commit").is_empty(), "nothing committed");
}

#[test]
fn submit_and_projection_folds_have_spans_too() {
    let dir = tempfile::tempdir().unwrap();
    let seen = recorded(|| {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        Order::submit(&store, &5_000, &coord(), Order::Placed { total_cents: 10 }).unwrap();
        let denied = Order::submit(&store, &5_000, &coord(), Order::Placed { total_cents: 10 });
        assert!(denied.is_err(), "Placed -> Placed is not a transition");
    });

    let submit = seen.spans("submit");
    assert_eq!(submit.len(), 2, "{submit:?}");
    assert_eq!(submit[0].field("machine"), Some("Order"));
    assert_eq!(submit[0].field("outcome"), Some("committed"));
    assert_eq!(submit[1].field("outcome"), Some("invalid_transition"));
    // `submit` reads the stream through its projection: a fold.
    let project = seen.spans("project");
    assert!(!project.is_empty(), "{project:?}");
    assert!(project.iter().all(|p| p.field("outcome") == Some("ok")));
    assert!(project.iter().all(|p| p.field("projection").is_some()));
    assert_eq!(project[1].field("applied"), Some("1"), "{project:?}");
}

#[test]
fn a_caused_step_has_a_span_naming_its_cause_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let cause = batpak::EventId::from_u128(7);
    let seen = recorded(|| {
        let store = Store::open(StoreConfig::new(dir.path())).unwrap();
        let why = batpak::Cause {
            event: cause,
            key: "react/test/7".to_owned(),
            at_version: Some(0),
        };
        let placed = Order::Placed { total_cents: 10 };
        batpak::submit_caused(&store, &5_000, &coord(), placed, &why).unwrap();
    });
    let caused = seen.spans("submit_caused");
    assert_eq!(caused.len(), 1, "{caused:?}");
    assert_eq!(caused[0].field("cause"), Some(cause.to_string().as_str()));
    assert_eq!(caused[0].field("key"), Some("react/test/7"));
    assert_eq!(caused[0].field("outcome"), Some("committed"));
}
