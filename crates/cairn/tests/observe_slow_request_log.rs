//! A request slower than `--slow-request-ms` leaves one `slow request` log line with its
//! request id, route, status and latency; `--slow-request-ms 0` logs none. The slow request
//! is a queue long-poll on an empty queue, which by definition waits its whole `wait`.

mod observe;

use std::time::Duration;

use cairn_client::Client;
use observe::{Served, TOKEN};

/// A long-poll of `wait` on an empty queue, through the real client.
fn long_poll(url: &str, wait: Duration) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let db = Client::connect(url, TOKEN).await.expect("connect");
        let got = db
            .dequeue(1, Duration::from_secs(30), wait)
            .await
            .expect("dequeue");
        assert!(got.is_empty(), "the queue is empty");
    });
}

#[test]
fn a_request_over_the_threshold_is_logged_with_its_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Served::start(&dir.path().join("data"), &["--slow-request-ms", "50"], None);
    long_poll(&server.url, Duration::from_millis(300));
    // The line is written before the answer is sent, so it is in the log by now; the reader
    // thread may still be copying it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let line = loop {
        let log = server.log();
        let slow = |l: &&str| l.contains("slow request") && l.contains("queue_dequeue");
        if let Some(line) = log.lines().find(slow) {
            break line.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no slow request line:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    for part in [
        "route=queue_dequeue",
        "status=200",
        "request_id=",
        "latency_ms=",
    ] {
        assert!(line.contains(part), "{part} in {line}");
    }
}

#[test]
fn a_zero_threshold_logs_no_slow_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = Served::start(&dir.path().join("data"), &["--slow-request-ms", "0"], None);
    long_poll(&server.url, Duration::from_millis(200));
    // Whatever the first request logged is in the log once a second one was answered.
    long_poll(&server.url, Duration::from_millis(1));
    let log = server.log();
    assert!(!log.contains("slow request"), "{log}");
}
