//! Databases were created without bound: any read-write client could name new databases one
//! after another, each a directory with an engine, a log and threads of its own. Now a server
//! holds at most `databases_max` (the default database and those already on disk count,
//! across restarts): creating
//! one more gets 403 with the reason and creates nothing, while the existing ones keep
//! working.

mod registry_http;

use registry_http::Server;

#[tokio::test]
async fn creating_a_database_past_the_limit_is_refused_with_a_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    // The default database and two more.
    let server = Server::start(dir.path(), 3).await;
    for name in ["a", "b"] {
        let (status, body) = server.exchange(name, "rw").await;
        assert_eq!(status, 200, "{name}: {body}");
    }
    let (status, body) = server.exchange("c", "rw").await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("at most 3 databases"), "{body}");
    assert!(body.contains("databases_max"), "{body}");
    assert!(!dir.path().join("c").exists(), "nothing created");
    // The existing ones are unaffected.
    let (status, body) = server.exchange("a", "rw").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;

    // After a restart the databases on disk still count.
    let server = Server::start(dir.path(), 3).await;
    let (status, body) = server.exchange("c", "rw").await;
    assert_eq!(status, 403, "{body}");
    server.data_token("b", "rw").await;
    server.shutdown().await;

    // A higher limit makes room.
    let server = Server::start(dir.path(), 4).await;
    let (status, body) = server.exchange("c", "rw").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}
