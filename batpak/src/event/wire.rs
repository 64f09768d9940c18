//! Headers in their stored form without serde: [`write_header`] writes the
//! one form a header is stored in, and [`read_header`] reads that form in
//! place through [`Wire`], a cursor over the few msgpack forms a header
//! uses.
//!
//! Every append encodes a header and every read of an owned event decodes
//! one; through serde that was an eighth of an append and, with three
//! allocations for the coordinate alone, a third of a `query`. Serde stays
//! the reference on both sides: [`write_header`] writes exactly the bytes
//! `EventHeader`'s `Serialize` gives through rmp-serde, and [`read_header`]
//! accepts only bytes it reads exactly as serde would, answering `None` for
//! anything else (another width of a `bin`, a non-default written out, a
//! broken rule), so the caller falls back to the serde decode, which
//! decodes the rare valid variant or says precisely what is wrong. Tests
//! and the header fuzz target hold both to serde's answers.

use super::hash::Hash;
use super::header::{
    ADMISSION_BYPASSED, ADMISSION_DIRECT, ADMISSION_GATED, Admission, EventHeader, HeaderRef,
};
use super::id::EventId;
use super::kind::EventKind;
use crate::coordinate::Coordinate;

/// msgpack `nil`.
const NIL: u8 = 0xc0;
/// msgpack `bin 8`, the form ids and hashes are written in.
const BIN8: u8 = 0xc4;

/// A cursor over msgpack bytes. Each read consumes what it read and
/// answers `None`, consuming an unspecified amount, when the next value is
/// not of the form asked for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wire<'a>(pub(crate) &'a [u8]);

impl<'a> Wire<'a> {
    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    /// The next byte, which must be `want`.
    pub(crate) fn byte(&mut self, want: u8) -> Option<()> {
        (self.take(1)?[0] == want).then_some(())
    }

    /// Whether everything was read.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Consumes a `nil` if one is next.
    fn nil(&mut self) -> bool {
        let nil = self.0.first() == Some(&NIL);
        if nil {
            self.0 = &self.0[1..];
        }
        nil
    }

    /// A big-endian unsigned integer of `n` bytes.
    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0u64, |v, b| (v << 8) | u64::from(*b)),
        )
    }

    /// An unsigned integer in any of msgpack's unsigned widths.
    pub(crate) fn uint(&mut self) -> Option<u64> {
        match self.take(1)?[0] {
            b @ 0x00..=0x7f => Some(u64::from(b)),
            0xcc => self.be(1),
            0xcd => self.be(2),
            0xce => self.be(4),
            0xcf => self.be(8),
            _ => None,
        }
    }

    /// A string's bytes (fixstr, str 8, str 16 or str 32), not checked as
    /// UTF-8.
    pub(crate) fn str_bytes(&mut self) -> Option<&'a [u8]> {
        let len = match self.take(1)?[0] {
            b @ 0xa0..=0xbf => u64::from(b & 0x1f),
            0xd9 => self.be(1)?,
            0xda => self.be(2)?,
            0xdb => self.be(4)?,
            _ => return None,
        };
        self.take(usize::try_from(len).ok()?)
    }

    /// A string.
    fn str(&mut self) -> Option<&'a str> {
        std::str::from_utf8(self.str_bytes()?).ok()
    }

    /// The length of an array (fixarray, array 16 or array 32).
    fn array_len(&mut self) -> Option<usize> {
        let len = match self.take(1)?[0] {
            b @ 0x90..=0x9f => u64::from(b & 0x0f),
            0xdc => self.be(2)?,
            0xdd => self.be(4)?,
            _ => return None,
        };
        usize::try_from(len).ok()
    }

    /// Exactly `N` bytes written as `bin 8`.
    fn bin<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.byte(BIN8)?;
        self.byte(u8::try_from(N).ok()?)?;
        self.take(N)?.try_into().ok()
    }

    /// An id (`bin 8` of 16 bytes, big-endian).
    pub(crate) fn id(&mut self) -> Option<u128> {
        self.bin::<16>().map(u128::from_be_bytes)
    }

    /// An id, or `nil` (`Some(None)`).
    pub(crate) fn optional_id(&mut self) -> Option<Option<u128>> {
        if self.nil() {
            return Some(None);
        }
        self.id().map(Some)
    }
}

