//! The server's bounds: memory under load and what a client is told past it, and the HTTP
//! layer's timeouts and sizes.
//!
//! Two bounds keep a server's memory finite whatever its clients send: the bytes of request
//! bodies in flight on the whole server ([`crate::ServerConfig::body_bytes_in_flight_max`],
//! held from before a body is read until its answer is ready), and, per database, the bytes of
//! writes in its commit pipeline (cairn-store's `Config::commit_queue_bytes_max`; the server
//! never waits for room there). Past either, the answer is 503 with `Retry-After`, sent only
//! when nothing of the request was applied: Deno's runtime retries a 503 after ~200–300 ms,
//! `@deno/kv` after 1 s, 2 s, … (ten times), while a 429 would fail the application's call at
//! once with no retry (both checked against the pinned clients, see `docs/reliability.md`).

/// The server's other bounds: HTTP timeouts and sizes, connections, shutdown, watch streams,
/// database names, queue long-polls.
/// longest a client may take to send a request's headers, in milliseconds.
pub const SERVER_HEADER_TIMEOUT_MS: u64 = 10_000;
/// longest a client may take to send a request's body, in milliseconds (a body that
/// trickles in must not hold a connection for ever).
pub const SERVER_BODY_TIMEOUT_MS: u64 = 30_000;
/// longest HTTP/1.1 request head (request line and headers); a longer one is refused
/// with 431 before hyper parses it.
pub const SERVER_HEADER_BYTES_MAX: usize = 64 * 1024;
/// after refusing a request before hyper parsed it, how long the server keeps reading
/// (and discarding) what the client still sends, in milliseconds, and at most how many bytes:
/// closing a socket with unread input resets the connection, and the reset can destroy the
/// refusal before the client reads it.
pub const SERVER_REFUSAL_LINGER_MS: u64 = 1_000;
/// See [`SERVER_REFUSAL_LINGER_MS`].
pub const SERVER_REFUSAL_LINGER_BYTES: usize = 1024 * 1024;
/// cores left to each busy database's commit pipeline (its evaluator and writer
/// threads) when choosing how many threads serve HTTP by default: the machine's cores less
/// this, at least one. Measured on this project's 2-core VM: one HTTP thread instead of two
/// gave 5–20% more durable writes and 25–33% more reads per second over loopback, as the
/// evaluator no longer competes with a second HTTP thread for the other core.
pub const SERVER_CORES_FOR_COMMITS: usize = 1;
/// connections served at once; further ones wait in the listen backlog.
pub const SERVER_CONNECTIONS_MAX: usize = 4096;
/// longest shutdown waits for in-flight requests, in milliseconds (watch streams end
/// at once; commits already queued always finish).
pub const SERVER_SHUTDOWN_GRACE_MS: u64 = 10_000;
/// interval between keep-alive frames on an idle watch stream, in milliseconds, so
/// proxies and clients do not take the stream for dead.
pub const SERVER_WATCH_KEEPALIVE_MS: u64 = 5_000;
/// longest database name (it is a directory name under the data directory).
pub const SERVER_DATABASE_NAME_BYTES_MAX: usize = 64;
/// Most stored entries one `scan/count` or `scan/aggregate` request reads; a longer range is
/// answered in pages, each request resuming where the last stopped (`docs/protocol.md` §10).
/// About a quarter of a second of one core on this project's VM for a count.
pub const SCAN_ENTRIES_PER_REQUEST_MAX: usize = 1_000_000;
/// Longest one `scan/count` or `scan/aggregate` request reads before it answers with where
/// to resume, in milliseconds: a slow aggregate (objects decoded one by one) holds a blocking
/// thread and its snapshot no longer than this.
pub const SCAN_TIME_PER_REQUEST_MS_MAX: u64 = 250;
/// Long-polling `queue/dequeue` requests one access token may have open at once on a server;
/// each holds a connection and a task, like a watch stream.
pub const QUEUE_POLLS_PER_TOKEN_MAX: usize = 256;

