//! SIGKILL during continuous archiving (and during its frequent snapshots) loses nothing
//! acknowledged from the archive once the server is back and has caught up. `cairn serve
//! --archive` runs under concurrent writers and is killed at random moments, again and again;
//! each restart finds the archive behind the database (batches committed but not shipped when
//! it died), so it records the break and opens a new range with a new snapshot. At the end, a
//! marker write is made and, once the archive holds it, the archive is restored to its latest
//! point into a new directory: every acknowledged write of every cycle must be there.
//!
//! `CAIRN_ARCHIVE_CRASH_CYCLES` (default 3) sets the number of kills.

mod e2e;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_client::{Client, ClientOptions};
use cairn_model::{key, Key, Kv, KvValue};
use cairn_store::archive::{restore_to_dir, ArchiveConfig, Catalog, LocalDir, RestoreTarget};
use cairn_store::Database;
use e2e::{env_u64, Server, READ_WRITE_TOKEN};
use rand::{Rng, SeedableRng};

const WRITERS: u64 = 4;
/// How long the archive may take to catch up after the last restart.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

async fn connect(url: &str) -> Client {
    let mut options = ClientOptions::default();
    options.retry_budget = Duration::from_millis(300);
    Client::connect_with(url, READ_WRITE_TOKEN, options)
        .await
        .expect("connect")
}

async fn writer(db: Client, cycle: u64, w: u64, acked: Arc<Mutex<Vec<(Key, u64)>>>) {
    for n in 0u64.. {
        let k = key!["acked", cycle, w, n];
        match db.set(&k, KvValue::U64(n)).await {
            Ok(_) => acked.lock().expect("lock").push((k, n)),
            Err(_) => return,
        }
    }
}

#[test]
fn every_acknowledged_write_survives_sigkill_in_a_restore_to_latest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let archive = dir.path().join("archive");
    let config = dir.path().join("cairn.toml");
    // Small snapshot threshold: kills often land in the middle of a snapshot.
    std::fs::write(
        &config,
        format!(
            "[archive]\nto = {:?}\nship_interval_ms = 20\nsnapshot_log_bytes = 16384\n",
            archive.display().to_string()
        ),
    )
    .expect("config");
    let mut server = Server::start_with(&["--config", config.to_str().expect("utf-8 path")]);
    let runtime = e2e::runtime();
    let acked = Arc::new(Mutex::new(Vec::new()));
    let cycles = env_u64("CAIRN_ARCHIVE_CRASH_CYCLES", 3);
    let mut rng = rand::rngs::SmallRng::seed_from_u64(env_u64("CAIRN_ARCHIVE_CRASH_SEED", 13));
    for cycle in 0..cycles {
        let url = server.url().to_owned();
        let load_ms = rng.random_range(200..900);
        runtime.block_on(async {
            for w in 0..WRITERS {
                let db = connect(&url).await;
                // Ends by itself when the server is killed.
                tokio::spawn(writer(db, cycle, w, acked.clone()));
            }
            tokio::time::sleep(Duration::from_millis(load_ms)).await;
        });
        server.kill_and_restart();
    }
    let marker = runtime.block_on(async {
        let db = connect(server.url()).await;
        db.set(&key!["marker"], KvValue::U64(1))
            .await
            .expect("marker")
    });
    let dest = Arc::new(LocalDir::new(&archive));
    let config = ArchiveConfig::new(dest, "default");
    let deadline = Instant::now() + CATCH_UP_TIMEOUT;
    loop {
        let caught_up = Catalog::load(&config.prefixed())
            .and_then(|c| c.summaries(&config.prefixed()))
            .map(|s| {
                s.last()
                    .is_some_and(|r| r.last_commit_version >= marker.commit_version())
            })
            .unwrap_or(false);
        if caught_up {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the archive did not catch up\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let restored = dir.path().join("restored");
    restore_to_dir(
        &config.prefixed(),
        RestoreTarget::Latest,
        &restored,
        8 << 20,
    )
    .expect("restore to latest");
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() > 20,
        "the load made too few writes: {}",
        acked.len()
    );
    runtime.block_on(async {
        let db = Database::open(&restored).expect("open restored");
        for (k, n) in &acked {
            let entry = db.get(k).await.expect("get");
            assert_eq!(
                entry.map(|e| e.value),
                Some(KvValue::U64(*n)),
                "acknowledged {k:?} is missing"
            );
        }
        assert!(db.get(&key!["marker"]).await.expect("get").is_some());
    });
}
