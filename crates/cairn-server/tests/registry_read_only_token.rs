//! A read-only token could create databases: the registry opened (and so created) whatever
//! name a request named, whatever the token's access, so `ro` asking for `/db/anything` made
//! a new directory with an engine and a log on disk. Now only a read-write grant creates a
//! database; a read-only one naming a missing database gets 404 with the reason, in the
//! metadata exchange and on the data path (a database removed since its token was issued),
//! and nothing is created. Existing databases open for it as before.

mod registry_http;

use registry_http::Server;

#[tokio::test]
async fn a_read_only_token_opens_databases_but_never_creates_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(dir.path(), 100).await;

    let (status, body) = server.exchange("missing", "ro").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("read-only token cannot create"), "{body}");
    assert!(
        !dir.path().join("missing").exists(),
        "no directory was made"
    );

    // Created by a read-write token, it opens for the read-only one.
    server.data_token("app", "rw").await;
    let (status, body) = server.exchange("app", "ro").await;
    assert_eq!(status, 200, "{body}");
    // A read-only data token for "gone", which is then removed while the server is down.
    server.data_token("gone", "rw").await;
    let ro_gone_data = server.data_token("gone", "ro").await;
    server.shutdown().await;
    std::fs::remove_dir_all(dir.path().join("gone")).expect("remove gone");

    let server = Server::start(dir.path(), 100).await;
    let (status, body) = server
        .post("/db/gone/data/snapshot_read", &ro_gone_data, &[])
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("read-only token cannot create"), "{body}");
    assert!(!dir.path().join("gone").exists(), "no directory was made");
    // Still there after the restart, found on disk: it opens for the read-only token.
    let (status, body) = server.exchange("app", "ro").await;
    assert_eq!(status, 200, "{body}");
    server.shutdown().await;
}
