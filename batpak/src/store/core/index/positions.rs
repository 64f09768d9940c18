//! One stream's event positions, kept compact: [`Positions`] replaces the
//! `Vec<u64>` each stream had in the index.
//!
//! Why: a `Vec<u64>` costs 8 bytes per event (more with spare capacity), so
//! 10M events cost 80 MB or more. Positions are strictly ascending, so each
//! is stored as the LEB128 varint of its delta to the one before (the first
//! as itself): with 100k streams sharing 10M events the gaps are ~100k,
//! which is 3 bytes each, and one sample every [`SAMPLE_EVERY`] entries (16
//! bytes) adds 0.25 bytes, about 3.25 bytes per event in all.
//!
//! Random access ([`Positions::get`], [`Positions::iter_from`],
//! [`Positions::ranked_from`]) starts at the nearest sample found by binary
//! search and decodes at most `SAMPLE_EVERY - 1` varints from there.
//!
//! [`Positions::encoded`] is the varint bytes themselves, so a file can
//! store them as they are; [`Positions::decode`] takes them back and checks
//! them exactly (canonical varints, deltas >= 1, the stated count, nothing
//! after), without trusting the count for any allocation.

use std::iter::FusedIterator;

/// How many entries apart the samples are: the bound on the varints decoded
/// for one random access, traded against 16 bytes of sample per block.
pub(crate) const SAMPLE_EVERY: u64 = 64;

/// The most bytes one canonical LEB128 varint of a `u64` takes.
const MAX_VARINT_BYTES: usize = 10;

/// The least capacity [`Positions::push`] allocates for the bytes: one
/// event's varint fits, and it is below the allocator's smallest chunk.
const MIN_BYTES_CAPACITY: usize = 8;

/// The capacity below which [`Positions::push`] doubles the bytes when
/// they grow (a quarter above it).
const DOUBLE_BELOW: usize = 64;

/// A random-access point: the value of entry `k * SAMPLE_EVERY` (for k >= 1)
/// and where the varint after it starts, so decoding can resume there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Sample {
    /// The position at this entry.
    value: u64,
    /// The byte offset just past this entry's varint in `bytes`.
    end: usize,
}

/// The ascending positions of one stream's events, compact.
///
/// `bytes` holds one varint per entry: the first position itself, then each
/// next position's delta to the one before. `samples[k - 1]` is the sample
/// of entry `k * SAMPLE_EVERY`; entry 0 needs none (it is the first
/// varint), so a stream of up to `SAMPLE_EVERY` events allocates only its
/// bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Positions {
    /// The varints, back to back.
    bytes: Vec<u8>,
    /// One sample per `SAMPLE_EVERY` entries after the first block.
    samples: Vec<Sample>,
    /// How many entries there are.
    len: u64,
    /// The last entry, so [`Positions::last`] and [`Positions::push`] need
    /// no decoding (0 when empty).
    last: u64,
}

impl Positions {
    /// Appends `position`, which must be greater than the last one (the
    /// first may be anything, 0 included); checked by a `debug_assert`.
    ///
    /// In a release build a position not above the last is stored as the
    /// last one again (the delta saturates to 0): the count stays right and
    /// the entries stay sorted (non-decreasing), so every query still
    /// answers as on the same sorted `Vec`, and [`Positions::decode`]
    /// rejects the [`Positions::encoded`] bytes, which surfaces the bug at
    /// the next load instead of hiding it.
    pub(crate) fn push(&mut self, position: u64) {
        let (value, delta) = if self.len == 0 {
            // The first varint is the position itself.
            (position, position)
        } else {
            debug_assert!(
                position > self.last,
                "positions must ascend: {position} after {}",
                self.last
            );
            let value = self.last.max(position);
            (value, value - self.last)
        };
        let (buf, used) = encode_varint(delta);
        let varint = buf.get(..used).unwrap_or_default();
        self.reserve_bytes(varint.len());
        self.bytes.extend_from_slice(varint);
        if self.len > 0 && self.len.is_multiple_of(SAMPLE_EVERY) {
            if self.samples.len() == self.samples.capacity() {
                // Grow by half, not double: samples are few and long-lived.
                let more = (self.samples.len() / 2).max(1);
                self.samples.reserve_exact(more);
            }
            self.samples.push(Sample {
                value,
                end: self.bytes.len(),
            });
        }
        self.len += 1;
        self.last = value;
    }

