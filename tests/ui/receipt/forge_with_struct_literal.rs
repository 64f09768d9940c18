// A receipt cannot be written as a struct literal: its fields are private.
use batpak::{Coordinate, EventKind, Hash, Proposal, Receipt};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let _forged = Receipt {
        proposal: Proposal::new(coord, EventKind::new(7, 1), 42_u64),
        encoded: vec![0x2a],
        payload_hash: Hash::ZERO,
        gates: vec!["within_limit".to_owned()],
    };
}
