//! The network client's bounds: timeouts, retries, response sizes, connections.

use cairn_proto::limits::{QUEUE_DEQUEUE_WAIT_MS_MAX, QUEUE_SETTLE_BATCH_MAX};

/// longest 4xx/5xx reason read from a response body; the rest is cut.
pub const CLIENT_REASON_BYTES_MAX: usize = 64 * 1024;
/// longest wait for one HTTP exchange (response headers, or a whole
/// non-streaming body) before the attempt counts as failed, in milliseconds.
pub const CLIENT_REQUEST_TIMEOUT_MS: u64 = 30_000;
/// how long an operation keeps retrying a server that answers 5xx or cannot
/// be reached, in milliseconds. Deno's clients retry forever; a library caller is better
/// served by an error it can act on.
pub const CLIENT_RETRY_BUDGET_MS: u64 = 30_000;
/// first and longest pause between retries, in milliseconds (doubling).
pub const CLIENT_RETRY_BACKOFF_MIN_MS: u64 = 20;
/// See [`CLIENT_RETRY_BACKOFF_MIN_MS`].
pub const CLIENT_RETRY_BACKOFF_MAX_MS: u64 = 2_000;
/// largest response body accepted. A snapshot read returns at most
/// `entries_per_read_max` entries of at most a key and a value each (about 66 MB by default).
pub const CLIENT_RESPONSE_BYTES_MAX: usize = 128 * 1024 * 1024;
/// largest watch frame accepted (`watch_keys_max` entries of a key and a
/// value each, about 660 KB by default).
pub const CLIENT_WATCH_FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;
/// idle connections kept open per server for reuse.
pub const CLIENT_IDLE_CONNECTIONS_MAX: usize = 512;
/// snapshot reads that carry coalesced point reads (`get`s issued
/// concurrently) in flight at once. More would only make each carry fewer reads; fewer would
/// leave the connection pool idle while reads queue.
pub const CLIENT_COALESCED_READS_IN_FLIGHT_MAX: usize = 8;
/// the metadata exchange is repeated at least this often, as Deno's Rust
/// client does, and always before the data token's `expiresAt`, in milliseconds.
pub const CLIENT_METADATA_REFRESH_MS: u64 = 60_000;
/// How long cairn-client's `listen_queue` asks the server to wait per dequeue, in ms.
pub const CLIENT_QUEUE_POLL_WAIT_MS: u64 = 10_000;
/// Delivery ids cairn-client's `listen_queue` settles per request at most.
pub const CLIENT_QUEUE_SETTLE_BATCH_MAX: usize = 256;

// A long-poll must end (empty) before the client's request timeout counts it as lost.
const _: () = assert!(QUEUE_DEQUEUE_WAIT_MS_MAX < CLIENT_REQUEST_TIMEOUT_MS);
const _: () = assert!(CLIENT_QUEUE_POLL_WAIT_MS <= QUEUE_DEQUEUE_WAIT_MS_MAX);
const _: () = assert!(CLIENT_QUEUE_SETTLE_BATCH_MAX <= QUEUE_SETTLE_BATCH_MAX);
