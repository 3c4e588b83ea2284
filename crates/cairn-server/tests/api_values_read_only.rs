//! A stored value the API cannot represent without altering it (here a V8 value whose two
//! properties are one shared object, and bytes that are not V8's format) is returned whole as
//! `{"$type": "unsupported"}` with its exact bytes, and writing that back is refused: the API
//! never stores a silently changed value. Representable values come back exactly as written.

mod api;

use api::{entry, Server};
use base64::Engine as _;
use cairn_model::{key, Kv, KvValue};
use serde_json::json;

/// `{a: o, b: o}` with one object `o`, as V8 writes it: the second reference is `^1`.
const SHARED: &[u8] = &[
    0xFF, 0x0F, 0x6F, 0x22, 0x01, b'a', 0x6F, 0x7B, 0x00, 0x22, 0x01, b'b', 0x5E, 0x01, 0x7B, 0x02,
];

#[tokio::test]
async fn unrepresentable_values_are_read_only_and_exact() {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let db = cairn_store::Database::open(dir.path().join("default")).expect("open");
        db.set(&key!["shared"], KvValue::V8(SHARED.to_vec()))
            .await
            .expect("set");
        db.set(&key!["garbage"], KvValue::V8(vec![0xFF, 0x0F, 0xEE]))
            .await
            .expect("set");
        db.close();
    }
    let server = Server::start_in(dir.path(), |_| {}).await;
    for (k, reason) in [
        ("shared", "already reached"),
        ("garbage", "not a V8-serialized value"),
    ] {
        let read = server.get(&entry("default", &json!([k]))).await;
        assert_eq!(read.status, 200, "{}", read.body);
        let value = &read.json()["value"];
        assert_eq!(value["$type"], "unsupported", "{value}");
        assert!(
            value["reason"].as_str().is_some_and(|r| r.contains(reason)),
            "{value}"
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value["v8"].as_str().expect("v8"))
            .expect("base64");
        let stored = if k == "shared" {
            SHARED.to_vec()
        } else {
            vec![0xFF, 0x0F, 0xEE]
        };
        assert_eq!(bytes, stored);
        let refused = server
            .put(&entry("default", &json!([k])), &value.to_string())
            .await;
        let why = refused.expect_error(400, "bad_request");
        assert!(why.contains("read-only"), "{why}");
    }
    assert!(server
        .get(&entry("default", &json!(["shared"])))
        .await
        .json()["value"]["display"]
        .as_str()
        .is_some_and(|d| d.contains('a') && d.contains('b')));

    let typed = json!({
        "when": {"$type": "Date", "value": "2024-05-01T12:00:00.000Z"},
        "big": {"$type": "bigint", "value": "123456789012345678901234567890"},
        "tags": {"$type": "Set", "values": ["a", "b"]},
        "by": {"$type": "Map", "entries": [[1, "one"]]},
        "raw": {"$type": "Uint8Array", "base64": "AAEC"},
        "nothing": {"$type": "undefined"},
        "re": {"$type": "RegExp", "source": "x+", "flags": "gi"},
    });
    let url = entry("default", &json!(["typed"]));
    assert_eq!(server.put(&url, &typed.to_string()).await.status, 200);
    assert_eq!(server.get(&url).await.json()["value"], typed);
    server.shutdown().await;
}