    /// Makes room for `additional` more bytes, growing by a quarter rather
    /// than doubling: at ~3 bytes per event, a doubled buffer's spare half
    /// would cost more than the samples. Still amortised O(1) per push.
    /// Below [`DOUBLE_BELOW`] bytes it doubles: growing a small buffer by a
    /// quarter reallocates every few pushes, and an open that loads 100k
    /// streams a few events at a time (a sealed segment after another) ran
    /// ~10% faster and held ~4 MB less (10M events, medians of 6 runs).
    fn reserve_bytes(&mut self, additional: usize) {
        let len = self.bytes.len();
        let capacity = self.bytes.capacity();
        if capacity - len >= additional {
            return;
        }
        let target = capacity
            .saturating_add((capacity / 4).max(capacity.min(DOUBLE_BELOW)))
            .max(len.saturating_add(additional))
            .max(MIN_BYTES_CAPACITY);
        self.bytes.reserve_exact(target - len);
    }

    /// How many positions there are.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    #[cfg(test)]
    /// Whether there are none.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first (smallest) position: the first varint, decoded.
    pub(crate) fn first(&self) -> Option<u64> {
        read_varint(&self.bytes).map(|(value, _)| value)
    }

    /// The last (greatest) position, in O(1).
    pub(crate) fn last(&self) -> Option<u64> {
        (self.len > 0).then_some(self.last)
    }

    /// The `i`-th position (0-based), decoding at most `SAMPLE_EVERY - 1`
    /// varints past the sample before it.
    #[cfg(any(test, feature = "fuzzing"))]
    pub(crate) fn get(&self, i: u64) -> Option<u64> {
        if i >= self.len {
            return None;
        }
        let (mut value, mut rest) = self.block_start(i / SAMPLE_EVERY)?;
        for _ in 0..i % SAMPLE_EVERY {
            let (delta, used) = read_varint(rest)?;
            rest = rest.get(used..)?;
            value = value.checked_add(delta)?;
        }
        Some(value)
    }

