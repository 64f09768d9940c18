// The legitimate path compiles: gates issue a receipt, it is read, then committed once.
use std::cell::RefCell;

use batpak::CodecError;
use batpak::{
    AppendReceipt, CommitTarget, Coordinate, Denial, EventId, EventKind, FnGate, GateSet, Hash,
    Proposal, RawAppend,
};

struct Log(RefCell<Vec<RawAppend>>);

impl CommitTarget for Log {
    type Error = CodecError;

    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, CodecError> {
        let mut log = self.0.borrow_mut();
        log.push(append);
        let n = log.len() as u64;
        Ok(AppendReceipt { event_id: EventId::generate(), sequence: n, position: n - 1, hash: Hash::ZERO })
    }
}

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 42_u64);
    let gates = GateSet::<u64, u64>::new().with(FnGate::new("within_limit", |limit: &u64, p: &Proposal<u64>| {
        if p.payload() <= limit { Ok(()) } else { Err(Denial::new("over_limit", "too much")) }
    }));
    let receipt = gates.evaluate(&100, proposal).unwrap();
    assert_eq!(*receipt.payload(), 42);
    assert_eq!(receipt.gates(), ["within_limit"]);
    let _hash: Hash = receipt.payload_hash();
    let log = Log(RefCell::new(Vec::new()));
    let committed = receipt.commit(&log).unwrap();
    assert_eq!(committed.receipt().sequence, 1);
}
