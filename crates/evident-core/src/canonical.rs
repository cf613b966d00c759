//! RFC 8785 (JCS) canonical JSON, written straight into a byte buffer.
//!
//! Leaves are hashed over this form, so it is on the ingest path of every
//! event: it sorts object members without building a tree of its own and
//! allocates only the member list of each object. Numbers that are
//! integers within ±2^53 print as integers, which is what ECMAScript's
//! `Number.prototype.toString` gives for them; any other number goes
//! through `serde_json_canonicalizer` (a float or a larger integer
//! becomes an IEEE 754 double there, as JCS requires).
//!
//! [`write_raw_object`] canonicalises JSON text (an object as stored) the
//! same way, reading it into a tree that borrows its strings from the text.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// JCS's order of member names: by their UTF-16 code units (for ASCII
/// names, their bytes).
fn name_order(left: &str, right: &str) -> Ordering {
    if left.is_ascii() && right.is_ascii() {
        left.cmp(right)
    } else {
        left.encode_utf16().cmp(right.encode_utf16())
    }
}

/// An object's members in JCS order: by their names' UTF-16 code units.
pub fn write_object(out: &mut Vec<u8>, members: &Map<String, Value>) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_unstable_by(|left, right| name_order(left.0, right.0));
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
        write_integer(out, unsigned);
    } else if let Some(signed) = number
        .as_i64()
        .filter(|value| value.unsigned_abs() <= EXACT_INTEGER)
    {
        out.extend_from_slice(itoa::Buffer::new().format(signed).as_bytes());
    } else {
        // Serialising a number cannot fail; JCS's double formatting lives in the crate.
        let formatted =
            serde_json_canonicalizer::to_vec(&Value::Number(number.clone())).unwrap_or_default();
        out.extend_from_slice(&formatted);
    }
}

/// A non-negative integer up to 2^53 (JCS prints it as its decimal digits).
pub fn write_integer(out: &mut Vec<u8>, value: u64) {
    debug_assert!(value <= EXACT_INTEGER, "{value} is not an exact double");
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// Writes JSON text that holds an object in its canonical form: members
/// sorted, a name given twice kept with its last value (as a parsed
/// `serde_json` map keeps it). Text that is not an object writes `{}`, the
/// map such text reads as; text that is not JSON is refused.
pub fn write_raw_object(out: &mut Vec<u8>, text: &str) -> serde_json::Result<()> {
    match serde_json::from_str::<Borrowed>(text)? {
        object @ Borrowed::Object(_) => object.write(out),
        _ => out.extend_from_slice(b"{}"),
    }
    Ok(())
}

/// A JSON value read from text, its strings borrowed from the text where
/// they hold no escape: canonicalising stored JSON allocates a list per
/// object and array rather than a string per member.
enum Borrowed<'a> {
    Null,
    Bool(bool),
    Number(Number),
    Text(Cow<'a, str>),
    Array(Vec<Borrowed<'a>>),
    Object(Vec<(Cow<'a, str>, Borrowed<'a>)>),
}

impl Borrowed<'_> {
    fn write(self, out: &mut Vec<u8>) {
        match self {
            Borrowed::Null => out.extend_from_slice(b"null"),
            Borrowed::Bool(true) => out.extend_from_slice(b"true"),
            Borrowed::Bool(false) => out.extend_from_slice(b"false"),
            Borrowed::Number(number) => write_number(out, &number),
            Borrowed::Text(text) => write_str(out, &text),
            Borrowed::Array(items) => {
                out.push(b'[');
                for (position, item) in items.into_iter().enumerate() {
                    if position > 0 {
                        out.push(b',');
                    }
                    item.write(out);
                }
                out.push(b']');
            }
            Borrowed::Object(mut members) => {
                // Stable, so that of members with one name the last read stays last.
                members.sort_by(|left, right| name_order(&left.0, &right.0));
                out.push(b'{');
                let mut first = true;
                let mut members = members.into_iter().peekable();
                while let Some((name, value)) = members.next() {
                    if members.peek().is_some_and(|next| next.0 == name) {
                        continue;
                    }
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    write_str(out, &name);
                    out.push(b':');
                    value.write(out);
                }
                out.push(b'}');
            }
        }
    }
}

/// A member name, borrowed from the text unless it holds escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        crate::view::text(deserializer).map(Name)
    }
}

