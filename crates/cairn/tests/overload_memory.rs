//! Many clients sending writes of the largest size faster than the server can make them
//! durable: its resident memory stays under its configured bounds plus a stated baseline,
//! every write it acknowledged is there afterwards, and every write it refused (503) left no
//! trace. The server used to hold as many request bodies as it had connections and up to
//! 4,096 queued writes per database (~3.3 GB of 819 KB writes): its memory grew with the
//! number of clients. Now request bodies in flight share `--body-bytes-in-flight-max` and
//! each database's commit pipeline holds at most `--commit-queue-bytes-max`; past either,
//! the answer is 503 with `Retry-After`, sent only when nothing was applied.
//!
//! The clients speak KV Connect over raw HTTP/1.1, so that the test sees each 503 and can
//! check that its write was not applied (each attempt writes keys of its own). The figures
//! (peak RSS, refusals) are printed; `docs/reliability.md` records a run.

mod overload;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use cairn_model::{key, AtomicWrite, Key, KvValue, Mutation, MutationKind, ReadRange};
use cairn_proto::messages as pb;
use cairn_proto::Message;
use overload::{data_path, Connection, Serve};

/// The server's budget of request bodies in flight.
const BODY_BYTES_IN_FLIGHT_MAX: u64 = 16 * 1024 * 1024;
/// The server's bound on writes in the database's commit pipeline.
const COMMIT_QUEUE_BYTES_MAX: u64 = 16 * 1024 * 1024;
/// What the server may hold beyond the bytes its two bounds count, over its resident memory
/// after a warm-up. Each term is fixed by configuration, none by the load:
///
/// - copies: a body counted once is held as received and as decoded, a write counted once
///   also as its encoded log record and changelog record (two more of each bound);
/// - connection buffers: hyper reads each connection into a buffer of up to ~400 KiB, also
///   while a refused body is read and dropped;
/// - the storage engine's memtables: fjall seals a keyspace's memtable at its size and halts
///   writes at four sealed ones, so up to five per keyspace hold written data (the data
///   keyspace's are `DATA_MEMTABLE_BYTES`; the changelog, which keeps every value again, has
///   fjall's default of 64 MiB);
/// - the engine's block cache (`ENGINE_CACHE_BYTES_DEFAULT`), filled as tables are read.
const COPIES_BYTES: u64 = 2 * (BODY_BYTES_IN_FLIGHT_MAX + COMMIT_QUEUE_BYTES_MAX);
const CONNECTION_BUFFER_BYTES: u64 = 512 * 1024;
const ENGINE_MEMTABLES_BYTES: u64 =
    5 * (cairn_store::limits::DATA_MEMTABLE_BYTES + FJALL_MEMTABLE_BYTES_DEFAULT);
const FJALL_MEMTABLE_BYTES_DEFAULT: u64 = 64 * 1024 * 1024;
const ENGINE_CACHE_BYTES: u64 = cairn_store::limits::ENGINE_CACHE_BYTES_DEFAULT;

/// Concurrent clients, each with one connection: together they offer ~100 MB of bodies at
/// once, three times the two bounds together.
const CLIENTS: u64 = 128;
/// Writes each client has acknowledged before it stops.
const WRITES_PER_CLIENT: u64 = 1;
/// Values per write, each of the largest size: 12 × 64 KiB ≈ 786 KB, close to the largest
/// write (819,200 bytes).
const VALUES_PER_WRITE: u64 = 12;
const VALUE_BYTES: usize = 65_536;
/// Longest the load may run; a client still short of its writes then fails the test.
const LOAD_DEADLINE: Duration = Duration::from_secs(45);
/// A refused client waits this long before trying again (Deno's runtime waits ~200–300 ms).
const RETRY_PAUSE: Duration = Duration::from_millis(250);

/// The `i`th value of attempt `seq` of client `client`: its bytes name it.
fn value(client: u64, seq: u64, i: u64) -> Vec<u8> {
    let mut bytes = vec![(client ^ seq ^ i) as u8; VALUE_BYTES];
    bytes[..8].copy_from_slice(&client.to_le_bytes());
    bytes[8..16].copy_from_slice(&seq.to_le_bytes());
    bytes[16..24].copy_from_slice(&i.to_le_bytes());
    bytes
}

fn attempt_prefix(client: u64, seq: u64) -> Key {
    key!["big", client, seq]
}

/// Attempt `seq` of client `client`: one write of the largest size, keys of its own.
fn write_body(client: u64, seq: u64) -> Vec<u8> {
    let mutations = (0..VALUES_PER_WRITE)
        .map(|i| Mutation {
            key: cairn_model::encode_key(&key!["big", client, seq, i]),
            kind: MutationKind::Set(KvValue::Bytes(value(client, seq, i))),
            expire_at_ms: None,
        })
        .collect();
    let write = AtomicWrite {
        mutations,
        ..Default::default()
    };
    cairn_proto::atomic_write_to_proto(write).encode_to_vec()
}

/// What one client saw.
#[derive(Default)]
struct Outcome {
    acknowledged: Vec<(u64, u64)>,
    refused: Vec<(u64, u64)>,
}

