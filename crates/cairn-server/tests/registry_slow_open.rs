//! Opening a database stalled the server: the registry opened databases (the engine's
//! recovery, the log's replay and fill, several fsyncs) on the runtime thread, holding the
//! lock of its name table, so a slow open of one database held every request of every other
//! database, and of databases long open, until it finished. Now an open runs on a blocking
//! thread with the lock released: requests for other names are served meanwhile, and
//! requests for the name being opened wait for that one open (the database is opened once).
//!
//! The slow open is an opener that waits for the test's signal. The runtime has one thread,
//! as `cairn serve` has on two cores: an open on it would block everything. A watchdog
//! thread gives the signal after a minute so that a regression fails instead of hanging.

use std::path::Path;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use cairn_server::registry::{Opener, Registry};
use cairn_server::Access;
use cairn_store::{Config, Database};
use parking_lot::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    Opened(String),
    Released,
}

#[tokio::test(flavor = "current_thread")]
async fn a_slow_open_holds_only_the_requests_for_its_own_name() {
    let dir = tempfile::tempdir().expect("temp dir");
    let events = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = Mutex::new(Some(started_tx));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let opener: Opener = {
        let events = events.clone();
        Arc::new(move |path: &Path, config: Config| {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
            if name == "slow" {
                if let Some(started) = started_tx.lock().take() {
                    let _ = started.send(());
                }
                let _ = release_rx.lock().recv();
            }
            events.lock().push(Event::Opened(name.to_owned()));
            Database::open_in_memory_with(config)
        })
    };
    let registry = Arc::new(
        Registry::with_opener(dir.path().into(), Config::default(), 16, opener).expect("registry"),
    );
    let ready = registry
        .get("ready", Access::ReadWrite)
        .await
        .expect("ready");

    let slow = |registry: Arc<Registry>| {
        tokio::spawn(async move { registry.get("slow", Access::ReadWrite).await })
    };
    let first = slow(registry.clone());
    started_rx.await.expect("the slow open started");
    let second = slow(registry.clone());
    let watchdog = {
        let release_tx = release_tx.clone();
        let events = events.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(60));
            events.lock().push(Event::Released);
            let _ = release_tx.send(());
        })
    };
    drop(watchdog);

    // While "slow" is being opened: another database is opened, an open one is served.
    let other = registry
        .get("other", Access::ReadWrite)
        .await
        .expect("other");
    let again = registry
        .get("ready", Access::ReadOnly)
        .await
        .expect("ready again");
    assert_eq!(again.database_id(), ready.database_id());
    assert_ne!(other.database_id(), ready.database_id());
    assert!(!first.is_finished() && !second.is_finished());
    assert_eq!(
        events.lock().clone(),
        [Event::Opened("ready".into()), Event::Opened("other".into())],
        "served before the slow open finished"
    );

    let _ = release_tx.send(());
    let first = first.await.expect("task").expect("slow");
    let second = second.await.expect("task").expect("slow");
    assert_eq!(first.database_id(), second.database_id(), "one database");
    let opens_of_slow = events
        .lock()
        .iter()
        .filter(|e| **e == Event::Opened("slow".into()))
        .count();
    assert_eq!(opens_of_slow, 1, "opened once");
}
