//! Strict JSON for `export --ndjson`: one object per event, one line each.
//!
//! Output is ASCII: every character outside printable ASCII is a `\uXXXX`
//! escape (a surrogate pair above U+FFFF), so a line never breaks, and no
//! bidi or invisible character reaches a terminal or a pipe. A map key that
//! is not a string is written as the JSON text of the key, as a string;
//! bytes are a string of hex digits; a NaN or infinite float is `null`.

use std::fmt::Write as _;

use batpak::{Admission, EventHeader};

use crate::render::Dynamic;

/// Appends `text` as a JSON string literal.
pub(crate) fn string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            ' '..='~' => out.push(c),
            other => {
                let mut units = [0u16; 2];
                for unit in other.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
        }
    }
    out.push('"');
}

/// Appends `value` as JSON.
pub(crate) fn value(value: &Dynamic, out: &mut String) {
    match value {
        Dynamic::Nil => out.push_str("null"),
        Dynamic::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Dynamic::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Dynamic::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Dynamic::Float(x) if x.is_finite() => {
            let _ = write!(out, "{x:?}");
        }
        Dynamic::Float(_) => out.push_str("null"),
        Dynamic::Str(s) => string(s, out),
        Dynamic::Bin(bytes) => {
            out.push('"');
            for b in bytes {
                let _ = write!(out, "{b:02x}");
            }
            out.push('"');
        }
        Dynamic::Seq(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                self::value(item, out);
            }
            out.push(']');
        }
        Dynamic::Map(entries) => {
            out.push('{');
            for (i, (key, item)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Dynamic::Str(k) = key {
                    string(k, out);
                } else {
                    let mut text = String::new();
                    self::value(key, &mut text);
                    string(&text, out);
                }
                out.push(':');
                self::value(item, out);
            }
            out.push('}');
        }
    }
}

/// Appends the header's fields (without the braces), then `,"payload":`.
pub(crate) fn header(h: &EventHeader, out: &mut String) {
    let _ = write!(out, "\"position\":{},\"entity\":", h.position);
    string(h.coordinate.entity(), out);
    out.push_str(",\"scope\":");
    string(h.coordinate.scope(), out);
    let _ = write!(
        out,
        ",\"sequence\":{},\"kind\":\"{}\",\"category\":{},\"code\":{},\"id\":\"{}\",\
         \"correlation\":\"{}\",\"causation\":",
        h.sequence,
        h.kind,
        h.kind.category(),
        h.kind.code(),
        h.id,
        h.correlation
    );
    match h.causation {
        Some(id) => {
            let _ = write!(out, "\"{id}\"");
        }
        None => out.push_str("null"),
    }
    let _ = write!(out, ",\"timestamp_us\":{},\"admission\":", h.timestamp_us);
    admission(&h.admission, out);
    out.push_str(",\"payload\":");
}

/// `{"direct":true}`, `{"gates":[..]}` or `{"bypass":{"by":..,"reason":..}}`.
fn admission(admission: &Admission, out: &mut String) {
    match admission {
        Admission::Direct => out.push_str("{\"direct\":true}"),
        Admission::Gated { gates, .. } => {
            out.push_str("{\"gates\":[");
            for (i, gate) in gates.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                string(gate, out);
            }
            out.push_str("]}");
        }
        Admission::Bypassed { by, reason, .. } => {
            out.push_str("{\"bypass\":{\"by\":");
            string(by, out);
            out.push_str(",\"reason\":");
            string(reason, out);
            out.push_str("}}");
        }
        _ => out.push_str("{\"unknown\":true}"),
    }
}

/// One event as one NDJSON line (without the newline).
pub(crate) fn event(h: &EventHeader, payload: Option<&Dynamic>, out: &mut String) {
    out.push('{');
    header(h, out);
    match payload {
        Some(p) => value(p, out),
        None => out.push_str("null,\"undecodable\":true"),
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_ascii_with_escapes() {
        let mut out = String::new();
        string("a\"b\\c\nd\u{202e}é😀", &mut out);
        assert_eq!(out, r#""a\"b\\c\nd\u202e\u00e9\ud83d\ude00""#);
    }

    #[test]
    fn values_are_strict_json() {
        let v = Dynamic::Map(vec![
            (Dynamic::Str("n".into()), Dynamic::UInt(1)),
            (Dynamic::UInt(2), Dynamic::Float(f64::NAN)),
            (Dynamic::Str("b".into()), Dynamic::Bin(vec![0, 255])),
            (
                Dynamic::Str("s".into()),
                Dynamic::Seq(vec![Dynamic::Nil, Dynamic::Bool(true), Dynamic::Int(-3)]),
            ),
        ]);
        let mut out = String::new();
        value(&v, &mut out);
        assert_eq!(out, r#"{"n":1,"2":null,"b":"00ff","s":[null,true,-3]}"#);
    }
}
