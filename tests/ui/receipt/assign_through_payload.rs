// The admitted payload is read-only: it cannot be replaced after the gates ran.
use batpak::{Coordinate, EventKind, GateSet, Proposal};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u64);
    let receipt = GateSet::<(), u64>::new().evaluate(&(), proposal).unwrap();
    *receipt.payload() = 1_000_000;
}
