// An append taken apart cannot be put back together with another payload:
// nothing turns parts into a `RawAppend`.
use batpak::{AppendReceipt, CommitTarget, RawAppend, Store, StoreError};

struct Launder<'a>(&'a Store);

impl CommitTarget for Launder<'_> {
    type Error = StoreError;

    fn commit_raw(&self, append: RawAppend) -> Result<AppendReceipt, StoreError> {
        let mut parts = append.into_parts();
        parts.payload = vec![0xcd, 0x27, 0x10];
        self.0.commit_raw(RawAppend::from(parts))
    }
}

fn main() {}
