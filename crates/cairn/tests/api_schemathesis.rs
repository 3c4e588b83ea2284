//! The JSON API against its own OpenAPI document, property-based: schemathesis (PyPI, pinned
//! in `tools/requirements-api.txt`, installed into `tools/venv-api` by `tools/install_api.sh`)
//! generates valid and invalid requests for every operation from `/api/v1/openapi.json` and
//! sends them to the real `cairn serve`. It fails on any 5xx, any status, content type, header
//! or body the document does not describe, and any request that violates the document yet is
//! accepted. The watch stream (never-ending by design) is left out; its behaviour is tested in
//! `crates/cairn-server/tests/api_watch_sse.rs`.
//!
//! The database parameter is fixed to `default` (a schemathesis configuration file), so the
//! requests reach the data rather than stopping at 404; the seed is fixed, so a failure can be
//! reproduced with the command the test prints.

mod e2e;

use std::process::Command;

use e2e::{repo_root, Server, READ_WRITE_TOKEN};

/// Test cases per operation and phase: about 2,000 requests, some 20 s on this machine.
const EXAMPLES: &str = "60";
const SEED: &str = "1";

#[test]
fn the_api_matches_its_openapi_document() {
    e2e::install_api_tools();
    let server = Server::start();
    let config = server.scratch().join("schemathesis.toml");
    std::fs::write(&config, "[parameters]\n\"path.db\" = \"default\"\n").expect("config");
    let mut run = Command::new(repo_root().join("tools/venv-api/bin/schemathesis"));
    run.arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url()))
        .args(["--url", &format!("{}/api/v1", server.url())])
        .args([
            "--header",
            &format!("Authorization: Bearer {READ_WRITE_TOKEN}"),
        ])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_headers_conformance,response_schema_conformance,negative_data_rejection",
        ])
        .args(["--exclude-path", "/databases/{db}/watch"])
        .args(["--max-examples", EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--request-timeout", "30", "--generation-database", "none"])
        .args(["--no-color", "--output-sanitize", "false"])
        .arg("--report-dir")
        .arg(server.scratch().join("schemathesis-report"))
        .current_dir(server.scratch());
    let output = e2e::run_checked(&server, run);
    assert!(
        output.contains("passed") && !output.contains("failed"),
        "schemathesis reported problems:\n{output}"
    );
    println!("{output}");
}
