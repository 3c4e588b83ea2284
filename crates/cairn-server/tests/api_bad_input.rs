//! Bad input to the JSON API is a 4xx with a JSON reason, never a 5xx: malformed keys and
//! values, unknown or repeated parameters, out-of-range numbers, odd headers, bodies over the
//! limit, unknown routes and methods.

mod api;

use api::{entry, Server, RW};
use serde_json::json;

/// Method, path, headers, body, and the status expected.
type Case<'a> = (&'a str, String, Vec<(&'a str, &'a str)>, String, u16);

#[tokio::test]
async fn every_mistake_is_a_client_error_with_a_reason() {
    let server = Server::start_with(|c| c.body_bytes_max = 128 * 1024).await;
    let url = entry("default", &json!(["k"]));
    assert_eq!(server.put(&url, "1").await.status, 200);
    let big_value = format!("\"{}\"", "x".repeat(70_000));
    let cases: Vec<Case> = vec![
        (
            "GET",
            "/api/v1/databases/default/entry".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entry?key=users".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entry?key=%5B%5B1%5D%5D".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            format!("{url}&key=%5B%5D"),
            vec![],
            String::new(),
            400,
        ),
        ("GET", format!("{url}&bogus=1"), vec![], String::new(), 400),
        (
            "GET",
            url.clone(),
            vec![("If-None-Match", "nonsense")],
            String::new(),
            400,
        ),
        ("PUT", url.clone(), vec![], "not json".into(), 400),
        (
            "PUT",
            url.clone(),
            vec![],
            r#"{"$type": "Date", "value": "soon"}"#.into(),
            400,
        ),
        (
            "PUT",
            url.clone(),
            vec![("If-Match", "W/\"x\"")],
            "1".into(),
            400,
        ),
        (
            "PUT",
            url.clone(),
            vec![("If-None-Match", "\"00000000000000010000\"")],
            "1".into(),
            400,
        ),
        ("PUT", url.clone(), vec![], big_value.clone(), 400),
        (
            "PUT",
            url.clone(),
            vec![],
            format!("[{}]", "1,".repeat(75_000) + "1"),
            413,
        ),
        ("PUT", format!("{url}&expireIn=-1"), vec![], "1".into(), 400),
        ("PUT", entry("default", &json!([])), vec![], "1".into(), 400),
        (
            "PUT",
            entry("default", &json!(["k".repeat(3000)])),
            vec![],
            "1".into(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entries?limit=0".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entries?limit=1001".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entries?cursor=%%%".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entries?reverse=maybe".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/entries?start=%5B1%5D".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/children?cursor=!".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/default/watch".into(),
            vec![],
            String::new(),
            400,
        ),
        (
            "POST",
            "/api/v1/databases/default/atomic".into(),
            vec![],
            "[]".into(),
            400,
        ),
        (
            "POST",
            "/api/v1/databases/default/atomic".into(),
            vec![],
            r#"{"mutations": [{"type": "rename", "key": ["a"]}]}"#.into(),
            400,
        ),
        (
            "POST",
            "/api/v1/databases/default/atomic".into(),
            vec![],
            r#"{"checks": [{"key": ["a"], "versionstamp": "12"}]}"#.into(),
            400,
        ),
        (
            "POST",
            "/api/v1/databases/default/atomic".into(),
            vec![],
            r#"{"mutations": [{"type": "set", "key": ["a"], "value": 1, "expireIn": 0}]}"#.into(),
            400,
        ),
        (
            "GET",
            "/api/v1/databases/Not-A-Name/entries".into(),
            vec![],
            String::new(),
            404,
        ),
        (
            "GET",
            "/api/v1/nothing/here".into(),
            vec![],
            String::new(),
            404,
        ),
        ("PATCH", url.clone(), vec![], String::new(), 405),
    ];
    for (method, path, headers, body, status) in cases {
        let answer = server
            .request(method, &path, Some(RW), &headers, body.as_bytes())
            .await;
        assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
        assert_eq!(
            answer.header("content-type"),
            Some("application/json"),
            "{method} {path}"
        );
        let json = answer.json();
        assert!(
            json["error"].is_string() && json["reason"].is_string(),
            "{json}"
        );
    }
    server.shutdown().await;
}
