//! Errors of the embedded database.

use cairn_model::{LimitError, MutationError, RequestError};

/// Errors from the storage engine below the pipeline. An I/O failure keeps the operating
/// system's error as its source, so a full disk and a failing one stay apart
/// ([`StorageError::kind`]) in answers, logs and metrics.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The engine reported a failure that is not an I/O error (or only its message is known).
    #[error("storage engine failure: {0}")]
    Engine(String),
    /// An I/O operation failed; `source` is the operating system's error.
    #[error("{context}: {source}")]
    Io {
        /// What cairn was doing, e.g. "transaction log".
        context: &'static str,
        /// The error the operating system reported.
        #[source]
        source: std::io::Error,
    },
    /// fjall failed other than with an I/O error (its journal unreadable, say).
    #[error("storage engine failure: {0}")]
    Fjall(#[source] fjall::Error),
    /// Bytes on disk that cairn cannot decode.
    #[error("corrupt record in keyspace {keyspace}: {reason}")]
    Corrupt {
        /// Which keyspace held the record.
        keyspace: &'static str,
        /// What was wrong with it.
        reason: String,
    },
}

/// What a storage failure was, in categories a caller, a log line or a metric can tell apart.
/// `io::ErrorKind` alone cannot: the standard library gives EIO no kind of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StorageErrorKind {
    /// The disk or the quota is full (ENOSPC, EDQUOT): free space, then reopen the database.
    DiskFull,
    /// The device failed a read or write (EIO): the disk itself may be failing.
    DeviceIo,
    /// Another I/O failure (permissions, a read-only filesystem, ...).
    OtherIo,
    /// Bytes on disk that cairn cannot decode.
    Corrupt,
    /// A failure of the engine that is not an I/O error.
    Engine,
}

impl StorageErrorKind {
    /// A stable name for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            StorageErrorKind::DiskFull => "disk_full",
            StorageErrorKind::DeviceIo => "device_io",
            StorageErrorKind::OtherIo => "other_io",
            StorageErrorKind::Corrupt => "corrupt",
            StorageErrorKind::Engine => "engine",
        }
    }
}

impl std::fmt::Display for StorageErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// EIO on Linux and the BSDs.
const EIO: i32 = 5;

impl StorageError {
    /// An I/O failure while doing `context`, keeping the operating system's error.
    pub fn io(context: &'static str, source: std::io::Error) -> Self {
        StorageError::Io { context, source }
    }

    /// The operating system's error behind this failure, if it was an I/O error.
    pub fn io_error(&self) -> Option<&std::io::Error> {
        match self {
            StorageError::Io { source, .. } => Some(source),
            _ => None,
        }
    }

    /// The `io::ErrorKind` of an I/O failure (`StorageFull` for ENOSPC; EIO has none of its
    /// own, see [`StorageError::kind`]).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.io_error().map(std::io::Error::kind)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> StorageErrorKind {
        match self {
            StorageError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    StorageErrorKind::DiskFull
                }
                _ if source.raw_os_error() == Some(EIO) => StorageErrorKind::DeviceIo,
                _ => StorageErrorKind::OtherIo,
            },
            StorageError::Corrupt { .. } => StorageErrorKind::Corrupt,
            StorageError::Engine(_) | StorageError::Fjall(_) => StorageErrorKind::Engine,
        }
    }
}