/// Appends `header` in its stored form: an array of 11 fields, 12 with a
/// payload version other than 1, 13 with a state code other than 0 too;
/// ids and hashes as `bin 8`, a correlation equal to the id as `nil`, every
/// integer and length in its shortest form.
pub(crate) fn write_header(header: &HeaderRef<'_>, out: &mut Vec<u8>) {
    let stamped = header.state_code != 0;
    let versioned = stamped || header.payload_version != 1;
    out.push(0x9b + u8::from(versioned) + u8::from(stamped));
    put_id(out, header.id.as_u128());
    put_optional_id(
        out,
        (header.correlation != header.id).then_some(header.correlation.as_u128()),
    );
    put_optional_id(out, header.causation.map(EventId::as_u128));
    put_uint(out, header.timestamp_us);
    put_uint(out, header.sequence);
    put_uint(out, header.position);
    put_uint(out, u64::from(header.kind.to_u32()));
    out.push(0x92);
    put_str(out, header.coordinate.entity());
    put_str(out, header.coordinate.scope());
    put_bin(out, header.prev_hash.as_bytes());
    match header.idempotency_key {
        Some(key) => put_str(out, key),
        None => out.push(NIL),
    }
    put_admission(out, header.admission);
    if versioned {
        put_uint(out, u64::from(header.payload_version));
    }
    if stamped {
        put_uint(out, u64::from(header.state_code));
    }
}

/// An admission's stored form: `0`, `[1, gates]` or `[2, by, reason]`.
fn put_admission(out: &mut Vec<u8>, admission: &Admission) {
    match admission {
        Admission::Direct => out.push(ADMISSION_DIRECT),
        Admission::Gated { gates } => {
            out.extend_from_slice(&[0x92, ADMISSION_GATED]);
            put_array_len(out, gates.len());
            for gate in gates {
                put_str(out, gate);
            }
        }
        Admission::Bypassed { by, reason } => {
            out.extend_from_slice(&[0x93, ADMISSION_BYPASSED]);
            put_str(out, by);
            put_str(out, reason);
        }
    }
}

/// An unsigned integer in its shortest form.
fn put_uint(out: &mut Vec<u8>, v: u64) {
    if let Ok(b @ 0..=0x7f) = u8::try_from(v) {
        out.push(b);
    } else if let Ok(b) = u8::try_from(v) {
        out.extend_from_slice(&[0xcc, b]);
    } else if let Ok(v) = u16::try_from(v) {
        out.push(0xcd);
        out.extend_from_slice(&v.to_be_bytes());
    } else if let Ok(v) = u32::try_from(v) {
        out.push(0xce);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&v.to_be_bytes());
    }
}

/// A string in its shortest form: fixstr, str 8, str 16 or str 32.
fn put_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if let Ok(n @ 0..=31) = u8::try_from(len) {
        out.push(0xa0 | n);
    } else if let Ok(n) = u8::try_from(len) {
        out.extend_from_slice(&[0xd9, n]);
    } else {
        put_wide_len(out, len, 0xda, 0xdb);
    }
    out.extend_from_slice(s.as_bytes());
}

/// An array's length in its shortest form: fixarray, array 16 or array 32.
fn put_array_len(out: &mut Vec<u8>, len: usize) {
    match u8::try_from(len) {
        Ok(n @ 0..=15) => out.push(0x90 | n),
        _ => put_wide_len(out, len, 0xdc, 0xdd),
    }
}

