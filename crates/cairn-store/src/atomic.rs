//! [`AtomicOperation`]: Deno's `kv.atomic()` builder.

use std::time::Duration;

use cairn_model::{AtomicWrite, Check, Enqueue, Key, KvValue, MutationKind, Versionstamp};

use crate::db::{encode_key, mutation, Database};
use crate::error::{Result, StoreError};
use crate::pipeline::CommitResult;

/// Options of a queued message.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnqueueOptions {
    /// Delay before the message becomes ready.
    pub delay: Duration,
    /// Keys the payload is written to if delivery finally fails.
    pub keys_if_undelivered: Vec<Key>,
    /// Retry intervals in milliseconds; `None` = the default schedule.
    pub backoff_schedule: Option<Vec<u32>>,
}

/// Checks, mutations and enqueues committed together or not at all.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use cairn_store::{CommitResult, Database, KvValue};
/// use cairn_model::key;
///
/// let db = Database::open_in_memory()?;
/// let k = key!["counter"];
/// // Create only if absent.
/// let first = db.atomic().check(&k, None).sum(&k, 1).commit().await?;
/// assert!(first.is_committed());
/// // A second "create if absent" fails its check and changes nothing.
/// let again = db.atomic().check(&k, None).set(&k, KvValue::U64(100)).commit().await?;
/// assert!(matches!(again, CommitResult::CheckFailed { .. }));
/// assert_eq!(db.get(&k).await?.map(|e| e.value), Some(KvValue::U64(1)));
/// # Ok::<(), cairn_store::StoreError>(())
/// # }).unwrap();
/// ```
#[must_use = "an atomic operation does nothing until committed"]
pub struct AtomicOperation {
    db: Database,
    write: AtomicWrite,
    /// The first key that could not be encoded; reported at commit.
    error: Option<StoreError>,
}

impl AtomicOperation {
    pub(crate) fn new(db: Database) -> Self {
        AtomicOperation {
            db,
            write: AtomicWrite::default(),
            error: None,
        }
    }

    fn key(&mut self, key: &Key) -> Vec<u8> {
        match encode_key(key) {
            Ok(k) => k,
            Err(e) => {
                self.error.get_or_insert(e);
                Vec::new()
            }
        }
    }

    fn push(mut self, key: &Key, kind: MutationKind, expire_at_ms: Option<u64>) -> Self {
        let key = self.key(key);
        self.write.mutations.push(mutation(key, kind, expire_at_ms));
        self
    }

    fn expire_at(&self, expire_in: Duration) -> u64 {
        let ms = u64::try_from(expire_in.as_millis()).unwrap_or(u64::MAX);
        self.db.now_ms().saturating_add(ms)
    }

    /// Requires `key` to have `versionstamp` (or, with `None`, not to exist).
    pub fn check(mut self, key: &Key, versionstamp: Option<Versionstamp>) -> Self {
        let key = self.key(key);
        self.write.checks.push(Check { key, versionstamp });
        self
    }

    /// Sets `key` to `value`.
    pub fn set(self, key: &Key, value: KvValue) -> Self {
        self.push(key, MutationKind::Set(value), None)
    }

    /// Sets `key` to `value`, to expire `expire_in` from now.
    pub fn set_expiring(self, key: &Key, value: KvValue, expire_in: Duration) -> Self {
        let at = self.expire_at(expire_in);
        self.push(key, MutationKind::Set(value), Some(at))
    }

    /// Removes `key`.
    pub fn delete(self, key: &Key) -> Self {
        self.push(key, MutationKind::Delete, None)
    }

    /// Adds `n` to the u64 at `key` (wrapping; a missing key counts as 0).
    pub fn sum(self, key: &Key, n: u64) -> Self {
        let kind = MutationKind::Sum {
            value: KvValue::U64(n),
            min: None,
            max: None,
            clamp: false,
        };
        self.push(key, kind, None)
    }

    /// Keeps the smaller of the u64 at `key` and `n`.
    pub fn min(self, key: &Key, n: u64) -> Self {
        self.push(key, MutationKind::Min(KvValue::U64(n)), None)
    }

    /// Keeps the larger of the u64 at `key` and `n`.
    pub fn max(self, key: &Key, n: u64) -> Self {
        self.push(key, MutationKind::Max(KvValue::U64(n)), None)
    }

    /// Any mutation, e.g. a V8 `sum` with bounds, or `SetSuffixVersionstampedKey`.
    pub fn mutate(self, key: &Key, kind: MutationKind, expire_in: Option<Duration>) -> Self {
        let at = expire_in.map(|d| self.expire_at(d));
        self.push(key, kind, at)
    }

    /// Enqueues a message (V8 payload) with the write.
    pub fn enqueue(mut self, payload: Vec<u8>, options: EnqueueOptions) -> Self {
        let keys_if_undelivered = options
            .keys_if_undelivered
            .iter()
            .map(|k| self.key(k))
            .collect();
        let deadline_ms = self.expire_at(options.delay);
        self.write.enqueues.push(Enqueue {
            payload,
            deadline_ms,
            keys_if_undelivered,
            backoff_schedule: options.backoff_schedule,
        });
        self
    }

    /// Commits: `Committed` with the versionstamp once durable, `CheckFailed` if a check did
    /// not hold, or an error if a mutation failed or a limit was exceeded; in every case but
    /// `Committed`, nothing was written.
    pub async fn commit(self) -> Result<CommitResult> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.db.atomic_write(self.write).await
    }
}
