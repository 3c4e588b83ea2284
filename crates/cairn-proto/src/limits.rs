//! Bounds of cairn's queue extension to the protocol (`docs/protocol.md`): the server
//! enforces them and the client stays within them.

/// Most messages one network `queue/dequeue` request leases: enough to amortize a request
/// over many messages, few enough that one response stays small (≤ 256 × 64 KiB payloads).
pub const QUEUE_DEQUEUE_BATCH_MAX: usize = 256;
/// Most delivery ids one network `queue/ack` or `queue/nack` request settles (32 bytes each).
pub const QUEUE_SETTLE_BATCH_MAX: usize = 1024;
/// Longest a network `queue/dequeue` long-poll waits for a first message, in ms. Below the
/// client's request timeout, so an empty answer always arrives before the client gives up.
pub const QUEUE_DEQUEUE_WAIT_MS_MAX: u64 = 20_000;
