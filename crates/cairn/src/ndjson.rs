//! Entries as the NDJSON lines of denoland's `@deno/kv-utils` (`entryToJSON`: `{"key": [..],
//! "value": {"type": .., "value": ..}, "versionstamp": ".."}`), for `cairn export` and
//! `cairn import`.
//!
//! Keys and `Deno.KvU64` / `Uint8Array` values map one to one. V8-serialized values map to
//! kv-utils' typed JSON when the mapping is exact: undefined, null, booleans, numbers, bigints,
//! strings, plain objects, arrays without holes or extra properties, `Map`, `Set`, valid
//! `Date`s and whole `Uint8Array`s. Anything else (other typed arrays, `RegExp`, errors, boxed
//! primitives, sparse arrays, shared or cyclic references, invalid dates) would lose something
//! in that form, so it is written as `{"type": "cairn:v8", "value": "<the V8 bytes,
//! base64url>"}`, which `cairn import` restores byte for byte (kv-utils' `importEntries` does
//! not know this type).
//!
//! V8's format is read and written in one place, the HTTP API's codec
//! (`cairn_server::api::values`): this module only rewrites its typed JSON (`{"$type": ..}`)
//! into kv-utils' (`{"type": .., "value": ..}`) and back.

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use cairn_model::{Entry, Key, KeyPart, KvValue};
use cairn_server::api::values::{self as api, TAG};
use num_bigint::BigInt;
use serde_json::{json, Map as JsonMap, Value as Json};

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
///
/// V8's bytes are read by the HTTP API's codec (`cairn_server::api::values`), whose typed JSON
/// is then rewritten in kv-utils' form: one reader of V8's format for the API, the CLI and
/// export.
pub fn value_to_json(value: &KvValue) -> Json {
    match value {
        KvValue::U64(n) => json!({"type": "KvU64", "value": n.to_string()}),
        KvValue::Bytes(b) => json!({"type": "Uint8Array", "value": b64(b)}),
        KvValue::V8(bytes) => {
            let exact = api_to_kv_utils(&api::to_json(value), 0)
                // A V8-serialized whole Uint8Array would come back as raw bytes (what Deno
                // stores for one): another encoding of the value, so it keeps its exact form.
                .filter(|json| json["type"] != "Uint8Array");
            exact.unwrap_or_else(|| json!({"type": V8_TYPE, "value": b64(bytes)}))
        }
    }
}

/// The API's typed JSON of a value in kv-utils' form; `None` when kv-utils has no exact form
/// for it (the API's `unsupported`, a `RegExp`, an invalid `Date`, nested too deep).
fn api_to_kv_utils(value: &Json, depth: usize) -> Option<Json> {
    if depth >= DEPTH_MAX {
        return None;
    }
    let inner = |v: &Json| api_to_kv_utils(v, depth + 1);
    let list = |v: &Json| v.as_array()?.iter().map(inner).collect::<Option<Vec<_>>>();
    Some(match value {
        Json::Null => json!({"type": "null", "value": null}),
        Json::Bool(b) => json!({"type": "boolean", "value": b}),
        Json::Number(n) => json!({"type": "number", "value": number_to_json(n.as_f64()?)}),
        Json::String(s) => json!({"type": "string", "value": s}),
        Json::Array(_) => json!({"type": "Array", "value": list(value)?}),
        Json::Object(fields) => match fields.get(TAG).and_then(Json::as_str) {
            None => json!({"type": "object", "value": object(fields, inner)?}),
            Some("object") => {
                json!({"type": "object", "value": object(fields.get("value")?.as_object()?, inner)?})
            }
            Some("undefined") => json!({"type": "undefined"}),
            Some("number") => {
                json!({"type": "number", "value": match fields.get("value")?.as_str()? {
                    "-0" => json!(-0.0),
                    other => json!(other),
                }})
            }
            Some("bigint") => json!({"type": "bigint", "value": fields.get("value")?}),
            // An invalid date (`null` here) would be read back by kv-utils as 1970: exact form.
            Some("Date") => json!({"type": "Date", "value": fields.get("value")?.as_str()?}),
            Some("Map") => {
                let entries = fields.get("entries")?.as_array()?.iter().map(list);
                json!({"type": "Map", "value": entries.map(|pair| pair.map(Json::from)).collect::<Option<Vec<_>>>()?})
            }
            Some("Set") => json!({"type": "Set", "value": list(fields.get("values")?)?}),
            Some("Uint8Array") => {
                let bytes = STANDARD.decode(fields.get("base64")?.as_str()?).ok()?;
                json!({"type": "Uint8Array", "value": b64(&bytes)})
            }
            Some(_) => return None,
        },
    })
}

fn object(
    fields: &JsonMap<String, Json>,
    convert: impl Fn(&Json) -> Option<Json>,
) -> Option<JsonMap<String, Json>> {
    fields
        .iter()
        .map(|(k, v)| Some((k.clone(), convert(v)?)))
        .collect()
}

