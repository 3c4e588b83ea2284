//! The protobuf messages of KV Connect's data path, package `com.deno.kv.datapath`
//! (kv-connect.md §2), written by hand with `prost`'s derives so that no `protoc` is needed.
//!
//! Field numbers and enum values are the wire format: they must match the clients exactly and
//! never change. They are pinned byte for byte by `tests/wire_known_bytes.rs`.
//!
//! Enum-typed fields are `i32`, as in any proto3 binding: a client may send a value this file
//! does not know, and the conversions in [`crate::convert`] turn such a value into a
//! [`crate::ProtoError`] rather than silently reading it as the default.
//!
//! Numbers reserved by the reference schema (never to be used here): `SnapshotReadOutput`
//! fields 3, 5, 6, 7; `AtomicWriteOutput` field 3; `AtomicWriteStatus` values 3, 4, 6.

/// `POST /snapshot_read` request body: ranges read from one consistent snapshot.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotRead {
    /// The ranges to read, answered in the same order.
    #[prost(message, repeated, tag = "1")]
    pub ranges: Vec<ReadRange>,
}

/// One range of a [`SnapshotRead`]: `[start, end)`, at most `limit` entries.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRange {
    /// Inclusive start (encoded key bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    /// Exclusive end (encoded key bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
    /// Most entries to return; must be positive.
    #[prost(int32, tag = "3")]
    pub limit: i32,
    /// Return entries from `end` down to `start`; the bounds keep their meaning.
    #[prost(bool, tag = "4")]
    pub reverse: bool,
}

/// `POST /snapshot_read` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SnapshotReadOutput {
    /// One output per requested range, in request order.
    #[prost(message, repeated, tag = "1")]
    pub ranges: Vec<ReadRangeOutput>,
    /// This endpoint cannot serve reads now (same meaning as `SR_READ_DISABLED`).
    #[prost(bool, tag = "2")]
    pub read_disabled: bool,
    /// The read saw every acknowledged write.
    #[prost(bool, tag = "4")]
    pub read_is_strongly_consistent: bool,
    /// Outcome of the read ([`SnapshotReadStatus`]).
    #[prost(enumeration = "SnapshotReadStatus", tag = "8")]
    pub status: i32,
}

/// The entries of one range, in the order requested.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ReadRangeOutput {
    /// The entries found.
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KvEntry>,
}

/// Outcome of a snapshot read, and of a watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SnapshotReadStatus {
    /// Unknown; clients treat it as a failure.
    SrUnspecified = 0,
    /// The read succeeded.
    SrSuccess = 1,
    /// This endpoint cannot serve reads now.
    SrReadDisabled = 2,
}

/// A stored entry as it travels: key, value bytes and their encoding, versionstamp.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvEntry {
    /// Encoded key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The value's bytes (LE64: 8 bytes little-endian).
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
    /// How to read `value` ([`ValueEncoding`]).
    #[prost(enumeration = "ValueEncoding", tag = "3")]
    pub encoding: i32,
    /// The 10-byte versionstamp of the commit that wrote the entry.
    #[prost(bytes = "vec", tag = "4")]
    pub versionstamp: Vec<u8>,
}

/// `POST /atomic_write` request body: checks, mutations and enqueues committed together.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AtomicWrite {
    /// Evaluated against the state just before the write.
    #[prost(message, repeated, tag = "1")]
    pub checks: Vec<Check>,
    /// Applied in order if every check holds.
    #[prost(message, repeated, tag = "2")]
    pub mutations: Vec<Mutation>,
    /// Queue messages stored by the same commit.
    #[prost(message, repeated, tag = "3")]
    pub enqueues: Vec<Enqueue>,
}

/// An optimistic check of an [`AtomicWrite`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Check {
    /// Encoded key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// Empty: the key must not exist. 10 bytes: its versionstamp must be this one. Any other
    /// length is a bad request.
    #[prost(bytes = "vec", tag = "2")]
    pub versionstamp: Vec<u8>,
}

/// One mutation of an [`AtomicWrite`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Mutation {
    /// Encoded key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The operand; required by every type except `M_DELETE`, which ignores it.
    #[prost(message, optional, tag = "2")]
    pub value: Option<KvValue>,
    /// What to do ([`MutationType`]).
    #[prost(enumeration = "MutationType", tag = "3")]
    pub mutation_type: i32,
    /// Absolute expiry in milliseconds since the Unix epoch; 0 (or -1) means never.
    #[prost(int64, tag = "4")]
    pub expire_at_ms: i64,
    /// V8-encoded lower bound of a V8 `M_SUM`; empty means none.
    #[prost(bytes = "vec", tag = "5")]
    pub sum_min: Vec<u8>,
    /// V8-encoded upper bound of a V8 `M_SUM`; empty means none.
    #[prost(bytes = "vec", tag = "6")]
    pub sum_max: Vec<u8>,
    /// Clamp a V8 `M_SUM` result to its bounds instead of failing the write.
    #[prost(bool, tag = "7")]
    pub sum_clamp: bool,
}