    /// All positions, ascending.
    pub(crate) fn iter(&self) -> Iter<'_> {
        Iter {
            rest: &self.bytes,
            // The first varint is the first position itself: its "delta"
            // from 0.
            prev: 0,
            pending: None,
            remaining: self.len,
        }
    }

    /// The positions `>= lo`, ascending: a binary search over the samples,
    /// then at most `SAMPLE_EVERY - 1` varints skipped.
    pub(crate) fn iter_from(&self, lo: u64) -> Iter<'_> {
        self.seek(lo).0
    }

    /// [`Positions::iter_from`], and how many positions are `< lo` (as
    /// `Vec::partition_point(|&p| p < lo)` would say), from one search.
    pub(crate) fn ranked_from(&self, lo: u64) -> (Iter<'_>, u64) {
        self.seek(lo)
    }

    /// The bytes allocated (capacity, not length), for docs and benches.
    pub(crate) fn heap_bytes(&self) -> usize {
        self.bytes.capacity() + self.samples.capacity() * size_of::<Sample>()
    }

    /// The varints, for a file format: the first is the first position
    /// itself, each next the delta (>= 1) to the one before.
    pub(crate) fn encoded(&self) -> &[u8] {
        &self.bytes
    }

    /// Rebuilds from [`Positions::encoded`] bytes and the count, or `None`
    /// unless `bytes` is exactly `count` canonical varints (no overlong
    /// form, at most 10 bytes, no `u64` overflow, in value or in sum), every
    /// delta after the first >= 1, nothing after.
    ///
    /// Allocates only O(`bytes.len()`): the count is checked against the
    /// bytes (each varint takes at least one) before it sizes anything.
    pub(crate) fn decode(count: u64, bytes: &[u8]) -> Option<Self> {
        // Checked before the copy: a count the bytes cannot hold is refused
        // without allocating.
        let (samples, last) = Self::checked(count, bytes)?;
        Some(Positions {
            bytes: bytes.to_vec(),
            samples,
            len: count,
            last,
        })
    }

    /// [`Positions::decode`] of bytes read into a buffer of their own,
    /// which becomes the positions' (no second copy).
    pub(crate) fn decode_owned(count: u64, bytes: Vec<u8>) -> Option<Self> {
        let (samples, last) = Self::checked(count, &bytes)?;
        Some(Positions {
            bytes,
            samples,
            len: count,
            last,
        })
    }

    /// The checks of [`Positions::decode`]: the samples and the last
    /// position of `count` canonical varints that are all of `bytes`.
    fn checked(count: u64, bytes: &[u8]) -> Option<(Vec<Sample>, u64)> {
        if count > u64::try_from(bytes.len()).ok()? {
            return None;
        }
        let blocks = usize::try_from(count.saturating_sub(1) / SAMPLE_EVERY).ok()?;
        let mut samples = Vec::with_capacity(blocks);
        let mut rest = bytes;
        let mut len = 0u64;
        let mut last = 0u64;
        while !rest.is_empty() {
            if len == count {
                return None;
            }
            let (delta, used) = read_varint(rest)?;
            rest = rest.get(used..)?;
            last = if len == 0 {
                delta
            } else if delta == 0 {
                return None;
            } else {
                last.checked_add(delta)?
            };
            if len > 0 && len.is_multiple_of(SAMPLE_EVERY) {
                samples.push(Sample {
                    value: last,
                    end: bytes.len() - rest.len(),
                });
            }
            len += 1;
        }
        (len == count).then_some((samples, last))
    }

    #[cfg(test)]
    /// Drops spare capacity, e.g. once a stream is rebuilt from a file or
    /// has gone quiet.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.bytes.shrink_to_fit();
        self.samples.shrink_to_fit();
    }

    /// The value of entry `block * SAMPLE_EVERY` and the bytes after its
    /// varint, or `None` past the end.
    fn block_start(&self, block: u64) -> Option<(u64, &[u8])> {
        if block == 0 {
            let (value, used) = read_varint(&self.bytes)?;
            return Some((value, self.bytes.get(used..)?));
        }
        let index = usize::try_from(block - 1).ok()?;
        let sample = self.samples.get(index)?;
        Some((sample.value, self.bytes.get(sample.end..)?))
    }

    /// An iterator at the first position `>= lo` and that position's index
    /// (the count of positions `< lo`).
    fn seek(&self, lo: u64) -> (Iter<'_>, u64) {
        match self.first() {
            None => return (Iter::empty(), 0),
            Some(first) if first >= lo => return (self.iter(), 0),
            Some(_) => {}
        }
        if lo > self.last {
            return (Iter::empty(), self.len);
        }
        // The last block whose first entry is < lo: block 0 starts at
        // `first` (< lo), block k >= 1 at `samples[k - 1]`.
        let block = self.samples.partition_point(|s| s.value < lo);
        let block = u64::try_from(block).unwrap_or(u64::MAX);
        let Some((mut value, mut rest)) = self.block_start(block) else {
            return (Iter::empty(), self.len);
        };
        let mut rank = block.saturating_mul(SAMPLE_EVERY);
        while value < lo {
            let Some((delta, used)) = read_varint(rest) else {
                return (Iter::empty(), self.len);
            };
            rest = rest.get(used..).unwrap_or_default();
            value = value.saturating_add(delta);
            rank += 1;
        }
        let iter = Iter {
            rest,
            prev: value,
            pending: Some(value),
            remaining: self.len.saturating_sub(rank),
        };
        (iter, rank)
    }
}

