//! `cairn export` writes every entry as one NDJSON line in denoland/kv-utils' entry JSON, and
//! `cairn import` loads such lines in atomic batches: an export, imported into a new database
//! (a directory, and a server through `--url`), exports again to the same lines but for the
//! versionstamps. A malformed line is refused with its line number and nothing after it is
//! written.

mod e2e;

use std::path::Path;
use std::process::{Command, Output};

use e2e::{Server, READ_WRITE_TOKEN};
use serde_json::{json, Value};

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .args(args)
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .env_remove("CAIRN_URL")
        .env_remove("CAIRN_PATH")
        .output()
        .expect("running cairn")
}

fn ok(args: &[&str]) -> String {
    let output = cli(args);
    assert!(
        output.status.success(),
        "cairn {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// The lines without their versionstamps.
fn without_versionstamps(ndjson: &str) -> Vec<Value> {
    ndjson
        .lines()
        .map(|line| {
            let mut entry: Value = serde_json::from_str(line).expect("a JSON line");
            entry
                .as_object_mut()
                .expect("object")
                .remove("versionstamp");
            entry
        })
        .collect()
}

#[test]
fn export_then_import_gives_the_same_entries_on_a_directory_and_a_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = dir.path().join("source");
    let s = p(&source);
    ok(&[
        "set",
        "--path",
        s,
        r#"["users", 42n]"#,
        r#"{"name": "ada", "tags": [1, 2.5, null], "ok": true}"#,
        "--type",
        "json",
    ]);
    ok(&["set", "--path", s, r#"["text", 1.5]"#, "hello"]);
    ok(&[
        "set",
        "--path",
        s,
        r#"["count", true]"#,
        "7",
        "--type",
        "u64",
    ]);
    ok(&[
        "set",
        "--path",
        s,
        r#"["raw"]"#,
        "bytes!",
        "--type",
        "bytes",
    ]);
    // Many keys, so that an import takes several atomic batches (loaded by an import too).
    let bulk = dir.path().join("bulk.ndjson");
    let lines: Vec<String> = (0..1200)
        .map(|i| {
            json!({
                "key": [{"type": "string", "value": "n"}, {"type": "bigint", "value": i.to_string()}],
                "value": {"type": "number", "value": i},
                "versionstamp": "00000000000000000000",
            })
            .to_string()
        })
        .collect();
    std::fs::write(&bulk, lines.join("\n")).expect("write");
    ok(&["import", "--path", s, p(&bulk)]);
    let exported = dir.path().join("export.ndjson");
    ok(&["export", "--path", s, "--output", p(&exported)]);
    let text = std::fs::read_to_string(&exported).expect("read");
    assert_eq!(text.lines().count(), 1204);
    // kv-utils' entryToJSON form, field by field.
    let users = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("json"))
        .find(|e| e["key"][0]["value"] == "users")
        .expect("the users entry");
    assert_eq!(
        users["key"],
        json!([{"type": "string", "value": "users"}, {"type": "bigint", "value": "42"}])
    );
    assert_eq!(
        users["value"],
        json!({"type": "object", "value": {
            "name": {"type": "string", "value": "ada"},
            "tags": {"type": "Array", "value": [
                {"type": "number", "value": 1}, {"type": "number", "value": 2.5}, {"type": "null", "value": null}
            ]},
            "ok": {"type": "boolean", "value": true},
        }})
    );
    assert_eq!(users["versionstamp"].as_str().map(str::len), Some(20));
    assert!(text.contains(r#"{"type":"KvU64","value":"7"}"#));
    assert!(text.contains(r#"{"type":"Uint8Array","value":"Ynl0ZXMh"}"#));

    let copy = dir.path().join("copy");
    let said = ok(&["import", "--path", p(&copy), p(&exported)]);
    assert!(said.contains("imported 1204 entries"), "{said}");
    let again = ok(&["export", "--path", p(&copy)]);
    assert_eq!(without_versionstamps(&again), without_versionstamps(&text));

    let server = Server::start();
    let said = ok(&[
        "import",
        "--url",
        server.url(),
        "--access-token",
        READ_WRITE_TOKEN,
        p(&exported),
    ]);
    assert!(said.contains("imported 1204 entries"), "{said}");
    let remote = ok(&[
        "export",
        "--url",
        server.url(),
        "--access-token",
        READ_WRITE_TOKEN,
    ]);
    assert_eq!(without_versionstamps(&remote), without_versionstamps(&text));
}

#[test]
fn a_malformed_line_is_refused_with_its_number() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("bad.ndjson");
    std::fs::write(
        &file,
        concat!(
            r#"{"key":[{"type":"string","value":"a"}],"value":{"type":"string","value":"x"},"versionstamp":"00000000000000010000"}"#,
            "\n",
            r#"{"key":[{"type":"string","value":"b"}],"value":{"type":"RegExp","value":"/x/"}}"#,
            "\n"
        ),
    )
    .expect("write");
    let output = cli(&["import", "--path", p(&dir.path().join("db")), p(&file)]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("line 2") && stderr.contains("RegExp"),
        "{stderr}"
    );
}