/// A value with its encoding.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KvValue {
    /// The value's bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub data: Vec<u8>,
    /// How to read `data` ([`ValueEncoding`]).
    #[prost(enumeration = "ValueEncoding", tag = "2")]
    pub encoding: i32,
}

/// What a [`Mutation`] does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum MutationType {
    /// Unknown; refused.
    MUnspecified = 0,
    /// Write the value.
    MSet = 1,
    /// Remove the key.
    MDelete = 2,
    /// Add the operand (u64 wrapping, or V8 number/bigint with optional bounds).
    MSum = 3,
    /// Keep the larger u64.
    MMax = 4,
    /// Keep the smaller u64.
    MMin = 5,
    /// Write the value under the key extended by the commit's versionstamp as a string part.
    MSetSuffixVersionstampedKey = 9,
}

/// How a value's bytes are to be read. The numbers equal [`cairn_model::ValueEncoding`]'s.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ValueEncoding {
    /// Unknown; refused.
    VeUnspecified = 0,
    /// V8 structured-serialization bytes.
    VeV8 = 1,
    /// An unsigned 64-bit integer, 8 bytes little-endian.
    VeLe64 = 2,
    /// Raw bytes.
    VeBytes = 3,
}

/// A queue message enqueued by an [`AtomicWrite`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Enqueue {
    /// V8-serialized payload.
    #[prost(bytes = "vec", tag = "1")]
    pub payload: Vec<u8>,
    /// When to deliver, in milliseconds since the Unix epoch; a past deadline means now.
    #[prost(int64, tag = "2")]
    pub deadline_ms: i64,
    /// Encoded keys the payload is written to if delivery finally fails.
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub keys_if_undelivered: Vec<Vec<u8>>,
    /// Retry intervals in milliseconds; empty means the server's default schedule.
    #[prost(uint32, repeated, tag = "4")]
    pub backoff_schedule: Vec<u32>,
}

/// `POST /atomic_write` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct AtomicWriteOutput {
    /// Outcome ([`AtomicWriteStatus`]).
    #[prost(enumeration = "AtomicWriteStatus", tag = "1")]
    pub status: i32,
    /// The commit's 10-byte versionstamp, on success.
    #[prost(bytes = "vec", tag = "2")]
    pub versionstamp: Vec<u8>,
    /// Indexes into the request's checks of those that failed, on `AW_CHECK_FAILURE`.
    #[prost(uint32, repeated, tag = "4")]
    pub failed_checks: Vec<u32>,
    /// cairn's extension: why the write failed when no check did (a unique index refused
    /// it), on `AW_CHECK_FAILURE`. Other clients skip the unknown field.
    #[prost(string, tag = "1000")]
    pub failure_reason: String,
}

/// Outcome of an atomic write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AtomicWriteStatus {
    /// Failed for an unknown reason; clients do not retry.
    AwUnspecified = 0,
    /// Committed.
    AwSuccess = 1,
    /// A check failed; nothing was written.
    AwCheckFailure = 2,
    /// This endpoint cannot serve writes now.
    AwWriteDisabled = 5,
}

/// `POST /watch` request body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Watch {
    /// The keys to watch.
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<WatchKey>,
}

/// One watched key.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchKey {
    /// Encoded key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
}

/// One frame of the watch stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchOutput {
    /// Outcome ([`SnapshotReadStatus`]).
    #[prost(enumeration = "SnapshotReadStatus", tag = "1")]
    pub status: i32,
    /// One output per watched key, in request order.
    #[prost(message, repeated, tag = "2")]
    pub keys: Vec<WatchKeyOutput>,
}

/// The state of one watched key in a [`WatchOutput`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct WatchKeyOutput {
    /// The key changed since the previous frame (always true in the first frame).
    #[prost(bool, tag = "1")]
    pub changed: bool,
    /// The key's entry when `changed`; absent when the key does not exist.
    #[prost(message, optional, tag = "2")]
    pub entry_if_changed: Option<KvEntry>,
}
