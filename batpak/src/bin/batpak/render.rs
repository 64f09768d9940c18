//! Showing events without their Rust type: [`Dynamic`], any msgpack value,
//! printed as JSON-like text, the header part of a `dump` line, and
//! [`Quoted`], the one way this tool prints text it did not write itself.
//!
//! Whatever the stored bytes hold, a rendered line stays one line and reads
//! as what is stored: every string from the store (gate names, bypass `by`
//! and `why`, payload strings and keys) is a [`Quoted`] literal, bytes are
//! hex, and a coordinate prints through its own `Display`, which quotes a
//! part by the same rule when it could be misread.

use std::fmt::{self, Write as _};

use batpak::{Admission, EventHeader};
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The start of a dump line: everything but the payload, and a space.
pub(crate) fn render_header(h: &EventHeader, line: &mut String) {
    // Writing into a String cannot fail.
    let _ = write!(
        line,
        "{} {} seq={} kind={} v={} ",
        h.position, h.coordinate, h.sequence, h.kind, h.payload_version
    );
    // The state a machine step led to, when one recorded it.
    if h.state_code != 0 {
        let _ = write!(line, "state={} ", h.state_code);
    }
    let _ = write!(line, "id={} ", h.id);
    match &h.admission {
        Admission::Direct => line.push_str("direct"),
        Admission::Gated { gates, .. } => {
            line.push_str("gates=[");
            for (i, gate) in gates.iter().enumerate() {
                let comma = if i > 0 { "," } else { "" };
                let _ = write!(line, "{comma}{}", Quoted(gate));
            }
            line.push(']');
        }
        Admission::Bypassed { by, reason, .. } => {
            let _ = write!(line, "bypass by={} why={}", Quoted(by), Quoted(reason));
        }
        // A newer library may record admissions this tool does not know.
        _ => line.push_str("admission=unknown"),
    }
    line.push(' ');
}

/// Any msgpack value: what a payload is when its Rust type is unknown.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dynamic {
    /// `nil` (also a unit or `None`).
    Nil,
    /// `true` or `false`.
    Bool(bool),
    /// A negative integer.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// Raw bytes (msgpack `bin`).
    Bin(Vec<u8>),
    /// An array (also tuples, and structs stored as arrays).
    Seq(Vec<Dynamic>),
    /// A map, in stored order (structs stored with field names).
    Map(Vec<(Dynamic, Dynamic)>),
}

/// Builds a [`Dynamic`] from whatever the deserializer finds.
struct DynamicVisitor;

