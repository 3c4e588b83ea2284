//! The web console in a real browser: Debian's chromium (`/usr/bin/chromium`, headless, which
//! `scripts/test.sh` installs when missing) driven by playwright-core (pinned in
//! `tests/e2e/console/package-lock.json`, installed by `tools/install_api.sh`) against the real
//! `cairn serve`, with the real Deno client writing the data and making another user's
//! changes. The scenario, `tests/e2e/console/console.mjs`: sign in, browse a prefix of 10,000
//! keys a page at a time, a V8 object written by Deno decoded, an edit with a stale
//! versionstamp refused with the conflict shown and nothing overwritten, a Deno change
//! appearing through the watch (key and prefix), delete, markup in a value kept as text, and
//! a read-only token seeing no edit controls.
//!
//! Screenshots of each step land in `tests/e2e/console/screenshots/` (git-ignored).

mod e2e;

use std::path::Path;
use std::process::Command;

use e2e::{repo_root, Server, READ_ONLY_TOKEN, READ_WRITE_TOKEN};

const CHROMIUM: &str = "/usr/bin/chromium";

#[test]
fn console_in_chromium() {
    e2e::install_api_tools();
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium (scripts/test.sh does: apt-get install chromium)"
    );
    let deno = e2e::deno();
    let server = Server::start();
    let mut node = Command::new("node");
    node.arg(repo_root().join("tests/e2e/console/console.mjs"))
        .arg(server.url())
        .env("CAIRN_E2E_RW_TOKEN", READ_WRITE_TOKEN)
        .env("CAIRN_E2E_READ_ONLY_TOKEN", READ_ONLY_TOKEN)
        .env("CAIRN_E2E_DENO", &deno)
        .env("DENO_DIR", server.scratch().join("deno-dir"))
        .env(
            "CAIRN_E2E_SCREENSHOTS",
            repo_root().join("tests/e2e/console/screenshots"),
        )
        .env_remove("DENO_KV_ACCESS_TOKEN")
        .current_dir(repo_root());
    let output = e2e::run_checked(&server, node);
    assert!(
        output.contains("ok a read-only token sees no edit controls"),
        "the scenario did not reach its end:\n{output}"
    );
    println!("{output}");
}
