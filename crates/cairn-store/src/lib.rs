//! The embedded cairn database.
//!
//! A transactional, ordered key-value store with Deno KV's data model: tuple keys,
//! versionstamps, atomic writes with checks and sum/min/max, listing, expiry. Open a
//! directory with [`Database::open`] or a throwaway one with [`Database::open_in_memory`].
//! The data API is the [`Kv`] trait (shared with the network client, `cairn-client`), so
//! bring it into scope: `use cairn_store::Kv;`.
//!
//! Writes go through a group-commit pipeline ([`pipeline`]): many concurrent atomic writes
//! share one storage write and one durable sync, and none is acknowledged before that sync.
//! Reads use the last published snapshot and never wait for writes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod archive;
pub mod changelog;
mod clock;
mod config;
mod db;
mod error;
mod index;
pub mod limits;
mod list;
pub mod meta;
pub mod pipeline;
pub mod queue;
mod read;
pub mod record;
pub mod replication;
pub mod scan;
pub mod stats;
pub mod storage;
mod sweeper;
mod watch;

pub use cairn_model::{
    Aggregate, AggregateOptions, AtomicOperation, CommitResult, EnqueueOptions, Entry, IndexInfo,
    IndexSpec, IndexState, Key, KeyEntry, KeyPart, Kv, KvIndexes, KvKeyList, KvList, KvValue,
    KvWatch, ListOptions, ListSelector, Number, ReadRange, Versionstamp,
};
pub use clock::{Clock, ClockWatcher, ManualClock, SystemClock};
pub use config::{Config, Durability, COMMIT_QUEUE_BYTES_MAX_DEFAULT};
pub use db::{Database, MEMORY_PATH};
pub use error::{PoisonCause, Result, StorageError, StoreError};
pub use list::ListIterator;
pub use queue::{
    Delivery, DeliveryId, MessageId, NackOutcome, QueueListenOptions, QueueListener, QueueStats,
};
pub use read::RawEntry;
pub use scan::{AggregatePage, CountPage, KeyListIterator, RawKey, ScanBudget};
pub use stats::StatsSnapshot;
pub use sweeper::{EXPIRY_BACKLOG_COUNT_MAX, EXPIRY_SWEEP_KEYS_MAX, EXPIRY_SWEEP_KEYS_MIN};
pub use watch::Watch;
