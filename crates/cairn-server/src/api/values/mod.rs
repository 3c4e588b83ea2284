//! Values as JSON: the typed form the HTTP API speaks (and `cairn get --json` prints).
//!
//! A value JSON can hold as it is stays plain JSON: `null`, booleans, finite numbers, strings,
//! arrays, objects. Everything else is an object with a `"$type"` tag:
//!
//! | JavaScript | JSON |
//! |---|---|
//! | `undefined` | `{"$type": "undefined"}` |
//! | `NaN`, `Infinity`, `-Infinity`, `-0` | `{"$type": "number", "value": "NaN"}` |
//! | `12n` | `{"$type": "bigint", "value": "12"}` |
//! | `new Date(…)` | `{"$type": "Date", "value": "2024-05-01T12:00:00.000Z"}` (`null`: invalid date) |
//! | `/a+/gi` | `{"$type": "RegExp", "source": "a+", "flags": "gi"}` |
//! | `new Map([[k, v]])` | `{"$type": "Map", "entries": [[k, v]]}` |
//! | `new Set([v])` | `{"$type": "Set", "values": [v]}` |
//! | `Uint8Array` | `{"$type": "Uint8Array", "base64": "AQID"}` |
//! | `new Deno.KvU64(5n)` (a whole value only) | `{"$type": "KvU64", "value": "5"}` |
//! | an object with its own `$type` key | `{"$type": "object", "value": {…}}` |
//!
//! A value the API cannot represent without altering it (a shared or cyclic reference, an
//! array with holes or extra properties, a boxed primitive, an `Error`, another typed array, a
//! string with unpaired surrogates, bytes that are not V8's format, …) is returned whole as
//! `{"$type": "unsupported", "reason", "display", "v8"}`: why, how a JavaScript console
//! would show it, and its exact bytes (base64). It is read-only: writing that tag back is
//! refused, so nothing is ever silently changed.
//!
//! Reading uses the `v8_valueserializer` crate's deserializer (`decode.rs`); writing is
//! cairn's own encoder (`encode.rs`), which writes exactly what V8 would for these values.

mod date;
mod decode;
mod encode;

use base64::Engine as _;
use cairn_model::KvValue;
use serde_json::{json, Map, Value};

/// The key every tagged value carries.
pub const TAG: &str = "$type";

/// A JSON document that is not a value (or key) the API can write, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {reason}")]
pub struct ValueError {
    /// Where in the document, e.g. `value.tags[2]`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl ValueError {
    pub(crate) fn new(path: &str, reason: impl Into<String>) -> Self {
        ValueError {
            path: path.to_owned(),
            reason: reason.into(),
        }
    }
}

/// A stored value in the typed JSON form (see the module documentation).
pub fn to_json(value: &KvValue) -> Value {
    match value {
        KvValue::U64(n) => json!({ TAG: "KvU64", "value": n.to_string() }),
        KvValue::Bytes(bytes) => bytes_json(bytes),
        KvValue::V8(bytes) => match decode::decode(bytes) {
            Ok(value) => value,
            Err(reason) => unsupported(bytes, &reason),
        },
    }
}

/// The stored value a typed JSON document describes (see the module documentation): a
/// whole `Uint8Array` becomes raw bytes and a `KvU64` a u64, as Deno stores them; anything else
/// V8's serialization. `path` names the document in error messages.
pub fn from_json(document: &Value, path: &str) -> Result<KvValue, ValueError> {
    if let Some(tag) = tag_of(document) {
        match tag {
            "KvU64" => {
                let fields = tagged_fields(document, path, &["value"])?;
                return Ok(KvValue::U64(u64_field(fields, path)?));
            }
            "Uint8Array" => {
                let fields = tagged_fields(document, path, &["base64"])?;
                return Ok(KvValue::Bytes(base64_field(fields, path)?));
            }
            _ => {}
        }
    }
    encode::encode(document, path).map(KvValue::V8)
}

/// How a JavaScript console shows a value (`cairn get` prints this).
pub fn display(value: &KvValue) -> String {
    match value {
        KvValue::U64(n) => format!("{n}n (u64)"),
        KvValue::Bytes(b) => format!("Uint8Array(0x{})", hex::encode(b)),
        KvValue::V8(b) => decode::display(b).unwrap_or_else(|reason| {
            format!("<undecodable V8 value: {reason}> 0x{}", hex::encode(b))
        }),
    }
}

/// `{"$type": "Uint8Array", "base64": …}`.
fn bytes_json(bytes: &[u8]) -> Value {
    json!({ TAG: "Uint8Array", "base64": base64::engine::general_purpose::STANDARD.encode(bytes) })
}

/// The read-only form of a value the API cannot represent.
fn unsupported(bytes: &[u8], reason: &str) -> Value {
    let display = decode::display(bytes).unwrap_or_else(|e| format!("<undecodable: {e}>"));
    json!({
        TAG: "unsupported",
        "reason": reason,
        "display": display,
        "v8": base64::engine::general_purpose::STANDARD.encode(bytes),
    })
}

/// The tag of a tagged object, if `document` is one.
pub(crate) fn tag_of(document: &Value) -> Option<&str> {
    document.as_object()?.get(TAG)?.as_str()
}

