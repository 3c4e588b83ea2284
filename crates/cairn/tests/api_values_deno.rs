//! Typed JSON and V8 against the real Deno runtime, both ways: every kind of value Deno writes
//! reads through the JSON API as the documented typed JSON, and every typed JSON the API writes
//! (with cairn's own V8 encoder) reads in Deno as the JavaScript value it describes; a value
//! the API cannot represent stays read-only and unchanged. The script is
//! `tests/e2e/api/values_deno.ts`.

mod e2e;

use std::process::Command;

use e2e::{repo_root, Server, READ_WRITE_TOKEN};

#[test]
fn typed_json_round_trips_through_deno() {
    let deno = e2e::deno();
    let server = Server::start();
    let mut script = Command::new(deno);
    script
        .args(["run", "-A", "--unstable-kv"])
        .arg(repo_root().join("tests/e2e/api/values_deno.ts"))
        .arg(server.url())
        .env("DENO_KV_ACCESS_TOKEN", READ_WRITE_TOKEN)
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("DENO_NO_PROMPT", "1")
        .env("DENO_DIR", server.scratch().join("deno-dir"))
        .current_dir(repo_root());
    let output = e2e::run_checked(&server, script);
    assert!(
        output.contains("ok a shared reference is read-only"),
        "the script did not reach its end:\n{output}"
    );
    println!("{output}");
}
