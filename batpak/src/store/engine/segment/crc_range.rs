//! CRC-32 of any byte range of one buffer without re-reading the range:
//! what lets recovery test many candidate frames in a damaged tail while
//! reading each byte of the tail a bounded number of times.
//!
//! CRC-32 (IEEE, as `crc32fast` computes it) is linear over GF(2): for byte
//! strings `A` and `B`, `crc(A ‖ B) = shift(crc(A), |B|) ^ crc(B)`, where
//! `shift(c, n)` multiplies `c` by x^(8n) modulo the CRC polynomial (zlib's
//! `crc32_combine`). So `crc(bytes[a..b]) = R(b) ^ shift(R(a), b - a)` with
//! `R(k) = crc(bytes[..k])`. [`RangeCrc`] keeps `R` at every multiple of
//! [`STRIDE`] (built lazily, one pass, each byte hashed once) and finds `R`
//! between two marks by hashing fewer than `STRIDE` bytes.
//!
//! Invariant: [`RangeCrc::frame_crc`] equals `crc32fast` over the same bytes
//! (unit tests below compare them on random ranges). Never used to write:
//! frames are sealed by `format::push_frame` with `crc32fast` directly.

use std::ops::Range;

/// Bytes between two marks. Memory is 4 bytes per `STRIDE` bytes of the
/// buffer marked (1/64 of it); a range whose ends fall between marks costs
/// up to `2 * STRIDE` bytes hashed directly.
const STRIDE: usize = 256;

/// The CRC-32 polynomial, bit-reversed (bit 31 is the coefficient of x^0).
const POLY: u32 = 0xedb8_8320;

/// x^0 = 1 in the bit-reversed representation.
const ONE: u32 = 1 << 31;

/// `a * b mod P` (bit-reversed polynomials): 32 shift-and-xor steps.
const fn mul_mod(a: u32, mut b: u32) -> u32 {
    let mut product = 0;
    let mut bit = ONE;
    while bit != 0 {
        if a & bit != 0 {
            product ^= b;
        }
        b = if b & 1 != 0 { (b >> 1) ^ POLY } else { b >> 1 };
        bit >>= 1;
    }
    product
}

/// `X8[k] = x^(8 * 2^k) mod P`: the shift by 2^k bytes. 33 entries cover
/// every shift below 2^33 bytes, more than a segment's `u32` frame lengths.
const X8: [u32; 33] = {
    let mut table = [0u32; 33];
    // x^8: the bit-reversed representation puts x^8 at bit 31 - 8.
    table[0] = ONE >> 8;
    let mut k = 1;
    while k < table.len() {
        table[k] = mul_mod(table[k - 1], table[k - 1]);
        k += 1;
    }
    table
};

/// `SMALL[t] = x^(8t) mod P` for a shift of fewer than `STRIDE` bytes: one
/// multiplication instead of one per set bit.
const SMALL: [u32; STRIDE] = {
    let mut table = [0u32; STRIDE];
    table[0] = ONE;
    let mut t = 1;
    while t < STRIDE {
        table[t] = mul_mod(table[t - 1], X8[0]);
        t += 1;
    }
    table
};

/// `crc` shifted past `n` more bytes: at most one multiplication per set
/// bit of `n` (so at most 33).
fn shift(crc: u32, n: usize) -> u32 {
    if n < STRIDE {
        return mul_mod(SMALL[n], crc);
    }
    let mut crc = crc;
    let mut n = n;
    let mut k = 0;
    while n != 0 && k < X8.len() {
        if n & 1 != 0 {
            crc = mul_mod(X8[k], crc);
        }
        n >>= 1;
        k += 1;
    }
    crc
}

/// CRC-32 of ranges of one buffer.
#[derive(Debug)]
pub(crate) struct RangeCrc<'a> {
    bytes: &'a [u8],
    /// `marks[i] = crc(bytes[..i * STRIDE])`; grown on demand.
    marks: Vec<u32>,
    /// The hasher after `bytes[..(marks.len() - 1) * STRIDE]`.
    running: crc32fast::Hasher,
}

impl<'a> RangeCrc<'a> {
    /// No byte is hashed until a range asks for it.
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            marks: vec![0],
            running: crc32fast::Hasher::new(),
        }
    }

    /// `crc(bytes[..i * STRIDE])`, extending the marks up to `i`.
    fn mark(&mut self, i: usize) -> u32 {
        while self.marks.len() <= i {
            let from = (self.marks.len() - 1) * STRIDE;
            self.running
                .update(self.bytes.get(from..from + STRIDE).unwrap_or(&[]));
            self.marks.push(self.running.clone().finalize());
        }
        self.marks[i]
    }

    /// `R(k) = crc(bytes[..k])`: the mark below `k`, shifted over the
    /// fewer than `STRIDE` bytes after it.
    fn prefix(&mut self, k: usize) -> u32 {
        let i = k / STRIDE;
        let from = i * STRIDE;
        let rest = crc32fast::hash(self.bytes.get(from..k).unwrap_or(&[]));
        shift(self.mark(i), k - from) ^ rest
    }

    /// CRC-32 of `lead ‖ bytes[range]`, as `crc32fast` would compute it:
    /// a frame's checksum covers its length field (`lead`) and its body.
    /// A range of fewer than `2 * STRIDE` bytes is hashed directly.
    pub(crate) fn frame_crc(&mut self, lead: &[u8], range: Range<usize>) -> u32 {
        let len = range.len();
        let lead_crc = crc32fast::hash(lead);
        if len < 2 * STRIDE {
            let mut h = crc32fast::Hasher::new();
            h.update(lead);
            h.update(self.bytes.get(range).unwrap_or(&[]));
            return h.finalize();
        }
        // crc(lead ‖ S) = shift(crc(lead), |S|) ^ crc(S), and
        // crc(S) = R(end) ^ shift(R(start), |S|); shift is linear.
        let start = self.prefix(range.start);
        shift(lead_crc ^ start, len) ^ self.prefix(range.end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn direct(lead: &[u8], body: &[u8]) -> u32 {
        let mut h = crc32fast::Hasher::new();
        h.update(lead);
        h.update(body);
        h.finalize()
    }

    #[test]
    fn shift_is_crc32_combine() {
        let data = bytes(5000, 7);
        for split in [0, 1, 255, 256, 257, 1000, 4999, 5000] {
            let (a, b) = data.split_at(split);
            let combined = shift(crc32fast::hash(a), b.len()) ^ crc32fast::hash(b);
            assert_eq!(combined, crc32fast::hash(&data), "split {split}");
        }
    }

    #[test]
    fn frame_crc_matches_crc32fast_on_every_kind_of_range() {
        let data = bytes(20_000, 11);
        let lead = [3u8, 1, 4, 1];
        let mut crcs = RangeCrc::new(&data);
        let mut x = 5u64;
        for i in 0..2_000 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let a = (x >> 33) as usize % data.len();
            let b = a + (x >> 13) as usize % (data.len() - a + 1);
            // Ranges on and off marks, short and long, in random order.
            let (a, b) = match i % 4 {
                0 => (a - a % STRIDE, b),
                1 => (a, b - b % STRIDE).max((a, a)),
                _ => (a, b),
            };
            assert_eq!(
                crcs.frame_crc(&lead, a..b),
                direct(&lead, &data[a..b]),
                "range {a}..{b}"
            );
        }
        assert_eq!(crcs.frame_crc(&[], 0..data.len()), crc32fast::hash(&data));
        assert_eq!(crcs.frame_crc(&lead, 7..7), crc32fast::hash(&lead));
    }
}
