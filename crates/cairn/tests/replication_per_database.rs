//! Replication is per database: a server can follow one database of another server and be
//! the primary of its own. Writes to the followed database go to its primary (421 here),
//! writes to the server's own database are its own; `cairn stats` tells each one's role.

mod replication;

use replication::{cairn, Node, TOKEN};

fn set(url: &str, key: &str, value: &str) -> (bool, String) {
    cairn(&["set", "--url", url, "--access-token", TOKEN, key, value])
}

fn get(url: &str, key: &str) -> String {
    let (ok, text) = cairn(&["get", "--url", url, "--access-token", TOKEN, key]);
    assert!(ok, "{text}");
    text
}

#[test]
fn one_server_follows_one_database_and_owns_another() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let primary = Node::start(&dirs.path().join("primary"), &[]);
    let app_on_primary = format!("{}/db/app", primary.url);
    let (ok, text) = set(&app_on_primary, "[\"k\"]", "from the primary");
    assert!(ok, "{text}");
    let replica = Node::start(
        &dirs.path().join("replica"),
        &[
            "--replica-of",
            app_on_primary.as_str(),
            "--replica-endpoints",
            "replica",
        ],
    );
    let app_on_replica = format!("{}/db/app", replica.url);
    replica.wait_until("the app database copied", |r| {
        r.metric("cairn_replication_position", &["database=\"app\""]) == Some(1.0)
    });
    assert!(get(&app_on_replica, "[\"k\"]").contains("from the primary"));

    // Its own default database takes writes; the followed one does not.
    let (ok, text) = set(&replica.url, "[\"mine\"]", "x");
    assert!(ok, "{text}");
    let (ok, text) = set(&app_on_replica, "[\"w\"]", "x");
    assert!(!ok && text.contains("read-only replica of"), "{text}");

    let (ok, stats) = cairn(&[
        "stats",
        "--url",
        &format!("http://{}", replica.metrics_addr),
        "--interval-ms",
        "10",
    ]);
    assert!(ok, "{stats}");
    let section = |name: &str| {
        stats
            .split("database ")
            .find(|s| s.starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(section("app").contains("replication: replica"), "{stats}");
    assert!(section("app").contains("streaming"), "{stats}");
    assert!(
        section("default").contains("replication: primary"),
        "{stats}"
    );
}
