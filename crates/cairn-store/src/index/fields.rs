//! Reading fields and numbers out of stored values: what an index keys on and what an
//! aggregate adds up.
//!
//! A value is an *object* when it is a V8-serialized object, or JSON text holding an object
//! (a V8 string, or bytes in UTF-8, as programs that `JSON.stringify` store it). A field's
//! value becomes a key part when it is a string, a number, a bigint, a boolean or a
//! `Uint8Array` (from JSON: a string, a number or a boolean); anything else (`null`, an
//! object, an array, a date, …) counts as missing. A value V8 cannot decode is *undecodable*.
//!
//! Decoding runs on bytes any client wrote, inside the commit pipeline: a panic of the
//! decoder is caught and counted as undecodable, never allowed to stop the pipeline.

use std::panic::{catch_unwind, AssertUnwindSafe};

use cairn_model::v8::{decode_number, V8Number};
use cairn_model::{KeyPart, KvValue, Number};
use num_traits::ToPrimitive;
use v8_valueserializer::{
    ArrayBufferViewKind, Heap, HeapValue, PropertyKey, Value, ValueDeserializer,
};

/// A field path, split at dots.
pub(crate) type Path = [String];

/// What the fields of one value are.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Fields {
    /// Every field is present with a value a key can hold, in order.
    Values(Vec<KeyPart>),
    /// The value is not an object, or a field is absent or of a kind a key cannot hold.
    Missing,
    /// V8 could not decode the value.
    Undecodable,
}

/// A value decoded enough to look inside.
pub(crate) enum Document {
    V8(Value, Heap),
    Json(serde_json::Value),
}

/// A value decoded once, for every index that looks at it.
pub(crate) enum Parsed {
    Object(Document),
    /// Not something fields can be read from.
    Other,
    Undecodable,
}

/// Decodes `value` for [`extract_parsed`].
pub(crate) fn parse(value: &KvValue) -> Parsed {
    match document(value) {
        Ok(Some(document)) => Parsed::Object(document),
        Ok(None) => Parsed::Other,
        Err(()) => Parsed::Undecodable,
    }
}

/// Decodes a value: `Ok(None)` when it cannot hold fields or a number (a `u64`, bytes that
/// are not JSON), `Err(())` when it is undecodable V8.
fn document(value: &KvValue) -> Result<Option<Document>, ()> {
    match value {
        KvValue::U64(_) => Ok(None),
        KvValue::Bytes(bytes) => Ok(std::str::from_utf8(bytes)
            .ok()
            .and_then(|text| serde_json::from_str(text).ok())
            .map(Document::Json)),
        KvValue::V8(bytes) => {
            let decoded = catch_unwind(AssertUnwindSafe(|| {
                ValueDeserializer::default().read(bytes)
            }));
            match decoded {
                Ok(Ok((Value::String(text), _))) => Ok(serde_json::from_str(&text.to_string())
                    .ok()
                    .map(Document::Json)),
                Ok(Ok((value, heap))) => Ok(Some(Document::V8(value, heap))),
                Ok(Err(_)) | Err(_) => Err(()),
            }
        }
    }
}

/// The fields `paths` of `value`.
#[cfg(test)]
pub(crate) fn extract(value: &KvValue, paths: &[Vec<String>]) -> Fields {
    extract_parsed(&parse(value), paths)
}

/// The fields `paths` of a parsed value.
pub(crate) fn extract_parsed(parsed: &Parsed, paths: &[Vec<String>]) -> Fields {
    let document = match parsed {
        Parsed::Object(document) => document,
        Parsed::Other => return Fields::Missing,
        Parsed::Undecodable => return Fields::Undecodable,
    };
    let mut parts = Vec::with_capacity(paths.len());
    for path in paths {
        let part = match document {
            Document::V8(root, heap) => v8_at(root, heap, path).and_then(|v| v8_part(&v, heap)),
            Document::Json(root) => json_at(root, path).and_then(json_part),
        };
        match part {
            Some(part) => parts.push(part),
            None => return Fields::Missing,
        }
    }
    Fields::Values(parts)
}

