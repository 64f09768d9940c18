// The constructor that binds a receipt to its payload is crate-private.
use batpak::{Coordinate, EventKind, Proposal, Receipt};

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u64);
    let _forged = Receipt::issue(proposal, vec!["within_limit".to_owned()]);
}
