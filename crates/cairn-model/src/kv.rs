//! The database API, as one trait: [`Kv`]. The embedded database (`cairn_store::Database`)
//! and the network client (`cairn_client::Client`) both implement it, so code written against
//! a directory runs unchanged against a server:
//!
//! ```
//! use cairn_model::kv::{Kv, KvList};
//! use cairn_model::list::{ListOptions, ListSelector};
//! use cairn_model::{key, KvValue};
//!
//! /// Counts visits and returns the users seen so far; works on any cairn database.
//! async fn visit<K: Kv>(db: &K, user: &str) -> Result<usize, K::Error> {
//!     db.atomic().sum(&key!["visits"], 1).set(&key!["users", user], KvValue::U64(1)).commit().await?;
//!     let users = db.list(ListSelector::Prefix(key!["users"]), ListOptions::default())?;
//!     Ok(users.collect().await?.len())
//! }
//! ```
//!
//! The trait uses return-position `impl Future + Send`, so generic code can be spawned on a
//! multi-threaded runtime.

use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::codec::KeyEncodeError;
use crate::list::{ListOptions, ListSelector};
use crate::operation::{AtomicOperation, EnqueueOptions};
use crate::queue::{KvQueueListener, QueueDelivery, QueueListenOptions};
use crate::scan::{Aggregate, AggregateOptions, KvKeyList};
use crate::{AtomicWrite, Key, KvValue, Versionstamp};

/// An entry: key, value and the versionstamp of the commit that wrote it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The key.
    pub key: Key,
    /// The value.
    pub value: KvValue,
    /// The commit that wrote it.
    pub versionstamp: Versionstamp,
}

/// The result of an atomic write that was evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitResult {
    /// Every check held; every mutation and enqueue is durable.
    Committed {
        /// The write's versionstamp.
        versionstamp: Versionstamp,
    },
    /// At least one check failed, or the write would have broken a unique index; nothing
    /// was written.
    CheckFailed {
        /// Indexes (into the write's checks) of the checks that failed; empty when the
        /// database does not say which (KV Connect servers before protocol version 3), and
        /// when no check of the write failed but a unique index refused it.
        failed_checks: Vec<u32>,
        /// Why, when the database says more than which checks failed: a unique index's
        /// conflict names the index, the values and the entry holding them.
        reason: Option<String>,
    },
}

impl CommitResult {
    /// The versionstamp, if committed.
    pub fn versionstamp(&self) -> Option<Versionstamp> {
        match self {
            CommitResult::Committed { versionstamp } => Some(*versionstamp),
            CommitResult::CheckFailed { .. } => None,
        }
    }

    /// True if committed.
    pub fn is_committed(&self) -> bool {
        matches!(self, CommitResult::Committed { .. })
    }
}

/// A request refused before it reached a database: a key that cannot be encoded, or an
/// argument outside what the API accepts. Every implementation's error converts from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// A key could not be encoded (e.g. an integer part larger than 255 bytes).
    #[error("invalid key: {0}")]
    Key(#[from] KeyEncodeError),
    /// Any other invalid argument (a malformed cursor, a start key outside the prefix, …).
    #[error("invalid argument: {0}")]
    Argument(String),
}

