//! The little-endian field codec shared by the index's files (the
//! checkpoint and the sealed segment indexes). Reads never panic and never
//! allocate beyond the bytes present: a crafted count is refused by
//! [`Reader::count`].

use crate::event::Hash;

/// Appends little-endian fields to a buffer.
pub(super) struct Writer(pub(super) Vec<u8>);

impl Writer {
    pub(super) fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    pub(super) fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    pub(super) fn bytes(&mut self, b: &[u8]) {
        self.u32(u32::try_from(b.len()).unwrap_or(u32::MAX));
        self.0.extend_from_slice(b);
    }
    pub(super) fn hash(&mut self, h: &Hash) {
        self.0.extend_from_slice(h.as_bytes());
    }
}

/// Reads little-endian fields from a buffer; every read is `None` past its end.
pub(super) struct Reader<'a>(pub(super) &'a [u8]);

impl<'a> Reader<'a> {
    pub(super) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    pub(super) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(super) fn u8(&mut self) -> Option<u8> {
        Some(self.array::<1>()?[0])
    }
    pub(super) fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.array()?))
    }
    pub(super) fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }
    pub(super) fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.array()?))
    }
    pub(super) fn u128(&mut self) -> Option<u128> {
        Some(u128::from_le_bytes(self.array()?))
    }
    pub(super) fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::try_from(self.u32()?).ok()?;
        self.take(len)
    }
    pub(super) fn string(&mut self) -> Option<String> {
        String::from_utf8(self.bytes()?.to_vec()).ok()
    }
    pub(super) fn hash(&mut self) -> Option<Hash> {
        Some(Hash::from_bytes(self.array()?))
    }
    pub(super) fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        // A crafted count must not make us allocate beyond the bytes present.
        (n.checked_mul(min_item_bytes.max(1))? <= self.0.len()).then_some(n)
    }
}
