//! RFC 8785 (JCS) canonical JSON, written straight into a byte buffer.
//!
//! Leaves are hashed over this form, so it is on the ingest path of every
//! event: it sorts object members without building a tree of its own and
//! allocates only the member list of each object. Numbers that are
//! integers within ±2^53 print as integers, which is what ECMAScript's
//! `Number.prototype.toString` gives for them; any other number goes
//! through `serde_json_canonicalizer` (a float or a larger integer
//! becomes an IEEE 754 double there, as JCS requires).

use serde_json::{Map, Number, Value};

/// Integers up to this magnitude are exact doubles, printed as plain integers.
const EXACT_INTEGER: u64 = 1 << 53;

/// The canonical bytes of a value.
pub fn to_vec(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_str(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(out, members),
    }
}

/// An object's members in JCS order: by their names' UTF-16 code units.
pub fn write_object(out: &mut Vec<u8>, members: &Map<String, Value>) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_unstable_by(|left, right| left.0.encode_utf16().cmp(right.0.encode_utf16()));
    out.push(b'{');
    for (position, (name, value)) in sorted.into_iter().enumerate() {
        if position > 0 {
            out.push(b',');
        }
        write_str(out, name);
        out.push(b':');
        write_value(out, value);
    }
    out.push(b'}');
}

fn write_number(out: &mut Vec<u8>, number: &Number) {
    if let Some(unsigned) = number.as_u64().filter(|value| *value <= EXACT_INTEGER) {
        out.extend_from_slice(unsigned.to_string().as_bytes());
    } else if let Some(signed) = number
        .as_i64()
        .filter(|value| value.unsigned_abs() <= EXACT_INTEGER)
    {
        out.extend_from_slice(signed.to_string().as_bytes());
    } else {
        // Serialising a number cannot fail; JCS's double formatting lives in the crate.
        let formatted =
            serde_json_canonicalizer::to_vec(&Value::Number(number.clone())).unwrap_or_default();
        out.extend_from_slice(&formatted);
    }
}

/// Which bytes a JSON string must escape: control characters, `"` and `\\`.
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = true;
        byte += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// A JSON string as JCS writes it: `"` and `\` escaped, control characters
/// as `\b \t \n \f \r` or `\u00xx`, everything else as its UTF-8 bytes.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    // Most strings need no escape; this test vectorises, the loop below does not.
    if bytes.iter().fold(true, |clean, &byte| {
        clean & (byte >= 0x20) & (byte != b'"') & (byte != b'\\')
    }) {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (position, &byte) in bytes.iter().enumerate() {
        if !NEEDS_ESCAPE[byte as usize] {
            continue;
        }
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            b'\t' => b"\\t",
            b'\n' => b"\\n",
            0x0c => b"\\f",
            b'\r' => b"\\r",
            _ => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(byte >> 4) as usize],
                HEX[(byte & 0xf) as usize],
            ],
        };
        out.extend_from_slice(&bytes[start..position]);
        out.extend_from_slice(escape);
        start = position + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn reference(value: &Value) -> Vec<u8> {
        serde_json_canonicalizer::to_vec(value).unwrap()
    }

    #[test]
    fn table_cases_match_the_reference_implementation() {
        for value in [
            json!({"b": [1.0, 1e21, -0.0, 0.000001, 5e-324], "a": "\u{20ac}\n", "é": true}),
            json!({"\u{1f600}": 1, "\u{e000}": 2, "z": 3, "": null}),
            json!({"big": 9007199254740993u64, "neg": -9007199254740992i64, "max": u64::MAX, "min": i64::MIN}),
            json!(["\u{0}\u{1f}\u{7f}\"\\/\u{2028}", 3.5, -7, {"nested": {"b": 1, "a": [{}]}}]),
            json!("plain"),
            json!(null),
        ] {
            assert_eq!(to_vec(&value), reference(&value), "{value}");
        }
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|number| json!(number)),
            any::<u64>().prop_map(|number| json!(number)),
            any::<f64>()
                .prop_filter("finite", |number| number.is_finite())
                .prop_map(|number| json!(number)),
            "\\PC*".prop_map(Value::String),
            "[\\u{0}-\\u{1f}\"\\\\a-z\\u{e9}\\u{1f600}]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map("[a-z\\u{e9}\\u{e000}\\u{1f600}]{0,4}", inner, 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_matches_the_reference_implementation(value in json_value()) {
            prop_assert_eq!(to_vec(&value), reference(&value));
        }
    }
}
