//! Entries as the NDJSON lines of denoland's `@deno/kv-utils` (`entryToJSON`: `{"key": [..],
//! "value": {"type": .., "value": ..}, "versionstamp": ".."}`), for `cairn export` and
//! `cairn import`.
//!
//! Keys and `Deno.KvU64` / `Uint8Array` values map one to one. V8-serialized values map to
//! kv-utils' typed JSON when the mapping is exact: undefined, null, booleans, numbers, bigints,
//! strings, plain objects, arrays without holes or extra properties, `Map`, `Set` and `Date`.
//! Anything else (typed arrays inside a value, `RegExp`, errors, boxed primitives, sparse
//! arrays, shared or cyclic references) would lose something in that form, so it is written as
//! `{"type": "cairn:v8", "value": "<the V8 bytes, base64url>"}`, which `cairn import` restores
//! byte for byte (kv-utils' `importEntries` does not know this type).

use std::collections::HashSet;

use anyhow::{bail, Context};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use cairn_model::{Entry, Key, KeyPart, KvValue};
use num_bigint::BigInt;
use serde_json::{json, Map as JsonMap, Value as Json};
use v8_valueserializer::{
    Date, DenseArray, Heap, HeapReference, HeapValue, Map, Object, PropertyKey, Set, StringValue,
    Value, ValueDeserializer, ValueSerializer,
};

/// The type name of cairn's own exact form of a V8 value.
pub const V8_TYPE: &str = "cairn:v8";
/// Deeper values are written in the exact V8 form.
const DEPTH_MAX: usize = crate::values::JSON_DEPTH_MAX;

