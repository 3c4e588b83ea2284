//! Past its memory bounds the server answers 503 with `Retry-After`, and only when nothing of
//! the request was applied. It used to have no bound on the request bodies it held at once
//! (each up to `body_bytes_max`, as many as there were connections, 4,096) nor on the writes
//! queued for a database (4,096 of up to 819 KB each): memory grew with the load. Now the
//! bodies in flight share one budget (`body_bytes_in_flight_max`), taken before a body is read
//! and given back when its answer is ready; without room, the body is read and dropped and the
//! answer is 503, which Deno's clients retry with a backoff (a 429 would fail the call).

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use cairn_model::{key, AtomicWrite, Key, KvValue, Mutation, MutationKind, ReadRange};
use cairn_proto::messages as pb;
use cairn_proto::Message;
use cairn_server::error::{status, ApiError};
use cairn_server::{ServerConfig, TokenGrant};
use cairn_store::StoreError;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The body bound of the test server; its budget of bodies in flight is the same, so one
/// request announcing the largest body takes all of it.
const BODY_BYTES_MAX: usize = 1024 * 1024;

/// A response: status, head (lower-cased) and body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Sends one request on a new connection and reads its answer (bounded in time).
async fn send(addr: SocketAddr, request: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let read = async {
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = stream.read(&mut chunk).await.expect("read");
            response.extend_from_slice(&chunk[..n]);
            let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
                assert!(n > 0, "connection closed before a response head");
                continue;
            };
            let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .expect("content-length");
            if response.len() >= split + 4 + length || n == 0 {
                let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
                return Answer {
                    status: status.expect("status"),
                    body: response[split + 4..].to_vec(),
                    head,
                };
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("an answer in time")
}

fn post(path: &str, token: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

/// The data token and data path of the default database.
async fn data_path(addr: SocketAddr) -> (String, String) {
    let answer = send(addr, &post("/", "rw", br#"{"supportedVersions":[3]}"#)).await;
    assert_eq!(answer.status, 200);
    let meta: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    let token = meta["token"].as_str().expect("token").to_owned();
    let url = meta["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .to_owned();
    (token, url)
}

fn set_body(k: &Key) -> Vec<u8> {
    let write = AtomicWrite {
        mutations: vec![Mutation {
            key: cairn_model::encode_key(k),
            kind: MutationKind::Set(KvValue::U64(1)),
            expire_at_ms: None,
        }],
        ..Default::default()
    };
    cairn_proto::atomic_write_to_proto(write).encode_to_vec()
}

/// Whether `k` holds a value, read through the server.
async fn exists(addr: SocketAddr, (token, url): &(String, String), k: &Key) -> bool {
    let key = cairn_model::encode_key(k);
    let mut end = key.clone();
    end.push(0);
    let read = cairn_proto::snapshot_read_to_proto(vec![ReadRange {
        start: key,
        end,
        limit: 1,
        reverse: false,
    }]);
    let path = format!("{url}/snapshot_read");
    let answer = send(addr, &post(&path, token, &read.encode_to_vec())).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let output = pb::SnapshotReadOutput::decode(answer.body.as_slice()).expect("decode");
    !output.ranges[0].values.is_empty()
}

#[tokio::test]
async fn a_full_body_budget_is_answered_503_with_retry_after_and_nothing_applied() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new(dir.path());
    config.tokens = vec![TokenGrant::read_write_all("rw")];
    config.body_bytes_max = BODY_BYTES_MAX;
    config.body_bytes_in_flight_max = BODY_BYTES_MAX;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(cairn_server::serve(config, listener, async {
        let _ = stopped.await;
    }));
    let data = data_path(addr).await;
    let write_path = format!("{}/atomic_write", data.1);

    // A client announces the largest body and sends none of it: its share is the whole
    // budget for as long as its body is on the way.
    let mut hog = TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST {write_path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {}\r\nContent-Length: {BODY_BYTES_MAX}\r\n\r\n",
        data.0
    );
    hog.write_all(head.as_bytes()).await.expect("write");
    // Until the server has read that head, other writes still go through (and count).
    let mut refused = None;
    for attempt in 0..10_000u64 {
        let k = key!["attempt", attempt];
        let answer = send(addr, &post(&write_path, &data.0, &set_body(&k))).await;
        match answer.status {
            200 => tokio::time::sleep(Duration::from_millis(1)).await,
            503 => {
                refused = Some((k, answer));
                break;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    let (refused_key, answer) = refused.expect("a write refused while the budget is taken");
    assert!(
        answer.head.contains("\r\nretry-after: 1"),
        "{}",
        answer.head
    );
    let reason = String::from_utf8_lossy(&answer.body);
    assert!(
        reason.contains("nothing of this request was applied"),
        "{reason}"
    );
    assert!(reason.contains(&BODY_BYTES_MAX.to_string()), "{reason}");

    // The hog gives up: its share comes back, and the refused write was never applied.
    drop(hog);
    let mut served = false;
    for _ in 0..10_000 {
        if send(addr, &post(&write_path, &data.0, &set_body(&key!["after"])))
            .await
            .status
            == 200
        {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert!(served, "the budget never came back");
    assert!(
        !exists(addr, &data, &refused_key).await,
        "a refused write was applied"
    );
    assert!(exists(addr, &data, &key!["after"]).await);

    let _ = stop.send(());
    server.await.expect("server task").expect("server ran");
}

#[test]
fn overload_answers_are_503_and_bad_bounds_are_refused_at_start() {
    let full = StoreError::Overloaded("the commit queue holds 10 writes".into());
    assert_eq!(
        status(&ApiError::Store(full)),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        status(&ApiError::Overloaded("busy".into())),
        StatusCode::SERVICE_UNAVAILABLE
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        for (in_flight, queue) in [(BODY_BYTES_MAX - 1, 64 << 20), (64 << 20, 1000)] {
            let mut config = ServerConfig::new(dir.path());
            config.tokens = vec![TokenGrant::read_write_all("rw")];
            config.body_bytes_in_flight_max = in_flight;
            config.commit_queue_bytes_max = queue;
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let error = cairn_server::serve(config, listener, std::future::pending())
                .await
                .expect_err("refused at start");
            assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{error}");
        }
    });
}
