//! `POST …/atomic`: checks and mutations all or nothing. A failed check is 409 naming the
//! failed checks, and nothing of the write is applied; sum, min and max work on KvU64 (and
//! sum on numbers and bigints, as Deno's); a type mismatch is 400, not a server error.

mod api;

use api::{entry, Server};
use serde_json::json;

const ATOMIC: &str = "/api/v1/databases/default/atomic";

fn u64(n: u64) -> serde_json::Value {
    json!({"$type": "KvU64", "value": n.to_string()})
}

#[tokio::test]
async fn checks_guard_the_whole_write() {
    let server = Server::start().await;
    let first = server
        .post(
            ATOMIC,
            &json!({
                "checks": [{"key": ["a"], "versionstamp": null}],
                "mutations": [
                    {"type": "set", "key": ["a"], "value": "A"},
                    {"type": "sum", "key": ["n"], "value": u64(5)},
                    {"type": "max", "key": ["hi"], "value": u64(3)},
                    {"type": "min", "key": ["lo"], "value": u64(3)},
                    {"type": "sum", "key": ["f"], "value": 1.5},
                    {"type": "sum", "key": ["b"], "value": {"$type": "bigint", "value": "7"}},
                ]
            })
            .to_string(),
        )
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let body = first.json();
    assert_eq!(body["ok"], true);
    let va = body["versionstamp"]
        .as_str()
        .expect("versionstamp")
        .to_owned();

    // Second write: check 0 holds, check 1 does not. Nothing of it is applied.
    let failed = server
        .post(
            ATOMIC,
            &json!({
                "checks": [{"key": ["a"], "versionstamp": va}, {"key": ["n"], "versionstamp": null}],
                "mutations": [{"type": "set", "key": ["a"], "value": "changed"},
                              {"type": "sum", "key": ["n"], "value": u64(1)}]
            })
            .to_string(),
        )
        .await;
    failed.expect_error(409, "check_failed");
    assert_eq!(failed.json()["failedChecks"], json!([1]));
    let value = |key: serde_json::Value| {
        let server = &server;
        async move { server.get(&entry("default", &key)).await.json()["value"].clone() }
    };
    assert_eq!(value(json!(["a"])).await, "A");
    assert_eq!(value(json!(["n"])).await, u64(5));

    let more = server
        .post(
            ATOMIC,
            &json!({"mutations": [
                {"type": "sum", "key": ["n"], "value": u64(u64::MAX)},
                {"type": "max", "key": ["hi"], "value": u64(9)},
                {"type": "min", "key": ["lo"], "value": u64(1)},
                {"type": "sum", "key": ["f"], "value": 1},
                {"type": "sum", "key": ["b"], "value": {"$type": "bigint", "value": "-10"}},
                {"type": "delete", "key": ["a"]},
            ]})
            .to_string(),
        )
        .await;
    assert_eq!(more.status, 200, "{}", more.body);
    assert_eq!(value(json!(["n"])).await, u64(4), "u64 sums wrap");
    assert_eq!(value(json!(["hi"])).await, u64(9));
    assert_eq!(value(json!(["lo"])).await, u64(1));
    assert_eq!(value(json!(["f"])).await, 2.5);
    assert_eq!(
        value(json!(["b"])).await,
        json!({"$type": "bigint", "value": "-3"})
    );
    server
        .get(&entry("default", &json!(["a"])))
        .await
        .expect_error(404, "not_found");

    // Summing a number into a u64 is the caller's mistake.
    let mismatch = server
        .post(
            ATOMIC,
            &json!({"mutations": [{"type": "sum", "key": ["n"], "value": 1}]}).to_string(),
        )
        .await;
    mismatch.expect_error(400, "bad_request");
    assert_eq!(value(json!(["n"])).await, u64(4));
    server.shutdown().await;
}
