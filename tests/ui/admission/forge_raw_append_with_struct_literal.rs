// An append cannot be written as a struct literal carrying an admission
// read from another event: its fields are private.
use batpak::{AppendOptions, Coordinate, EventKind, RawAppend, Store, StoreConfig, StoredEvent};

fn main() {
    let store = Store::open(StoreConfig::new("/tmp/forge")).unwrap();
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let admitted: StoredEvent<u64> = store.stream(&coord).unwrap().remove(0);
    let _forged = RawAppend {
        coordinate: coord,
        kind: EventKind::new(7, 1),
        payload: vec![0xcd, 0x27, 0x10],
        options: AppendOptions::default(),
        admission: admitted.header.admission,
    };
}
