//! `GET /api/v1/databases/{db}/watch`: changes as Server-Sent Events.
//!
//! - `?key=<tuple>` (repeatable, up to the watch key limit): Deno's `kv.watch(keys)`. An
//!   `entries` event at once with every key's entry (`value` and `versionstamp` null when
//!   absent), then one each time one of them changed (changes made meanwhile fold into one).
//! - `?prefix=<tuple>`: every commit that writes or removes a key under the prefix, as a
//!   `changes` event `{"versionstamp", "changes": [{"key", "value"} | {"key", "deleted": true}]}`
//!   after a first `ready` event. The store wakes watchers per key, not per prefix, so these
//!   come from the changelog (written in the same storage batch as the commit), read each
//!   time the database publishes batches (`Database::published_batches`): a watcher never
//!   misses a commit the changelog still holds (it keeps the last million commits by default). A watcher that fell further behind than
//!   the changelog holds gets a `lagged` event and the stream ends: commits it would have seen
//!   were trimmed, and it must read the prefix again rather than believe it missed nothing.
//!
//! Either kind takes one of the token's watch slots, shared with KV Connect's `watch`
//! (`watches_per_token_max`); a comment line every few seconds keeps idle streams open, and
//! shutdown ends them. A browser reads the stream with `fetch` (an `EventSource` cannot send
//! the `Authorization` header).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, Kv, KvWatch, Versionstamp};
use cairn_store::record::{ChangeOp, ChangelogRecord};
use cairn_store::{Database, StoreError, Watch};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::keys::key_to_json;
use super::reply::entry_json;
use super::request::{bad, Caller, Query};
use super::values::to_json;
use super::JsonError;
use crate::limits::API_WATCH_CHANGELOG_BATCH;
use crate::routes::watch::{take_slot, Slot, KEEPALIVE};
use crate::App;

pub(crate) async fn watch(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &["key", "prefix"])?;
    let keys = query
        .all("key")
        .into_iter()
        .map(|text| super::keys::key_from_text(text, "key"))
        .collect::<Result<Vec<_>, _>>()?;
    let prefix = query.optional_key("prefix")?;
    let caller = Caller::open(app, &headers, &db).await?;
    let source = match (keys.is_empty(), prefix) {
        (false, Some(_)) => return Err(bad("watch keys or a prefix, not both")),
        (true, None) => {
            return Err(bad(
                "watch needs key=<tuple> (repeatable) or prefix=<tuple>",
            ))
        }
        (false, None) => {
            let max = caller.app.config.limits.watch_keys_max;
            if keys.len() > max {
                return Err(bad(format!("at most {max} keys can be watched at once")));
            }
            let json = keys.iter().map(key_to_json).collect();
            Source::Keys(caller.db.watch(keys)?, json)
        }
        (true, Some(prefix)) => {
            let encoded = try_encode_key(&prefix).map_err(|e| bad(format!("prefix: {e}")))?;
            // Before the tail is read: a batch published after it marks this changed.
            let published = caller.db.published_batches();
            let db = caller.db.clone();
            let after = tokio::task::spawn_blocking(move || changelog_tail(&db))
                .await
                .map_err(|_| StoreError::Closed)??;
            Source::Prefix(PrefixWatch {
                db: caller.db.clone(),
                published,
                prefix: encoded,
                after,
                pending: VecDeque::from([event("ready", &json!({}))]),
                catching_up: false,
                ended: false,
            })
        }
    };
    let stream = Stream {
        source,
        closing: caller.app.closing.subscribe(),
        _slot: take_slot(&caller.app, caller.grant.index)?,
    };
    let events = futures_util::stream::unfold(stream, |mut stream| async move {
        let text = stream.next().await?;
        Some((Ok::<_, Infallible>(Bytes::from(text)), stream))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(events),
    )
        .into_response())
}

enum Source {
    /// The store's watch, and its keys as JSON.
    Keys(Watch, Vec<Value>),
    Prefix(PrefixWatch),
}

struct PrefixWatch {
    db: Database,
    /// Changed each time the database publishes batches: time to read the changelog.
    published: tokio::sync::watch::Receiver<u64>,
    /// The encoded prefix.
    prefix: Vec<u8>,
    /// The changelog position read up to.
    after: Option<Versionstamp>,
    /// Events read and not yet sent.
    pending: VecDeque<String>,
    /// The last read filled a batch: read again without waiting.
    catching_up: bool,
    /// A `lagged` event was queued: the stream ends once it is sent.
    ended: bool,
}

struct Stream {
    source: Source,
    closing: tokio::sync::watch::Receiver<bool>,
    _slot: Slot,
}

