use super::*;
use v8_valueserializer::{
    Heap, HeapValue, Object, PropertyKey, StringValue, Value as V8, ValueSerializer,
};

fn typed(text: &str) -> Value {
    serde_json::from_str(text).expect("test JSON")
}

/// Writes `document`, reads it back (through the V8 deserializer) and compares.
fn round_trip(document: &Value) {
    let stored = from_json(document, "value").unwrap_or_else(|e| panic!("{document}: {e}"));
    assert_eq!(&to_json(&stored), document, "bytes {stored}");
}

#[test]
fn every_tag_round_trips() {
    for text in [
        r#"null"#,
        r#"true"#,
        r#"-12"#,
        r#"1.5"#,
        r#"4294967296"#,
        r#""plain""#,
        r#""Latin-1 é and beyond: €, 😀""#,
        r#"{"$type": "undefined"}"#,
        r#"{"$type": "number", "value": "NaN"}"#,
        r#"{"$type": "number", "value": "-Infinity"}"#,
        r#"{"$type": "number", "value": "-0"}"#,
        r#"{"$type": "bigint", "value": "-123456789012345678901234567890"}"#,
        r#"{"$type": "bigint", "value": "0"}"#,
        r#"{"$type": "Date", "value": "2024-05-01T12:00:00.123Z"}"#,
        r#"{"$type": "Date", "value": null}"#,
        r#"{"$type": "RegExp", "source": "^a+(b|c)$", "flags": "dgimsuy"}"#,
        r#"{"$type": "Map", "entries": [["a", 1], [{"$type": "bigint", "value": "2"}, [true]]]}"#,
        r#"{"$type": "Set", "values": ["x", {"$type": "undefined"}]}"#,
        r#"{"a": {"$type": "Uint8Array", "base64": "AAEC/w=="}}"#,
        r#"{"$type": "object", "value": {"$type": "a user's own field", "n": 1}}"#,
        r#"{"name": "Alice", "tags": ["a", 2, null], "nested": {"deep": [[[]]]}, "0": "index key"}"#,
        r#"[]"#,
        r#"{}"#,
    ] {
        round_trip(&typed(text));
    }
}