/// Interval between heartbeats on an idle replication stream, ms: the replica learns the
/// primary's newest position (its lag) and that the primary is alive.
pub const REPLICATION_HEARTBEAT_MS: u64 = 1_000;
/// A replica takes a stream silent for this long for dead and reconnects, ms.
pub const REPLICATION_STREAM_SILENCE_MS: u64 = 5 * REPLICATION_HEARTBEAT_MS;
/// Longest a replica waits for its primary's answer to a stream or ack request's head, ms.
pub const REPLICATION_REQUEST_TIMEOUT_MS: u64 = 10_000;
/// Replicate requests a replica has in its pipeline at once: one being made durable while
/// the batches received meanwhile wait, to go in together as the next (group commit on the
/// replica, as on the primary). More in flight means more, smaller syncs: with four, a
/// replica on loopback took each of the primary's batches alone and cost the primary's
/// writers CPU on this 2-core machine.
pub const REPLICATION_APPLY_IN_FLIGHT_MAX: usize = 2;
/// A replica of a primary that needs no synchronous acknowledgements reports its durable
/// position at most this often, ms (a synchronous one, at once).
pub const REPLICATION_ASYNC_ACK_INTERVAL_MS: u64 = 100;
/// Bytes of received records a replica holds before it stops reading its stream (when its
/// disk falls behind the primary's): TCP then pushes back on the primary's stream.
pub const REPLICATION_PENDING_BYTES_MAX: usize = 64 * 1024 * 1024;
/// Pauses between a replica's attempts to reach its primary, ms (doubling).
pub const REPLICATION_RETRY_MS_MIN: u64 = 100;
/// See [`REPLICATION_RETRY_MS_MIN`].
pub const REPLICATION_RETRY_MS_MAX: u64 = 5_000;
/// Snapshot transfers (a replica rebuilding from its primary) a server serves at once; more
/// are answered 503 and asked again by the replica after its pause. Each holds one storage
/// snapshot open and up to [`REPLICATION_SNAPSHOT_OBJECTS_IN_FLIGHT`] objects in memory.
pub const REPLICATION_SNAPSHOT_TRANSFERS_MAX: usize = 2;
/// Objects of a snapshot transfer (each at most about 8 MiB, a snapshot part) queued for the
/// network while the next is read: the transfer's memory is bounded by this, never by the
/// database's size.
pub const REPLICATION_SNAPSHOT_OBJECTS_IN_FLIGHT: usize = 2;
/// A replica takes a snapshot transfer silent for this long for dead, ms (a part of about
/// 8 MiB is read from a storage snapshot between two writes).
pub const REPLICATION_SNAPSHOT_SILENCE_MS: u64 = 60_000;
/// Longest URL a replica may advertise for its reads.
pub const REPLICATION_ADVERTISE_URL_BYTES_MAX: usize = 512;

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

// A silent stream is one that missed several heartbeats.
const _: () = assert!(REPLICATION_STREAM_SILENCE_MS >= 3 * REPLICATION_HEARTBEAT_MS);

// The extension's dequeue batch is leased at once.
const _: () =
    assert!(cairn_proto::limits::QUEUE_DEQUEUE_BATCH_MAX <= cairn_store::limits::QUEUE_LEASES_MAX);