/// Positions in ascending order, decoded one varint at a time; from
/// [`Positions::iter`] and [`Positions::iter_from`].
#[derive(Debug, Clone)]
pub(crate) struct Iter<'a> {
    /// The varints not yet decoded.
    rest: &'a [u8],
    /// The last position decoded (0 before the first varint).
    prev: u64,
    /// A position already decoded but not yet yielded (after a seek).
    pending: Option<u64>,
    /// How many positions are left, for `size_hint`.
    remaining: u64,
}

impl Iter<'_> {
    /// An iterator that yields nothing.
    fn empty() -> Self {
        Iter {
            rest: &[],
            prev: 0,
            pending: None,
            remaining: 0,
        }
    }
}

impl Iterator for Iter<'_> {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        if let Some(value) = self.pending.take() {
            self.remaining = self.remaining.saturating_sub(1);
            return Some(value);
        }
        // The bytes came from `push` or a checked `decode`, so neither
        // failure below happens; if one did, the iteration just ends.
        let next = read_varint(self.rest).and_then(|(delta, used)| {
            Some((self.prev.checked_add(delta)?, self.rest.get(used..)?))
        });
        let Some((value, rest)) = next else {
            self.rest = &[];
            self.remaining = 0;
            return None;
        };
        self.rest = rest;
        self.prev = value;
        self.remaining = self.remaining.saturating_sub(1);
        Some(value)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // Each entry is at least one byte, so the count fits a usize.
        match usize::try_from(self.remaining) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl FusedIterator for Iter<'_> {}

/// `value` as an LEB128 varint (7 bits a byte, low first, the high bit set
/// on every byte but the last): the buffer and how many bytes of it are
/// used. On the stack, so `push` can reserve exactly what it appends.
fn encode_varint(mut value: u64) -> ([u8; MAX_VARINT_BYTES], usize) {
    let mut buf = [0u8; MAX_VARINT_BYTES];
    let mut used = 0;
    for slot in &mut buf {
        used += 1;
        if value < 0x80 {
            *slot = value as u8;
            break;
        }
        *slot = (value & 0x7f) as u8 | 0x80;
        value >>= 7;
    }
    (buf, used)
}