/// The number in `value` (or in its field `path`), if it holds one: a `u64`, a V8 number
/// (not NaN) or bigint, a JSON number.
pub(crate) fn number(value: &KvValue, path: Option<&Path>) -> Option<Number> {
    match (value, path) {
        (KvValue::U64(n), None) => return Some(Number::Int(i128::from(*n))),
        (KvValue::V8(bytes), None) => {
            if let Some(n) = decode_number(bytes) {
                return v8_number(n);
            }
        }
        _ => {}
    }
    match document(value).ok()?? {
        Document::V8(root, heap) => {
            let found = match path {
                Some(path) => v8_at(&root, &heap, path)?,
                None => root,
            };
            match found {
                Value::I32(n) => Some(Number::Float(f64::from(n))),
                Value::U32(n) => Some(Number::Float(f64::from(n))),
                Value::Double(x) if !x.is_nan() => Some(Number::Float(x)),
                Value::BigInt(b) => v8_number(V8Number::BigInt(b)),
                _ => None,
            }
        }
        Document::Json(root) => {
            let found = match path {
                Some(path) => json_at(&root, path)?,
                None => &root,
            };
            let n = found.as_number()?;
            if let Some(i) = n.as_i64() {
                Some(Number::Int(i128::from(i)))
            } else if let Some(u) = n.as_u64() {
                Some(Number::Int(i128::from(u)))
            } else {
                n.as_f64().filter(|x| !x.is_nan()).map(Number::Float)
            }
        }
    }
}

fn v8_number(n: V8Number) -> Option<Number> {
    match n {
        V8Number::Number(x) if x.is_nan() => None,
        V8Number::Number(x) => Some(Number::Float(x)),
        V8Number::BigInt(b) => Some(match b.to_i128() {
            Some(i) => Number::Int(i),
            None => Number::Float(b.to_f64().unwrap_or(f64::NAN)),
        }),
    }
}

/// The value at `path` inside a V8 value (through plain objects only).
fn v8_at(root: &Value, heap: &Heap, path: &Path) -> Option<Value> {
    let mut current = root.clone();
    for name in path {
        let Value::HeapReference(reference) = current else {
            return None;
        };
        let Some(HeapValue::Object(object)) = reference.try_open(heap) else {
            return None;
        };
        current = object
            .properties
            .iter()
            .find(|(key, _)| match key {
                PropertyKey::String(s) => s.to_string() == name.as_str(),
                PropertyKey::I32(n) => n.to_string() == *name,
                PropertyKey::U32(n) => n.to_string() == *name,
                PropertyKey::Double(_) => false,
            })
            .map(|(_, v)| v.clone())?;
    }
    Some(current)
}

/// A V8 value as a key part, if a key can hold it.
fn v8_part(value: &Value, heap: &Heap) -> Option<KeyPart> {
    match value {
        Value::String(s) => Some(KeyPart::String(s.to_string().into_owned())),
        Value::I32(n) => Some(KeyPart::Float(f64::from(*n))),
        Value::U32(n) => Some(KeyPart::Float(f64::from(*n))),
        Value::Double(x) => Some(KeyPart::Float(*x)),
        Value::BigInt(b) => Some(KeyPart::Int(b.clone())),
        Value::Bool(b) => Some(KeyPart::Bool(*b)),
        Value::HeapReference(reference) => match reference.try_open(heap)? {
            HeapValue::ArrayBufferView(view) if view.kind == ArrayBufferViewKind::Uint8Array => {
                let HeapValue::ArrayBuffer(buffer) = view.buffer.try_open(heap)? else {
                    return None;
                };
                let start = usize::try_from(view.byte_offset).ok()?;
                let len = usize::try_from(view.length).ok()?;
                let bytes = buffer.as_u8_slice().get(start..start.checked_add(len)?)?;
                Some(KeyPart::Bytes(bytes.to_vec()))
            }
            _ => None,
        },
        Value::Undefined | Value::Null => None,
    }
}

fn json_at<'a>(root: &'a serde_json::Value, path: &Path) -> Option<&'a serde_json::Value> {
    path.iter().try_fold(root, |current, name| {
        current.as_object()?.get(name.as_str())
    })
}

