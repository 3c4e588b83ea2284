//! Values as people read and write them on the command line.
//!
//! The JSON form is the HTTP API's typed JSON (`cairn_server::api::values`, described in
//! `docs/http-api.md`), so `cairn get --json` prints what `GET /api/v1/…/entry` returns and
//! `cairn set --type json` writes what `PUT` would: plain JSON where JSON holds the value,
//! `{"$type": "bigint", "value": "12"}` and the like where it does not. Without `--json`,
//! values are shown as a JavaScript console shows them. Text given without `--type` is
//! written as a JavaScript string, so Deno programs read back what they expect.

use cairn_model::KvValue;
use cairn_server::api::values::from_json;
pub use cairn_server::api::values::{display as show, to_json};

/// Nesting of a V8 value beyond which `cairn export` writes its exact bytes (`ndjson.rs`).
pub(crate) const JSON_DEPTH_MAX: usize = 64;

/// A JavaScript string as a V8 value.
pub fn string_value(text: &str) -> anyhow::Result<KvValue> {
    Ok(from_json(
        &serde_json::Value::String(text.to_owned()),
        "value",
    )?)
}

/// A typed JSON document as the value a JavaScript program would have stored.
pub fn json_value(text: &str) -> anyhow::Result<KvValue> {
    let document: serde_json::Value =
        serde_json::from_str(text).map_err(|e| anyhow::anyhow!("value is not JSON: {e}"))?;
    Ok(from_json(&document, "value")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_v8() {
        let value = json_value(
            r#"{"name":"Alice","tags":["a",2,true,null],"n":1.5,"big":{"$type":"bigint","value":"12345678901234567890"}}"#,
        )
        .expect("encodes");
        assert_eq!(
            to_json(&value),
            json!({"name":"Alice","tags":["a",2,true,null],"n":1.5,"big":{"$type":"bigint","value":"12345678901234567890"}})
        );
        assert_eq!(show(&string_value("hi").expect("encodes")), "\"hi\"");
        assert!(show(&KvValue::V8(vec![0xff, 0x0f, 0x99])).contains("undecodable"));
    }
}