/// Reads one canonical LEB128 varint from the start of `bytes`: its value
/// and length, or `None` if it is cut short, longer than 10 bytes,
/// overlong (a final 0 byte after others) or over `u64::MAX`.
fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in bytes.iter().take(MAX_VARINT_BYTES).enumerate() {
        let low = u64::from(byte & 0x7f);
        if i == MAX_VARINT_BYTES - 1 && low > 1 {
            // The 10th byte holds only bit 63.
            return None;
        }
        value |= low << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return None;
            }
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds by `push`.
    fn build(values: &[u64]) -> Positions {
        let mut positions = Positions::default();
        for &value in values {
            positions.push(value);
        }
        positions
    }

    /// Checks every query of `positions` against the sorted `model`.
    fn check_against(positions: &Positions, model: &[u64]) {
        let len = model.len() as u64;
        assert_eq!(positions.len(), len);
        assert_eq!(positions.is_empty(), model.is_empty());
        assert_eq!(positions.first(), model.first().copied());
        assert_eq!(positions.last(), model.last().copied());
        assert_eq!(positions.iter().collect::<Vec<_>>(), model);
        assert_eq!(
            positions.iter().size_hint(),
            (model.len(), Some(model.len()))
        );
        for (i, &value) in model.iter().enumerate() {
            assert_eq!(positions.get(i as u64), Some(value), "get({i})");
        }
        assert_eq!(positions.get(len), None);
        assert_eq!(positions.get(u64::MAX), None);
        let mut probes = vec![0, 1, u64::MAX, u64::MAX - 1];
        for &value in model {
            probes.extend([value.saturating_sub(1), value, value.saturating_add(1)]);
        }
        for lo in probes {
            check_from(positions, model, lo);
        }
        assert_eq!(
            Positions::decode(len, positions.encoded()).as_ref(),
            Some(positions)
        );
    }

    /// Checks `iter_from(lo)` and `ranked_from(lo)` against the model.
    fn check_from(positions: &Positions, model: &[u64], lo: u64) {
        let rank = model.partition_point(|&p| p < lo);
        let (ranked, before) = positions.ranked_from(lo);
        assert_eq!(before, rank as u64, "ranked_from({lo})");
        assert_eq!(
            ranked.collect::<Vec<_>>(),
            &model[rank..],
            "ranked_from({lo})"
        );
        let iter = positions.iter_from(lo);
        let rest = model.len() - rank;
        assert_eq!(iter.size_hint(), (rest, Some(rest)), "size_hint from {lo}");
        assert_eq!(iter.collect::<Vec<_>>(), &model[rank..], "iter_from({lo})");
    }

    #[test]
    fn empty_answers_nothing() {
        let positions = Positions::default();
        check_against(&positions, &[]);
        assert_eq!(positions.iter_from(0).next(), None);
        assert_eq!(positions.ranked_from(u64::MAX).1, 0);
        assert_eq!(positions.heap_bytes(), 0);
        assert!(positions.encoded().is_empty());
        assert_eq!(Positions::decode(0, &[]), Some(Positions::default()));
    }

    #[test]
    fn one_zero() {
        let positions = build(&[0]);
        check_against(&positions, &[0]);
        assert_eq!(positions.encoded(), &[0]);
    }

    #[test]
    fn one_max() {
        let positions = build(&[u64::MAX]);
        check_against(&positions, &[u64::MAX]);
        assert_eq!(positions.encoded().len(), 10);
        assert_eq!(positions.ranked_from(u64::MAX).1, 0);
        assert_eq!(
            positions.iter_from(u64::MAX).collect::<Vec<_>>(),
            [u64::MAX]
        );
    }

    #[test]
    fn gaps_of_one_take_a_byte_each() {
        let model: Vec<u64> = (0..1000).collect();
        let positions = build(&model);
        check_against(&positions, &model);
        assert_eq!(positions.encoded().len(), 1000);
    }

    #[test]
    fn huge_gaps() {
        let model = [0, u64::MAX - 1, u64::MAX];
        check_against(&build(&model), &model);
        let model = [1, u64::MAX];
        check_against(&build(&model), &model);
        let model: Vec<u64> = (0..200).map(|i| i << 56).collect();
        check_against(&build(&model), &model);
    }

    #[test]
    fn sample_boundaries() {
        for n in [63u64, 64, 65, 127, 128, 129, 130, 192, 193, 300] {
            let model: Vec<u64> = (0..n).map(|i| 10 + i * 7).collect();
            let positions = build(&model);
            check_against(&positions, &model);
            for i in [0, 1, 62, 63, 64, 65, 127, 128, 129, 191, 192, 193] {
                let value = model.get(i as usize).copied();
                assert_eq!(positions.get(i), value, "n={n} get({i})");
                let lo = 10 + i * 7;
                check_from(&positions, &model, lo);
                check_from(&positions, &model, lo - 1);
                check_from(&positions, &model, lo + 1);
            }
        }
    }

    #[test]
    fn samples_sit_at_every_64th_entry() {
        let model: Vec<u64> = (0..200).map(|i| i * 3).collect();
        let positions = build(&model);
        let values: Vec<u64> = positions.samples.iter().map(|s| s.value).collect();
        assert_eq!(values, [64 * 3, 128 * 3, 192 * 3]);
        assert_eq!(positions.samples[0].end, 65);
    }

    #[test]
    fn about_three_bytes_per_event_at_gaps_of_100k() {
        let model: Vec<u64> = (1..=10_000).map(|i| i * 100_000).collect();
        let mut positions = build(&model);
        check_against(&positions, &model);
        let grown = positions.heap_bytes() as f64 / 10_000.0;
        positions.shrink_to_fit();
        let shrunk = positions.heap_bytes() as f64 / 10_000.0;
        assert!(shrunk <= 3.3, "{shrunk} bytes per event after shrink");
        assert!(grown <= 4.2, "{grown} bytes per event before shrink");
    }

    #[test]
    fn a_hundred_at_gaps_of_100k() {
        // Measured: 300 bytes of varints and one 16-byte sample; 382 bytes
        // allocated as grown, 316 after `shrink_to_fit` (a `Vec<u64>` grown
        // by push holds 1024).
        let model: Vec<u64> = (1..=100).map(|i| i * 100_000).collect();
        let mut positions = build(&model);
        assert_eq!(positions.encoded().len(), 300);
        assert!(positions.heap_bytes() <= 400, "{}", positions.heap_bytes());
        positions.shrink_to_fit();
        assert_eq!(positions.heap_bytes(), 300 + size_of::<Sample>());
        check_against(&positions, &model);
    }

    #[test]
    fn a_small_stream_allocates_only_its_bytes() {
        let positions = build(&[5_000_000]);
        assert_eq!(positions.heap_bytes(), MIN_BYTES_CAPACITY);
        let positions = build(&(0..64).collect::<Vec<_>>());
        assert_eq!(positions.samples.capacity(), 0);
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, (1u64 << shift) + 1] {
                let (buf, used) = encode_varint(value);
                assert_eq!(read_varint(&buf[..used]), Some((value, used)));
                assert_eq!(read_varint(&buf), Some((value, used)));
            }
        }
        let (out, used) = encode_varint(u64::MAX);
        assert_eq!(used, 10);
        assert_eq!(
            out,
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]
        );
    }

    #[test]
    fn decode_rejects_bad_input() {
        // Overlong forms.
        assert_eq!(Positions::decode(1, &[0x80, 0x00]), None);
        assert_eq!(Positions::decode(1, &[0x81, 0x80, 0x00]), None);
        assert_eq!(Positions::decode(2, &[0x05, 0x80, 0x00]), None);
        // Eleven bytes, and ten with more than bit 63.
        assert_eq!(
            Positions::decode(
                1,
                &[0xff; 10]
                    .iter()
                    .chain(&[0x01])
                    .copied()
                    .collect::<Vec<_>>()
            ),
            None
        );
        assert_eq!(
            Positions::decode(
                1,
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]
            ),
            None
        );
        // A zero delta.
        assert_eq!(Positions::decode(2, &[0x05, 0x00]), None);
        // Overflow in the sum.
        let mut bytes = vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        bytes.push(0x01);
        assert_eq!(Positions::decode(2, &bytes), None);
        // Trailing bytes.
        assert_eq!(Positions::decode(1, &[0x05, 0x01]), None);
        assert_eq!(Positions::decode(0, &[0x05]), None);
        // Short input: a count beyond the varints, a varint cut off.
        assert_eq!(Positions::decode(3, &[0x05, 0x01]), None);
        assert_eq!(Positions::decode(1, &[0x80]), None);
        assert_eq!(Positions::decode(1, &[]), None);
        // A count larger than the bytes, rejected before any allocation.
        assert_eq!(Positions::decode(u64::MAX, &[0x01, 0x01, 0x01]), None);
        assert_eq!(Positions::decode(4, &[0x01, 0x01, 0x01]), None);
        // And the good ones.
        assert_eq!(
            Positions::decode(3, &[0x01, 0x01, 0x01]),
            Some(build(&[1, 2, 3]))
        );
    }

    #[cfg(debug_assertions)]
    #[test]
    #[should_panic(expected = "positions must ascend")]
    fn a_repeated_position_is_caught_in_debug() {
        build(&[5, 5]);
    }

    #[cfg(not(debug_assertions))]
    #[test]
    fn a_stray_position_saturates_in_release() {
        let positions = build(&[5, 9, 3, 12]);
        check_against_sorted(&positions, &[5, 9, 9, 12]);
        assert_eq!(Positions::decode(4, positions.encoded()), None);
    }

    /// As `check_against`, for a model that may repeat (release-only path),
    /// without the round trip, which a repeat fails by design.
    #[cfg(not(debug_assertions))]
    fn check_against_sorted(positions: &Positions, model: &[u64]) {
        assert_eq!(positions.len(), model.len() as u64);
        assert_eq!(positions.last(), model.last().copied());
        assert_eq!(positions.iter().collect::<Vec<_>>(), model);
        for (i, &value) in model.iter().enumerate() {
            assert_eq!(positions.get(i as u64), Some(value));
        }
        for lo in 0..15 {
            check_from(positions, model, lo);
        }
    }

    /// Strictly ascending vectors: sorted, deduplicated random `u64`s,
    /// mixed with runs of small gaps from random starts.
    fn ascending() -> impl Strategy<Value = Vec<u64>> {
        let wide = prop::collection::vec(any::<u64>(), 0..300);
        let narrow = prop::collection::vec(
            (any::<u64>(), prop::collection::vec(1u64..300, 0..200)),
            0..3,
        );
        (wide, narrow).prop_map(|(mut values, runs)| {
            for (start, gaps) in runs {
                let mut at = start >> (start % 64);
                values.push(at);
                for gap in gaps {
                    at = at.saturating_add(gap);
                    values.push(at);
                }
            }
            values.sort_unstable();
            values.dedup();
            values
        })
    }

    proptest! {
        #[test]
        fn matches_a_sorted_vec(
            model in ascending(),
            probes in prop::collection::vec(any::<u64>(), 0..20),
        ) {
            let positions = build(&model);
            check_against(&positions, &model);
            for lo in probes {
                check_from(&positions, &model, lo);
            }
            let mut shrunk = positions.clone();
            shrunk.shrink_to_fit();
            prop_assert_eq!(&shrunk, &positions);
        }

        #[test]
        fn decode_never_panics(
            random_count in 0u64..600,
            by_terminators in any::<bool>(),
            bytes in prop::collection::vec(any::<u8>(), 0..600),
        ) {
            // Counting the final bytes (high bit clear) gives the only
            // count that can fit, so many cases get past the count check.
            let count = if by_terminators {
                bytes.iter().filter(|&&b| b & 0x80 == 0).count() as u64
            } else {
                random_count
            };
            // Decoding a buffer it owns is the same decode.
            prop_assert_eq!(
                Positions::decode_owned(count, bytes.clone()),
                Positions::decode(count, &bytes)
            );
            if let Some(positions) = Positions::decode(count, &bytes) {
                prop_assert_eq!(positions.len(), count);
                prop_assert_eq!(positions.encoded(), &bytes[..]);
                let rebuilt = build(&positions.iter().collect::<Vec<_>>());
                prop_assert_eq!(rebuilt.encoded(), &bytes[..]);
                prop_assert_eq!(&rebuilt, &positions);
            }
        }

        #[test]
        fn decode_of_small_varints_finds_the_count(
            bytes in prop::collection::vec(1u8..0x80, 0..300),
            extra in 0u64..3,
        ) {
            // Single-byte nonzero varints are always valid: only the count
            // decides.
            let n = bytes.len() as u64;
            prop_assert!(Positions::decode(n, &bytes).is_some());
            prop_assert!(Positions::decode(n + 1 + extra, &bytes).is_none());
            if n > 0 {
                prop_assert!(Positions::decode(n - 1, &bytes).is_none());
            }
        }

        #[test]
        fn decode_with_any_count_never_panics(
            count in any::<u64>(),
            bytes in prop::collection::vec(any::<u8>(), 0..40),
        ) {
            if let Some(positions) = Positions::decode(count, &bytes) {
                prop_assert_eq!(positions.len(), count);
                prop_assert_eq!(positions.encoded(), &bytes[..]);
            }
        }
    }
}
