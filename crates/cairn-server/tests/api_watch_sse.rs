//! Watching over the JSON API as Server-Sent Events: a key watch reports its keys' entries at
//! once and after each change; a prefix watch reports each commit under the prefix (and
//! nothing outside it); streams count against the token's watch limit, shared with KV
//! Connect's watch, past which the answer is 429.

mod api;

use api::{entry, q, Server};
use serde_json::json;

#[tokio::test]
async fn keys_and_prefixes_report_changes() {
    let server = Server::start_with(|c| c.watches_per_token_max = 2).await;
    let light = json!(["light"]);
    let mut keys = server
        .events(&format!(
            "/api/v1/databases/default/watch?key={}&key={}",
            q(&light),
            q(&json!(["other"]))
        ))
        .await;
    let (name, first) = keys.next().await;
    assert_eq!(name, "entries");
    assert_eq!(
        first,
        json!([{"key": ["light"], "value": null, "versionstamp": null},
               {"key": ["other"], "value": null, "versionstamp": null}])
    );
    let mut prefix = server
        .events(&format!(
            "/api/v1/databases/default/watch?prefix={}",
            q(&json!(["rooms"]))
        ))
        .await;
    assert_eq!(prefix.next().await.0, "ready");

    let set = server.put(&entry("default", &light), r#""on""#).await;
    let versionstamp = set.json()["versionstamp"].clone();
    let (_, changed) = keys.next().await;
    assert_eq!(
        changed[0],
        json!({"key": ["light"], "value": "on", "versionstamp": versionstamp})
    );

    // Outside the prefix: not reported. Under it: one event per commit.
    server.put(&entry("default", &json!(["roomsX"])), "0").await;
    let body = json!({"mutations": [
        {"type": "set", "key": ["rooms", "a"], "value": 1},
        {"type": "delete", "key": ["rooms", "b"]},
        {"type": "set", "key": ["elsewhere"], "value": 2},
    ]});
    let atomic = server
        .post("/api/v1/databases/default/atomic", &body.to_string())
        .await;
    assert_eq!(atomic.status, 200);
    let (name, commit) = prefix.next().await;
    assert_eq!(name, "changes");
    assert_eq!(
        commit,
        json!({"versionstamp": atomic.json()["versionstamp"], "changes": [
            {"key": ["rooms", "a"], "value": 1},
            {"key": ["rooms", "b"], "deleted": true},
        ]})
    );

    // Two streams open: the token's limit.
    let third = server
        .request(
            "GET",
            &format!("/api/v1/databases/default/watch?key={}", q(&light)),
            Some(api::RW),
            &[],
            b"",
        )
        .await;
    third.expect_error(429, "too_many_watches");
    server.shutdown().await;
}