impl From<fjall::Error> for StorageError {
    fn from(e: fjall::Error) -> Self {
        // fjall wraps the operating system's errors, sometimes inside lsm-tree's: unwrap
        // them so that their kind is not lost.
        match e {
            fjall::Error::Io(source) | fjall::Error::Storage(fjall::LsmError::Io(source)) => {
                StorageError::io("storage engine", source)
            }
            other => StorageError::Fjall(other),
        }
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
    /// A write to a key in a secondary index's keyspace (`[NAME, ...]`), which only the
    /// database writes. Nothing of the write was applied.
    #[error("key {key} lies in the keyspace of index {index:?}, which only the database writes; write under the index's prefix instead")]
    ReservedKey {
        /// The key written, as text.
        key: String,
        /// The index whose keyspace holds it.
        index: String,
    },
    /// An earlier durable sync failed. Nothing more will be acknowledged; reopen the database
    /// to recover from what is on disk.
    #[error("database is poisoned by an earlier storage failure ({0}); no further writes will be accepted; reopen it to recover")]
    Poisoned(PoisonCause),
    /// The database was closed.
    #[error("database is closed")]
    Closed,
    /// Refused before the request reached the commit pipeline, so nothing of it was applied:
    /// sending it again (once the cause is gone) cannot apply it twice. The wrapped error says
    /// why ([`StoreError::Poisoned`] or [`StoreError::Closed`], found by the checks before
    /// submission). The same causes *without* this wrapper come from the pipeline after
    /// submission: such a write may or may not have been applied (its batch's sync failed).
    /// [`StoreError::root`] sees through the wrapper.
    #[error(transparent)]
    NotApplied(Box<StoreError>),
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
    /// The database is a replica: it takes no writes (nor queue deliveries); they go to its
    /// primary.
    #[error("this database is a read-only replica of {primary}; send writes to the primary")]
    ReadOnlyReplica {
        /// The primary's URL.
        primary: String,
    },
    /// Too few synchronous replicas are connected to accept a write (refused before the
    /// pipeline, wrapped in [`StoreError::NotApplied`]).
    #[error("writes are refused until enough replicas are connected: {0}")]
    ReplicasUnavailable(String),
    /// A failover group's member that does not hold the primary's lease now (a replica, a
    /// candidate, or a primary whose lease renewal failed): the write was refused before the
    /// pipeline (wrapped in [`StoreError::NotApplied`]), so it may be sent again, to the
    /// group's primary.
    #[error("this server is not the failover group's primary now: {0}; nothing of this write was applied; send it again (the metadata exchange names the primary)")]
    NotLeader(String),
    /// The write is durable on this primary, but fewer replicas than `sync_replicas`
    /// confirmed it in time: it was not acknowledged, and a failover may lose it. Read the
    /// data to find out whether it is there.
    #[error("the write is durable on the primary but was not confirmed by the synchronous replicas: {0}; it may be lost if the primary fails, so it is not acknowledged")]
    ReplicationUnconfirmed(String),
    /// A replication stream or promotion was refused: another database, a diverged history,
    /// a gap, or a database that is not what the request assumed.
    #[error("replication: {0}")]
    Replication(String),
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

impl StoreError {
    /// Refused before submission: see [`StoreError::NotApplied`].
    pub(crate) fn not_applied(self) -> StoreError {
        StoreError::NotApplied(Box::new(self))
    }

    /// The error itself, or the cause a [`StoreError::NotApplied`] wraps: match on this to
    /// treat a poisoned or closed database alike whether or not the write was submitted.
    pub fn root(&self) -> &StoreError {
        match self {
            StoreError::NotApplied(cause) => cause.root(),
            other => other,
        }
    }

    /// The kind of the storage failure behind this error, if it is one: also for a database
    /// poisoned by one, so that a full disk and a failing one stay apart there too.
    pub fn storage_kind(&self) -> Option<StorageErrorKind> {
        match self {
            StoreError::Storage(e) => Some(e.kind()),
            StoreError::Poisoned(cause) => cause.kind,
            StoreError::NotApplied(cause) => cause.storage_kind(),
            _ => None,
        }
    }
}

/// Why a database is poisoned: what failed, and the kind of the storage failure behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoisonCause {
    /// What failed, for people ("durable sync failed: transaction log: No space left ...").
    pub reason: String,
    /// The storage failure's kind, when a storage failure poisoned the database.
    pub kind: Option<StorageErrorKind>,
}

impl PoisonCause {
    /// The cause `what` failed with `error`.
    pub fn storage(what: &str, error: &StorageError) -> Self {
        PoisonCause {
            reason: format!("{what}: {error}"),
            kind: Some(error.kind()),
        }
    }
}

impl std::fmt::Display for PoisonCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl From<&str> for PoisonCause {
    fn from(reason: &str) -> Self {
        PoisonCause {
            reason: reason.to_owned(),
            kind: None,
        }
    }
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
