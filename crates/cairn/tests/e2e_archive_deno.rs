//! Data written by the real Deno client to `cairn serve --archive`, restored from the archive,
//! and served again: the Deno client reads every value back unchanged (strings, numbers,
//! bigints, `Uint8Array`s, `Deno.KvU64` sums, objects, `Map`, `Set`, `Date`, `RegExp`, keys of
//! every type). The server is stopped with SIGKILL after the archive caught up, its database
//! directory replaced by the restore, and started again on it.

mod e2e;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_model::Versionstamp;
use cairn_store::archive::{restore_to_dir, ArchiveConfig, Catalog, LocalDir, RestoreTarget};
use e2e::{run_deno_script, Server};

#[test]
fn deno_reads_back_what_it_wrote_after_a_restore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let mut server = Server::start_with(&["--archive", archive.to_str().expect("utf-8")]);
    let out = run_deno_script(&server, "archive/deno_roundtrip.ts", &["write"]);
    let last: Versionstamp = out
        .lines()
        .find_map(|l| l.strip_prefix("versionstamp "))
        .expect("the script prints its last versionstamp")
        .trim()
        .parse()
        .expect("a versionstamp");
    let config = ArchiveConfig::new(Arc::new(LocalDir::new(&archive)), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Catalog::load(&config.prefixed())
        .and_then(|c| c.summaries(&config.prefixed()))
        .is_ok_and(|s| {
            s.last()
                .is_some_and(|r| r.last_commit_version >= last.commit_version())
        })
    {
        assert!(
            Instant::now() < deadline,
            "the archive did not catch up\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    server.kill_and_restart_with(|databases| {
        let db = databases.join("default");
        std::fs::remove_dir_all(&db).expect("removing the database");
        restore_to_dir(&config.prefixed(), RestoreTarget::Latest, &db, 8 << 20)
            .expect("restoring into the server's data directory");
    });
    let out = run_deno_script(&server, "archive/deno_roundtrip.ts", &["check"]);
    assert!(out.contains("ok "), "{out}");
}
