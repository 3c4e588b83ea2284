//! V8 bytes → typed JSON, or the reason the value cannot be represented without altering it.
//!
//! Each heap object may be reached once: a second reference to it (shared or cyclic) makes
//! the value unsupported, since JSON would duplicate it (and a writer would store two objects
//! where there was one). This also keeps the output linear in the input: a value of a few
//! kilobytes cannot expand into gigabytes of JSON through repeated references.

use std::collections::HashSet;
use std::panic::{catch_unwind, AssertUnwindSafe};

use serde_json::{json, Map, Value as Json};
use v8_valueserializer::{
    ArrayBufferViewKind, DisplayFormat, DisplayOptions, Heap, HeapReference, HeapValue,
    PropertyKey, RegExpFlags, StringValue, Value, ValueDeserializer,
};

use super::{bytes_json, date, number_json, TAG};

/// Why a value is returned read-only.
pub(super) type Unsupported = String;

/// Reads V8 bytes with the deserializer, which must never take the server down: a panic on
/// malformed input (it reads untrusted bytes any client may have stored) is an error here.
fn read(bytes: &[u8]) -> Result<(Value, Heap), Unsupported> {
    catch_unwind(|| ValueDeserializer::default().read(bytes))
        .map_err(|_| "the V8 deserializer failed on these bytes".to_owned())?
        .map_err(|e| format!("not a V8-serialized value: {e}"))
}

/// The typed JSON of V8 bytes.
pub(super) fn decode(bytes: &[u8]) -> Result<Json, Unsupported> {
    let (value, heap) = read(bytes)?;
    let mut walker = Walker {
        heap: &heap,
        seen: HashSet::new(),
    };
    walker.value(&value, "value")
}

/// How a JavaScript console shows V8 bytes, at most
/// [`crate::limits::API_VALUE_DISPLAY_BYTES_MAX`] bytes of it.
pub(super) fn display(bytes: &[u8]) -> Result<String, Unsupported> {
    let (value, heap) = read(bytes)?;
    let options = DisplayOptions {
        format: DisplayFormat::Repl,
    };
    let mut text = catch_unwind(AssertUnwindSafe(|| {
        v8_valueserializer::display(&heap, &value, options)
    }))
    .map_err(|_| "the V8 value could not be displayed".to_owned())?;
    let max = crate::limits::API_VALUE_DISPLAY_BYTES_MAX;
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …");
    }
    Ok(text)
}

struct Walker<'h> {
    heap: &'h Heap,
    /// Heap objects already reached.
    seen: HashSet<HeapReference>,
}

impl<'h> Walker<'h> {
    fn value(&mut self, value: &Value, path: &str) -> Result<Json, Unsupported> {
        Ok(match value {
            Value::Undefined => json!({ TAG: "undefined" }),
            Value::Null => Json::Null,
            Value::Bool(b) => json!(b),
            Value::I32(n) => json!(n),
            Value::U32(n) => json!(n),
            Value::Double(x) => number_json(*x),
            Value::BigInt(i) => json!({ TAG: "bigint", "value": i.to_string() }),
            Value::String(s) => Json::String(string(s, path)?),
            Value::HeapReference(reference) => self.heap_value(*reference, path)?,
        })
    }

