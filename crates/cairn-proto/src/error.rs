//! Why a KV Connect request cannot become a model value.
//!
//! Every variant is the client's fault, so a server answers it with `400 Bad Request` and the
//! `Display` text as the plain-text body (kv-connect.md §2: a 4xx is surfaced to the caller, a
//! 5xx is retried forever). Messages name the offending element by its index in the request.

use cairn_model::LimitError;

/// A value whose encoding or bytes are not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// `VE_UNSPECIFIED` (0): the client did not say how to read the bytes.
    #[error("value encoding is unspecified")]
    UnspecifiedEncoding,
    /// An encoding number this protocol does not define.
    #[error("unknown value encoding {0}")]
    UnknownEncoding(i32),
    /// A `VE_LE64` value that is not exactly 8 bytes.
    #[error("LE64 value must be 8 bytes, got {0}")]
    Le64Length(usize),
}

/// A request (or, on the client side, a response) that does not make sense.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The body is not a protobuf message of the expected type.
    #[error("invalid protobuf body: {0}")]
    Decode(#[from] prost::DecodeError),
    /// A bound of [`cairn_model::Limits`] is exceeded.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A value outside any mutation (an entry's value, a standalone `KvValue`).
    #[error(transparent)]
    Value(#[from] ValueError),
    /// A request of cairn's scan or index extension that does not make sense (or, on the
    /// client side, such a response).
    #[error("invalid extension request: {0}")]
    Extension(String),
    /// A read range whose limit is zero or negative.
    #[error("read range {index}: limit must be positive, got {limit}")]
    ReadLimit {
        /// Index of the range in the request.
        index: usize,
        /// The limit sent.
        limit: i32,
    },
    /// A check versionstamp that is neither empty nor 10 bytes.
    #[error("check {index}: versionstamp must be 0 or 10 bytes, got {len}")]
    CheckVersionstamp {
        /// Index of the check in the request.
        index: usize,
        /// Length sent.
        len: usize,
    },
    /// A mutation of type `M_UNSPECIFIED` (0).
    #[error("mutation {index}: mutation type is unspecified")]
    UnspecifiedMutationType {
        /// Index of the mutation in the request.
        index: usize,
    },
    /// A mutation type number this protocol does not define.
    #[error("mutation {index}: unknown mutation type {value}")]
    UnknownMutationType {
        /// Index of the mutation in the request.
        index: usize,
        /// The number sent.
        value: i32,
    },
    /// A mutation other than `M_DELETE` without a value.
    #[error("mutation {index}: '{op}' requires a value")]
    MissingMutationValue {
        /// Index of the mutation in the request.
        index: usize,
        /// The mutation's name as Deno spells it (`set`, `sum`, ...).
        op: &'static str,
    },
    /// A mutation whose value is not acceptable.
    #[error("mutation {index}: {reason}")]
    MutationValue {
        /// Index of the mutation in the request.
        index: usize,
        /// What is wrong with the value.
        reason: ValueError,
    },
    /// An entry (in a read or watch output) whose versionstamp is not 10 bytes.
    #[error("entry versionstamp must be 10 bytes, got {len}")]
    EntryVersionstamp {
        /// Length received.
        len: usize,
    },
    /// A watch frame longer than the reader accepts.
    #[error("watch frame of {len} bytes exceeds the limit of {max} bytes")]
    WatchFrameTooLarge {
        /// Length announced by the frame header.
        len: usize,
        /// The reader's bound.
        max: usize,
    },
}
