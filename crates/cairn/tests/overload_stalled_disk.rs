//! A database whose disk stops answering, on a server with one HTTP thread: its commit queue
//! fills up to its bound (`--commit-queue-bytes-max`) and every further write to it is
//! answered 503 with `Retry-After` at once, never applied, while reads of it and reads and
//! writes of another database are served on that same thread. Before, a write to a database
//! with a full queue blocked the HTTP thread itself (a blocking channel `send` inside the
//! handler), and with one HTTP thread that froze every request of every database.
//!
//! The stall is real: `strace` attaches to the running `cairn serve` and delays every
//! `fdatasync` on the stalled database's transaction log by ten minutes (`-P` keeps the
//! other database's log untouched). Needs `strace` (scripts/test.sh installs it).

mod overload;

use std::time::Duration;

use cairn_model::{key, AtomicWrite, Key, KvValue, Mutation, MutationKind, ReadRange};
use cairn_proto::messages as pb;
use cairn_proto::Message;
use overload::{data_path, Connection, Serve, StalledSyncs};

/// The stalled database's commit queue bound: room for 17 writes of [`VALUE_BYTES`].
const COMMIT_QUEUE_BYTES_MAX: usize = 1024 * 1024;
/// Value size of each write to the stalled database.
const VALUE_BYTES: usize = 60_000;
/// Writes sent to the stalled database at once, each on its own connection.
const WRITERS: u64 = 40;
/// What the commit queue counts for one request beyond its keys and values (cairn-store's
/// `COMMIT_REQUEST_OVERHEAD_BYTES`).
const REQUEST_OVERHEAD_BYTES: usize = 256;
/// Longest any answer expected here may take; only a blocked server comes near it.
const ANSWER_BOUND: Duration = Duration::from_secs(60);

fn set_body(k: &Key, value: KvValue) -> Vec<u8> {
    let write = AtomicWrite {
        mutations: vec![Mutation {
            key: cairn_model::encode_key(k),
            kind: MutationKind::Set(value),
            expire_at_ms: None,
        }],
        ..Default::default()
    };
    cairn_proto::atomic_write_to_proto(write).encode_to_vec()
}

/// Reads `k` through the server: its value's bytes, if any.
async fn read(
    connection: &mut Connection,
    (token, url): &(String, String),
    k: &Key,
) -> Option<Vec<u8>> {
    let start = cairn_model::encode_key(k);
    let mut end = start.clone();
    end.push(0);
    let ranges = vec![ReadRange {
        start,
        end,
        limit: 1,
        reverse: false,
    }];
    let body = cairn_proto::snapshot_read_to_proto(ranges).encode_to_vec();
    let path = format!("{url}/snapshot_read");
    let answer = tokio::time::timeout(ANSWER_BOUND, connection.post(&path, token, &body))
        .await
        .expect("a read answered while the other database is stalled");
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let output = pb::SnapshotReadOutput::decode(answer.body.as_slice()).expect("decode");
    output.ranges[0].values.first().map(|e| e.value.clone())
}

#[test]
fn a_stalled_database_fills_its_queue_and_one_http_thread_serves_on() {
    let server = Serve::start(&[
        "--commit-queue-bytes-max".into(),
        COMMIT_QUEUE_BYTES_MAX.to_string(),
    ]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let addr = server.addr;
        let stalled = data_path(addr, "/db/stalled").await;
        let other = data_path(addr, "/").await;
        let mut reader = Connection::open(addr).await;
        let write_path = format!("{}/atomic_write", stalled.1);
        let seed = set_body(&key!["seed"], KvValue::U64(7));
        let answer = reader.post(&write_path, &stalled.0, &seed).await;
        assert_eq!(
            answer.status, 200,
            "the stalled database is created and written"
        );

        let tlog = server.database_dir("stalled").join("tlog");
        let files: Vec<_> = std::fs::read_dir(&tlog)
            .expect("the stalled database's log directory")
            .map(|e| e.expect("a log file").path())
            .collect();
        assert!(!files.is_empty(), "no log file in {}", tlog.display());
        let _stall = StalledSyncs::attach(&server, &files);

        let (answered, mut answers) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..WRITERS {
            let (answered, stalled) = (answered.clone(), stalled.clone());
            let path = write_path.clone();
            tokio::spawn(async move {
                let mut connection = Connection::open(addr).await;
                let body = set_body(&key!["w", i], KvValue::Bytes(vec![1; VALUE_BYTES]));
                let answer = connection.post(&path, &stalled.0, &body).await;
                let _ = answered.send((i, answer));
            });
        }
        // The queue takes what fits its bytes; those writes wait for the disk. Every other
        // one is refused at once.
        let cost =
            REQUEST_OVERHEAD_BYTES + cairn_model::encode_key(&key!["w", 0u64]).len() + VALUE_BYTES;
        let admitted = (COMMIT_QUEUE_BYTES_MAX / cost) as u64;
        let mut refused = Vec::new();
        while (refused.len() as u64) < WRITERS - admitted {
            let (i, answer) = tokio::time::timeout(ANSWER_BOUND, answers.recv())
                .await
                .expect("writes past the queue's bound answered at once")
                .expect("a writer's answer");
            assert_eq!(
                answer.status,
                503,
                "write {i} to the stalled database: {}",
                String::from_utf8_lossy(&answer.body)
            );
            assert!(answer.retry_after, "a 503 without Retry-After");
            refused.push(i);
        }

        // The one HTTP thread still serves reads of the stalled database...
        assert_eq!(
            read(&mut reader, &stalled, &key!["seed"]).await,
            Some(7u64.to_le_bytes().to_vec())
        );
        for &i in &refused {
            assert_eq!(read(&mut reader, &stalled, &key!["w", i]).await, None);
        }
        // ...and reads and writes of the other database.
        let mut elsewhere = Connection::open(addr).await;
        let path = format!("{}/atomic_write", other.1);
        let body = set_body(&key!["elsewhere"], KvValue::U64(1));
        let answer = tokio::time::timeout(ANSWER_BOUND, elsewhere.post(&path, &other.0, &body))
            .await
            .expect("a write to the other database answered");
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(
            read(&mut elsewhere, &other, &key!["elsewhere"]).await,
            Some(1u64.to_le_bytes().to_vec())
        );
        // The admitted writes are still waiting for the disk.
        assert!(
            answers.try_recv().is_err(),
            "a write answered during the stall"
        );
    });
}