impl<'de> Deserialize<'de> for Borrowed<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Reader;
        impl<'de> Visitor<'de> for Reader {
            type Value = Borrowed<'de>;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON value")
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Borrowed::Null)
            }
            fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
                Ok(Borrowed::Bool(value))
            }
            fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
                Ok(Borrowed::Number(value.into()))
            }
            fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
                Ok(Borrowed::Number(value.into()))
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
                Number::from_f64(value)
                    .map(Borrowed::Number)
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }
            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Borrowed::Text(Cow::Borrowed(text)))
            }
            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Borrowed::Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Borrowed::Text(Cow::Owned(text)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Borrowed::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((Name(name), value)) = map.next_entry()? {
                    members.push((name, value));
                }
                Ok(Borrowed::Object(members))
            }
        }
        deserializer.deserialize_any(Reader)
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

/// Whether no byte is a control character, `"` or `\\`, tested a word at a
/// time (short strings, most of a leaf's, never reach a vector loop).
fn needs_no_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    // Exact as a whole: some byte is below `n` (n ≤ 0x80) iff this is non-zero.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    let escapes = |word: u64| {
        below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
    };
    let mut chunks = bytes.chunks_exact(8);
    let mut found = 0;
    for chunk in &mut chunks {
        found |= escapes(u64::from_ne_bytes(chunk.try_into().expect("eight bytes")));
    }
    let rest = chunks.remainder();
    let last = if bytes.len() >= 8 {
        // The last eight bytes, overlapping the chunks already tested.
        u64::from_ne_bytes(bytes[bytes.len() - 8..].try_into().expect("eight bytes"))
    } else {
        // Fewer than eight, in a word of clean bytes (built in registers: a
        // copy through memory stalls the load that follows it).
        rest.iter()
            .enumerate()
            .fold(ONES * u64::from(b'a'), |word, (at, &byte)| {
                word & !(0xff << (8 * at)) | u64::from(byte) << (8 * at)
            })
    };
    found |= escapes(last);
    found == 0
}

/// A JSON string as JCS writes it: `"` and `\` escaped, control characters
/// as `\b \t \n \f \r` or `\u00xx`, everything else as its UTF-8 bytes.
pub fn write_str(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    // Most strings need no escape: test eight bytes at a time, the loop below goes byte by byte.
    if needs_no_escape(bytes) {
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

    fn raw(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        write_raw_object(&mut out, text).unwrap();
        out
    }

    #[test]
    fn raw_objects_read_as_a_parsed_map_does() {
        for text in [
            r#"{"b":1,"a":{"d":[1.0,1e300,"x"],"c":null}}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"esc\u00e9":"\n\u0001\"","\u00e9":true,"z":-0.0}"#,
            r#"{"big":18446744073709551616,"n":-9007199254740993}"#,
            "{}",
            "[1,2]",
            "7",
            "null",
        ] {
            let parsed: Value = serde_json::from_str(text).unwrap();
            let expected = match parsed {
                Value::Object(map) => to_vec(&Value::Object(map)),
                _ => b"{}".to_vec(),
            };
            assert_eq!(raw(text), expected, "{text}");
        }
        assert!(write_raw_object(&mut Vec::new(), "{\"a\":").is_err());
    }

    #[test]
    fn escapes_are_found_at_every_position() {
        for length in 0..20 {
            for at in 0..length {
                for byte in [0x00, 0x1f, b'"', b'\\'] {
                    let mut text = vec![b'a'; length];
                    text[at] = byte;
                    assert!(!needs_no_escape(&text), "{text:?}");
                }
                for byte in [0x20, b'!', b'#', b'[', b']', 0x7f, 0xc3, 0xff] {
                    let mut text = vec![b'a'; length];
                    text[at] = byte;
                    assert!(needs_no_escape(&text), "{text:?}");
                }
            }
        }
    }

    proptest! {
        #[test]
        fn any_value_matches_the_reference_implementation(value in json_value()) {
            prop_assert_eq!(to_vec(&value), reference(&value));
        }

        /// Stored text, written in any member order, with escapes or without,
        /// canonicalises as the map it parses to.
        #[test]
        fn raw_text_matches_its_parsed_value(value in json_value(), pretty in any::<bool>(), ascii in any::<bool>()) {
            let object = Value::Object([("m".to_owned(), value)].into_iter().collect());
            let mut text = if pretty {
                serde_json::to_string_pretty(&object).unwrap()
            } else {
                serde_json::to_string(&object).unwrap()
            };
            if ascii {
                // Every non-ASCII character as a \u escape: the same value, other text.
                text = text.chars().map(|c| if c.is_ascii() { c.to_string() } else {
                    c.encode_utf16(&mut [0; 2]).iter().map(|unit| format!("\\u{unit:04x}")).collect()
                }).collect();
            }
            prop_assert_eq!(raw(&text), to_vec(&object));
        }
    }
}
