// The names of the gates that admitted the payload cannot be edited.
use batpak::{Coordinate, EventKind, GateSet, Proposal};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u64);
    let receipt = GateSet::<(), u64>::new().evaluate(&(), proposal).unwrap();
    receipt.gates()[0].push_str("_forged");
}