// The HTTP/JSON API (`api/`).
/// Entries in a page of `GET …/entries` unless `limit` says otherwise.
pub const API_LIST_LIMIT_DEFAULT: usize = 100;
/// Most entries in a page of `GET …/entries` (one read of the engine at most).
pub const API_LIST_LIMIT_MAX: usize = 1000;
/// Children in a page of `GET …/children` unless `limit` says otherwise.
pub const API_CHILDREN_LIMIT_DEFAULT: usize = 100;
/// Most children in a page of `GET …/children` (each costs one or two engine reads).
pub const API_CHILDREN_LIMIT_MAX: usize = 500;
/// `GET …/count` counts at most this many entries, then answers `complete: false`: a count
/// costs at most this many entry reads, whatever the database holds.
pub const API_COUNT_MAX: usize = 100_000;
/// Longest `expireIn`, in milliseconds (100 years).
pub const API_EXPIRE_IN_MS_MAX: u64 = 100 * 365 * 24 * 60 * 60 * 1000;
/// Most decimal digits of a bigint written through the API (parsing decimal text costs time
/// quadratic in its length; V8 values are at most 64 KiB anyway).
pub const API_BIGINT_DIGITS_MAX: usize = 20_000;
/// Deepest nesting of a value written through the API (serde_json stops parsing at 128).
pub const API_VALUE_DEPTH_MAX: usize = 128;
/// Longest console text (`display`) of a value the API returns read-only, in bytes.
pub const API_VALUE_DISPLAY_BYTES_MAX: usize = 256 * 1024;
/// Changelog entries a prefix watch reads at a time (each can be as large as a write).
pub const API_WATCH_CHANGELOG_BATCH: usize = 16;
/// How long a browser may cache a CORS preflight's answer, in seconds.
pub const API_CORS_MAX_AGE_S: u64 = 600;

// Failover groups (`failover/`, docs/design/failover.md).
/// Default etcd lease TTL of a failover group's members, seconds (`--failover-ttl-s`).
pub const FAILOVER_TTL_S_DEFAULT: u64 = 10;
/// Default pause between a member's rounds (lease renewal, reading the leader), ms
/// (`--failover-renew-ms`).
pub const FAILOVER_RENEW_MS_DEFAULT: u64 = 2_000;
/// Default longest time one etcd operation may take over all endpoints, ms
/// (`--failover-retry-timeout-ms`).
pub const FAILOVER_RETRY_TIMEOUT_MS_DEFAULT: u64 = 4_000;
/// Shortest time one attempt at one etcd endpoint is given, ms.
pub const FAILOVER_ETCD_ATTEMPT_MS_MIN: u64 = 100;
/// Longest etcd answer read, bytes (a member list of a large group fits easily).
pub const FAILOVER_ETCD_RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Subtracted from the lease's end as this server computes it (from the time a renewal was
/// sent): covers the time between the completion's check and the answer leaving, ms.
pub const FAILOVER_LEASE_MARGIN_MS: u64 = 100;
/// The largest rate difference assumed between this machine's monotonic clock and the etcd
/// leader's, parts per million (docs/design/failover.md, "Clock assumptions").
pub const FAILOVER_CLOCK_RATE_ERROR_PPM: u64 = 10_000;
/// Metadata exchanges of a failover group's member expire this soon, seconds, so that
/// clients ask again and find a new primary. Measured: the Deno runtime 2.9 re-runs the
/// exchange once fewer than 10 s are left before `expiresAt` (below 10 s it re-runs it on
/// every call, thousands a second), so 12 s makes it ask every ~2 s; cairn-client halfway.
pub const FAILOVER_METADATA_TTL_S: u64 = 12;
/// What the Deno runtime keeps before `expiresAt` (see [`FAILOVER_METADATA_TTL_S`]).
const DENO_METADATA_REFRESH_MARGIN_S: u64 = 10;
const _: () = assert!(FAILOVER_METADATA_TTL_S > DENO_METADATA_REFRESH_MARGIN_S);
/// Longest member name (`--node-name`).
pub const FAILOVER_NODE_NAME_BYTES_MAX: usize = 128;

const _: () = assert!(
    FAILOVER_RENEW_MS_DEFAULT + 2 * FAILOVER_RETRY_TIMEOUT_MS_DEFAULT
        <= FAILOVER_TTL_S_DEFAULT * 1000
);
const _: () = assert!(FAILOVER_CLOCK_RATE_ERROR_PPM < 100_000);
