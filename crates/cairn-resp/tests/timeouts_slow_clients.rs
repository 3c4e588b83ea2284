//! Slow and idle clients, on the runtime's paused clock (it jumps ahead whenever every task
//! waits): a request that stops arriving midway gets an error reply after
//! `FRAME_TIMEOUT_MS` and the connection closes; a silent connection closes after
//! `IDLE_TIMEOUT_MS`; a connection in use is never closed for idleness. The connection keeps
//! one timer and moves it only when it is off by more than a second, so the bounds are
//! checked to that second.

mod support;

use std::time::Duration;

use cairn_resp::limits::{FRAME_TIMEOUT_MS, IDLE_TIMEOUT_MS};
use support::{encode, is_error, parse_reply, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

const SLACK: Duration = Duration::from_secs(1);

/// Everything the server sends until it closes, and how long that took on the paused clock.
async fn until_closed(stream: &mut tokio::net::TcpStream) -> (Vec<u8>, Duration) {
    let start = Instant::now();
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).await.expect("read");
    (bytes, start.elapsed())
}

/// The connection closed at `bound`, give or take the timer's slack.
fn assert_closed_at(waited: Duration, bound: Duration) {
    assert!(
        waited + SLACK >= bound && waited <= bound + SLACK,
        "closed after {waited:?}, the bound is {bound:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_request_that_stops_arriving_gets_an_error_then_a_close() {
    let server = Server::start().await;
    let mut client = server.anonymous().await;
    // An array of two, of which only the first element arrives.
    client
        .stream
        .write_all(b"*2\r\n$4\r\nECHO\r\n")
        .await
        .expect("send");
    let (bytes, waited) = until_closed(&mut client.stream).await;
    let (reply, _) = parse_reply(&bytes).expect("an error reply before the close");
    assert!(
        is_error(&reply, "ERR Protocol error: a request took longer than"),
        "{reply:?}"
    );
    assert_closed_at(waited, Duration::from_millis(FRAME_TIMEOUT_MS));
}

#[tokio::test(start_paused = true)]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let server = Server::start().await;
    let mut client = server.anonymous().await;
    let (bytes, waited) = until_closed(&mut client.stream).await;
    assert!(bytes.is_empty(), "nothing is sent to an idle connection");
    assert_closed_at(waited, Duration::from_millis(IDLE_TIMEOUT_MS));
}

#[tokio::test(start_paused = true)]
async fn a_connection_in_use_outlives_the_idle_timeout() {
    let server = Server::start().await;
    let mut client = server.anonymous().await;
    let every = Duration::from_millis(IDLE_TIMEOUT_MS) / 2;
    for _ in 0..6 {
        tokio::time::sleep(every).await;
        client.send(&encode(&["PING"])).await;
        assert!(client.reply().await.is_some(), "closed while in use");
    }
}
