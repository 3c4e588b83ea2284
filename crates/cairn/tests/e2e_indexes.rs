//! Secondary indexes, keys-only listings, counts and aggregates end to end: the real
//! `cairn serve` binary, the `cairn` CLI over `--url` and `--path`, cairn-client, and the
//! unchanged Deno runtime and @deno/kv reading index entries the server wrote.
//!
//! - `suite_*`: one suite written against `KvIndexes` runs on the embedded database and over
//!   the network (index lifecycle, unique refusals with their reason, keys-only listings,
//!   counts and aggregates of every number kind);
//! - `deno_and_node_read_index_entries`: indexes created with `cairn index create --url`, then
//!   `tests/e2e/indexes/scenario.mjs` through both JavaScript clients;
//! - `cli_*`: the commands' output on a server and on a directory;
//! - `declared_in_the_config`: an index declared in `cairn serve --config` exists and is
//!   built when its database opens.
//!
//! Every wait is bounded; nothing asserts how long anything took.

mod e2e;

use std::process::Command;

use cairn_client::{Client, ClientError};
use cairn_model::{
    key, AggregateOptions, IndexSpec, IndexState, Kv, KvIndexes, KvKeyList, KvValue, ListOptions,
    ListSelector, Number,
};
use e2e::{runtime, Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};
use num_bigint::BigInt;

/// Waits (bounded by polling rounds) until `name` is no longer building.
async fn ready<K: KvIndexes>(db: &K, name: &str) -> IndexState
where
    K::Error: std::fmt::Debug,
{
    for _ in 0..6000 {
        let info = db.indexes().await.expect("indexes");
        let state = info
            .into_iter()
            .find(|i| i.spec.name == name)
            .map(|i| i.state);
        match state {
            Some(IndexState::Building { .. }) => {
                tokio::time::sleep(std::time::Duration::from_millis(10)).await
            }
            Some(state) => return state,
            None => panic!("index {name} vanished"),
        }
    }
    panic!("index {name} still building after a minute");
}

fn json(text: &str) -> KvValue {
    KvValue::Bytes(text.as_bytes().to_vec())
}

/// The suite: the same code against a directory and a URL.
async fn suite<K: KvIndexes>(db: &K)
where
    K::Error: std::fmt::Debug + std::fmt::Display,
{
    for i in 0..30i64 {
        let value = json(&format!(
            "{{\"team\": \"t{}\", \"email\": \"u{i}@x\"}}",
            i % 3
        ));
        db.set(&key!["people", i], value).await.expect("set");
    }
    let info = db
        .create_index(IndexSpec::new("people_by_team", key!["people"], &["team"]))
        .await
        .expect("create");
    assert_eq!(info.spec.fields, ["team"]);
    db.create_index(IndexSpec::new("people_by_email", key!["people"], &["email"]).unique())
        .await
        .expect("create unique");
    assert_eq!(ready(db, "people_by_team").await, IndexState::Ready);
    assert_eq!(ready(db, "people_by_email").await, IndexState::Ready);
    let names: Vec<String> = db
        .indexes()
        .await
        .expect("list")
        .into_iter()
        .map(|i| i.spec.name)
        .collect();
    assert!(names.contains(&"people_by_team".to_owned()));

    let team1 = db
        .list_keys(
            ListSelector::Prefix(key!["people_by_team", "t1"]),
            ListOptions::default(),
        )
        .expect("list keys")
        .collect()
        .await
        .expect("listed");
    assert_eq!(team1.len(), 10);
    assert_eq!(team1[0].key, key!["people_by_team", "t1", 1i64]);
    let entry = db
        .get(&team1[0].key)
        .await
        .expect("get")
        .expect("an index entry");
    assert_eq!(entry.versionstamp, team1[0].versionstamp);

    let conflict = db
        .atomic()
        .set(&key!["people", 99i64], json("{\"email\": \"u3@x\"}"))
        .commit()
        .await
        .expect("evaluated");
    match conflict {
        cairn_model::CommitResult::CheckFailed { reason, .. } => {
            let reason = reason.expect("the reason travels");
            assert!(reason.contains("people_by_email"), "{reason}");
            assert!(reason.contains("[\"people\", 3n]"), "{reason}");
        }
        other => panic!("unique index let a duplicate in: {other:?}"),
    }
    let err = db
        .set(&key!["people_by_team", "forged"], KvValue::U64(1))
        .await
        .expect_err("reserved");
    assert!(
        err.to_string().contains("only the database writes"),
        "{err}"
    );

    assert_eq!(
        db.count(ListSelector::Prefix(key!["people"]))
            .await
            .expect("count"),
        30
    );
    assert_eq!(
        db.count(ListSelector::Prefix(key!["people_by_team", "t2"]))
            .await
            .expect("count"),
        10
    );

    // Numbers of every kind.
    let v8_double = KvValue::V8(cairn_model::v8::encode_number(2.5));
    let v8_bigint = KvValue::V8(cairn_model::v8::encode_bigint(&BigInt::from(-4)));
    let values = [
        KvValue::U64(10),
        v8_double,
        v8_bigint,
        json("7"),
        json("{\"n\": 1}"),
    ];
    for (i, value) in values.into_iter().enumerate() {
        db.set(&key!["nums", i as i64], value).await.expect("set");
    }
    let a = db
        .aggregate(
            ListSelector::Prefix(key!["nums"]),
            AggregateOptions::default(),
        )
        .await
        .expect("aggregate");
    assert_eq!((a.count, a.skipped), (4, 1));
    assert_eq!(a.sum, Number::Float(15.5));
    assert_eq!(
        (a.min, a.max),
        (Some(Number::Int(-4)), Some(Number::Int(10)))
    );
    assert_eq!(a.avg(), Some(15.5 / 4.0));
    let field = AggregateOptions {
        field: Some("n".into()),
    };
    let of_n = db
        .aggregate(ListSelector::Prefix(key!["nums"]), field)
        .await
        .expect("aggregate");
    assert_eq!((of_n.count, of_n.sum), (1, Number::Int(1)));

    assert!(db.drop_index("people_by_team").await.expect("drop"));
    assert!(!db.drop_index("no_such_index").await.expect("drop missing"));
}

