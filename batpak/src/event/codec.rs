//! msgpack encoding of headers and payloads, with limits on decode.
//!
//! Headers are compact arrays (our own schema, versioned by the file format).
//! Payloads are maps with field names, so a user can add an optional field to
//! an event type without rewriting history. Decoding reads from a slice and
//! is depth-limited: a crafted length cannot make it allocate beyond the
//! slice, and a crafted nesting cannot overflow the stack. A decode must
//! never accept trailing bytes: one value, one encoding.

use std::cell::Cell;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::header::EventHeader;
use super::kind::EventKind;

/// Deepest nesting accepted when decoding bytes read from disk.
pub const MAX_DECODE_DEPTH: usize = 128;

/// A value failed to encode or decode.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The value could not be encoded as msgpack.
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// `"header"` or `"payload"`.
        what: &'static str,
        /// The encoder's error.
        source: rmp_serde::encode::Error,
    },
    /// The bytes did not decode into the requested type.
    #[error("cannot decode {what} as {type_name}: {source}")]
    Decode {
        /// `"header"` or `"payload"`.
        what: &'static str,
        /// The Rust type asked for.
        type_name: &'static str,
        /// The decoder's error.
        source: rmp_serde::decode::Error,
    },
    /// The payload was written at a newer payload version than the type
    /// it is read as knows: reading it anyway could misread it, so it is
    /// refused. Upgrade the reader (its code has an upcaster chain up to
    /// `stored`).
    #[error(
        "payload of kind {kind} was written at payload version {stored}, newer than the {known} \
         this code knows; read it with the code that wrote it, or newer"
    )]
    NewerPayloadVersion {
        /// The event's kind.
        kind: EventKind,
        /// The version in its header.
        stored: u8,
        /// The newest version the reading type knows for that kind.
        known: u8,
    },
    /// The bytes held a complete value followed by more bytes.
    #[error("{what} is followed by {extra} unexpected bytes")]
    TrailingBytes {
        /// `"header"` or `"payload"`.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
}

/// Encodes a header as a compact msgpack array.
///
/// # Errors
/// None today: a header always encodes. The `Result` is kept so that a
/// future field that can fail does not change the signature.
pub fn encode_header(header: &EventHeader) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(160);
    super::wire::write_header(&header.borrowed(), &mut out);
    Ok(out)
}

/// Appends a borrowed header's encoding to `out` (the same bytes as
/// [`encode_header`] for the equal [`EventHeader`]): the append path's.
pub(crate) fn encode_header_ref_into(header: &super::header::HeaderRef<'_>, out: &mut Vec<u8>) {
    super::wire::write_header(header, out);
}

/// Encodes a payload as msgpack with named fields.
///
/// # Errors
/// [`CodecError::Encode`] when the payload's `Serialize` impl fails.
pub fn encode_payload<P: Serialize + ?Sized>(payload: &P) -> Result<Vec<u8>, CodecError> {
    // Sized for a typical payload so encoding does not regrow from empty.
    let mut out = Vec::with_capacity(128);
    rmp_serde::encode::write_named(&mut out, payload).map_err(|source| CodecError::Encode {
        what: "payload",
        source,
    })?;
    Ok(out)
}

/// Decodes a header from exactly its bytes.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes are not a valid header (including a
/// coordinate that breaks the validation rules, or an id or hash not stored
/// as `bin` of the right length); [`CodecError::TrailingBytes`] when bytes
/// are left after the header.
pub fn decode_header(bytes: &[u8]) -> Result<EventHeader, CodecError> {
    // The form the encoder writes, read in place; anything else through
    // serde, which decodes a valid variant or says what is wrong.
    super::wire::read_header(bytes).map_or_else(|| decode("header", bytes), Ok)
}

/// Decodes a payload, from exactly its bytes, straight into the caller's type.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes do not fit `P`;
/// [`CodecError::TrailingBytes`] when bytes are left after the payload.
pub fn decode_payload<P: DeserializeOwned>(bytes: &[u8]) -> Result<P, CodecError> {
    decode("payload", bytes)
}

/// The stored kind and payload version of the payload being decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredPayload {
    /// The event's kind.
    pub kind: EventKind,
    /// The payload version in its header.
    pub version: u8,
}

thread_local! {
    /// What [`decode_stored`] is decoding, until a version-aware
    /// `Deserialize` (a machine with upcasters) takes it.
    static STORED: Cell<Option<StoredPayload>> = const { Cell::new(None) };
    /// Set by a version-aware `Deserialize` that met a version newer than
    /// it knows: the newest it knows.
    static NEWER: Cell<Option<u8>> = const { Cell::new(None) };
}

