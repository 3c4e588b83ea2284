//! Watching keys: the hub that wakes watchers after the durable sync of a commit that touched
//! one of their keys (expiry removals included, since they are commits too). The hub is one
//! of the pipeline's subscribers ([`crate::pipeline::announce`]).
//!
//! A watcher holds one [`Notify`] and nothing else in the hub: however many commits happen
//! while it does not look, it owes the hub one stored wake-up, never a queue. When woken it
//! re-reads its keys from the published snapshot and reports them only if a versionstamp
//! changed, so a slow or stalled watcher costs bounded memory and never holds up a commit.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use cairn_model::{Entry, Key, KvWatch, Versionstamp};
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{Result, StoreError};
use crate::pipeline::announce::{BatchEffects, Subscriber};
use crate::pipeline::Shared;
use crate::read::{self, encode_key};

/// Every watcher's subscription, by encoded key.
///
/// Why a watcher is never missed: the pipeline announces every batch (it collects changed
/// keys whether or not anyone watches), after publishing its snapshot, and `changed` takes
/// the same lock as `subscribe`. A watcher that subscribed before that lock was taken is
/// woken; one that subscribed after it reads a snapshot that already holds the batch.
#[derive(Default)]
pub(crate) struct WatchHub {
    subscribers: Mutex<HashMap<Vec<u8>, Vec<Weak<Notify>>>>,
}

impl Subscriber for WatchHub {
    fn published(&self, batches: &[&BatchEffects], _now_ms: u64) {
        let mut keys = batches
            .iter()
            .flat_map(|b| b.changed_keys.iter())
            .peekable();
        if keys.peek().is_some() {
            self.changed(keys.map(Vec::as_slice));
        }
    }
}

impl WatchHub {
    fn subscribe(&self, keys: &[Vec<u8>], notify: &Arc<Notify>) {
        let mut subscribers = self.subscribers.lock();
        for key in keys {
            subscribers
                .entry(key.clone())
                .or_default()
                .push(Arc::downgrade(notify));
        }
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
    }

    /// Wakes the watchers of `keys`. Called after the commits that changed them are durable
    /// and published.
    fn changed<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) {
        let subscribers = self.subscribers.lock();
        if subscribers.is_empty() {
            return;
        }
        for key in keys {
            for watcher in subscribers.get(key).into_iter().flatten() {
                if let Some(notify) = watcher.upgrade() {
                    notify.notify_one();
                }
            }
        }
    }
}

/// A watch on up to `Limits::watch_keys_max` keys; see `Kv::watch` on [`Database`](crate::Database).
pub struct Watch {
    shared: Arc<Shared>,
    hub: Arc<WatchHub>,
    keys: Vec<Key>,
    encoded: Vec<Vec<u8>>,
    notify: Arc<Notify>,
    /// The versionstamps last reported; `None` before the first report.
    last: Option<Vec<Option<Versionstamp>>>,
}

impl Watch {
    pub(crate) fn new(shared: Arc<Shared>, hub: Arc<WatchHub>, keys: Vec<Key>) -> Result<Watch> {
        shared.config.limits.check_watch(keys.len())?;
        let encoded = keys.iter().map(encode_key).collect::<Result<Vec<_>>>()?;
        let notify = Arc::new(Notify::new());
        hub.subscribe(&encoded, &notify);
        Ok(Watch {
            shared,
            hub,
            keys,
            encoded,
            notify,
            last: None,
        })
    }

    fn read(&self) -> Result<Vec<Option<Entry>>> {
        let now_ms = self.shared.config.clock.now_ms();
        read::entries(&self.shared.published, &self.keys, now_ms)
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
        self.hub.unsubscribe(&self.encoded);
    }
}