impl Stream {
    /// The next event's text; `None` ends the stream (shutdown, or the database failed).
    async fn next(&mut self) -> Option<String> {
        let deadline = Instant::now() + KEEPALIVE;
        match &mut self.source {
            Source::Keys(watch, keys) => tokio::select! {
                entries = watch.next() => match entries {
                    Ok(entries) => {
                        let entries: Vec<Value> = entries
                            .iter()
                            .zip(keys.iter())
                            .map(|(entry, key)| match entry {
                                Some(entry) => entry_json(entry, false),
                                None => json!({ "key": key, "value": null, "versionstamp": null }),
                            })
                            .collect();
                        Some(event("entries", &Value::Array(entries)))
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "API watch stream ended");
                        None
                    }
                },
                () = tokio::time::sleep_until(deadline) => Some(": keepalive\n\n".to_owned()),
                _ = self.closing.wait_for(|closing| *closing) => None,
            },
            Source::Prefix(watch) => loop {
                if let Some(text) = watch.pending.pop_front() {
                    return Some(text);
                }
                if watch.ended || *self.closing.borrow() {
                    return None;
                }
                if !watch.catching_up {
                    tokio::select! {
                        changed = watch.published.changed() => if changed.is_err() {
                            return None; // the database closed
                        },
                        () = tokio::time::sleep_until(deadline) => {}
                        _ = self.closing.wait_for(|closing| *closing) => return None,
                    }
                }
                if let Err(e) = watch.read() {
                    tracing::warn!(error = %e, "API prefix watch stream ended");
                    return None;
                }
                if watch.pending.is_empty() && Instant::now() >= deadline {
                    return Some(": keepalive\n\n".to_owned());
                }
            },
        }
    }
}

impl PrefixWatch {
    /// Reads the next changelog batch into `pending`.
    fn read(&mut self) -> Result<(), StoreError> {
        // Only a watcher still catching up can have lost commits: one that read up to the tail
        // at its last read (the previous publication) sees new commits there, and an old entry
        // at its position trimmed by age while it idled is no loss.
        let oldest = if self.catching_up {
            self.db.changelog(None, 1)?.first().map(|(v, _)| *v)
        } else {
            None
        };
        if lagged(oldest, self.after) {
            let body = json!({
                "after": self.after.map(|v| v.to_hex()),
                "reason": "the changelog no longer holds every commit after this versionstamp: read the prefix again and watch anew",
            });
            self.pending.push_back(event("lagged", &body));
            self.ended = true;
            return Ok(());
        }
        let batch = self.db.changelog(self.after, API_WATCH_CHANGELOG_BATCH)?;
        self.catching_up = batch.len() == API_WATCH_CHANGELOG_BATCH;
        for (versionstamp, record) in batch {
            self.after = Some(versionstamp);
            let changes = self.changes(&record);
            if !changes.is_empty() {
                let body = json!({ "versionstamp": versionstamp.to_hex(), "changes": changes });
                self.pending.push_back(event("changes", &body));
            }
        }
        Ok(())
    }

    /// The changes of one commit under the prefix.
    fn changes(&self, record: &ChangelogRecord) -> Vec<Value> {
        let under = |key: &[u8]| key.len() > self.prefix.len() && key.starts_with(&self.prefix);
        record
            .ops
            .iter()
            .filter_map(|op| {
                let (key, value) = match op {
                    ChangeOp::Set { key, value, .. } => (key, Some(value)),
                    ChangeOp::Delete { key } => (key, None),
                };
                let decoded = decode_key(key).ok().filter(|_| under(key))?;
                let key = key_to_json(&decoded);
                Some(match value {
                    Some(value) => json!({ "key": key, "value": to_json(value) }),
                    None => json!({ "key": key, "deleted": true }),
                })
            })
            .collect()
    }
}

/// Whether commits after `after` may have been trimmed from the changelog: trimming removes
/// the oldest entries first, so while the entry at `after` is still held (the oldest is at or
/// before it) nothing after it is gone.
fn lagged(oldest: Option<Versionstamp>, after: Option<Versionstamp>) -> bool {
    matches!((oldest, after), (Some(oldest), Some(after)) if oldest > after)
}

/// The versionstamp of the newest changelog entry, `None` for an empty changelog: where a
/// new prefix watch starts reading. The changelog is keyed by versionstamp (commit version,
/// then index) and has no "last entry" read, so this bisects on the commit version: about 64
/// reads of one entry each.
fn changelog_tail(db: &Database) -> Result<Option<Versionstamp>, StoreError> {
    if db.changelog(None, 1)?.is_empty() {
        return Ok(None);
    }
    let nothing_after = |version: u64| -> Result<bool, StoreError> {
        Ok(db
            .changelog(Some(Versionstamp::new(version, u16::MAX)), 1)?
            .is_empty())
    };
    // The smallest commit version with nothing after it: the newest entry's.
    let (mut low, mut high) = (0u64, u64::MAX);
    while low < high {
        let middle = low + (high - low) / 2;
        if nothing_after(middle)? {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    Ok(Some(Versionstamp::new(low, u16::MAX)))
}

/// One Server-Sent Event.
fn event(name: &str, data: &Value) -> String {
    // JSON has no raw newlines, so the data is one `data:` line.
    format!("event: {name}\ndata: {data}\n\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watcher_lags_only_once_its_position_was_trimmed() {
        let v = |n| Some(Versionstamp::new(n, 0));
        assert!(
            !lagged(None, v(5)),
            "an empty changelog trimmed nothing it could report"
        );
        assert!(
            !lagged(v(3), None),
            "a watch from the start has seen nothing yet"
        );
        assert!(
            !lagged(v(5), v(5)),
            "the entry at the position is still held"
        );
        assert!(!lagged(v(2), v(5)));
        assert!(lagged(v(6), v(5)), "the position itself was trimmed");
    }
}
