//! msgpack encoding of headers and payloads, with limits on decode.
//!
//! Headers are compact arrays (our own schema, versioned by the file format).
//! Payloads are maps with field names, so a user can add an optional field to
//! an event type without rewriting history. Decoding reads from a slice and
//! is depth-limited: a crafted length cannot make it allocate beyond the
//! slice, and a crafted nesting cannot overflow the stack.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::EventHeader;

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
/// [`CodecError::Encode`] (not expected for well-formed headers).
pub fn encode_header(header: &EventHeader) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(160);
    encode_header_into(header, &mut out)?;
    Ok(out)
}

/// Appends a header's encoding to `out` (saves an allocation per event).
///
/// # Errors
/// [`CodecError::Encode`] (not expected for well-formed headers).
pub fn encode_header_into(header: &EventHeader, out: &mut Vec<u8>) -> Result<(), CodecError> {
    header
        .serialize(&mut rmp_serde::Serializer::new(out))
        .map_err(|source| CodecError::Encode {
            what: "header",
            source,
        })
}

/// Encodes a payload as msgpack with named fields.
///
/// # Errors
/// [`CodecError::Encode`] when the payload's `Serialize` impl fails.
pub fn encode_payload<P: Serialize + ?Sized>(payload: &P) -> Result<Vec<u8>, CodecError> {
    rmp_serde::to_vec_named(payload).map_err(|source| CodecError::Encode {
        what: "payload",
        source,
    })
}

/// Decodes a header from exactly its bytes.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes are not a valid header (including a
/// coordinate that breaks the validation rules, or an id or hash not stored
/// as `bin` of the right length); [`CodecError::TrailingBytes`] when bytes
/// are left after the header.
pub fn decode_header(bytes: &[u8]) -> Result<EventHeader, CodecError> {
    decode("header", bytes)
}

/// Decodes a payload, from exactly its bytes, straight into the caller's type.
///
/// # Errors
/// [`CodecError::Decode`] when the bytes do not fit `P`;
/// [`CodecError::TrailingBytes`] when bytes are left after the payload.
pub fn decode_payload<P: DeserializeOwned>(bytes: &[u8]) -> Result<P, CodecError> {
    decode("payload", bytes)
}

fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    // Read through a `&[u8]` cursor so what is left over can be checked: a
    // frame holds exactly one value, and extra bytes mean corruption.
    let mut rest = bytes;
    let mut deserializer = rmp_serde::Deserializer::new(&mut rest);
    deserializer.set_max_depth(MAX_DECODE_DEPTH);
    let value = T::deserialize(&mut deserializer).map_err(|source| CodecError::Decode {
        what,
        type_name: std::any::type_name::<T>(),
        source,
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}
