//! Keys as JSON: a tuple (array) of parts, typed as values are (`values`).
//!
//! | part | JSON |
//! |---|---|
//! | string | `"users"` |
//! | number | `1.5`, `42`; `{"$type": "number", "value": "NaN"}` for NaN, ±Infinity, -0 |
//! | bigint | `{"$type": "bigint", "value": "42"}` |
//! | boolean | `true` |
//! | Uint8Array | `{"$type": "Uint8Array", "base64": "AAE="}` |
//!
//! In a URL the key is this JSON, URL-encoded: `?key=%5B%22users%22%2C%22alice%22%5D`.

use cairn_model::{Key, KeyPart};
use serde_json::{json, Value};

use super::values::{
    base64_field, bigint_field, json_number, number_field, number_json, tag_of, tagged_fields,
    ValueError, TAG,
};

/// A key from its JSON tuple.
pub fn key_from_json(document: &Value, path: &str) -> Result<Key, ValueError> {
    let parts = document.as_array().ok_or_else(|| {
        ValueError::new(
            path,
            "a key is a JSON array of parts, e.g. [\"users\", \"alice\"]",
        )
    })?;
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| part_from_json(part, &format!("{path}[{i}]")))
        .collect::<Result<Vec<_>, _>>()
        .map(Key)
}

/// A key given as URL-decoded text (a query parameter).
pub fn key_from_text(text: &str, name: &str) -> Result<Key, ValueError> {
    let document: Value = serde_json::from_str(text).map_err(|e| {
        ValueError::new(
            name,
            format!("not JSON ({e}); a key is a JSON array such as [\"users\", \"alice\"]"),
        )
    })?;
    key_from_json(&document, name)
}

/// One key part from JSON.
pub fn part_from_json(document: &Value, path: &str) -> Result<KeyPart, ValueError> {
    match document {
        Value::String(s) => Ok(KeyPart::String(s.clone())),
        Value::Bool(b) => Ok(KeyPart::Bool(*b)),
        Value::Number(n) => Ok(KeyPart::Float(json_number(n, path)?)),
        Value::Object(_) => match tag_of(document) {
            Some("bigint") => Ok(KeyPart::Int(bigint_field(
                tagged_fields(document, path, &["value"])?,
                path,
            )?)),
            Some("number") => Ok(KeyPart::Float(number_field(
                tagged_fields(document, path, &["value"])?,
                path,
            )?)),
            Some("Uint8Array") => Ok(KeyPart::Bytes(base64_field(
                tagged_fields(document, path, &["base64"])?,
                path,
            )?)),
            _ => Err(ValueError::new(
                path,
                "a key part is a string, number, boolean, or a tagged bigint, number or Uint8Array",
            )),
        },
        Value::Null | Value::Array(_) => Err(ValueError::new(
            path,
            "a key part is a string, number, boolean, or a tagged bigint, number or Uint8Array",
        )),
    }
}

/// A key as its JSON tuple.
pub fn key_to_json(key: &Key) -> Value {
    Value::Array(key.0.iter().map(part_to_json).collect())
}

/// One key part as JSON.
pub fn part_to_json(part: &KeyPart) -> Value {
    match part {
        KeyPart::String(s) => json!(s),
        KeyPart::Bool(b) => json!(b),
        KeyPart::Float(x) => number_json(*x),
        KeyPart::Int(i) => json!({ TAG: "bigint", "value": i.to_string() }),
        KeyPart::Bytes(b) => {
            use base64::Engine as _;
            json!({ TAG: "Uint8Array", "base64": base64::engine::general_purpose::STANDARD.encode(b) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    #[test]
    fn every_part_type_round_trips() {
        let key = Key(vec![
            KeyPart::String("users".into()),
            KeyPart::Float(1.5),
            KeyPart::Float(42.0),
            KeyPart::Float(f64::NEG_INFINITY),
            KeyPart::Int(BigInt::from(-7)),
            KeyPart::Bool(true),
            KeyPart::Bytes(vec![0, 255]),
        ]);
        let json = key_to_json(&key);
        assert_eq!(
            json,
            json!(["users", 1.5, 42, {"$type": "number", "value": "-Infinity"},
                   {"$type": "bigint", "value": "-7"}, true,
                   {"$type": "Uint8Array", "base64": "AP8="}])
        );
        assert_eq!(key_from_json(&json, "key"), Ok(key));
    }

    #[test]
    fn what_is_not_a_key_is_refused_with_its_place() {
        for (text, place) in [
            ("{}", "key"),
            ("[null]", "key[0]"),
            ("[\"a\", [1]]", "key[1]"),
            ("[{\"$type\": \"Date\", \"value\": 0}]", "key[0]"),
            ("[{\"$type\": \"bigint\", \"value\": \"1x\"}]", "key[0]"),
            (
                "[{\"$type\": \"bigint\", \"value\": \"1\", \"extra\": 1}]",
                "key[0]",
            ),
            ("[12345678901234567890]", "key[0]"),
        ] {
            let error = key_from_text(text, "key").expect_err(text);
            assert_eq!(error.path, place, "{text}: {error}");
        }
        assert!(key_from_text("not json", "key").is_err());
    }
}