    /// Marks `reference` reached; a second time is a shared or cyclic reference.
    fn reach(
        &mut self,
        reference: HeapReference,
        path: &str,
    ) -> Result<&'h HeapValue, Unsupported> {
        if !self.seen.insert(reference) {
            return Err(format!(
                "{path} refers to an object already reached (a shared or cyclic reference)"
            ));
        }
        let heap: &'h Heap = self.heap;
        reference
            .try_open(heap)
            .ok_or_else(|| format!("{path}: a dangling heap reference"))
    }

    fn heap_value(&mut self, reference: HeapReference, path: &str) -> Result<Json, Unsupported> {
        Ok(match self.reach(reference, path)? {
            HeapValue::Object(object) => self.object(&object.properties, path)?,
            HeapValue::DenseArray(array) => {
                if !array.properties.is_empty() {
                    return Err(format!("{path} is an array with extra properties"));
                }
                let mut items = Vec::with_capacity(array.elements.len());
                for (i, element) in array.elements.iter().enumerate() {
                    let path = format!("{path}[{i}]");
                    let element = element
                        .as_ref()
                        .ok_or_else(|| format!("{path} is a hole in an array"))?;
                    items.push(self.value(element, &path)?);
                }
                Json::Array(items)
            }
            HeapValue::Date(d) => {
                json!({ TAG: "Date", "value": d.ms_since_epoch().and_then(date::to_iso) })
            }
            HeapValue::RegExp(r) => {
                if r.flags.contains(RegExpFlags::LINEAR) {
                    return Err(format!(
                        "{path} is a RegExp with V8's experimental 'l' flag"
                    ));
                }
                json!({ TAG: "RegExp", "source": string(&r.pattern, path)?, "flags": regexp_flags(r.flags) })
            }
            HeapValue::Map(map) => {
                let mut entries = Vec::with_capacity(map.entries.len());
                for (i, (k, v)) in map.entries.iter().enumerate() {
                    let key = self.value(k, &format!("{path}.<key {i}>"))?;
                    let value = self.value(v, &format!("{path}.<value {i}>"))?;
                    entries.push(json!([key, value]));
                }
                json!({ TAG: "Map", "entries": entries })
            }
            HeapValue::Set(set) => {
                let mut values = Vec::with_capacity(set.values.len());
                for (i, v) in set.values.iter().enumerate() {
                    values.push(self.value(v, &format!("{path}.<value {i}>"))?);
                }
                json!({ TAG: "Set", "values": values })
            }
            HeapValue::ArrayBufferView(view) => {
                let whole = view.kind == ArrayBufferViewKind::Uint8Array
                    && view.byte_offset == 0
                    && !view.is_length_tracking
                    && !view.is_backed_by_rab;
                if !whole {
                    return Err(format!(
                        "{path} is a {} (only whole Uint8Arrays are represented)",
                        view.kind
                    ));
                }
                match self.reach(view.buffer, path)? {
                    HeapValue::ArrayBuffer(buffer)
                        if buffer.max_byte_length.is_none()
                            && buffer.byte_length() == view.length =>
                    {
                        bytes_json(buffer.as_u8_slice())
                    }
                    _ => return Err(format!("{path} is a view of part of a buffer")),
                }
            }
            other => return Err(format!("{path} is {}", kind_name(other))),
        })
    }

    fn object(
        &mut self,
        properties: &[(PropertyKey, Value)],
        path: &str,
    ) -> Result<Json, Unsupported> {
        let mut fields = Map::new();
        for (key, value) in properties {
            let name = match key {
                PropertyKey::I32(n) => n.to_string(),
                PropertyKey::U32(n) => n.to_string(),
                PropertyKey::Double(x) => x.to_string(),
                PropertyKey::String(s) => string(s, path)?,
            };
            let json = self.value(value, &format!("{path}.{name}"))?;
            if fields.insert(name.clone(), json).is_some() {
                return Err(format!("{path} has the property {name:?} twice"));
            }
        }
        if fields.contains_key(TAG) {
            return Ok(json!({ TAG: "object", "value": fields }));
        }
        Ok(Json::Object(fields))
    }
}

/// A JavaScript string as Rust text, unless it holds unpaired surrogates (which text would
/// replace, altering the value).
fn string(s: &StringValue, path: &str) -> Result<String, Unsupported> {
    let lossless = match s {
        StringValue::OneByte(_) => true,
        StringValue::Wtf8(w) => std::str::from_utf8(w.as_bytes()).is_ok(),
        StringValue::TwoByte(t) => {
            char::decode_utf16(t.as_bytes().iter().copied()).all(|c| c.is_ok())
        }
    };
    if lossless {
        Ok(s.to_string().into_owned())
    } else {
        Err(format!("{path} is a string with unpaired surrogates"))
    }
}

/// RegExp flags in the order JavaScript's `flags` getter writes them.
fn regexp_flags(flags: RegExpFlags) -> String {
    [
        (RegExpFlags::HAS_INDICES, 'd'),
        (RegExpFlags::GLOBAL, 'g'),
        (RegExpFlags::IGNORE_CASE, 'i'),
        (RegExpFlags::MULTILINE, 'm'),
        (RegExpFlags::DOT_ALL, 's'),
        (RegExpFlags::UNICODE, 'u'),
        (RegExpFlags::UNICODE_SETS, 'v'),
        (RegExpFlags::STICKY, 'y'),
    ]
    .iter()
    .filter(|(flag, _)| flags.contains(*flag))
    .map(|(_, c)| *c)
    .collect()
}

/// What a JavaScript programmer calls a heap value the API does not represent.
fn kind_name(value: &HeapValue) -> &'static str {
    match value {
        HeapValue::BooleanObject(_) => "a Boolean object",
        HeapValue::NumberObject(_) => "a Number object",
        HeapValue::BigIntObject(_) => "a BigInt object",
        HeapValue::StringObject(_) => "a String object",
        HeapValue::SparseArray(_) => "a sparse array",
        HeapValue::ArrayBuffer(_) => "an ArrayBuffer",
        HeapValue::Error(_) => "an Error",
        _ => "a value of an unsupported kind",
    }
}
