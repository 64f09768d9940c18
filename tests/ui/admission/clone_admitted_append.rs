// An admitted append is committed once: it cannot be cloned to commit the
// same admission again.
use batpak::{AppendReceipt, CommitTarget, RawAppend, Store, StoreError};

struct Twice<'a>(&'a Store);

impl CommitTarget for Twice<'_> {
    type Error = StoreError;

    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, StoreError> {
        self.0.commit_raw(append.clone())?;
        self.0.commit_raw(append)
    }
}

fn main() {}