fn json_part(value: &serde_json::Value) -> Option<KeyPart> {
    match value {
        serde_json::Value::String(s) => Some(KeyPart::String(s.clone())),
        serde_json::Value::Number(n) => n.as_f64().map(KeyPart::Float),
        serde_json::Value::Bool(b) => Some(KeyPart::Bool(*b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use num_bigint::BigInt;

    /// `{ name: "Alice", n: 1n }` as Deno 2.9 serializes it.
    const ALICE: [u8; 31] = [
        0xff, 0x0f, 0x6f, 0x22, 0x04, b'n', b'a', b'm', b'e', 0x22, 0x05, b'A', b'l', b'i', b'c',
        b'e', 0x22, 0x01, b'n', 0x5a, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x02,
    ];

    fn paths(fields: &[&str]) -> Vec<Vec<String>> {
        fields
            .iter()
            .map(|f| f.split('.').map(str::to_owned).collect())
            .collect()
    }

    #[test]
    fn v8_object_fields_become_key_parts() {
        let value = KvValue::V8(ALICE.to_vec());
        assert_eq!(
            extract(&value, &paths(&["name", "n"])),
            Fields::Values(vec![
                KeyPart::String("Alice".into()),
                KeyPart::Int(BigInt::from(1))
            ])
        );
        assert_eq!(extract(&value, &paths(&["age"])), Fields::Missing);
        assert_eq!(extract(&value, &paths(&["name.first"])), Fields::Missing);
        assert_eq!(
            number(&value, Some(&["n".to_owned()])),
            Some(Number::Int(1))
        );
        assert_eq!(number(&value, Some(&["name".to_owned()])), None);
    }

    #[test]
    fn json_text_and_bytes_are_objects_too() {
        let text = r#"{"a": {"b": 2.5}, "s": "x", "t": true, "o": null}"#;
        for value in [
            KvValue::Bytes(text.as_bytes().to_vec()),
            KvValue::V8({
                let mut v = vec![0xff, 0x0f, 0x22, text.len() as u8];
                v.extend_from_slice(text.as_bytes());
                v
            }),
        ] {
            assert_eq!(
                extract(&value, &paths(&["s", "a.b", "t"])),
                Fields::Values(vec![
                    KeyPart::String("x".into()),
                    KeyPart::Float(2.5),
                    KeyPart::Bool(true)
                ])
            );
            assert_eq!(extract(&value, &paths(&["o"])), Fields::Missing);
            assert_eq!(
                number(&value, Some(&["a".to_owned(), "b".to_owned()])),
                Some(Number::Float(2.5))
            );
        }
    }

    #[test]
    fn numbers_of_every_kind() {
        assert_eq!(number(&KvValue::U64(7), None), Some(Number::Int(7)));
        let v8 = |bytes: &[u8]| KvValue::V8(bytes.to_vec());
        assert_eq!(
            number(&v8(&cairn_model::v8::encode_number(1.5)), None),
            Some(Number::Float(1.5))
        );
        assert_eq!(
            number(&v8(&cairn_model::v8::encode_number(f64::NAN)), None),
            None
        );
        assert_eq!(
            number(
                &v8(&cairn_model::v8::encode_bigint(&BigInt::from(-3))),
                None
            ),
            Some(Number::Int(-3))
        );
        assert_eq!(
            number(&KvValue::Bytes(b"42".to_vec()), None),
            Some(Number::Int(42))
        );
        assert_eq!(
            number(&KvValue::Bytes(b"-0.5".to_vec()), None),
            Some(Number::Float(-0.5))
        );
        assert_eq!(number(&KvValue::Bytes(vec![0xff]), None), None);
        assert_eq!(number(&v8(&ALICE), None), None);
    }

    #[test]
    fn undecodable_v8_is_told_apart_from_non_objects() {
        assert_eq!(
            extract(&KvValue::V8(vec![0xff, 0x0f, 0x99]), &paths(&["a"])),
            Fields::Undecodable
        );
        assert_eq!(extract(&KvValue::U64(1), &paths(&["a"])), Fields::Missing);
        assert_eq!(
            extract(&KvValue::Bytes(vec![1, 2]), &paths(&["a"])),
            Fields::Missing
        );
    }
}