/// A length past the short forms: 16 bits under `marker16`, else 32.
fn put_wide_len(out: &mut Vec<u8>, len: usize, marker16: u8, marker32: u8) {
    if let Ok(n) = u16::try_from(len) {
        out.push(marker16);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        // A header part is far below 4 GiB (coordinates, keys and admission
        // text are bounded before encoding).
        out.push(marker32);
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
    }
}

/// Bytes as `bin 8` (ids and hashes: 16 and 32 bytes).
fn put_bin(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&[BIN8, u8::try_from(bytes.len()).unwrap_or(u8::MAX)]);
    out.extend_from_slice(bytes);
}

fn put_id(out: &mut Vec<u8>, id: u128) {
    put_bin(out, &id.to_be_bytes());
}

fn put_optional_id(out: &mut Vec<u8>, id: Option<u128>) {
    match id {
        Some(id) => put_id(out, id),
        None => out.push(NIL),
    }
}

/// Decodes a header written as [`encode_header`](super::encode_header)
/// writes it: an array of 11 to 13 fields, ids and hashes as `bin 8`, the
/// coordinate as two strings, the admission as `0`, `[1, gates]` or
/// `[2, by, reason]`, nothing after it. `None` for anything else, valid or
/// not: the serde decode then decides.
pub(crate) fn read_header(bytes: &[u8]) -> Option<EventHeader> {
    let mut w = Wire(bytes);
    let fields = match w.take(1)?[0] {
        b @ 0x9b..=0x9d => b & 0x0f,
        _ => return None,
    };
    let id = EventId::from_u128(w.id()?);
    let correlation = match w.optional_id()? {
        None => id,
        // One header, one encoding: the default is only ever nil.
        Some(c) if c == id.as_u128() => return None,
        Some(c) => EventId::from_u128(c),
    };
    let causation = w.optional_id()?.map(EventId::from_u128);
    let timestamp_us = w.uint()?;
    let sequence = w.uint()?;
    let position = w.uint()?;
    let kind = EventKind::from_u32(u32::try_from(w.uint()?).ok()?);
    w.byte(0x92)?;
    let (entity, scope) = (w.str()?, w.str()?);
    let coordinate = Coordinate::from_parts(entity, scope).ok()?;
    let prev_hash = Hash::from_bytes(w.bin::<32>()?);
    let idempotency_key = if w.nil() {
        None
    } else {
        Some(w.str()?.to_owned())
    };
    let admission = read_admission(&mut w)?;
    // One header, one encoding: trailing defaults are left out.
    let (payload_version, state_code) = match fields {
        11 => (1, 0),
        12 => (u8::try_from(w.uint()?).ok().filter(|&v| v > 1)?, 0),
        _ => (
            u8::try_from(w.uint()?).ok().filter(|&v| v > 0)?,
            u16::try_from(w.uint()?).ok().filter(|&c| c > 0)?,
        ),
    };
    w.is_empty().then_some(EventHeader {
        id,
        correlation,
        causation,
        timestamp_us,
        sequence,
        position,
        kind,
        coordinate,
        prev_hash,
        idempotency_key,
        admission,
        payload_version,
        state_code,
    })
}

/// An admission in its stored form (see [`Admission`]'s `Serialize`).
fn read_admission(w: &mut Wire<'_>) -> Option<Admission> {
    if w.0.first() == Some(&ADMISSION_DIRECT) {
        w.take(1)?;
        return Some(Admission::Direct);
    }
    let len = w.array_len()?;
    match (len, u8::try_from(w.uint()?).ok()?) {
        (2, ADMISSION_GATED) => {
            let n = w.array_len()?;
            // Each gate takes a byte at least: a crafted count cannot make
            // this allocate beyond the bytes.
            let mut gates = Vec::with_capacity(n.min(w.0.len()));
            for _ in 0..n {
                gates.push(w.str()?.to_owned());
            }
            Some(Admission::Gated { gates })
        }
        (3, ADMISSION_BYPASSED) => Some(Admission::Bypassed {
            by: w.str()?.to_owned(),
            reason: w.str()?.to_owned(),
        }),
        _ => None,
    }
}
