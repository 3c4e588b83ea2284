//! Listing over the JSON API on 2,500 keys: pages of at most `limit` entries with a cursor
//! until the last page (cursor null), forward and reverse, keys only, a start/end range; the
//! count; and the key tree (`children`), whose pages step over everything under a child
//! without reading it.

mod api;

use api::{q, Server};
use serde_json::{json, Value};

const KEYS: usize = 2_500;

async fn fill(server: &Server) {
    for chunk in (0..KEYS).collect::<Vec<_>>().chunks(1000) {
        let mutations: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"type": "set", "key": ["items", i], "value": {"n": i}}))
            .collect();
        let body = json!({ "mutations": mutations }).to_string();
        let answer = server.post("/api/v1/databases/default/atomic", &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    for key in [
        json!(["users", "alice"]),
        json!(["users", "alice", "mail"]),
        json!(["users", "bob", "mail"]),
        json!(["z"]),
    ] {
        let url = format!("/api/v1/databases/default/entry?key={}", q(&key));
        assert_eq!(server.put(&url, "1").await.status, 200);
    }
}

/// Every page of a listing, following cursors.
async fn pages(server: &Server, query: &str) -> Vec<Vec<Value>> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("/api/v1/databases/default/entries?{query}");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let answer = server.get(&url).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body = answer.json();
        out.push(body["entries"].as_array().expect("entries").clone());
        match body["cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn ns(page: &[Value]) -> Vec<i64> {
    page.iter()
        .map(|e| e["key"][1].as_i64().expect("a number part"))
        .collect()
}

#[tokio::test]
async fn pages_cursors_counts_and_the_key_tree() {
    let server = Server::start().await;
    fill(&server).await;
    let prefix = q(&json!(["items"]));

    let forward = pages(&server, &format!("prefix={prefix}&limit=1000")).await;
    assert_eq!(
        forward.iter().map(Vec::len).collect::<Vec<_>>(),
        [1000, 1000, 500]
    );
    let all: Vec<i64> = forward.iter().flat_map(|p| ns(p)).collect();
    assert_eq!(all, (0..KEYS as i64).collect::<Vec<_>>());
    assert_eq!(forward[0][7]["value"], json!({"n": 7}));

    let reverse = pages(
        &server,
        &format!("prefix={prefix}&limit=1000&reverse=true&keysOnly=true"),
    )
    .await;
    assert_eq!(ns(&reverse[0])[..3], [2499, 2498, 2497]);
    assert!(reverse[0][0].get("value").is_none(), "keys only");

    // An exact multiple of the limit ends with cursor null, not an empty page.
    let exact = pages(&server, &format!("prefix={prefix}&limit=500")).await;
    assert_eq!(exact.len(), 5);

    let range = pages(
        &server,
        &format!(
            "start={}&end={}",
            q(&json!(["items", 10])),
            q(&json!(["items", 13]))
        ),
    )
    .await;
    assert_eq!(ns(&range[0]), [10, 11, 12]);

    let count = server
        .get(&format!("/api/v1/databases/default/count?prefix={prefix}"))
        .await;
    assert_eq!(count.json(), json!({"count": KEYS, "complete": true}));
    let everything = server.get("/api/v1/databases/default/count").await;
    assert_eq!(everything.json()["count"], KEYS + 4);

    // The tree: top level, then a paged level of 2,500 children.
    let top = server
        .get("/api/v1/databases/default/children")
        .await
        .json();
    assert_eq!(
        top,
        json!({"children": [
            {"part": "items", "entry": false, "children": true},
            {"part": "users", "entry": false, "children": true},
            {"part": "z", "entry": true, "children": false},
        ], "cursor": null})
    );
    let users = server
        .get(&format!(
            "/api/v1/databases/default/children?prefix={}",
            q(&json!(["users"]))
        ))
        .await
        .json();
    assert_eq!(
        users["children"],
        json!([{"part": "alice", "entry": true, "children": true},
               {"part": "bob", "entry": false, "children": true}])
    );
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let url = format!("/api/v1/databases/default/children?prefix={prefix}&limit=500{cursor}");
        let page = server.get(&url).await.json();
        seen.extend(
            page["children"]
                .as_array()
                .expect("children")
                .iter()
                .map(|c| c["part"].as_i64().expect("n")),
        );
        match page["cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    assert_eq!(seen, (0..KEYS as i64).collect::<Vec<_>>());
    server.shutdown().await;
}
