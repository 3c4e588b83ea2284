//! Values as people read and write them on the command line.
//!
//! V8-serialized values (anything a JavaScript program stored that is not a `Uint8Array` or a
//! `Deno.KvU64`) are decoded and shown the way a JavaScript console would show them; with
//! `--json` they become JSON (bigints as strings ending in `n`; values JSON cannot hold, such
//! as a `Map`, as their console text). `cairn set` writes text as a JavaScript string, or JSON
//! (`--json`) as the JavaScript value it describes, so Deno programs read back what they expect.

use cairn_model::KvValue;
use serde_json::json;
use v8_valueserializer::{
    display, DenseArray, DisplayFormat, DisplayOptions, Heap, HeapValue, Object, PropertyKey,
    StringValue, Value, ValueDeserializer, ValueSerializer,
};

/// How a value reads in a terminal.
pub fn show(value: &KvValue) -> String {
    match value {
        KvValue::U64(n) => format!("{n}n (u64)"),
        KvValue::Bytes(b) => format!("Uint8Array(0x{})", hex(b)),
        KvValue::V8(b) => match ValueDeserializer::default().read(b) {
            Ok((value, heap)) => display(
                &heap,
                &value,
                DisplayOptions {
                    format: DisplayFormat::Repl,
                },
            ),
            Err(e) => format!("<undecodable V8 value: {e}> 0x{}", hex(b)),
        },
    }
}

/// The value as JSON, for `--json` output.
pub fn to_json(value: &KvValue) -> serde_json::Value {
    match value {
        KvValue::U64(n) => json!({ "u64": n.to_string() }),
        KvValue::Bytes(b) => json!({ "bytes": hex(b) }),
        KvValue::V8(b) => match ValueDeserializer::default().read(b) {
            Ok((value, heap)) => v8_to_json(&heap, &value, 0),
            Err(e) => json!({ "undecodable_v8": hex(b), "error": e.to_string() }),
        },
    }
}

/// Nesting of a V8 value shown as JSON beyond which it is shown as console text (guards
/// against deep or cyclic values).
pub(crate) const JSON_DEPTH_MAX: usize = 64;

fn v8_to_json(heap: &Heap, value: &Value, depth: usize) -> serde_json::Value {
    match value {
        Value::Undefined | Value::Null => serde_json::Value::Null,
        Value::Bool(b) => json!(b),
        Value::I32(n) => json!(n),
        Value::U32(n) => json!(n),
        Value::Double(x) => serde_json::Number::from_f64(*x)
            .map_or_else(|| json!(x.to_string()), serde_json::Value::Number),
        Value::BigInt(i) => json!(format!("{i}n")),
        Value::String(s) => json!(s.to_string()),
        Value::HeapReference(reference) if depth < JSON_DEPTH_MAX => match reference.try_open(heap)
        {
            Some(HeapValue::Object(object)) => {
                let fields = object
                    .properties
                    .iter()
                    .map(|(k, v)| (property_name(k), v8_to_json(heap, v, depth + 1)));
                serde_json::Value::Object(fields.collect())
            }
            Some(HeapValue::DenseArray(array)) => serde_json::Value::Array(
                array
                    .elements
                    .iter()
                    .map(|e| {
                        e.as_ref()
                            .map_or(serde_json::Value::Null, |v| v8_to_json(heap, v, depth + 1))
                    })
                    .collect(),
            ),
            _ => json!(display(
                heap,
                value,
                DisplayOptions {
                    format: DisplayFormat::Expression
                }
            )),
        },
        Value::HeapReference(_) => json!(display(
            heap,
            value,
            DisplayOptions {
                format: DisplayFormat::Expression
            }
        )),
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

/// A JavaScript string as a V8 value.
pub fn string_value(text: &str) -> anyhow::Result<KvValue> {
    let bytes = ValueSerializer::default().finish(
        &Heap::default(),
        &Value::String(StringValue::new(text.to_owned())),
    )?;
    Ok(KvValue::V8(bytes))
}

/// A JSON document as the V8 value a JavaScript program would have stored.
pub fn json_value(text: &str) -> anyhow::Result<KvValue> {
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("value is not JSON: {e}"))?;
    let mut heap = Heap::default();
    let value = json_to_v8(&mut heap, &document);
    Ok(KvValue::V8(
        ValueSerializer::default().finish(&heap, &value)?,
    ))
}

fn json_to_v8(heap: &mut Heap, document: &serde_json::Value) -> Value {
    match document {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64().and_then(|i| i32::try_from(i).ok()) {
            Some(small) => Value::I32(small),
            None => Value::Double(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(StringValue::new(s.clone())),
        serde_json::Value::Array(items) => {
            let elements = items
                .iter()
                .map(|item| Some(json_to_v8(heap, item)))
                .collect();
            Value::HeapReference(heap.insert(HeapValue::DenseArray(DenseArray {
                elements,
                properties: Vec::new(),
            })))
        }
        serde_json::Value::Object(fields) => {
            let properties = fields
                .iter()
                .map(|(k, v)| {
                    (
                        PropertyKey::String(StringValue::new(k.clone())),
                        json_to_v8(heap, v),
                    )
                })
                .collect();
            Value::HeapReference(heap.insert(HeapValue::Object(Object { properties })))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_through_v8() {
        let value =
            json_value(r#"{"name":"Alice","tags":["a",2,true,null],"n":1.5,"big":12345678901}"#)
                .expect("encodes");
        assert_eq!(
            to_json(&value),
            json!({"name":"Alice","tags":["a",2,true,null],"n":1.5,"big":12345678901.0})
        );
        assert_eq!(show(&string_value("hi").expect("encodes")), "\"hi\"");
    }

    #[test]
    fn deno_written_bytes_decode() {
        // `{ name: "Alice", n: 1n }` as Deno 2.9 serializes it.
        let bytes = [
            0xff, 0x0f, 0x6f, 0x22, 0x04, b'n', b'a', b'm', b'e', 0x22, 0x05, b'A', b'l', b'i',
            b'c', b'e', 0x22, 0x01, b'n', 0x5a, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x02,
        ];
        assert_eq!(
            to_json(&KvValue::V8(bytes.to_vec())),
            json!({"name": "Alice", "n": "1n"})
        );
        assert!(show(&KvValue::V8(vec![0xff, 0x0f, 0x99])).contains("undecodable"));
    }
}
