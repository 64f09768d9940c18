// The proposal inside a receipt cannot be swapped for another one.
use batpak::{Coordinate, EventKind, GateSet, Proposal};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord.clone(), EventKind::new(7, 1), 42_u64);
    let mut receipt = GateSet::<(), u64>::new().evaluate(&(), proposal).unwrap();
    receipt.proposal = Proposal::new(coord, EventKind::new(7, 1), 1_000_000_u64);
}
