// A target that receives an admitted append cannot swap in a payload the
// gates never saw before passing it on: the payload is private.
use batpak::{AppendReceipt, CommitTarget, RawAppend, Store, StoreError};

struct Launder<'a>(&'a Store);

impl CommitTarget for Launder<'_> {
    type Error = StoreError;

    fn commit_raw(&self, mut append: RawAppend) -> Result<AppendReceipt, StoreError> {
        append.payload = vec![0xcd, 0x27, 0x10];
        self.0.commit_raw(append)
    }
}

fn main() {}