/// The fields of a tagged object, refusing any field but the tag and `allowed`.
pub(crate) fn tagged_fields<'a>(
    document: &'a Value,
    path: &str,
    allowed: &[&str],
) -> Result<&'a Map<String, Value>, ValueError> {
    let fields = document
        .as_object()
        .ok_or_else(|| ValueError::new(path, "expected a tagged object"))?;
    if let Some(extra) = fields
        .keys()
        .find(|k| *k != TAG && !allowed.contains(&k.as_str()))
    {
        let tag = tag_of(document).unwrap_or_default();
        return Err(ValueError::new(
            path,
            format!(
                "a {tag:?} value has no field {extra:?} (its fields: {})",
                allowed.join(", ")
            ),
        ));
    }
    Ok(fields)
}

/// A required field of a tagged object.
pub(crate) fn field<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    path: &str,
) -> Result<&'a Value, ValueError> {
    fields
        .get(name)
        .ok_or_else(|| ValueError::new(path, format!("missing field {name:?}")))
}

/// The `value` of a `KvU64`: a decimal string (or a JSON integer).
fn u64_field(fields: &Map<String, Value>, path: &str) -> Result<u64, ValueError> {
    let value = field(fields, "value", path)?;
    let parsed = match value {
        Value::String(s) => s.parse::<u64>().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ValueError::new(
            path,
            format!("a KvU64's value must be an integer from 0 to 2^64-1, as a decimal string; got {value}"),
        )
    })
}

/// The `base64` of a `Uint8Array`: standard base64, padded or not.
pub(crate) fn base64_field(fields: &Map<String, Value>, path: &str) -> Result<Vec<u8>, ValueError> {
    let text = field(fields, "base64", path)?
        .as_str()
        .ok_or_else(|| ValueError::new(path, "a Uint8Array's base64 must be a string"))?;
    let engine = base64::engine::general_purpose::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine
        .decode(text)
        .map_err(|e| ValueError::new(path, format!("a Uint8Array's base64 is not base64: {e}")))
}

/// A bigint's `value`: a decimal string (or a JSON integer), at most
/// [`crate::limits::API_BIGINT_DIGITS_MAX`] digits.
pub(crate) fn bigint_field(
    fields: &Map<String, Value>,
    path: &str,
) -> Result<num_bigint::BigInt, ValueError> {
    let value = field(fields, "value", path)?;
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        _ => {
            return Err(ValueError::new(
                path,
                "a bigint's value must be a decimal string such as \"-12\"",
            ))
        }
    };
    let digits = text.strip_prefix('-').unwrap_or(&text);
    let max = crate::limits::API_BIGINT_DIGITS_MAX;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || digits.len() > max {
        return Err(ValueError::new(
            path,
            format!("a bigint's value must be 1 to {max} decimal digits, optionally after '-'; got {text:?}"),
        ));
    }
    text.parse()
        .map_err(|e| ValueError::new(path, format!("bigint {text:?}: {e}")))
}

/// A tagged number's `value`: `"NaN"`, `"Infinity"`, `"-Infinity"`, `"-0"` (or any number).
pub(crate) fn number_field(fields: &Map<String, Value>, path: &str) -> Result<f64, ValueError> {
    let value = field(fields, "value", path)?;
    let number = match value {
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            "-0" => Some(-0.0),
            _ => None,
        },
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    number.ok_or_else(|| {
        ValueError::new(
            path,
            format!("a tagged number's value must be \"NaN\", \"Infinity\", \"-Infinity\" or \"-0\"; got {value}"),
        )
    })
}

/// A JSON number as a JavaScript number, refusing integers JavaScript cannot hold exactly
/// (beyond ±2^53): rounding them would change the value silently.
pub(crate) fn json_number(n: &serde_json::Number, path: &str) -> Result<f64, ValueError> {
    const EXACT_MAX: u64 = 1 << 53;
    let exact = match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => u <= EXACT_MAX,
        (None, Some(i)) => i.unsigned_abs() <= EXACT_MAX,
        (None, None) => true,
    };
    match n.as_f64() {
        Some(x) if exact => Ok(x),
        _ => Err(ValueError::new(
            path,
            format!(
                "{n} is beyond what a JavaScript number holds exactly (±2^53); \
                 write {{\"$type\": \"bigint\", \"value\": \"{n}\"}} for a bigint"
            ),
        )),
    }
}

/// A JavaScript number as JSON: integers as integers (`5`, not `5.0`), other finite numbers
/// as they are, and NaN, ±Infinity and -0 tagged.
pub(crate) fn number_json(x: f64) -> Value {
    const EXACT_MAX: f64 = 9_007_199_254_740_992.0;
    if x == 0.0 && x.is_sign_negative() {
        return json!({ TAG: "number", "value": "-0" });
    }
    if x.is_nan() {
        return json!({ TAG: "number", "value": "NaN" });
    }
    if x.is_infinite() {
        let text = if x > 0.0 { "Infinity" } else { "-Infinity" };
        return json!({ TAG: "number", "value": text });
    }
    if x.fract() == 0.0 && x.abs() <= EXACT_MAX {
        // Exact: an integer of at most 53 bits.
        return json!(x as i64);
    }
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests;