#[test]
fn suite_on_the_embedded_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    runtime().block_on(async {
        let db = cairn_store::Database::open(dir.path()).expect("open");
        suite(&db).await;
        db.close();
    });
}

#[test]
fn suite_over_the_network() {
    let server = Server::start();
    runtime().block_on(async {
        let db = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .unwrap_or_else(|e| panic!("connect: {e}\n{}", server.log_tail()));
        suite(&db).await;
        // A read-only token lists indexes and reads, but cannot manage them.
        let ro = Client::connect(server.url(), READ_ONLY_TOKEN)
            .await
            .expect("connect read-only");
        assert!(!ro.indexes().await.expect("list").is_empty());
        assert_eq!(
            ro.count(ListSelector::Prefix(key!["people"]))
                .await
                .expect("count"),
            30
        );
        let refused = ro
            .create_index(IndexSpec::new("ro", key!["people"], &["team"]))
            .await;
        assert!(
            matches!(refused, Err(ClientError::Unauthorized { status: 403, .. })),
            "{refused:?}"
        );
        let refused = ro.drop_index("people_by_email").await;
        assert!(matches!(
            refused,
            Err(ClientError::Unauthorized { status: 403, .. })
        ));
        // A bad definition is the caller's problem: 400 with the reason.
        let bad = db
            .create_index(IndexSpec::new("overlap", key!["people_by_email"], &["a"]))
            .await;
        assert!(
            matches!(bad, Err(ClientError::Refused { status: 400, .. })),
            "{bad:?}"
        );
    });
}

fn cairn(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env("DENO_KV_ACCESS_TOKEN", READ_WRITE_TOKEN)
        .env_remove("CAIRN_PATH")
        .env_remove("CAIRN_URL")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run cairn");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn deno_and_node_read_index_entries() {
    let server = Server::start();
    let url = server.url().to_owned();
    for args in [
        vec![
            "index",
            "create",
            "--url",
            &url,
            "by_email",
            "--prefix",
            r#"["users"]"#,
            "--field",
            "email",
            "--unique",
        ],
        vec![
            "index",
            "create",
            "--url",
            &url,
            "by_city",
            "--prefix",
            r#"["users"]"#,
            "--field",
            "city",
            "--field",
            "name",
        ],
    ] {
        let (ok, out, err) = cairn(&args);
        assert!(ok, "{args:?}: {out}{err}\n{}", server.log_tail());
        assert!(out.contains("state=ready"), "{out}");
    }
    for (client, tag) in [(e2e::Client::Deno, "deno"), (e2e::Client::Node, "node")] {
        let script = match client {
            e2e::Client::Deno => "indexes/deno.ts",
            e2e::Client::Node => "indexes/node.mjs",
        };
        let out = e2e::run_client_script(client, &server, script, &[("CAIRN_E2E_TAG", tag)]);
        assert!(
            out.contains("ok an expiring entry's index entry expires with it"),
            "{out}"
        );
    }
}

