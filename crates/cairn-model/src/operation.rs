//! [`AtomicOperation`]: Deno's `kv.atomic()` builder, for any [`Kv`].

use std::time::Duration;

use crate::codec::try_encode_key;
use crate::kv::{CommitResult, Kv, RequestError};
use crate::{AtomicWrite, Check, Enqueue, Key, KvValue, Mutation, MutationKind, Versionstamp};

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

/// Checks, mutations and enqueues committed together or not at all. Keys are encoded as they
/// are added; a key that cannot be encoded fails the commit, before anything is sent.
#[must_use = "an atomic operation does nothing until committed"]
pub struct AtomicOperation<K: Kv> {
    kv: K,
    write: AtomicWrite,
    /// The first key that could not be encoded; reported at commit.
    error: Option<RequestError>,
}

impl<K: Kv> AtomicOperation<K> {
    /// An empty operation on `kv` (what [`Kv::atomic`] returns).
    pub fn new(kv: K) -> Self {
        AtomicOperation {
            kv,
            write: AtomicWrite::default(),
            error: None,
        }
    }

    fn key(&mut self, key: &Key) -> Vec<u8> {
        match try_encode_key(key) {
            Ok(k) => k,
            Err(e) => {
                self.error.get_or_insert(e.into());
                Vec::new()
            }
        }
    }

    fn push(mut self, key: &Key, kind: MutationKind, expire_at_ms: Option<u64>) -> Self {
        let key = self.key(key);
        self.write.mutations.push(Mutation {
            key,
            kind,
            expire_at_ms,
        });
        self
    }

    fn after(&self, delay: Duration) -> u64 {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.kv.now_ms().saturating_add(ms)
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
        let at = self.after(expire_in);
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
        let at = expire_in.map(|d| self.after(d));
        self.push(key, kind, at)
    }

    /// Enqueues a message (V8 payload) with the write.
    pub fn enqueue(mut self, payload: Vec<u8>, options: EnqueueOptions) -> Self {
        let keys_if_undelivered = options
            .keys_if_undelivered
            .iter()
            .map(|k| self.key(k))
            .collect();
        let deadline_ms = self.after(options.delay);
        self.write.enqueues.push(Enqueue {
            payload,
            deadline_ms,
            keys_if_undelivered,
            backoff_schedule: options.backoff_schedule,
        });
        self
    }

    /// The write built so far, or the first key that could not be encoded.
    pub fn into_write(self) -> Result<AtomicWrite, RequestError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.write),
        }
    }

    /// Commits: `Committed` with the versionstamp once durable, `CheckFailed` if a check did
    /// not hold, or an error if a mutation failed or a limit was exceeded; in every case but
    /// `Committed`, nothing was written.
    pub async fn commit(self) -> Result<CommitResult, K::Error> {
        let kv = self.kv.clone();
        let write = self.into_write()?;
        kv.atomic_write(write).await
    }
}
