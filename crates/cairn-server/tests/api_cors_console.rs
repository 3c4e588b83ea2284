//! The API answers no cross-origin request unless the operator names the origin (then
//! preflights get 204 with the allowed methods and headers); the console's files come with a
//! strict Content-Security-Policy, and `console = false` (`--no-console`) removes them.

mod api;

use api::{Server, RW};

#[tokio::test]
async fn cross_origin_reads_need_the_operators_consent() {
    let closed = Server::start().await;
    let answer = closed
        .request(
            "GET",
            "/api/v1/databases",
            Some(RW),
            &[("Origin", "https://evil.example")],
            b"",
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("access-control-allow-origin"), None);
    closed.shutdown().await;

    let open =
        Server::start_with(|c| c.api_cors_origins = vec!["https://app.example".into()]).await;
    let preflight = open
        .request(
            "OPTIONS",
            "/api/v1/databases/default/entry",
            None,
            &[
                ("Origin", "https://app.example"),
                ("Access-Control-Request-Method", "PUT"),
            ],
            b"",
        )
        .await;
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert!(preflight
        .header("access-control-allow-headers")
        .is_some_and(|h| h.contains("if-match") && h.contains("authorization")));
    let read = open
        .request(
            "GET",
            "/api/v1/databases",
            Some(RW),
            &[("Origin", "https://app.example")],
            b"",
        )
        .await;
    assert_eq!(
        read.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    assert_eq!(read.header("access-control-expose-headers"), Some("etag"));
    let other = open
        .request(
            "GET",
            "/api/v1/databases",
            Some(RW),
            &[("Origin", "https://evil.example")],
            b"",
        )
        .await;
    assert_eq!(other.header("access-control-allow-origin"), None);
    open.shutdown().await;
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy_unless_turned_off() {
    let server = Server::start().await;
    let page = server.request("GET", "/console", None, &[], b"").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<title>cairn console</title>"),
        "{}",
        page.body
    );
    let policy = page.header("content-security-policy").expect("a policy");
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );
    let script = server
        .request("GET", "/console/app.js", None, &[], b"")
        .await;
    assert_eq!(
        script.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    let missing = server
        .request("GET", "/console/../secret", None, &[], b"")
        .await;
    assert_eq!(missing.status, 404);
    server.shutdown().await;

    let off = Server::start_with(|c| c.console = false).await;
    assert_eq!(
        off.request("GET", "/console", None, &[], b"").await.status,
        404
    );
    assert_eq!(off.get("/api/v1/databases").await.status, 200);
    off.shutdown().await;
}