#[test]
fn cli_on_a_server_and_on_a_directory() {
    let server = Server::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("db");
    let path = path.to_str().expect("utf-8 path");
    for target in [["--url", server.url()], ["--path", path]] {
        for i in 0..5 {
            let key = format!("[\"o\", {i}]");
            let value = format!("{{\"price\": {}, \"sku\": \"s{i}\"}}", i * 10);
            let (ok, out, err) = cairn(
                &[&["set", target[0], target[1], &key, &value, "--type", "json"][..]].concat(),
            );
            assert!(ok, "{out}{err}");
        }
        let run = |args: &[&str]| {
            let mut all = args.to_vec();
            all.extend_from_slice(&target);
            let (ok, out, err) = cairn(&all);
            assert!(ok, "{all:?}: {out}{err}");
            out
        };
        assert_eq!(run(&["count", r#"["o"]"#]).trim(), "5");
        assert_eq!(
            run(&["aggregate", r#"["o"]"#, "--field", "price"]).trim(),
            "count=5 sum=100 min=0 max=40 avg=20 skipped=0"
        );
        let keys = run(&["list", r#"["o"]"#, "--keys-only", "--json", "--limit", "2"]);
        let lines: Vec<&str> = keys.lines().collect();
        assert_eq!(lines.len(), 2, "{keys}");
        assert!(lines[0].starts_with(r#"{"key":"[\"o\", 0.0]""#), "{keys}");
        assert!(!lines[0].contains("value"), "keys only: {keys}");
        let created = run(&[
            "index", "create", "by_sku", "--prefix", r#"["o"]"#, "--field", "sku", "--unique",
        ]);
        assert!(
            created.starts_with("by_sku prefix=[\"o\"] fields=sku unique state=ready entries=5"),
            "{created}"
        );
        let listed = run(&["index", "list", "--json"]);
        assert!(
            listed.contains(r#""name":"by_sku""#) && listed.contains(r#""state":"ready""#),
            "{listed}"
        );
        let (ok, out, err) = cairn(
            &[&[
                "set",
                target[0],
                target[1],
                r#"["o", 9]"#,
                r#"{"sku": "s1"}"#,
                "--type",
                "json",
            ][..]]
            .concat(),
        );
        assert!(!ok && err.contains("unique index \"by_sku\""), "{out}{err}");
        assert_eq!(run(&["index", "drop", "by_sku"]).trim(), "dropped by_sku");
        let (ok, _, err) =
            cairn(&[&["index", "drop", target[0], target[1], "by_sku"][..]].concat());
        assert!(!ok && err.contains("no index named"), "{err}");
    }
}

#[test]
fn declared_in_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("cairn.toml");
    std::fs::write(
        &config,
        "[[indexes]]\nname = \"by_sku\"\nprefix = '[\"items\"]'\nfields = [\"sku\"]\nunique = true\n",
    )
    .expect("write config");
    let server = Server::start_with(&["--config", config.to_str().expect("utf-8")]);
    runtime().block_on(async {
        let db = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect");
        let indexes = db.indexes().await.expect("list");
        assert_eq!(indexes.len(), 1, "{indexes:?}");
        assert!(indexes[0].spec.unique);
        db.set(&key!["items", 1i64], json("{\"sku\": \"a\"}"))
            .await
            .expect("set");
        assert_eq!(ready(&db, "by_sku").await, IndexState::Ready);
        let taken = db
            .atomic()
            .set(&key!["items", 2i64], json("{\"sku\": \"a\"}"))
            .commit()
            .await
            .expect("evaluated");
        assert!(!taken.is_committed());
    });
}