/// A cairn database, embedded or remote. See the [module documentation](self).
pub trait Kv: Clone + Send + Sync + 'static {
    /// What the implementation's operations fail with.
    type Error: std::error::Error + From<RequestError> + Send + Sync + 'static;
    /// A listing in progress.
    type List: KvList<Error = Self::Error>;
    /// A watch in progress.
    type Watch: KvWatch<Error = Self::Error>;
    /// A running [`Kv::listen_queue`].
    type QueueListener: KvQueueListener<Error = Self::Error>;
    /// A keys-only listing in progress.
    type KeyList: KvKeyList<Error = Self::Error>;

    /// The entry of `key`, if it exists and has not expired.
    fn get(&self, key: &Key) -> impl Future<Output = Result<Option<Entry>, Self::Error>> + Send;

    /// The entries of several keys (at most `Limits::get_many_keys_max`), read from one
    /// snapshot, in the order of `keys`.
    fn get_many(
        &self,
        keys: &[Key],
    ) -> impl Future<Output = Result<Vec<Option<Entry>>, Self::Error>> + Send;

    /// Lists entries in key order (or reverse), in batches; see [`ListSelector`] and
    /// [`ListOptions`]. Invalid selectors and options are refused here, before any read.
    fn list(&self, selector: ListSelector, options: ListOptions)
        -> Result<Self::List, Self::Error>;

    /// Lists keys (with their versionstamps) without their values, like [`Kv::list`] (same
    /// selectors, options and cursors) but reading no values.
    fn list_keys(
        &self,
        selector: ListSelector,
        options: ListOptions,
    ) -> Result<Self::KeyList, Self::Error>;

    /// The number of live entries the selector covers, counted on one snapshot (over the
    /// network: one snapshot per request, and a long count takes several requests).
    fn count(
        &self,
        selector: ListSelector,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// Count, sum, min and max (and so the average) of the numeric values the selector covers
    /// (or of one field of object values), on one snapshot as [`Kv::count`]. Values that are
    /// not numbers are counted in [`Aggregate::skipped`].
    fn aggregate(
        &self,
        selector: ListSelector,
        options: AggregateOptions,
    ) -> impl Future<Output = Result<Aggregate, Self::Error>> + Send;

    /// Commits an atomic write of encoded keys (what [`Kv::atomic`] builds).
    fn atomic_write(
        &self,
        write: AtomicWrite,
    ) -> impl Future<Output = Result<CommitResult, Self::Error>> + Send;

    /// Watches up to `Limits::watch_keys_max` keys: the first [`KvWatch::next`] returns their
    /// entries at once, each later one when one of them changed.
    fn watch(&self, keys: Vec<Key>) -> Result<Self::Watch, Self::Error>;

    /// Runs `handler` for every message of the database's queue, up to
    /// `options.concurrency` at a time, on the current Tokio runtime: `Ok` acknowledges the
    /// message, `Err` or a panic makes it retry after its backoff interval (and dead-letter
    /// once the schedule is exhausted). At least once: a handler may see a message again.
    fn listen_queue<F, Fut, E>(
        &self,
        handler: F,
        options: QueueListenOptions,
    ) -> Result<Self::QueueListener, Self::Error>
    where
        F: Fn(QueueDelivery) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static;

    /// Enqueues one message (a V8-serialized payload) in an atomic write of its own.
    fn enqueue(
        &self,
        payload: Vec<u8>,
        options: EnqueueOptions,
    ) -> impl Future<Output = Result<CommitResult, Self::Error>> + Send {
        self.atomic().enqueue(payload, options).commit()
    }

    /// Now, in milliseconds since the Unix epoch, on the clock that expiry deadlines of this
    /// database are measured with.
    fn now_ms(&self) -> u64 {
        // A clock before 1970 is a misconfigured machine; the epoch keeps deadlines ahead.
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// Starts an atomic operation: checks, mutations and enqueues committed together or not
    /// at all.
    fn atomic(&self) -> AtomicOperation<Self> {
        AtomicOperation::new(self.clone())
    }

    /// Sets `key` to `value`; returns the commit's versionstamp.
    fn set(
        &self,
        key: &Key,
        value: KvValue,
    ) -> impl Future<Output = Result<Versionstamp, Self::Error>> + Send {
        let op = self.atomic().set(key, value);
        async move { op.commit().await.map(committed) }
    }

    /// Sets `key` to `value`, to expire `expire_in` from now.
    fn set_expiring(
        &self,
        key: &Key,
        value: KvValue,
        expire_in: Duration,
    ) -> impl Future<Output = Result<Versionstamp, Self::Error>> + Send {
        let op = self.atomic().set_expiring(key, value, expire_in);
        async move { op.commit().await.map(committed) }
    }

    /// Removes `key` (a no-op if absent).
    fn delete(&self, key: &Key) -> impl Future<Output = Result<Versionstamp, Self::Error>> + Send {
        let op = self.atomic().delete(key);
        async move { op.commit().await.map(committed) }
    }
}

fn committed(result: CommitResult) -> Versionstamp {
    // A write without checks cannot fail its checks.
    result.versionstamp().unwrap_or_default()
}

/// A listing in progress: entries in order, then `None`.
pub trait KvList: Send {
    /// What reading fails with.
    type Error;

    /// The next entry, or `None` at the end.
    fn next(&mut self) -> impl Future<Output = Option<Result<Entry, Self::Error>>> + Send;

    /// A cursor for the position after the last entry returned (empty before the first);
    /// pass it as [`ListOptions::cursor`] to resume.
    fn cursor(&self) -> String;

    /// Every remaining entry.
    fn collect(mut self) -> impl Future<Output = Result<Vec<Entry>, Self::Error>> + Send
    where
        Self: Sized,
    {
        async move {
            let mut out = Vec::new();
            while let Some(entry) = self.next().await {
                out.push(entry?);
            }
            Ok(out)
        }
    }
}

/// A watch in progress.
pub trait KvWatch: Send {
    /// What watching fails with.
    type Error;

    /// The watched keys' entries, in the order they were given: at once on the first call,
    /// then each time one of them changed. Changes made while the caller was not waiting are
    /// folded into one report of the latest state.
    fn next(&mut self) -> impl Future<Output = Result<Vec<Option<Entry>>, Self::Error>> + Send;
}
