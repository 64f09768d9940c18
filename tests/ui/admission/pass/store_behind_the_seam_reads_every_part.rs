// Another store can implement the seam: it reads every part of the append
// the pipeline hands it and takes them by value.
use std::cell::RefCell;

use batpak::{
    Admission, AppendReceipt, Bypass, CodecError, CommitTarget, Coordinate, EventId, EventKind,
    GateSet, Hash, Proposal, RawAppend, RawAppendParts, bypass,
};

#[derive(Default)]
struct Log(RefCell<Vec<(Vec<u8>, Admission)>>);

impl CommitTarget for Log {
    type Error = CodecError;

    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, CodecError> {
        assert_eq!(append.coordinate().entity(), "order:1");
        assert_eq!(append.kind(), EventKind::new(7, 1));
        assert!(append.options().idempotency_key.is_none());
        assert!(!append.payload().is_empty());
        assert!(!append.admission().is_direct());
        let RawAppendParts { payload, admission, .. } = append.into_parts();
        let mut log = self.0.borrow_mut();
        log.push((payload, admission));
        let n = log.len() as u64;
        Ok(AppendReceipt { event_id: EventId::generate(), sequence: n, position: n - 1, hash: Hash::ZERO })
    }
}

fn main() {
    let coord = Coordinate::new("order:1", "shop:acme").unwrap();
    let log = Log::default();
    let proposal = Proposal::new(coord.clone(), EventKind::new(7, 1), 42_u64);
    GateSet::<(), u64>::new().evaluate(&(), proposal).unwrap().commit(&log).unwrap();
    let proposal = Proposal::new(coord, EventKind::new(7, 1), 43_u64);
    bypass(&log, proposal, Bypass::new("ops", "outage").unwrap()).unwrap();
    let log = log.0.borrow();
    assert!(log[0].1.is_gated());
    assert!(matches!(&log[1].1, Admission::Bypassed { by, .. } if by == "ops"));
}