/// Decodes a stored payload of `kind` written at payload `version`: every
/// read path decodes through here. While `P` deserializes, the kind and
/// version are offered to a version-aware `Deserialize` (what the derive
/// generates for a machine with upcasters), which takes them to pick the
/// upcaster chain. A payload no such impl took must be version 1, the
/// only one a plain `Deserialize` knows.
///
/// # Errors
/// As [`decode_payload`], and [`CodecError::NewerPayloadVersion`] when the
/// stored version is newer than `P` knows.
pub fn decode_stored<P: DeserializeOwned>(
    kind: EventKind,
    version: u8,
    bytes: &[u8],
) -> Result<P, CodecError> {
    let previous = STORED.replace(Some(StoredPayload { kind, version }));
    NEWER.set(None);
    let decoded = decode::<P>("payload", bytes);
    let untaken = STORED.replace(previous).is_some();
    let newer = |known| CodecError::NewerPayloadVersion {
        kind,
        stored: version,
        known,
    };
    if let Some(known) = NEWER.take() {
        return Err(newer(known));
    }
    // A plain `Deserialize` knows version 1 only: whatever it made of a
    // newer payload (an error or, worse, a value) is not trusted.
    if untaken && version > 1 {
        return Err(newer(1));
    }
    decoded
}

/// For a version-aware `Deserialize` of a machine of `category`: the
/// stored kind and version of the payload [`decode_stored`] is decoding, if
/// it belongs to that category (taken, so a payload nested inside it is
/// decoded as written). `None` outside `decode_stored` (a value decoded
/// from elsewhere is read as the current version).
#[must_use]
pub fn take_stored_payload(category: u16) -> Option<StoredPayload> {
    let stored = STORED.get()?;
    if stored.kind.category() != category {
        return None;
    }
    STORED.set(None);
    Some(stored)
}

/// For a `Deserialize` that reads any payload version as raw data (a tool
/// showing stored values, such as `batpak dump`): takes the stored kind and
/// version of the payload [`decode_stored`] is decoding, so a version the
/// type cannot upcast is not refused. A typed payload never calls it.
#[must_use]
pub fn read_any_payload_version() -> Option<StoredPayload> {
    STORED.take()
}

/// For a version-aware `Deserialize`: the stored version is newer than
/// `known`, the newest it knows. [`decode_stored`] then returns
/// [`CodecError::NewerPayloadVersion`].
pub fn refuse_newer_payload(known: u8) {
    NEWER.set(Some(known));
}

/// The `payload_version` and `state_code` of an encoded header (its
/// optional trailing fields), read without decoding the rest: what replay's
/// fast path, which decodes no header, needs to decode the payload. `None`
/// when the bytes are not a header of 11 to 13 fields (of 12 or 13, when
/// the fields before them do not end where the trailing ones begin).
pub(crate) fn header_stamp(header: &[u8]) -> Option<(u8, u16)> {
    let fields = match header.first()? {
        // Both trailing fields at their defaults (a plain append, most of
        // a log): nothing to walk to. The frame's other fields are checked
        // where the frame is (this is only the stamp).
        0x9b => return Some((1, 0)),
        0x9c => 12,
        0x9d => 13,
        _ => return None,
    };
    let mut at = 1usize;
    for _ in 0..11 {
        at = at.checked_add(msgpack_value_len(header.get(at..)?)?)?;
    }
    let mut rest = super::wire::Wire(header.get(at..)?);
    let version = u8::try_from(rest.uint()?).ok()?;
    let code = if fields == 13 {
        u16::try_from(rest.uint()?).ok()?
    } else {
        0
    };
    rest.is_empty().then_some((version, code))
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    let decode_error = |source| CodecError::Decode {
        what,
        type_name: std::any::type_name::<T>(),
        source,
    };
    // A frame holds exactly one value, and extra bytes mean corruption. When
    // the bytes are exactly one well-formed value, the value decoded straight
    // from the slice is the answer (strings and keys are borrowed, not copied
    // through a buffer: about 25% faster on a typical payload); rmp-serde
    // checks that the type consumes the whole value. Decoding first and
    // then finding nothing after it (the common case) proves that without
    // walking the value twice; anything else is decided as before, by the
    // value's length.
    let stored = STORED.get();
    let mut deserializer = rmp_serde::Deserializer::from_read_ref(bytes);
    deserializer.set_max_depth(MAX_DECODE_DEPTH);
    let direct = T::deserialize(&mut deserializer);
    let nothing_after = direct.is_ok() && ends_here(&mut deserializer);
    if nothing_after || msgpack_value_len(bytes) == Some(bytes.len()) {
        return direct.map_err(decode_error);
    }
    // Otherwise read through a `&[u8]` cursor, for the precise error: what
    // failed to decode, or how many bytes were left over. The decode sees
    // the stored payload's version as the first one did.
    STORED.set(stored);
    let mut rest = bytes;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    deserializer.set_max_depth(MAX_DECODE_DEPTH);
    let value = T::deserialize(&mut deserializer).map_err(decode_error)?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// True when `deserializer` has no byte left: reading one marker (and
/// nothing after it) meets the end of the slice.
fn ends_here<'de, R: rmp_serde::decode::ReadSlice<'de>>(
    deserializer: &mut rmp_serde::Deserializer<R>,
) -> bool {
    /// Visits whatever marker comes next without reading past it.
    struct NextMarker;
    impl<'de> serde::de::Visitor<'de> for NextMarker {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("any marker")
        }
        fn visit_none<E>(self) -> Result<(), E> {
            Ok(())
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, _: D) -> Result<(), D::Error> {
            Ok(())
        }
    }
    matches!(
        serde::Deserializer::deserialize_option(deserializer, NextMarker),
        Err(rmp_serde::decode::Error::InvalidMarkerRead(e))
            if e.kind() == std::io::ErrorKind::UnexpectedEof
    )
}