/// Writes until `WRITES_PER_CLIENT` are acknowledged, pausing after each 503.
async fn client(addr: SocketAddr, data: (String, String), client: u64) -> Outcome {
    let (token, url) = data;
    let path = format!("{url}/atomic_write");
    let mut connection = Connection::open(addr).await;
    let mut outcome = Outcome::default();
    let deadline = Instant::now() + LOAD_DEADLINE;
    for seq in 0.. {
        if outcome.acknowledged.len() as u64 == WRITES_PER_CLIENT {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "client {client}: {} of {WRITES_PER_CLIENT} writes acknowledged in {LOAD_DEADLINE:?}",
            outcome.acknowledged.len()
        );
        let answer = connection
            .post(&path, &token, &write_body(client, seq))
            .await;
        match answer.status {
            200 => {
                let output = pb::AtomicWriteOutput::decode(answer.body.as_slice()).expect("decode");
                assert_eq!(output.status, pb::AtomicWriteStatus::AwSuccess as i32);
                outcome.acknowledged.push((client, seq));
            }
            503 => {
                assert!(answer.retry_after, "a 503 without Retry-After");
                let reason = String::from_utf8_lossy(&answer.body);
                assert!(reason.contains("nothing of this"), "{reason}");
                outcome.refused.push((client, seq));
                tokio::time::sleep(RETRY_PAUSE + Duration::from_millis(client % 50)).await;
            }
            other => panic!(
                "client {client}: status {other}: {}",
                String::from_utf8_lossy(&answer.body)
            ),
        }
    }
    outcome
}

/// The values under each attempt's prefix, read back (ten attempts per snapshot read).
async fn read_attempts(
    addr: SocketAddr,
    (token, url): &(String, String),
    attempts: &[(u64, u64)],
) -> Vec<Vec<pb::KvEntry>> {
    let path = format!("{url}/snapshot_read");
    let mut connection = Connection::open(addr).await;
    let mut found = Vec::new();
    for chunk in attempts.chunks(10) {
        let ranges = chunk
            .iter()
            .map(|&(client, seq)| {
                let start = cairn_model::encode_key(&attempt_prefix(client, seq));
                let mut end = start.clone();
                end.push(0xFF);
                ReadRange {
                    start,
                    end,
                    limit: VALUES_PER_WRITE as usize + 1,
                    reverse: false,
                }
            })
            .collect();
        let read = cairn_proto::snapshot_read_to_proto(ranges).encode_to_vec();
        let answer = connection.post(&path, token, &read).await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
        let output = pb::SnapshotReadOutput::decode(answer.body.as_slice()).expect("decode");
        found.extend(output.ranges.into_iter().map(|r| r.values));
    }
    found
}

#[test]
fn memory_stays_bounded_under_more_large_writes_than_the_disk_takes() {
    let server = Serve::start(&[
        "--body-bytes-in-flight-max".into(),
        BODY_BYTES_IN_FLIGHT_MAX.to_string(),
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
        let data = data_path(addr, "/").await;
        // Warm-up: the engine, the log and the allocator reach their working size.
        let warm = client(addr, data.clone(), CLIENTS).await;
        assert!(warm.refused.is_empty(), "a lone client was refused");
        let baseline = server.memory("VmRSS");

        let started = Instant::now();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| tokio::spawn(client(addr, data.clone(), c)))
            .collect();
        let mut acknowledged = Vec::new();
        let mut refused = Vec::new();
        for c in clients {
            let outcome = c.await.expect("client task");
            acknowledged.extend(outcome.acknowledged);
            refused.extend(outcome.refused);
        }
        let load_time = started.elapsed();
        let peak = server.memory("VmHWM");
        let allowance = COPIES_BYTES
            + CLIENTS * CONNECTION_BUFFER_BYTES
            + ENGINE_MEMTABLES_BYTES
            + ENGINE_CACHE_BYTES;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        eprintln!(
            "overload: {} writes of ~{} KB acknowledged and {} refused (503) in {load_time:?}; \
             server RSS {:.1} MiB after warm-up, peak {:.1} MiB; bounds: bodies {:.0} MiB, \
             commit queue {:.0} MiB, allowance beyond them {:.0} MiB",
            acknowledged.len(),
            VALUES_PER_WRITE as usize * VALUE_BYTES / 1000,
            refused.len(),
            mib(baseline),
            mib(peak),
            mib(BODY_BYTES_IN_FLIGHT_MAX),
            mib(COMMIT_QUEUE_BYTES_MAX),
            mib(allowance),
        );
        // The load went past the bounds (else this test would show nothing)...
        assert!(
            !refused.is_empty(),
            "no write was refused: the load never reached a bound"
        );
        // ...and memory stayed within them.
        let bound = baseline + BODY_BYTES_IN_FLIGHT_MAX + COMMIT_QUEUE_BYTES_MAX + allowance;
        assert!(
            peak <= bound,
            "peak RSS {:.1} MiB over the bound {:.1} MiB",
            mib(peak),
            mib(bound)
        );

        // Every acknowledged write is there, whole; no refused write left a trace.
        let found = read_attempts(addr, &data, &acknowledged).await;
        for (&(client, seq), entries) in acknowledged.iter().zip(&found) {
            assert_eq!(
                entries.len() as u64,
                VALUES_PER_WRITE,
                "write {client}/{seq}"
            );
            for (i, entry) in (0..).zip(entries) {
                assert_eq!(
                    entry.key,
                    cairn_model::encode_key(&key!["big", client, seq, i])
                );
                assert!(
                    entry.value == value(client, seq, i),
                    "write {client}/{seq}/{i}"
                );
            }
        }
        let found = read_attempts(addr, &data, &refused).await;
        for (&(client, seq), entries) in refused.iter().zip(&found) {
            assert!(
                entries.is_empty(),
                "refused write {client}/{seq} was applied"
            );
        }
    });
}
