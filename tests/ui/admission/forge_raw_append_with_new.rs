// An append for a store cannot be built outside the pipeline, not even a
// direct one: `RawAppend::new` is private.
use batpak::{Admission, AppendOptions, Coordinate, EventKind, RawAppend};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let _forged = RawAppend::new(
        coord,
        EventKind::new(7, 1),
        vec![0x2a],
        AppendOptions::default(),
        Admission::Direct,
    );
}
