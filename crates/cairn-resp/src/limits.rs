//! Every bound of the Redis protocol front end. A client that breaks one of the protocol
//! bounds (a frame too long, a length out of range, a frame that trickles in) gets an error
//! reply and its connection is closed; a command outside a data bound gets an error reply and
//! the connection goes on.
//!
//! Memory: a connection holds at most [`QUERY_BYTES_MAX`] of unparsed input, at most
//! [`PIPELINE_BYTES_MAX`] of parsed commands waiting for their writes to commit, and replies
//! of at most [`REPLY_BYTES_MAX`] (plus [`OUTPUT_FLUSH_BYTES`] being written out); with
//! [`CONNECTIONS_MAX`] connections that is at most about 7 GiB in the worst case, and a few
//! KiB per connection in practice.

/// Longest bulk string in a request, in bytes. Larger than the largest value a database
/// stores (`Limits::value_bytes_max`, 64 KiB by default), so that a value just over that
/// bound gets a clear error reply rather than a closed connection.
pub const BULK_BYTES_MAX: usize = 512 * 1024;
/// Most elements in a request's array (the command name and its arguments).
pub const ARRAY_LEN_MAX: usize = 64 * 1024;
/// Longest inline command (a line of text, as typed into telnet), in bytes.
pub const INLINE_BYTES_MAX: usize = 64 * 1024;
/// Longest header line (`*<n>` or `$<n>`), CRLF included: 20 digits, a sign and CRLF fit.
pub const HEADER_LINE_BYTES_MAX: usize = 32;
/// Most bytes of input a connection buffers before a frame is complete. One frame can hold
/// [`ARRAY_LEN_MAX`] arguments, but not more bytes than this.
pub const QUERY_BYTES_MAX: usize = 1024 * 1024;
/// Most bytes of parsed commands one connection may have waiting for their writes to commit
/// (a pipeline); past it the connection answers what it has before it reads on.
pub const PIPELINE_BYTES_MAX: usize = 1024 * 1024;
/// Most commands one connection may have waiting for their writes to commit.
pub const PIPELINE_WRITES_MAX: usize = 1024;
/// Replies buffered before they are written to the socket, in bytes.
pub const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;
/// Largest reply a command may build (MGET of many large values), in bytes; a larger one is
/// an error reply.
pub const REPLY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Connections served at once; one more is told `ERR max number of clients reached` and
/// closed, as Redis does.
pub const CONNECTIONS_MAX: usize = 1024;
/// Longest a connection may stay idle between commands, in milliseconds.
pub const IDLE_TIMEOUT_MS: u64 = 10 * 60 * 1000;
/// Longest a started frame may take to arrive whole, in milliseconds (a client that trickles
/// bytes cannot hold a connection).
pub const FRAME_TIMEOUT_MS: u64 = 30_000;
/// Longest writing replies to a client may take, in milliseconds (a client that does not read
/// its replies cannot hold a connection and its buffers).
pub const WRITE_TIMEOUT_MS: u64 = 30_000;
/// Redis database indexes `SELECT` accepts: `0..DATABASES_MAX` (Redis's default is 16).
pub const DATABASES_MAX: u32 = 16;
/// Commands one database's writer evaluates into one atomic write, at most (the database's
/// own limits on mutations, checks and bytes usually end a batch first).
pub const WRITER_BATCH_OPS_MAX: usize = 4096;
/// Write operations queued for one database's writer; a connection waits (asynchronously)
/// for room.
pub const WRITER_QUEUE_OPS_MAX: usize = 8192;
/// Times a writer evaluates a batch again after another client of the database (KV Connect)
/// changed a key it read; then the batch's commands get an error reply.
pub const WRITER_CONFLICT_RETRIES_MAX: usize = 16;
/// Longest a writer's batch waits for the clients its last round answered to send again
/// (`writer.rs`, `Gather`): the runtime's timer resolution (1 ms), so in practice 1–2 ms.
pub const WRITER_GATHER_WAIT_MS: u64 = 1;
/// Most batches a writer commits without waiting after waits that ran out (doubling from 1),
/// so that clients that do not come straight back pay for one wait in this many batches.
pub const WRITER_GATHER_BACKOFF_MAX: usize = 64;
/// Fields of one hash. A hash is rewritten whole by DEL, EXPIRE and PERSIST in one atomic
/// write, so it must fit in one: it is also bounded by the database's mutation and byte
/// limits, checked when a field is added.
pub const HASH_FIELDS_MAX: usize = 512;
/// Keys one WATCH may hold per connection (each is one check of the EXEC's atomic write).
pub const WATCH_KEYS_MAX: usize = 64;
/// Commands queued between MULTI and EXEC.
pub const MULTI_COMMANDS_MAX: usize = 1024;
/// SCAN cursors the server remembers (across connections); the oldest is forgotten first,
/// and continuing from a forgotten cursor is an error reply.
pub const SCAN_CURSORS_MAX: usize = 4096;
/// Largest COUNT of one SCAN (entries looked at per call); larger counts are clamped.
pub const SCAN_COUNT_MAX: usize = 1000;
/// Longest MATCH pattern of SCAN, in bytes.
pub const SCAN_PATTERN_BYTES_MAX: usize = 1024;
/// Longest client name (CLIENT SETNAME), in bytes.
pub const CLIENT_NAME_BYTES_MAX: usize = 256;

const _: () = assert!(BULK_BYTES_MAX < QUERY_BYTES_MAX);
const _: () = assert!(INLINE_BYTES_MAX <= QUERY_BYTES_MAX);
const _: () = assert!(
    HASH_FIELDS_MAX < 1000,
    "a whole hash fits in one atomic write"
);
const _: () = assert!(
    WATCH_KEYS_MAX < 100,
    "watched keys are checks of one atomic write"
);
const _: () = assert!(PIPELINE_WRITES_MAX <= WRITER_QUEUE_OPS_MAX);
