//! Watching keys: the hub that wakes watchers after the durable sync of a commit that touched
//! one of their keys (expiry removals included, since they are commits too).
//!
//! A watcher holds one [`Notify`] and nothing else in the hub: however many commits happen
//! while it does not look, it owes the hub one stored wake-up, never a queue. When woken it
//! re-reads its keys from the published snapshot and reports them only if a versionstamp
//! changed, so a slow or stalled watcher costs bounded memory and never holds up a commit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use cairn_model::{Entry, Key, KvWatch, Versionstamp};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::db::{encode_key, Database};
use crate::error::{Result, StoreError};

/// Every watcher's subscription, by encoded key.
#[derive(Default)]
pub(crate) struct WatchHub {
    subscribers: Mutex<HashMap<Vec<u8>, Vec<Weak<Notify>>>>,
    /// Number of live watchers; when zero the pipeline skips collecting changed keys.
    watchers: AtomicUsize,
}

impl WatchHub {
    /// True when at least one watcher exists.
    pub(crate) fn is_active(&self) -> bool {
        self.watchers.load(Ordering::Acquire) > 0
    }

    fn subscribe(&self, keys: &[Vec<u8>], notify: &Arc<Notify>) {
        let mut subscribers = self.subscribers.lock();
        for key in keys {
            subscribers
                .entry(key.clone())
                .or_default()
                .push(Arc::downgrade(notify));
        }
        self.watchers.fetch_add(1, Ordering::AcqRel);
    }

    fn unsubscribe(&self, keys: &[Vec<u8>]) {
        let mut subscribers = self.subscribers.lock();
        for key in keys {
            if let Some(list) = subscribers.get_mut(key) {
                list.retain(|w| w.strong_count() > 0);
                if list.is_empty() {
                    subscribers.remove(key);
                }
            }
        }
        self.watchers.fetch_sub(1, Ordering::AcqRel);
    }

    /// Wakes the watchers of `keys`. Called after the commits that changed them are durable
    /// and published.
    pub(crate) fn changed<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) {
        let subscribers = self.subscribers.lock();
        for key in keys {
            for watcher in subscribers.get(key).into_iter().flatten() {
                if let Some(notify) = watcher.upgrade() {
                    notify.notify_one();
                }
            }
        }
    }
}

/// A watch on up to `Limits::watch_keys_max` keys; see [`Database::watch`].
pub struct Watch {
    db: Database,
    keys: Vec<Key>,
    encoded: Vec<Vec<u8>>,
    notify: Arc<Notify>,
    /// The versionstamps last reported; `None` before the first report.
    last: Option<Vec<Option<Versionstamp>>>,
}

impl Watch {
    pub(crate) fn new(db: Database, keys: Vec<Key>) -> Result<Watch> {
        db.limits().check_watch(keys.len())?;
        let encoded = keys.iter().map(encode_key).collect::<Result<Vec<_>>>()?;
        let notify = Arc::new(Notify::new());
        db.watch_hub().subscribe(&encoded, &notify);
        Ok(Watch {
            db,
            keys,
            encoded,
            notify,
            last: None,
        })
    }

    fn read(&self) -> Result<Vec<Option<Entry>>> {
        self.db.read_entries(&self.keys)
    }
}

impl KvWatch for Watch {
    type Error = StoreError;

    /// The watched keys' entries: at once on the first call, then each time one of them
    /// changes (a new versionstamp, or removal). Changes that happen while the caller is
    /// not waiting are folded into one report of the latest state.
    async fn next(&mut self) -> Result<Vec<Option<Entry>>> {
        loop {
            let entries = self.read()?;
            let stamps: Vec<_> = entries
                .iter()
                .map(|e| e.as_ref().map(|e| e.versionstamp))
                .collect();
            if self.last.as_ref() != Some(&stamps) {
                self.last = Some(stamps);
                return Ok(entries);
            }
            self.notify.notified().await;
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // Drop our Notify first so that `unsubscribe` can prune its dead weak pointers.
        self.notify = Arc::new(Notify::new());
        self.db.watch_hub().unsubscribe(&self.encoded);
    }
}
