//! The machine catalog: the first time a machine writes to a store, the
//! store records the machine's description (`CatalogEntry`) as a system
//! record; user regions never see it, tools ask for it by kind.

use batpak::prelude::*;
use batpak::{CATALOG_KIND, CatalogEntry, catalog_coordinate};
use serde::{Deserialize, Serialize};

mod v1 {
    use super::*;

    #[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[machine(states(Open, Closed), initial = Open, terminal(Closed), gates(always))]
    pub enum Ticket {
        #[transition(Open -> Closed)]
        Closed { note: String },
    }

    /// Admits everything.
    #[gate]
    fn always(_ctx: (), _event: &Ticket) -> bool {
        true
    }
}

mod v2 {
    use super::*;

    #[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[machine(states(Open, Closed), initial = Open, terminal(Closed))]
    pub enum Ticket {
        #[transition(Open -> Open)]
        Commented { text: String },
        #[transition(Open -> Closed)]
        Closed { note: String },
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    (dir, store)
}

fn entries(store: &Store) -> Vec<CatalogEntry> {
    store
        .stream::<CatalogEntry>(&catalog_coordinate("Ticket").unwrap())
        .unwrap()
        .into_iter()
        .map(|e| e.payload)
        .collect()
}

#[test]
fn a_machines_first_write_records_its_description_once() {
    let (dir, store) = store();
    assert!(entries(&store).is_empty(), "create writes nothing");
    for n in 0..3 {
        let coord = Coordinate::new(format!("ticket:{n}"), "desk").unwrap();
        let closed = v1::Ticket::Closed {
            note: "done".to_owned(),
        };
        v1::Ticket::submit(&store, &coord, closed).unwrap();
    }
    let recorded = entries(&store);
    assert_eq!(recorded, [CatalogEntry::of::<v1::Ticket>()]);
    assert_eq!(recorded[0].name, "Ticket");
    assert_eq!(recorded[0].gates, ["always"]);
    assert_eq!(recorded[0].variant_of(v1::Ticket::CLOSED), Some("Closed"));
    assert_eq!(recorded[0].next_state("Open", "Closed"), Some("Closed"));
    store.close().unwrap();
    // Reopened, the same machine finds its entry and records nothing new.
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let coord = Coordinate::new("ticket:9", "desk").unwrap();
    v1::Ticket::submit(
        &store,
        &coord,
        v1::Ticket::Closed {
            note: String::new(),
        },
    )
    .unwrap();
    assert_eq!(entries(&store).len(), 1);
}

#[test]
fn a_changed_machine_appends_a_new_entry_and_keeps_the_old() {
    let (_dir, store) = store();
    let coord = |n: u32| Coordinate::new(format!("ticket:{n}"), "desk").unwrap();
    v1::Ticket::submit(&store, &coord(1), v1::Ticket::Closed { note: "a".into() }).unwrap();
    v2::Ticket::submit(
        &store,
        &coord(2),
        v2::Ticket::Commented { text: "b".into() },
    )
    .unwrap();
    let recorded = entries(&store);
    assert_eq!(
        recorded,
        [
            CatalogEntry::of::<v1::Ticket>(),
            CatalogEntry::of::<v2::Ticket>()
        ]
    );
    assert_eq!(recorded[1].variants.len(), 2);
}

#[test]
fn user_regions_never_see_catalog_records_and_tools_ask_by_kind() {
    let (_dir, store) = store();
    let coord = Coordinate::new("ticket:1", "desk").unwrap();
    v1::Ticket::submit(&store, &coord, v1::Ticket::Closed { note: "a".into() }).unwrap();
    let user: Vec<StoredEvent<v1::Ticket>> = store.query(&Region::all()).unwrap();
    assert_eq!(user.len(), 1, "Region::all() holds only the user's event");
    let system: Vec<StoredEvent<CatalogEntry>> =
        store.query(&Region::all().kind(CATALOG_KIND)).unwrap();
    assert_eq!(system.len(), 1);
    assert_eq!(
        system[0].header.position, 0,
        "recorded before the first event"
    );
    assert_eq!(store.stats().events, 2, "the log holds both");
}

#[test]
fn users_still_cannot_append_a_catalog_record() {
    let (_dir, store) = store();
    let coord = catalog_coordinate("Ticket").unwrap();
    let entry = CatalogEntry::of::<v1::Ticket>();
    assert!(matches!(
        store.append(&coord, CATALOG_KIND, &entry),
        Err(StoreError::ReservedKind { kind }) if kind == CATALOG_KIND
    ));
    assert!(entries(&store).is_empty(), "nothing written");
}

#[test]
fn every_backend_records_the_catalog_and_hides_it_from_user_regions() {
    for backend in [
        batpak::Backend::Segment,
        batpak::Backend::Redb,
        batpak::Backend::Lmdb,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(StoreConfig::new(dir.path()).backend(backend)).unwrap();
        let coord = Coordinate::new("ticket:1", "desk").unwrap();
        v1::Ticket::submit(&store, &coord, v1::Ticket::Closed { note: "a".into() }).unwrap();
        assert_eq!(
            entries(&store),
            [CatalogEntry::of::<v1::Ticket>()],
            "{backend:?}"
        );
        let user: Vec<StoredEvent<v1::Ticket>> = store.query(&Region::all()).unwrap();
        assert_eq!(user.len(), 1, "{backend:?}");
        store.close().unwrap();
        let store = Store::open(StoreConfig::new(dir.path()).backend(backend)).unwrap();
        assert_eq!(store.verify().unwrap().events, 2, "{backend:?}");
        assert_eq!(entries(&store).len(), 1, "{backend:?}: survives a reopen");
    }
}
