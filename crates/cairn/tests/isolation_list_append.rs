//! The isolation checker over the real server: concurrent cairn-clients, each on its own
//! connection, run the list-append workload (`isolation/mod.rs`) against `cairn serve`, and
//! the recorded history is checked for lost updates, stale and fractured reads, reads from
//! the future, and versionstamps out of real-time order. The same workload runs on an
//! embedded database, and negative controls show the checker catching doctored histories.
//!
//! `CAIRN_ISOLATION_OPS` (default 150) sets the operations per client; `CAIRN_ISOLATION_SEED`
//! replays a run's operation mix.

mod e2e;
mod isolation;

use cairn_client::Client;
use cairn_store::Database;
use e2e::{env_u64, Server, READ_WRITE_TOKEN};
use isolation::{check, final_lists, run_client, Op};

const CLIENTS: u64 = 8;

fn seed() -> u64 {
    let seed = env_u64("CAIRN_ISOLATION_SEED", rand::random());
    eprintln!("CAIRN_ISOLATION_SEED={seed}");
    seed
}

#[test]
fn list_append_over_the_server_shows_no_anomaly() {
    let server = Server::start();
    let ops = env_u64("CAIRN_ISOLATION_OPS", 150);
    let seed = seed();
    let runtime = e2e::runtime();
    let (history, finals) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let url = server.url().to_owned();
            tasks.push(tokio::spawn(async move {
                let db = Client::connect(&url, READ_WRITE_TOKEN)
                    .await
                    .expect("connect");
                run_client(&db, client, ops, seed).await
            }));
        }
        let mut history: Vec<Op> = Vec::new();
        for task in tasks {
            history.extend(task.await.expect("client task"));
        }
        let db = Client::connect(server.url(), READ_WRITE_TOKEN)
            .await
            .expect("connect");
        (history, final_lists(&db).await)
    });
    let (summary, anomalies) = check(&history, &finals);
    eprintln!("{summary:?}");
    assert!(anomalies.is_empty(), "anomalies: {anomalies:#?}");
    assert_eq!(
        summary.unknown_appends, 0,
        "no answer was lost on a healthy server"
    );
    assert!(
        summary.acked_appends > (CLIENTS * ops / 3) as usize,
        "{summary:?}"
    );
    assert!(summary.reads > 0);
}

#[test]
fn list_append_on_an_embedded_database_shows_no_anomaly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    let seed = seed();
    let runtime = e2e::runtime();
    let (history, finals) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for client in 0..CLIENTS {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                run_client(&db, client, 150, seed).await
            }));
        }
        let mut history: Vec<Op> = Vec::new();
        for task in tasks {
            history.extend(task.await.expect("client task"));
        }
        (history, final_lists(&db).await)
    });
    let (summary, anomalies) = check(&history, &finals);
    assert!(anomalies.is_empty(), "anomalies: {anomalies:#?}");
    assert!(summary.acked_appends > 0);
}

/// A checker that cannot fail proves nothing: doctored histories must be caught.
#[test]
fn the_checker_catches_doctored_histories() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Database::open(dir.path()).expect("open");
    let runtime = e2e::runtime();
    let (history, finals) = runtime.block_on(async {
        let mut tasks = Vec::new();
        for client in 0..4 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                run_client(&db, client, 100, 7).await
            }));
        }
        let mut history: Vec<Op> = Vec::new();
        for task in tasks {
            history.extend(task.await.expect("client task"));
        }
        (history, final_lists(&db).await)
    });
    assert!(check(&history, &finals).1.is_empty());

    // A lost update: the last element of a final list disappears.
    let mut lost = finals.clone();
    let k = (0..lost.len())
        .find(|&k| !lost[k].is_empty())
        .expect("a list");
    lost[k].pop();
    assert!(has(&check(&history, &lost).1, "lost update"));

    // A stale read: a read that began after everything ends up seeing nothing.
    let mut stale = history.clone();
    let keys = vec![k];
    let now = std::time::Instant::now();
    stale.push(Op::Read {
        keys,
        lists: vec![(Vec::new(), None)],
        start: now,
        end: now,
    });
    assert!(has(&check(&stale, &finals).1, "stale read"));

    // A fractured read: a two-key append seen in one key only.
    let two_key = history.iter().find_map(|op| match op {
        Op::Append {
            keys,
            element,
            outcome: isolation::Outcome::Acked(_),
            ..
        } if keys.len() == 2 => Some((keys.clone(), *element)),
        _ => None,
    });
    let (keys, element) = two_key.expect("the workload makes two-key appends");
    let mut fractured = history.clone();
    let earlier = history
        .iter()
        .map(|op| match op {
            Op::Append { start, .. } | Op::Read { start, .. } => *start,
        })
        .min()
        .expect("ops");
    let upto = |k: usize| -> Vec<u64> {
        let list = &finals[k];
        let at = list
            .iter()
            .position(|e| *e == element)
            .expect("in the list");
        list[..=at].to_vec()
    };
    fractured.push(Op::Read {
        keys: keys.clone(),
        lists: vec![(upto(keys[0]), None), (Vec::new(), None)],
        start: earlier,
        end: earlier,
    });
    assert!(has(&check(&fractured, &finals).1, "fractured read"));
}

fn has(anomalies: &[String], what: &str) -> bool {
    anomalies.iter().any(|a| a.contains(what))
}
