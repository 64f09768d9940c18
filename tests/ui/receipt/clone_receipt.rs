// A receipt is used once: it cannot be cloned to commit the same admission twice.
use batpak::{Coordinate, EventKind, GateSet, Proposal};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u64);
    let receipt = GateSet::<(), u64>::new().evaluate(&(), proposal).unwrap();
    let _second = receipt.clone();
}
