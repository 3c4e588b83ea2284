//! A poisoned database must be visible to an operator, not only to the writers it refuses:
//! `cairn serve` runs under `strace -e inject=fdatasync:error=EIO:when=N+` (a dying disk), a
//! client writes until its writes are refused, and then `/readyz` answers 503 naming the
//! database, `/metrics` says `cairn_poisoned 1` and counts the poisoned commits, and
//! `cairn stats --url` (summary and `--json`) says poisoned.
//!
//! Needs `strace` (scripts/test.sh installs it with apt-get when missing).

mod observe;

use std::process::Command;
use std::time::Duration;

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Kv, KvValue};
use observe::{get, Served, TOKEN};

#[test]
fn a_poisoned_database_shows_in_readiness_metrics_and_stats() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Opening the database uses fsync, not fdatasync: the failures start mid-load.
    let server = Served::start(&dir.path().join("data"), &[], Some(12));
    let (status, body) = get(&server.metrics_addr, "/readyz");
    assert_eq!(
        (status, body.as_str()),
        (200, "ready\n"),
        "healthy at first"
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let refused = runtime.block_on(async {
        let mut options = ClientOptions::default();
        options.retry_budget = Duration::from_millis(300);
        let db = Client::connect_with(&server.url, TOKEN, options)
            .await
            .expect("connect");
        let mut refused = 0;
        for i in 0..200u64 {
            if refused == 3 {
                break;
            }
            if db.set(&key!["w", i], KvValue::U64(i)).await.is_err() {
                refused += 1;
            }
        }
        refused
    });
    assert_eq!(
        refused,
        3,
        "the failing disk refused writes\n{}",
        server.log()
    );

    let (status, body) = get(&server.metrics_addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.contains("\"default\" is poisoned") && body.contains("durable sync failed"),
        "{body}"
    );

    let (status, metrics) = get(&server.metrics_addr, "/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("cairn_poisoned{database=\"default\"} 1"),
        "{metrics}"
    );
    let poisoned_commits = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix("cairn_commits_total{database=\"default\",result=\"poisoned\"} ")
        })
        .and_then(|v| v.parse::<f64>().ok())
        .expect("a poisoned-commits series");
    assert!(poisoned_commits >= 1.0, "{metrics}");

    let stats = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_cairn"));
        command
            .args(["stats", "--url"])
            .arg(format!("http://{}", server.metrics_addr))
            .args(["--interval-ms", "100"]);
        if json {
            command.arg("--json");
        }
        let out = command.output().expect("cairn stats runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let doc: serde_json::Value = serde_json::from_str(&stats(true)).expect("JSON");
    let db = &doc["databases"][0];
    assert_eq!(db["name"], "default", "{doc}");
    assert_eq!(db["poisoned"], true, "{doc}");
    assert!(db["commits"]["poisoned"].as_f64() >= Some(1.0), "{doc}");
    let summary = stats(false);
    assert!(summary.contains("poisoned: YES"), "{summary}");
}
