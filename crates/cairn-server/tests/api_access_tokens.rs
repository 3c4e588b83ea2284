//! The JSON API takes KV Connect's access tokens with their grants: no token or an unknown
//! one is 401, a token whose grant does not name the database 403, a read-only token reads
//! but every write (entry, atomic, database creation) is 403 and leaves the data as it was.
//! The database list shows only what the token opens, with its access.

mod api;

use api::{entry, Server, APP_ONLY, RO};
use serde_json::json;

#[tokio::test]
async fn tokens_and_grants_decide_what_a_request_may_do() {
    let server = Server::start().await;
    let url = entry("default", &json!(["k"]));
    assert_eq!(server.put(&url, "1").await.status, 200);

    server
        .request("GET", &url, None, &[], b"")
        .await
        .expect_error(401, "unauthorized");
    server
        .request("GET", &url, Some("nobody"), &[], b"")
        .await
        .expect_error(401, "unauthorized");
    server
        .request("GET", "/api/v1/databases", Some("nobody"), &[], b"")
        .await
        .expect_error(401, "unauthorized");

    // Read-only: reads work, writes are refused and change nothing.
    let read = server.request("GET", &url, Some(RO), &[], b"").await;
    assert_eq!(read.json()["value"], 1);
    for (method, path, body) in [
        ("PUT", url.clone(), "2"),
        ("DELETE", url.clone(), ""),
        (
            "POST",
            "/api/v1/databases/default/atomic".to_owned(),
            r#"{"mutations": [{"type": "delete", "key": ["k"]}]}"#,
        ),
        ("PUT", "/api/v1/databases/fresh".to_owned(), ""),
    ] {
        server
            .request(method, &path, Some(RO), &[], body.as_bytes())
            .await
            .expect_error(403, "forbidden");
    }
    assert_eq!(server.get(&url).await.json()["value"], 1);

    // A grant for "app" only: the default database is another's.
    server
        .request("GET", &url, Some(APP_ONLY), &[], b"")
        .await
        .expect_error(403, "forbidden");
    let created = server
        .request("PUT", "/api/v1/databases/app", Some(APP_ONLY), &[], b"")
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let listed = server
        .request("GET", "/api/v1/databases", Some(APP_ONLY), &[], b"")
        .await;
    assert_eq!(
        listed.json()["databases"],
        json!([{"name": "app", "access": "read-write", "open": true}])
    );
    let listed = server
        .request("GET", "/api/v1/databases", Some(RO), &[], b"")
        .await;
    let names: Vec<_> = listed.json()["databases"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| (d["name"].clone(), d["access"].clone()))
        .collect();
    assert_eq!(
        names,
        [
            (json!("app"), json!("read-only")),
            (json!("default"), json!("read-only"))
        ]
    );
    // The API never creates a database by naming it.
    server
        .get(&entry("other", &json!(["k"])))
        .await
        .expect_error(404, "not_found");
    server.shutdown().await;
}