#[test]
fn whole_bytes_and_u64_use_their_own_encodings() {
    let bytes = from_json(&typed(r#"{"$type": "Uint8Array", "base64": "AQID"}"#), "v");
    assert_eq!(bytes, Ok(KvValue::Bytes(vec![1, 2, 3])));
    let unpadded = from_json(&typed(r#"{"$type": "Uint8Array", "base64": "AQI"}"#), "v");
    assert_eq!(unpadded, Ok(KvValue::Bytes(vec![1, 2])));
    let u64 = from_json(
        &typed(r#"{"$type": "KvU64", "value": "18446744073709551615"}"#),
        "v",
    );
    assert_eq!(u64, Ok(KvValue::U64(u64::MAX)));
    assert_eq!(
        to_json(&KvValue::U64(5)),
        typed(r#"{"$type": "KvU64", "value": "5"}"#)
    );
    assert_eq!(
        to_json(&KvValue::Bytes(vec![1, 2, 3])),
        typed(r#"{"$type": "Uint8Array", "base64": "AQID"}"#)
    );
}

#[test]
fn bytes_match_what_v8_writes() {
    // Each vector from `Deno.serialize`-equivalent `v8.serialize` (V8 format 15).
    let cases: [(&str, &[u8]); 6] = [
        (r#""hi""#, &[0xFF, 0x0F, 0x22, 0x02, b'h', b'i']),
        (r#"1"#, &[0xFF, 0x0F, 0x49, 0x02]),
        (r#"1.5"#, &[0xFF, 0x0F, 0x4E, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]),
        (
            r#"{"$type": "bigint", "value": "1"}"#,
            &[0xFF, 0x0F, 0x5A, 0x10, 1, 0, 0, 0, 0, 0, 0, 0],
        ),
        (
            r#"{"a": true}"#,
            &[0xFF, 0x0F, 0x6F, 0x22, 0x01, b'a', 0x54, 0x7B, 0x01],
        ),
        (
            r#"[null]"#,
            &[0xFF, 0x0F, 0x41, 0x01, 0x30, 0x24, 0x00, 0x01],
        ),
    ];
    for (text, bytes) in cases {
        assert_eq!(
            from_json(&typed(text), "v"),
            Ok(KvValue::V8(bytes.to_vec())),
            "{text}"
        );
    }
    // A two-byte string's code units are aligned: after the header "€" needs no padding,
    // after one more byte it does.
    assert_eq!(
        from_json(&typed(r#""€""#), "v"),
        Ok(KvValue::V8(vec![0xFF, 0x0F, 0x63, 0x02, 0xAC, 0x20]))
    );
    assert_eq!(
        from_json(&typed(r#"[null, "€"]"#), "v"),
        Ok(KvValue::V8(vec![
            0xFF, 0x0F, 0x41, 0x02, 0x30, 0x00, 0x63, 0x02, 0xAC, 0x20, 0x24, 0x00, 0x02
        ]))
    );
}

#[test]
fn a_value_deno_wrote_decodes() {
    // `{ name: "Alice", n: 1n }` as Deno 2.9 serializes it.
    let bytes = [
        0xff, 0x0f, 0x6f, 0x22, 0x04, b'n', b'a', b'm', b'e', 0x22, 0x05, b'A', b'l', b'i', b'c',
        b'e', 0x22, 0x01, b'n', 0x5a, 0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0x7b, 0x02,
    ];
    assert_eq!(
        to_json(&KvValue::V8(bytes.to_vec())),
        typed(r#"{"name": "Alice", "n": {"$type": "bigint", "value": "1"}}"#)
    );
    let shown = display(&KvValue::V8(bytes.to_vec()));
    assert!(
        shown.contains(r#""name": "Alice""#) && shown.contains("1n"),
        "{shown}"
    );
}

/// The V8 bytes of an object whose two properties are the same heap object.
fn shared_reference() -> Vec<u8> {
    let mut heap = Heap::default();
    let inner = heap.insert(HeapValue::Object(Object { properties: vec![] }));
    let key = |s: &str| PropertyKey::String(StringValue::new(s.to_owned()));
    let outer = heap.insert(HeapValue::Object(Object {
        properties: vec![
            (key("a"), V8::HeapReference(inner)),
            (key("b"), V8::HeapReference(inner)),
        ],
    }));
    ValueSerializer::default()
        .finish(&heap, &V8::HeapReference(outer))
        .expect("serializes")
}

#[test]
fn what_json_cannot_hold_is_returned_read_only_with_its_bytes() {
    let cases: [(Vec<u8>, &str); 5] = [
        (shared_reference(), "already reached"),
        // [1, <hole>]
        (
            vec![0xFF, 0x0F, 0x41, 0x02, 0x49, 0x02, 0x2D, 0x24, 0x00, 0x02],
            "hole",
        ),
        // new Number(1)
        (
            vec![0xFF, 0x0F, 0x6E, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F],
            "Number object",
        ),
        // "\uD800": an unpaired surrogate
        (
            vec![0xFF, 0x0F, 0x63, 0x02, 0x00, 0xD8],
            "unpaired surrogates",
        ),
        (vec![0xFF, 0x0F, 0x99], "not a V8-serialized value"),
    ];
    for (bytes, reason) in cases {
        let json = to_json(&KvValue::V8(bytes.clone()));
        assert_eq!(json[TAG], "unsupported", "{json}");
        assert!(
            json["reason"].as_str().is_some_and(|r| r.contains(reason)),
            "{json}"
        );
        use base64::Engine as _;
        let exact = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(json["v8"], Value::String(exact));
        // Never written back.
        let refused = from_json(&json, "value").expect_err("read-only");
        assert!(refused.reason.contains("read-only"), "{refused}");
    }
}

#[test]
fn bad_documents_are_refused_with_their_place() {
    for (text, place, reason) in [
        (r#"{"$type": "nope"}"#, "value", "unknown $type"),
        (r#"{"$type": 3}"#, "value", "must be a string"),
        (
            r#"{"a": [1, {"$type": "KvU64", "value": "1"}]}"#,
            "value.a[1]",
            "whole value",
        ),
        (r#"[9007199254740993]"#, "value[0]", "bigint"),
        (
            r#"{"$type": "bigint", "value": "12n"}"#,
            "value",
            "decimal digits",
        ),
        (
            r#"{"$type": "Date", "value": "yesterday"}"#,
            "value",
            "toISOString",
        ),
        (
            r#"{"$type": "RegExp", "source": "a", "flags": "gg"}"#,
            "value",
            "twice",
        ),
        (
            r#"{"$type": "Map", "entries": [[1]]}"#,
            "value.entries[0]",
            "[key, value]",
        ),
        (
            r#"{"$type": "Uint8Array", "base64": "!!"}"#,
            "value",
            "not base64",
        ),
        (r#"{"$type": "undefined", "value": 1}"#, "value", "no field"),
        (r#"{"$type": "KvU64", "value": "-1"}"#, "value", "integer"),
    ] {
        let error = from_json(&typed(text), "value").expect_err(text);
        assert_eq!(error.path, place, "{text}: {error}");
        assert!(error.reason.contains(reason), "{text}: {error}");
    }
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let mut document = Value::Null;
    for _ in 0..200 {
        document = Value::Array(vec![document]);
    }
    let error = from_json(&document, "value").expect_err("too deep");
    assert!(error.reason.contains("nested deeper"), "{error}");
}
