//! The server's own bounds on memory under load, and what a client is told past them.
//!
//! Two bounds keep a server's memory finite whatever its clients send: the bytes of request
//! bodies in flight on the whole server ([`crate::ServerConfig::body_bytes_in_flight_max`],
//! held from before a body is read until its answer is ready), and, per database, the bytes of
//! writes in its commit pipeline (cairn-store's `Config::commit_queue_bytes_max`; the server
//! never waits for room there). Past either, the answer is 503 with `Retry-After`, sent only
//! when nothing of the request was applied: Deno's runtime retries a 503 after ~200–300 ms,
//! `@deno/kv` after 1 s, 2 s, … (ten times), while a 429 would fail the application's call at
//! once with no retry (both checked against the pinned clients, see `docs/reliability.md`).

// The server's other bounds are still kept with cairn-model's.
pub(crate) use cairn_model::limits::{
    SERVER_BODY_TIMEOUT_MS, SERVER_CONNECTIONS_MAX, SERVER_HEADER_TIMEOUT_MS,
    SERVER_SHUTDOWN_GRACE_MS,
};

/// Default of [`crate::ServerConfig::body_bytes_in_flight_max`]: 64 MiB, about 80 requests
/// of the largest size at once, or thousands of ordinary ones.
pub const BODY_BYTES_IN_FLIGHT_MAX_DEFAULT: usize = 64 * 1024 * 1024;

/// Default of [`crate::ServerConfig::body_bytes_max`]: the largest atomic write (819,200 bytes
/// of payload) plus protobuf framing.
pub const BODY_BYTES_MAX_DEFAULT: usize = 1024 * 1024;

/// `Retry-After` of an overload answer, in seconds. Deno's clients ignore it (they keep their
/// own backoff); other HTTP clients and proxies honour it.
pub const OVERLOAD_RETRY_AFTER_S: u64 = 1;

// The default in-flight bound admits many bodies of the largest size at once.
const _: () = assert!(BODY_BYTES_IN_FLIGHT_MAX_DEFAULT >= 16 * BODY_BYTES_MAX_DEFAULT);
