//! The little-endian field codec shared by the index's files (the
//! checkpoint and the sealed segment indexes). Reads never panic and never
//! allocate beyond the bytes present: a crafted count is refused by
//! [`Reader::count`].

use super::entry::NO_CAUSE;
use super::keys::KeyEntry;
use crate::event::{EventId, Hash};
use crate::pipeline::AppendReceipt;

/// Stored flags bit: a causing position follows the flags.
const FLAG_HAS_CAUSE: u8 = 0x80;
/// Fewest bytes a stored key entry takes (empty key, no receipts).
const KEY_ENTRY_MIN_BYTES: usize = 4 + 32 + 8;
/// Bytes of one stored receipt.
const RECEIPT_BYTES: usize = 16 + 8 + 8 + 32;

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

    /// An entry's flags, then its causing position when it has one (most
    /// events have none, so it costs a bit, not 8 bytes).
    pub(super) fn flags_and_cause(&mut self, flags: u8, cause: u64) {
        if cause == NO_CAUSE {
            self.u8(flags);
        } else {
            self.u8(flags | FLAG_HAS_CAUSE);
            self.u64(cause);
        }
    }

    /// `count` idempotency keys with their content fingerprint and receipts.
    pub(super) fn key_entries<'k>(
        &mut self,
        count: usize,
        keys: impl IntoIterator<Item = (&'k String, &'k KeyEntry)>,
    ) {
        self.u64(count as u64);
        for (key, k) in keys {
            self.key_entry(key, k);
        }
    }

    /// One idempotency key with its content fingerprint and receipts.
    pub(super) fn key_entry(&mut self, key: &str, k: &KeyEntry) {
        self.bytes(key.as_bytes());
        self.hash(&k.fingerprint);
        self.u64(k.receipts.len() as u64);
        for r in &k.receipts {
            self.u128(r.event_id.as_u128());
            self.u64(r.sequence);
            self.u64(r.position);
            self.hash(&r.hash);
        }
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
        self.str().map(str::to_owned)
    }
    pub(super) fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.bytes()?).ok()
    }
    pub(super) fn hash(&mut self) -> Option<Hash> {
        Some(Hash::from_bytes(self.array()?))
    }
    pub(super) fn count(&mut self, min_item_bytes: usize) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        // A crafted count must not make us allocate beyond the bytes present.
        (n.checked_mul(min_item_bytes.max(1))? <= self.0.len()).then_some(n)
    }

    /// What [`Writer::flags_and_cause`] wrote: the flags without the cause
    /// bit, and the causing position or [`NO_CAUSE`].
    pub(super) fn flags_and_cause(&mut self) -> Option<(u8, u64)> {
        let stored = self.u8()?;
        let cause = if stored & FLAG_HAS_CAUSE != 0 {
            self.u64()?
        } else {
            NO_CAUSE
        };
        Some((stored & !FLAG_HAS_CAUSE, cause))
    }

    /// What [`Writer::key_entries`] wrote; `None` when a receipt's position
    /// is outside `positions` or the bytes end early.
    pub(super) fn key_entries(
        &mut self,
        positions: std::ops::Range<u64>,
    ) -> Option<Vec<(String, KeyEntry)>> {
        let n = self.count(KEY_ENTRY_MIN_BYTES)?;
        let mut keys = Vec::with_capacity(n);
        for _ in 0..n {
            keys.push(self.key_entry(&positions)?);
        }
        Some(keys)
    }

    /// What [`Writer::key_entry`] wrote; `None` when a receipt's position
    /// is outside `positions` or the bytes end early.
    pub(super) fn key_entry(
        &mut self,
        positions: &std::ops::Range<u64>,
    ) -> Option<(String, KeyEntry)> {
        let key = self.string()?;
        let fingerprint = self.hash()?;
        let m = self.count(RECEIPT_BYTES)?;
        let mut receipts = Vec::with_capacity(m);
        for _ in 0..m {
            let receipt = AppendReceipt {
                event_id: EventId::from_u128(self.u128()?),
                sequence: self.u64()?,
                position: self.u64()?,
                hash: self.hash()?,
            };
            if !positions.contains(&receipt.position) {
                return None;
            }
            receipts.push(receipt);
        }
        Some((
            key,
            KeyEntry {
                fingerprint,
                receipts,
            },
        ))
    }
}
