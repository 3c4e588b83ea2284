//! One key over the JSON API: `PUT`, `GET`, `DELETE` with the versionstamp as entity tag.
//! Conditional writes (`If-Match`, `If-None-Match: *`) write nothing when their condition
//! fails (412, the entry as it was); `GET` with `If-None-Match` is 304 while unchanged;
//! `expireIn` makes the entry expire (seen through a prefix watch, no sleeping).

mod api;

use api::{entry, q, Server, RW};
use serde_json::json;

#[tokio::test]
async fn writes_are_conditional_on_the_versionstamp() {
    let server = Server::start().await;
    let url = entry("default", &json!(["users", "alice"]));

    // Created only if absent.
    let created = server
        .request(
            "PUT",
            &url,
            Some(RW),
            &[("If-None-Match", "*")],
            br#"{"name": "Alice"}"#,
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let v1 = created.json()["versionstamp"]
        .as_str()
        .expect("versionstamp")
        .to_owned();
    assert_eq!(created.header("etag"), Some(format!("\"{v1}\"").as_str()));
    let again = server
        .request("PUT", &url, Some(RW), &[("If-None-Match", "*")], b"2")
        .await;
    again.expect_error(412, "precondition_failed");

    // Read, with the entity tag.
    let read = server.get(&url).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.json(),
        json!({"key": ["users", "alice"], "versionstamp": v1, "value": {"name": "Alice"}})
    );
    let tag = format!("\"{v1}\"");
    let unchanged = server
        .request("GET", &url, Some(RW), &[("If-None-Match", &tag)], b"")
        .await;
    assert_eq!(unchanged.status, 304);
    assert_eq!(unchanged.header("etag"), Some(tag.as_str()));

    // Updated only if unchanged.
    let updated = server
        .request(
            "PUT",
            &url,
            Some(RW),
            &[("If-Match", &tag)],
            br#"{"name": "Alicia"}"#,
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    let v2 = updated.json()["versionstamp"]
        .as_str()
        .expect("versionstamp")
        .to_owned();
    assert!(v2 > v1);
    // The same stale tag again: refused, and the reason names the versionstamp now.
    let stale = server
        .request(
            "PUT",
            &url,
            Some(RW),
            &[("If-Match", &tag)],
            br#"{"name": "lost"}"#,
        )
        .await;
    let reason = stale.expect_error(412, "precondition_failed");
    assert!(reason.contains(&v2), "{reason}");
    assert_eq!(
        server.get(&url).await.json()["value"],
        json!({"name": "Alicia"})
    );
    let stale_delete = server
        .request("DELETE", &url, Some(RW), &[("If-Match", &tag)], b"")
        .await;
    stale_delete.expect_error(412, "precondition_failed");
    assert_eq!(server.get(&url).await.status, 200, "nothing was deleted");

    // Deleted only if it exists.
    let deleted = server
        .request("DELETE", &url, Some(RW), &[("If-Match", "*")], b"")
        .await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    server.get(&url).await.expect_error(404, "not_found");
    let gone = server
        .request("DELETE", &url, Some(RW), &[("If-Match", "*")], b"")
        .await;
    gone.expect_error(412, "precondition_failed");
    let update_missing = server
        .request("PUT", &url, Some(RW), &[("If-Match", "*")], b"1")
        .await;
    update_missing.expect_error(412, "precondition_failed");
    server.get(&url).await.expect_error(404, "not_found");
    // An unconditional delete of an absent key is fine (as Deno's).
    let plain = server.request("DELETE", &url, Some(RW), &[], b"").await;
    assert_eq!(plain.status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn expire_in_removes_the_entry() {
    let server = Server::start().await;
    let prefix = json!(["sessions"]);
    let mut events = server
        .events(&format!(
            "/api/v1/databases/default/watch?prefix={}",
            q(&prefix)
        ))
        .await;
    assert_eq!(events.next().await.0, "ready");
    let url = entry("default", &json!(["sessions", "s1"]));
    let set = server
        .put(&format!("{url}&expireIn=50"), r#""token""#)
        .await;
    assert_eq!(set.status, 200, "{}", set.body);
    let (name, written) = events.next().await;
    assert_eq!(
        (name.as_str(), &written["changes"][0]["value"]),
        ("changes", &json!("token"))
    );
    // The sweeper's removal is a commit like any other: the watch reports it.
    let (name, removed) = events.next().await;
    assert_eq!(name, "changes");
    assert_eq!(
        removed["changes"],
        json!([{"key": ["sessions", "s1"], "deleted": true}])
    );
    server.get(&url).await.expect_error(404, "not_found");
    let never = server.put(&format!("{url}&expireIn=0"), "1").await;
    never.expect_error(400, "bad_request");
    server.shutdown().await;
}