/// A value from kv-utils' `KvValueJSON` (or cairn's exact V8 form).
pub fn value_from_json(value: &Json) -> anyhow::Result<KvValue> {
    let (kind, v) = typed(value)?;
    match kind {
        "KvU64" => Ok(KvValue::U64(text(v)?.parse().context("bad KvU64")?)),
        "Uint8Array" => Ok(KvValue::Bytes(unb64(text(v)?)?)),
        V8_TYPE => Ok(KvValue::V8(unb64(text(v)?)?)),
        _ => {
            let document = kv_utils_to_api(value, 0)?;
            let value = api::from_json(&document, "value").map_err(|e| anyhow!("{e}"))?;
            Ok(value)
        }
    }
}

/// kv-utils' typed JSON of a value (inside the value: undefined, null, boolean, number,
/// bigint, string, object, Array, Map, Set, Date, Uint8Array) in the API's typed JSON.
fn kv_utils_to_api(value: &Json, depth: usize) -> anyhow::Result<Json> {
    if depth >= DEPTH_MAX {
        bail!("value nested deeper than {DEPTH_MAX}");
    }
    let (kind, v) = typed(value)?;
    let list = |v: &Json, what: &str| -> anyhow::Result<Vec<Json>> {
        v.as_array()
            .with_context(|| format!("{what} value is not a JSON array"))?
            .iter()
            .map(|item| kv_utils_to_api(item, depth + 1))
            .collect()
    };
    Ok(match kind {
        "undefined" => json!({ TAG: "undefined" }),
        "null" => Json::Null,
        "boolean" => Json::Bool(v.as_bool().context("bad boolean")?),
        "number" => match v {
            Json::Number(n) if n.as_f64().is_some_and(|x| x == 0.0 && x.is_sign_negative()) => {
                json!({ TAG: "number", "value": "-0" })
            }
            Json::Number(_) => v.clone(),
            Json::String(s) if ["NaN", "Infinity", "-Infinity"].contains(&s.as_str()) => {
                json!({ TAG: "number", "value": s })
            }
            other => bail!("{other} is not a number"),
        },
        "bigint" => json!({ TAG: "bigint", "value": text(v)?.parse::<BigInt>().context("bad bigint")?.to_string() }),
        "string" => Json::String(text(v)?.to_owned()),
        "object" => {
            let fields = v.as_object().context("object value is not a JSON object")?;
            let mut out = JsonMap::with_capacity(fields.len());
            for (k, item) in fields {
                out.insert(k.clone(), kv_utils_to_api(item, depth + 1)?);
            }
            // An object with its own "$type" key is wrapped, so it is not read as a tag.
            if out.contains_key(TAG) {
                json!({ TAG: "object", "value": out })
            } else {
                Json::Object(out)
            }
        }
        "Array" => Json::Array(list(v, "Array")?),
        "Map" => {
            let mut entries = Vec::new();
            for pair in v.as_array().context("Map value is not a JSON array")? {
                let [k, item] = pair.as_array().map(Vec::as_slice).unwrap_or_default() else {
                    bail!("a Map entry is not a [key, value] pair");
                };
                entries.push(json!([
                    kv_utils_to_api(k, depth + 1)?,
                    kv_utils_to_api(item, depth + 1)?
                ]));
            }
            json!({ TAG: "Map", "entries": entries })
        }
        "Set" => json!({ TAG: "Set", "values": list(v, "Set")? }),
        "Date" => json!({ TAG: "Date", "value": text(v)? }),
        "Uint8Array" => json!({ TAG: "Uint8Array", "base64": STANDARD.encode(unb64(text(v)?)?) }),
        other => bail!(
            "values of type {other:?} are not supported by cairn import (inside a value, only undefined, null, boolean, number, bigint, string, object, Array, Map, Set, Date and Uint8Array)"
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
        // Dates before 1970 too (the API's date code covers JavaScript's whole range).
        assert_eq!(
            value_to_json(&value?)["value"]["born"],
            json!({"type": "Date", "value": "1815-12-10T00:00:00.000Z"})
        );
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
    fn unknown_types_and_bad_bytes_are_clear_errors() -> anyhow::Result<()> {
        assert!(value_from_json(&json!({"type": "RegExp", "value": "/a/"})).is_err());
        assert!(value_from_json(&json!({"type": "Uint8Array", "value": "***"})).is_err());
        assert!(value_from_json(&json!({"type": "Date", "value": "yesterday"})).is_err());
        // An object's own "$type" key is data, not a tag, and survives the round trip.
        let tagged =
            json!({"type": "object", "value": {"$type": {"type": "string", "value": "x"}}});
        assert_eq!(value_to_json(&value_from_json(&tagged)?), tagged);
        assert!(key_from_json(&json!([{"type": "object"}])).is_err());
        Ok(())
    }
}