impl<'de> Visitor<'de> for DynamicVisitor {
    type Value = Dynamic;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any msgpack value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::Nil)
    }

    fn visit_none<E: de::Error>(self) -> Result<Dynamic, E> {
        Ok(Dynamic::Nil)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        Dynamic::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Dynamic, D::Error> {
        Dynamic::deserialize(d)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Dynamic, E> {
        Ok(Dynamic::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dynamic, E> {
        Ok(u64::try_from(v).map_or(Dynamic::Int(v), Dynamic::UInt))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dynamic, E> {
        Ok(Dynamic::UInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Dynamic, E> {
        Ok(Dynamic::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Dynamic, E> {
        Ok(Dynamic::Str(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Dynamic, E> {
        Ok(Dynamic::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Dynamic, E> {
        Ok(Dynamic::Bin(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Dynamic, E> {
        Ok(Dynamic::Bin(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Dynamic, A::Error> {
        // The size hint comes from the stored bytes: cap it so a crafted
        // length cannot make us reserve more than a little up front.
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(256));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Dynamic::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Dynamic, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(256));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(Dynamic::Map(entries))
    }
}

impl<'de> Deserialize<'de> for Dynamic {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Raw data of any payload version: shown as stored (the dump line
        // prints the version), never upcast or refused.
        let _stored = batpak::read_any_payload_version();
        d.deserialize_any(DynamicVisitor)
    }
}

/// JSON-like text: strings as [`Quoted`] literals, bytes as `h'00ff'`, maps
/// as `{key: value, ...}` in stored order.
impl fmt::Display for Dynamic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Nil => f.write_str("null"),
            Self::Bool(b) => write!(f, "{b}"),
            Self::Int(i) => write!(f, "{i}"),
            Self::UInt(u) => write!(f, "{u}"),
            // `{:?}` keeps a `.0` on whole numbers, so 1.0 never reads as 1.
            Self::Float(x) => write!(f, "{x:?}"),
            Self::Str(s) => Quoted(s).fmt(f),
            Self::Bin(bytes) => {
                f.write_str("h'")?;
                for b in bytes {
                    write!(f, "{b:02x}")?;
                }
                f.write_str("'")
            }
            Self::Seq(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Self::Map(entries) => {
                f.write_str("{")?;
                for (i, (key, value)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{key}: {value}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Text this tool did not write (anything from the store, and the
/// arguments it echoes), printed as a Rust string literal, exactly as `{:?}`
/// writes a `str`: in double quotes, with `\"`, `\\`, `\n`, `\r`, `\t`, `\0`,
/// and `\u{..}` for every other character that is not printable as it is
/// (control characters, format characters such as U+202E or U+200B, line
/// and paragraph separators, whitespace other than the space, unassigned
/// and private-use code points, and combining marks). So a printed string
/// never ends a line, never reorders or hides text, and ends at its first
/// unescaped `"`: nothing inside it can pass for a field of the line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quoted<'a>(pub(crate) &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Decodes one stored payload's bytes for display; `dump` gets the same
/// decoding through [`Store::query`].
#[cfg(test)]
fn render_payload(bytes: &[u8]) -> Result<String, batpak::CodecError> {
    batpak::decode_payload::<Dynamic>(bytes).map(|d| d.to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use batpak::encode_payload;
    use serde::Serialize;

    #[derive(Serialize)]
    struct Order {
        items: u32,
        total: i64,
        ratio: f64,
        note: String,
        tags: Vec<&'static str>,
        missing: Option<u8>,
        #[serde(with = "bytes")]
        raw: Vec<u8>,
        paid: bool,
    }

    mod bytes {
        pub(super) fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[test]
    fn payloads_render_as_json_like_text_without_their_type() {
        let order = Order {
            items: 3,
            total: -42,
            ratio: 1.0,
            note: "say \"hi\"\n".to_owned(),
            tags: vec!["a", "b"],
            missing: None,
            raw: vec![0, 0xff],
            paid: true,
        };
        let bytes = encode_payload(&order).unwrap();
        assert_eq!(
            render_payload(&bytes).unwrap(),
            r#"{"items": 3, "total": -42, "ratio": 1.0, "note": "say \"hi\"\n", "tags": ["a", "b"], "missing": null, "raw": h'00ff', "paid": true}"#
        );
    }

    #[test]
    fn unit_enum_variants_and_nested_values_render() {
        #[derive(Serialize)]
        enum Status {
            Open,
            Moved { to: (u8, u8) },
        }
        let bytes = encode_payload(&vec![Status::Open, Status::Moved { to: (1, 2) }]).unwrap();
        assert_eq!(
            render_payload(&bytes).unwrap(),
            r#"["Open", {"Moved": {"to": [1, 2]}}]"#
        );
    }

    #[test]
    fn quoted_escapes_every_character_a_coordinate_refuses() {
        // The library's rule for printable text is the oracle: whatever it
        // refuses in a coordinate, this tool never prints raw.
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            let text = c.to_string();
            if batpak::Coordinate::new(text.as_str(), "s").is_err() {
                let shown = Quoted(&text).to_string();
                assert!(!shown.contains(c), "U+{:04X} printed raw", u32::from(c));
            }
        }
        assert_eq!(
            Quoted("a\u{202e}b\n\u{1b}\"'\\").to_string(),
            r#""a\u{202e}b\n\u{1b}\"'\\""#
        );
    }

    #[test]
    fn trailing_bytes_are_an_error_not_a_value() {
        let mut bytes = encode_payload(&1u8).unwrap();
        bytes.push(0xc0);
        assert!(render_payload(&bytes).is_err());
    }
}
