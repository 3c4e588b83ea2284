//! Which endpoint serves `kv.get(key, { consistency: "eventual" })` of the real clients, read
//! from the servers' own counters (`cairn_reads_total{role=…}` in `/metrics`).
//!
//! A primary lists itself as the `strong` endpoint and its connected replicas as `eventual`
//! ones in the metadata exchange. What the pinned clients do with that:
//!
//! - `@deno/kv` (Node.js) sends eventual reads to the first `eventual` endpoint: a replica.
//! - The Deno runtime (2.9) sends every call to the first `strong` endpoint, whatever the
//!   read's consistency: its eventual reads land on the primary. (Its KV Connect client
//!   never looks at the `eventual` endpoints.)
//! - So that the Deno runtime can read from a replica, a replica started with
//!   `--replica-endpoints replica` lists only itself, as `strong`: opened at the replica's
//!   URL, the Deno runtime's eventual reads are served there; its strong reads are refused by
//!   the client itself (the replica answers `read_is_strongly_consistent: false`), and its
//!   writes are answered 421 naming the primary.

mod e2e;
mod replication;

use std::process::Command;

use replication::{cairn, Node, TOKEN};

const READS: u64 = 25;

/// Reads of every kind counted on `node`'s default database.
fn reads(node: &Node) -> f64 {
    node.metric_sum("cairn_reads_total", &["database=\"default\""])
}

/// Reads of every kind counted on `node`'s default database while it had `role`.
fn reads_as(node: &Node, role: &str) -> f64 {
    let role = format!("role=\"{role}\"");
    node.metric_sum(
        "cairn_reads_total",
        &["database=\"default\"", role.as_str()],
    )
}

fn run(mut command: Command) -> String {
    let output = command
        .env("NO_COLOR", "1")
        .env("DENO_NO_UPDATE_CHECK", "1")
        .current_dir(e2e::repo_root())
        .output()
        .expect("running a client");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn deno(url: &str, extra: &[&str], deno_dir: &std::path::Path) -> String {
    let mut command = Command::new(e2e::deno_binary());
    e2e::deno_script(
        &mut command,
        "replication/eventual_reads.ts",
        url,
        TOKEN,
        deno_dir,
    )
    .arg(READS.to_string())
    .args(extra);
    run(command)
}

#[test]
fn eventual_reads_of_the_real_clients() {
    let dirs = tempfile::tempdir().expect("temp dir");
    let deno_dir = dirs.path().join("deno-dir");
    let primary = Node::start(&dirs.path().join("primary"), &[]);
    let (ok, text) = cairn(&[
        "set",
        "--url",
        &primary.url,
        "--access-token",
        TOKEN,
        "[\"k\"]",
        "v",
    ]);
    assert!(ok, "{text}");
    let replica = Node::start(
        &dirs.path().join("replica"),
        &["--replica-of", primary.url.as_str()],
    );
    replica.wait_for_position(primary.position());
    primary.wait_until("the replica listed", |n| {
        n.metric("cairn_replication_replicas", &["database=\"default\""]) == Some(1.0)
    });

    // @deno/kv: eventual reads go to the replica.
    let (p, r) = (reads(&primary), reads(&replica));
    let mut node = Command::new("node");
    node.arg(e2e::repo_root().join("tests/e2e/replication/eventual_reads.mjs"))
        .arg(&primary.url)
        .arg(TOKEN)
        .arg(READS.to_string())
        .env_remove("DENO_KV_ACCESS_TOKEN");
    let out = run(node);
    assert!(
        reads_as(&replica, "replica") - r >= READS as f64,
        "@deno/kv's eventual reads were not served by the replica: replica {r} -> {}, primary \
         {p} -> {}\n{out}",
        reads(&replica),
        reads(&primary)
    );
    assert_eq!(
        reads(&primary),
        p,
        "@deno/kv's eventual reads reached the primary"
    );

    // The Deno runtime: every call to the strong endpoint, eventual reads included.
    let (p, r) = (reads(&primary), reads(&replica));
    deno(&primary.url, &[], &deno_dir);
    assert!(
        reads_as(&primary, "primary") - p >= READS as f64,
        "the Deno runtime's eventual reads did not reach the primary"
    );
    assert_eq!(reads(&replica), r, "the Deno runtime read from the replica");

    // A replica that lists only itself serves the Deno runtime's eventual reads.
    let only = Node::start(
        &dirs.path().join("only"),
        &[
            "--replica-of",
            primary.url.as_str(),
            "--replica-endpoints",
            "replica",
        ],
    );
    only.wait_for_position(primary.position());
    let (p, o) = (reads(&primary), reads(&only));
    let out = deno(&only.url, &["--only-replica"], &deno_dir);
    assert!(
        reads_as(&only, "replica") - o >= READS as f64,
        "the Deno runtime's eventual reads were not served by the replica\n{out}"
    );
    assert_eq!(reads(&primary), p, "the Deno runtime read from the primary");
    assert!(
        out.contains("strong read: Strong consistency reads are not available"),
        "{out}"
    );
    assert!(out.contains("status=421"), "{out}");
    assert!(
        out.contains(&format!("read-only replica of {}", primary.url)),
        "{out}"
    );
}
