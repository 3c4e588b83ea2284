//! Errors of the embedded database.

use cairn_model::{LimitError, MutationError, RequestError};

/// Errors from the storage engine below the pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The engine reported an I/O or internal failure.
    #[error("storage engine failure: {0}")]
    Engine(String),
    /// Bytes on disk that cairn cannot decode.
    #[error("corrupt record in keyspace {keyspace}: {reason}")]
    Corrupt {
        /// Which keyspace held the record.
        keyspace: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

impl From<fjall::Error> for StorageError {
    fn from(e: fjall::Error) -> Self {
        StorageError::Engine(e.to_string())
    }
}

/// Errors of database operations. Messages are meant for the person who must act on them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The request is outside a configured bound.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// A mutation could not be applied; the whole atomic write had no effect.
    #[error(transparent)]
    Mutation(#[from] MutationError),
    /// A key could not be encoded (e.g. an integer part larger than 255 bytes).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An invalid argument other than a limit (e.g. a malformed list cursor).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// An earlier durable sync failed. Nothing more will be acknowledged; reopen the database
    /// to recover from what is on disk.
    #[error("database is poisoned by an earlier storage failure ({0}); no further writes will be accepted; reopen it to recover")]
    Poisoned(String),
    /// The database was closed.
    #[error("database is closed")]
    Closed,
    /// A queue acknowledgement named a delivery whose lease the database does not hold
    /// (settled already, expired, or superseded by a later attempt). Nothing was changed.
    #[error("queue delivery {delivery} cannot be settled: {reason}")]
    DeliveryNotHeld {
        /// The delivery, as message id and attempt.
        delivery: String,
        /// Why the lease is not held.
        reason: String,
    },
    /// The commit queue is full (in writes or bytes, `Config::commit_queue_bytes_max`) and
    /// the caller asked not to wait ([`crate::Database::try_atomic_write`]). Returned only
    /// before the write entered the pipeline: nothing of it was applied, and the same write
    /// may be sent again later as is.
    #[error("database is overloaded: {0}; nothing of this write was applied; retry later")]
    Overloaded(String),
    /// The data directory holds a format this version cannot read.
    #[error("data directory has format version {found}, but this cairn reads at most version {supported}; upgrade cairn to open it")]
    UnsupportedFormat {
        /// Version on disk.
        found: u32,
        /// Newest version this build understands.
        supported: u32,
    },
    /// The storage engine failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Shorthand for results of database operations.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl From<RequestError> for StoreError {
    fn from(e: RequestError) -> Self {
        match e {
            RequestError::Key(e) => StoreError::InvalidKey(e.to_string()),
            RequestError::Argument(reason) => StoreError::InvalidArgument(reason),
        }
    }
}