/// Length in bytes of the first complete msgpack value in `bytes`, or `None`
/// when it is malformed or cut short. Iterative (no recursion: nesting depth
/// cannot overflow the stack) and allocation-free; every value takes at least
/// one byte, so a crafted count is refused as soon as it exceeds the bytes left.
fn msgpack_value_len(bytes: &[u8]) -> Option<usize> {
    fn be(bytes: &[u8], at: usize, n: usize) -> Option<usize> {
        let mut v = 0usize;
        for &b in bytes.get(at..at.checked_add(n)?)? {
            v = v.checked_mul(256)?.checked_add(usize::from(b))?;
        }
        Some(v)
    }
    let mut at = 0usize;
    let mut pending = 1usize;
    while pending > 0 {
        pending -= 1;
        let marker = *bytes.get(at)?;
        // (fixed bytes after the marker, bytes holding a length, values that follow)
        let (skip, len_bytes, children): (usize, usize, usize) = match marker {
            0x00..=0x7f | 0xc0 | 0xc2 | 0xc3 | 0xe0..=0xff => (0, 0, 0),
            0x80..=0x8f => (0, 0, 2 * usize::from(marker & 0x0f)),
            0x90..=0x9f => (0, 0, usize::from(marker & 0x0f)),
            0xa0..=0xbf => (usize::from(marker & 0x1f), 0, 0),
            0xc1 => return None,
            0xc4 | 0xd9 => (0, 1, 0),
            0xc5 | 0xda => (0, 2, 0),
            0xc6 | 0xdb => (0, 4, 0),
            0xc7 => (1, 1, 0),
            0xc8 => (1, 2, 0),
            0xc9 => (1, 4, 0),
            0xcc | 0xd0 => (1, 0, 0),
            0xcd | 0xd1 => (2, 0, 0),
            0xca | 0xce | 0xd2 => (4, 0, 0),
            0xcb | 0xcf | 0xd3 => (8, 0, 0),
            0xd4 => (2, 0, 0),
            0xd5 => (3, 0, 0),
            0xd6 => (5, 0, 0),
            0xd7 => (9, 0, 0),
            0xd8 => (17, 0, 0),
            0xdc => (0, 0, be(bytes, at + 1, 2)?),
            0xdd => (0, 0, be(bytes, at + 1, 4)?),
            0xde => (0, 0, be(bytes, at + 1, 2)?.checked_mul(2)?),
            0xdf => (0, 0, be(bytes, at + 1, 4)?.checked_mul(2)?),
        };
        // Collection headers carry their count where a length would be.
        let count_bytes = match marker {
            0xdc | 0xde => 2,
            0xdd | 0xdf => 4,
            _ => 0,
        };
        let data = if len_bytes > 0 {
            be(bytes, at + 1, len_bytes)?
        } else {
            0
        };
        at = at
            .checked_add(1 + len_bytes + count_bytes)?
            .checked_add(skip)?
            .checked_add(data)?;
        pending = pending.checked_add(children)?;
        if at > bytes.len() || pending > bytes.len() - at {
            return None;
        }
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::event::{EventId, Hash};

    #[derive(serde::Serialize)]
    struct Sample {
        n: u64,
        text: String,
        list: Vec<i64>,
        map: BTreeMap<String, Option<f64>>,
        id: EventId,
        hash: Hash,
        flag: bool,
        small: f32,
    }

    fn encodings() -> Vec<Vec<u8>> {
        let long = "x".repeat(70_000);
        let map: BTreeMap<String, Option<f64>> = (0..20)
            .map(|i| (format!("k{i}"), (i % 2 == 0).then_some(f64::from(i))))
            .collect();
        let sample = Sample {
            n: u64::MAX,
            text: "y".repeat(40),
            list: vec![
                0,
                -1,
                -32,
                -33,
                127,
                128,
                i64::MIN,
                i64::MAX,
                300,
                -300,
                70_000,
            ],
            map,
            id: EventId::from_u128(7),
            hash: Hash::ZERO,
            flag: true,
            small: 1.5,
        };
        let mut out = vec![
            encode_payload(&0u8).unwrap_or_default(),
            encode_payload(&u64::MAX).unwrap_or_default(),
            encode_payload(&-5i8).unwrap_or_default(),
            encode_payload(&"").unwrap_or_default(),
            encode_payload(&"a".repeat(31)).unwrap_or_default(),
            encode_payload(&"a".repeat(255)).unwrap_or_default(),
            encode_payload(&"a".repeat(256)).unwrap_or_default(),
            encode_payload(&long).unwrap_or_default(),
            encode_payload(&vec![1u32; 20]).unwrap_or_default(),
            encode_payload(&vec![vec![1u8; 3]; 70_000]).unwrap_or_default(),
            encode_payload(&Option::<u8>::None).unwrap_or_default(),
            encode_payload(&sample).unwrap_or_default(),
            vec![0xd4, 1, 2], // fixext 1
            vec![0xd8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // fixext 16
            vec![0xc7, 2, 5, 1, 2], // ext 8
            vec![0x92, 0xc5, 0, 1, 9, 0xc0], // [bin16 of 1 byte, nil]
        ];
        out.retain(|b| !b.is_empty());
        out
    }

    #[test]
    fn value_length_is_exact_for_every_kind_of_value() {
        for bytes in encodings() {
            assert_eq!(
                msgpack_value_len(&bytes),
                Some(bytes.len()),
                "{:?}",
                &bytes[..8.min(bytes.len())]
            );
            for cut in [1, 2, bytes.len() / 2, bytes.len() - 1] {
                if cut < bytes.len() {
                    assert_eq!(msgpack_value_len(&bytes[..cut]), None, "cut {cut}");
                }
            }
            let mut longer = bytes.clone();
            longer.push(0);
            assert_eq!(msgpack_value_len(&longer), Some(bytes.len()));
        }
        // Crafted counts beyond the bytes present, and the unused marker.
        assert_eq!(msgpack_value_len(&[0xdd, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(
            msgpack_value_len(&[0xdf, 0xff, 0xff, 0xff, 0xff, 1, 1]),
            None
        );
        assert_eq!(msgpack_value_len(&[0xdb, 0xff, 0xff, 0xff, 0xff]), None);
        assert_eq!(msgpack_value_len(&[0xc1]), None);
        assert_eq!(msgpack_value_len(&[]), None);
    }

    /// The header writer writes what serde (the reference) writes, for an
    /// owned header and for the borrowed one the append path encodes.
    #[test]
    fn borrowed_and_owned_headers_encode_to_what_serde_writes() {
        use super::super::header::HeaderRef;
        use crate::coordinate::Coordinate;
        use crate::event::{Admission, EventHeader, EventKind};
        let coordinate = Coordinate::new("order:1", "shop").unwrap_or_else(|_| unreachable!());
        let bypass = Admission::Bypassed {
            by: "ops".to_owned(),
            reason: "migration".to_owned(),
        };
        for (admission, key, causation) in [
            (Admission::Direct, None, None),
            (bypass, Some("key-1"), Some(EventId::from_u128(8))),
        ] {
            let header = EventHeader {
                id: EventId::from_u128(u128::MAX - 3),
                correlation: EventId::from_u128(9),
                causation,
                timestamp_us: 1_700_000_000_000_123,
                sequence: 300,
                position: 70_000,
                kind: EventKind::new(7, 2),
                coordinate: coordinate.clone(),
                prev_hash: Hash::from_bytes([5; 32]),
                idempotency_key: key.map(str::to_owned),
                admission: admission.clone(),
                payload_version: 3,
                state_code: 40_000,
            };
            let borrowed = HeaderRef {
                id: header.id,
                correlation: header.correlation,
                causation,
                timestamp_us: header.timestamp_us,
                sequence: header.sequence,
                position: header.position,
                kind: header.kind,
                coordinate: &coordinate,
                prev_hash: header.prev_hash,
                idempotency_key: key,
                admission: &admission,
                payload_version: 3,
                state_code: 40_000,
            };
            let reference = rmp_serde::to_vec(&header).unwrap_or_default();
            let mut b = Vec::new();
            encode_header_ref_into(&borrowed, &mut b);
            assert_eq!(b, reference);
            assert_eq!(encode_header(&header).ok(), Some(reference));
        }
    }

    #[test]
    fn header_stamp_reads_the_last_two_fields_in_place() {
        use crate::coordinate::Coordinate;
        use crate::event::{Admission, EventHeader, EventKind};
        let coordinate = Coordinate::new("order:1", "shop").unwrap_or_else(|_| unreachable!());
        let mut header = EventHeader::new(EventId::from_u128(9), coordinate, EventKind::new(7, 1));
        header.idempotency_key = Some("k".repeat(200));
        header.admission = Admission::Gated {
            gates: vec!["g\u{cd}".to_owned(), "\u{cc}".to_owned()],
        };
        for version in [1u8, 2, 127, 128, 204, 205, 255] {
            for code in [
                0u16,
                1,
                127,
                128,
                204,
                205,
                255,
                256,
                0xcccc,
                0xcdcd,
                u16::MAX,
            ] {
                header.payload_version = version;
                header.state_code = code;
                let bytes = encode_header(&header).unwrap_or_default();
                assert_eq!(
                    header_stamp(&bytes),
                    Some((version, code)),
                    "{version} {code}"
                );
            }
        }
        assert_eq!(header_stamp(&[0x9e]), None);
        assert_eq!(header_stamp(&[]), None);
    }

    #[test]
    fn trailing_bytes_are_still_reported() {
        let mut bytes = encode_payload(&"abc").unwrap_or_default();
        bytes.push(1);
        assert!(matches!(
            decode_payload::<String>(&bytes),
            Err(CodecError::TrailingBytes { extra: 1, .. })
        ));
        bytes.pop();
        assert_eq!(
            decode_payload::<String>(&bytes).ok().as_deref(),
            Some("abc")
        );
    }

    /// A type that reads a map's first entry and leaves the rest unread.
    struct FirstEntry;

    impl<'de> serde::Deserialize<'de> for FirstEntry {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct First;
            impl<'de> serde::de::Visitor<'de> for First {
                type Value = FirstEntry;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a map")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<FirstEntry, A::Error> {
                    let _: (u8, u8) = map
                        .next_entry()?
                        .ok_or_else(|| serde::de::Error::custom("empty"))?;
                    Ok(FirstEntry)
                }
            }
            d.deserialize_map(First)
        }
    }

    proptest::proptest! {
        /// Exactly one value decodes; the same value with bytes after it is
        /// `TrailingBytes` (whatever those bytes are), never a value.
        #[test]
        fn one_value_decodes_and_anything_after_it_is_refused(
            text in ".{0,40}",
            extra in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..6),
        ) {
            let mut bytes = encode_payload(&text).unwrap_or_default();
            bytes.extend_from_slice(&extra);
            let decoded = decode_payload::<String>(&bytes);
            if extra.is_empty() {
                proptest::prop_assert_eq!(decoded.ok(), Some(text));
            } else {
                let trailing = matches!(&decoded, Err(CodecError::TrailingBytes { extra: n, .. }) if *n == extra.len());
                proptest::prop_assert!(trailing, "{:?}", decoded);
            }
        }
    }

    /// A type that leaves part of the one value unread is refused by the
    /// decoder itself (rmp-serde checks a map or array is read whole), so
    /// a value decoded without error was read to its end.
    #[test]
    fn a_value_read_in_part_is_not_trailing_bytes() {
        let mut map = std::collections::BTreeMap::new();
        map.insert(1u8, 7u8);
        map.insert(2u8, 9u8);
        let bytes = encode_payload(&map).unwrap_or_default();
        assert!(matches!(
            decode_payload::<FirstEntry>(&bytes),
            Err(CodecError::Decode { .. })
        ));
    }
}