/// One entry as a kv-utils JSON object.
pub fn entry_to_json(entry: &Entry) -> Json {
    json!({
        "key": key_to_json(&entry.key),
        "value": value_to_json(&entry.value),
        "versionstamp": entry.versionstamp.to_hex(),
    })
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> anyhow::Result<Vec<u8>> {
    // kv-utils writes base64url without padding; accept padding too.
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .with_context(|| format!("{text:?} is not base64url"))
}

fn number_to_json(x: f64) -> Json {
    if x.is_nan() {
        json!("NaN")
    } else if x.is_infinite() {
        json!(if x > 0.0 { "Infinity" } else { "-Infinity" })
    } else if x.fract() == 0.0
        && x.abs() < 9.007_199_254_740_992e15
        && !(x == 0.0 && x.is_sign_negative())
    {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn number_from_json(value: &Json) -> anyhow::Result<f64> {
    match value {
        Json::Number(n) => n.as_f64().context("number out of range"),
        Json::String(s) if s == "NaN" => Ok(f64::NAN),
        Json::String(s) if s == "Infinity" => Ok(f64::INFINITY),
        Json::String(s) if s == "-Infinity" => Ok(f64::NEG_INFINITY),
        other => bail!("{other} is not a number"),
    }
}

/// A key as kv-utils' `KvKeyJSON`.
pub fn key_to_json(key: &Key) -> Json {
    Json::Array(
        key.parts()
            .iter()
            .map(|part| match part {
                KeyPart::Bytes(b) => json!({"type": "Uint8Array", "value": b64(b)}),
                KeyPart::String(s) => json!({"type": "string", "value": s}),
                KeyPart::Int(i) => json!({"type": "bigint", "value": i.to_string()}),
                KeyPart::Float(x) => json!({"type": "number", "value": number_to_json(*x)}),
                KeyPart::Bool(b) => json!({"type": "boolean", "value": b}),
            })
            .collect(),
    )
}

fn typed(value: &Json) -> anyhow::Result<(&str, &Json)> {
    let kind = value
        .get("type")
        .and_then(Json::as_str)
        .with_context(|| format!("{value} has no \"type\""))?;
    Ok((kind, value.get("value").unwrap_or(&Json::Null)))
}

fn text(value: &Json) -> anyhow::Result<&str> {
    value
        .as_str()
        .with_context(|| format!("{value} is not a string"))
}

/// A key from kv-utils' `KvKeyJSON`.
pub fn key_from_json(value: &Json) -> anyhow::Result<Key> {
    let parts = value.as_array().context("\"key\" is not an array")?;
    let parts = parts
        .iter()
        .map(|part| {
            let (kind, v) = typed(part)?;
            Ok(match kind {
                "Uint8Array" => KeyPart::Bytes(unb64(text(v)?)?),
                "string" => KeyPart::String(text(v)?.to_owned()),
                "bigint" => KeyPart::Int(text(v)?.parse::<BigInt>().context("bad bigint")?),
                "number" => KeyPart::Float(number_from_json(v)?),
                "boolean" => KeyPart::Bool(v.as_bool().context("bad boolean")?),
                other => bail!("unknown key part type {other:?}"),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Key::new(parts))
}

/// A value as kv-utils' `KvValueJSON` (or cairn's exact V8 form).
pub fn value_to_json(value: &KvValue) -> Json {
    match value {
        KvValue::U64(n) => json!({"type": "KvU64", "value": n.to_string()}),
        KvValue::Bytes(b) => json!({"type": "Uint8Array", "value": b64(b)}),
        KvValue::V8(bytes) => ValueDeserializer::default()
            .read(bytes)
            .ok()
            .and_then(|(value, heap)| V8ToJson::new(&heap).convert(&value, 0))
            .unwrap_or_else(|| json!({"type": V8_TYPE, "value": b64(bytes)})),
    }
}

struct V8ToJson<'a> {
    heap: &'a Heap,
    /// Heap objects already written: a second reference to one is not expressible.
    seen: HashSet<HeapReference>,
}

impl<'a> V8ToJson<'a> {
    fn new(heap: &'a Heap) -> Self {
        V8ToJson {
            heap,
            seen: HashSet::new(),
        }
    }

    fn convert(&mut self, value: &Value, depth: usize) -> Option<Json> {
        Some(match value {
            Value::Undefined => json!({"type": "undefined"}),
            Value::Null => json!({"type": "null", "value": null}),
            Value::Bool(b) => json!({"type": "boolean", "value": b}),
            Value::I32(n) => json!({"type": "number", "value": n}),
            Value::U32(n) => json!({"type": "number", "value": n}),
            Value::Double(x) => json!({"type": "number", "value": number_to_json(*x)}),
            Value::BigInt(i) => json!({"type": "bigint", "value": i.to_string()}),
            Value::String(s) => json!({"type": "string", "value": s.to_string()}),
            Value::HeapReference(reference) => {
                if depth >= DEPTH_MAX || !self.seen.insert(*reference) {
                    return None;
                }
                match reference.try_open(self.heap)? {
                    HeapValue::Object(object) => {
                        let mut fields = JsonMap::new();
                        for (k, v) in &object.properties {
                            fields.insert(property_name(k), self.convert(v, depth + 1)?);
                        }
                        json!({"type": "object", "value": fields})
                    }
                    HeapValue::DenseArray(array) if array.properties.is_empty() => {
                        let items = array
                            .elements
                            .iter()
                            .map(|e| e.as_ref().and_then(|v| self.convert(v, depth + 1)))
                            .collect::<Option<Vec<_>>>()?;
                        json!({"type": "Array", "value": items})
                    }
                    HeapValue::Map(map) => {
                        let entries = map
                            .entries
                            .iter()
                            .map(|(k, v)| {
                                Some(json!([
                                    self.convert(k, depth + 1)?,
                                    self.convert(v, depth + 1)?
                                ]))
                            })
                            .collect::<Option<Vec<_>>>()?;
                        json!({"type": "Map", "value": entries})
                    }
                    HeapValue::Set(set) => {
                        let values = set
                            .values
                            .iter()
                            .map(|v| self.convert(v, depth + 1))
                            .collect::<Option<Vec<_>>>()?;
                        json!({"type": "Set", "value": values})
                    }
                    HeapValue::Date(date) => {
                        let ms = u64::try_from(date.ms_since_epoch()?).ok()?;
                        json!({"type": "Date", "value": cairn_proto::metadata::rfc3339_ms(ms)})
                    }
                    _ => return None,
                }
            }
        })
    }
}

fn property_name(key: &PropertyKey) -> String {
    match key {
        PropertyKey::I32(n) => n.to_string(),
        PropertyKey::U32(n) => n.to_string(),
        PropertyKey::Double(x) => x.to_string(),
        PropertyKey::String(s) => s.to_string().into_owned(),
    }
}

/// A value from kv-utils' `KvValueJSON` (or cairn's exact V8 form).
pub fn value_from_json(value: &Json) -> anyhow::Result<KvValue> {
    let (kind, v) = typed(value)?;
    match kind {
        "KvU64" => Ok(KvValue::U64(text(v)?.parse().context("bad KvU64")?)),
        "Uint8Array" => Ok(KvValue::Bytes(unb64(text(v)?)?)),
        V8_TYPE => Ok(KvValue::V8(unb64(text(v)?)?)),
        _ => {
            let mut heap = Heap::default();
            let root = json_to_v8(&mut heap, value, 0)?;
            Ok(KvValue::V8(
                ValueSerializer::default().finish(&heap, &root)?,
            ))
        }
    }
}

fn json_to_v8(heap: &mut Heap, value: &Json, depth: usize) -> anyhow::Result<Value> {
    if depth >= DEPTH_MAX {
        bail!("value nested deeper than {DEPTH_MAX}");
    }
    let (kind, v) = typed(value)?;
    let object = |heap: &mut Heap, h: HeapValue| Value::HeapReference(heap.insert(h));
    Ok(match kind {
        "undefined" => Value::Undefined,
        "null" => Value::Null,
        "boolean" => Value::Bool(v.as_bool().context("bad boolean")?),
        "number" => {
            let x = number_from_json(v)?;
            match v.as_i64().and_then(|i| i32::try_from(i).ok()) {
                Some(small) => Value::I32(small),
                None => Value::Double(x),
            }
        }
        "bigint" => Value::BigInt(text(v)?.parse().context("bad bigint")?),
        "string" => Value::String(StringValue::new(text(v)?.to_owned())),
        "object" => {
            let fields = v.as_object().context("object value is not a JSON object")?;
            let mut properties = Vec::with_capacity(fields.len());
            for (k, item) in fields {
                let key = match k.parse::<u32>() {
                    Ok(index) if index.to_string() == *k => PropertyKey::U32(index),
                    _ => PropertyKey::String(StringValue::new(k.clone())),
                };
                properties.push((key, json_to_v8(heap, item, depth + 1)?));
            }
            object(heap, HeapValue::Object(Object { properties }))
        }
        "Array" => {
            let items = v.as_array().context("Array value is not a JSON array")?;
            let elements = items
                .iter()
                .map(|item| json_to_v8(heap, item, depth + 1).map(Some))
                .collect::<anyhow::Result<Vec<_>>>()?;
            object(heap, HeapValue::DenseArray(DenseArray { elements, properties: Vec::new() }))
        }
        "Map" => {
            let items = v.as_array().context("Map value is not a JSON array")?;
            let mut entries = Vec::with_capacity(items.len());
            for pair in items {
                let [k, item] = pair.as_array().map(Vec::as_slice).unwrap_or_default() else {
                    bail!("a Map entry is not a [key, value] pair");
                };
                entries.push((json_to_v8(heap, k, depth + 1)?, json_to_v8(heap, item, depth + 1)?));
            }
            object(heap, HeapValue::Map(Map { entries }))
        }
        "Set" => {
            let items = v.as_array().context("Set value is not a JSON array")?;
            let values = items
                .iter()
                .map(|item| json_to_v8(heap, item, depth + 1))
                .collect::<anyhow::Result<Vec<_>>>()?;
            object(heap, HeapValue::Set(Set { values }))
        }
        "Date" => {
            let ms = cairn_proto::metadata::parse_rfc3339_ms(text(v)?)
                .with_context(|| format!("Date {v} is not an ISO time after 1970"))?;
            object(heap, HeapValue::Date(Date::new(ms as f64)))
        }
        other => bail!(
            "values of type {other:?} are not supported by cairn import (inside a value, only undefined, null, boolean, number, bigint, string, object, Array, Map, Set and Date)"
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::key;

    #[test]
    fn keys_and_values_round_trip_in_kv_utils_form() -> anyhow::Result<()> {
        let key = key!["users", 42i64, 1.5f64, true];
        let json = key_to_json(&key);
        assert_eq!(json[0], json!({"type": "string", "value": "users"}));
        assert_eq!(json[1], json!({"type": "bigint", "value": "42"}));
        assert_eq!(key_from_json(&json)?, key);
        let value = value_from_json(&json!({"type": "object", "value": {
            "name": {"type": "string", "value": "ada"},
            "tags": {"type": "Set", "value": [{"type": "number", "value": 1}]},
            "born": {"type": "Date", "value": "1815-12-10T00:00:00.000Z"},
        }}));
        // Dates before 1970 are refused with a clear message rather than shifted.
        assert!(value.is_err());
        let original = json!({"type": "object", "value": {
            "name": {"type": "string", "value": "ada"},
            "n": {"type": "number", "value": "NaN"},
            "big": {"type": "bigint", "value": "-12345678901234567890"},
            "m": {"type": "Map", "value": [[{"type": "string", "value": "k"}, {"type": "null", "value": null}]]},
            "when": {"type": "Date", "value": "2026-12-03T09:00:00.000Z"},
            "list": {"type": "Array", "value": [{"type": "undefined"}, {"type": "boolean", "value": false}]},
        }});
        assert_eq!(value_to_json(&value_from_json(&original)?), original);
        assert_eq!(
            value_to_json(&KvValue::U64(7)),
            json!({"type": "KvU64", "value": "7"})
        );
        Ok(())
    }

    #[test]
    fn unknown_types_and_bad_bytes_are_clear_errors() {
        assert!(value_from_json(&json!({"type": "RegExp", "value": "/a/"})).is_err());
        assert!(value_from_json(&json!({"type": "Uint8Array", "value": "***"})).is_err());
        assert!(key_from_json(&json!([{"type": "object"}])).is_err());
    }
}
