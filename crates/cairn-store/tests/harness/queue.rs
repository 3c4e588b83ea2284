//! Queue helpers: payloads that say which message they are, and waits for deliveries that
//! fail the test instead of hanging.

use std::time::Duration;

use cairn_store::{Database, Delivery};

use super::BACKGROUND_WAIT_MAX;

/// A lease longer than any test runs, so that only the tests that want expiry see one.
pub const LONG_LEASE: Duration = Duration::from_secs(3600);

/// A V8-serialized one-byte string (`"` tag, varint length, bytes): what Deno would enqueue.
pub fn payload(text: &str) -> Vec<u8> {
    let len = u8::try_from(text.len()).expect("short test payload");
    let mut out = vec![0xff, 0x0f, b'"', len];
    out.extend_from_slice(text.as_bytes());
    out
}

/// The text of a [`payload`].
pub fn text(payload: &[u8]) -> String {
    String::from_utf8(payload.get(4..).expect("a test payload").to_vec()).expect("utf-8 payload")
}

/// The next delivery, waiting for it (woken by commits and the clock, not by polling); fails
/// the test after [`BACKGROUND_WAIT_MAX`].
pub async fn next(db: &Database, lease: Duration) -> Delivery {
    tokio::time::timeout(BACKGROUND_WAIT_MAX, db.next_delivery(lease))
        .await
        .expect("a message was due but never delivered")
        .expect("next_delivery")
}

/// Every message ready now, leased and left unsettled, in delivery order.
pub fn drain_ready(db: &Database) -> Vec<Delivery> {
    let mut out = Vec::new();
    while let Some(d) = db.dequeue(LONG_LEASE).expect("dequeue") {
        out.push(d);
    }
    out
}
