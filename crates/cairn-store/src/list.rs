//! Listing: selectors, options, cursors and the iterator.
//!
//! A list reads one snapshot from its first entry to its last, so the whole listing is
//! consistent (Deno's remote lists are only consistent per batch; cairn's embedded lists are
//! consistent throughout). Cursors have Deno's format: URL-safe base64 of the last key's
//! encoding with the selector's common prefix removed, so a cursor names a position, not a
//! snapshot, and can resume a listing later.

use std::collections::VecDeque;
use std::sync::Arc;

use base64::Engine as _;
use cairn_model::limits::LIST_BATCH_SIZE_DEFAULT;
use cairn_model::{Key, Limits};

use crate::error::{Result, StoreError};
use crate::read::{read_range, Entry, RawEntry, ReadRange};
use crate::storage::Snapshot;

/// Which keys to list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListSelector {
    /// Every key that starts with the prefix (the prefix key itself excluded).
    Prefix(Key),
    /// Keys with the prefix, from `start` (inclusive; a key under the prefix).
    PrefixStart {
        /// The prefix.
        prefix: Key,
        /// Inclusive start.
        start: Key,
    },
    /// Keys with the prefix, up to `end` (exclusive; a key under the prefix).
    PrefixEnd {
        /// The prefix.
        prefix: Key,
        /// Exclusive end.
        end: Key,
    },
    /// Keys in `[start, end)`.
    Range {
        /// Inclusive start.
        start: Key,
        /// Exclusive end.
        end: Key,
    },
}

impl ListSelector {
    /// The encoded `[start, end)` of the selector, and the common prefix cursors are relative to.
    pub(crate) fn bounds(&self) -> Result<(Vec<u8>, Vec<u8>, Vec<u8>)> {
        let enc = crate::db::encode_key;
        let with = |prefix: &Key, byte: u8| -> Result<Vec<u8>> {
            let mut k = enc(prefix)?;
            k.push(byte);
            Ok(k)
        };
        Ok(match self {
            ListSelector::Prefix(p) => (with(p, 0x00)?, with(p, 0xFF)?, enc(p)?),
            ListSelector::PrefixStart { prefix, start } => {
                let (p, s) = (enc(prefix)?, enc(start)?);
                strictly_under(&p, &s, "start")?;
                (s, with(prefix, 0xFF)?, p)
            }
            ListSelector::PrefixEnd { prefix, end } => {
                let (p, e) = (enc(prefix)?, enc(end)?);
                strictly_under(&p, &e, "end")?;
                (with(prefix, 0x00)?, e, p)
            }
            ListSelector::Range { start, end } => {
                let (s, e) = (enc(start)?, enc(end)?);
                let common = s
                    .iter()
                    .zip(&e)
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| *a)
                    .collect();
                (s, e, common)
            }
        })
    }
}

/// Deno's rule for a start or end key given with a prefix: it must lie strictly under the
/// prefix, or the listing would reach keys outside it.
fn strictly_under(prefix: &[u8], key: &[u8], which: &str) -> Result<()> {
    if key.len() > prefix.len() && key.starts_with(prefix) {
        Ok(())
    } else {
        Err(StoreError::InvalidArgument(format!(
            "{which} key is not in the keyspace defined by prefix"
        )))
    }
}

/// How to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Most entries in total; `None` = all.
    pub limit: Option<usize>,
    /// Descending key order.
    pub reverse: bool,
    /// Entries read from storage per batch (at most the read limit's entries per read).
    pub batch_size: usize,
    /// Resume after the position a previous listing's [`ListIterator::cursor`] returned.
    pub cursor: Option<String>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            limit: None,
            reverse: false,
            batch_size: LIST_BATCH_SIZE_DEFAULT,
            cursor: None,
        }
    }
}

/// Iterates a listing in batches from one snapshot.
pub struct ListIterator {
    snapshot: Arc<dyn Snapshot>,
    now_ms: u64,
    start: Vec<u8>,
    end: Vec<u8>,
    common_prefix: Vec<u8>,
    reverse: bool,
    remaining: Option<usize>,
    batch_size: usize,
    buffer: VecDeque<RawEntry>,
    exhausted: bool,
    last_key: Option<Vec<u8>>,
}

impl ListIterator {
    pub(crate) fn new(
        snapshot: Arc<dyn Snapshot>,
        now_ms: u64,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<Self> {
        let (mut start, mut end, common_prefix) = selector.bounds()?;
        if options.batch_size == 0 || options.batch_size > limits.entries_per_read_max {
            return Err(StoreError::InvalidArgument(format!(
                "batch size must be between 1 and {}, got {}",
                limits.entries_per_read_max, options.batch_size
            )));
        }
        if let Some(cursor) = &options.cursor {
            let tail = base64::engine::general_purpose::URL_SAFE
                .decode(cursor)
                .map_err(|e| StoreError::InvalidArgument(format!("invalid cursor: {e}")))?;
            let mut position = common_prefix.clone();
            position.extend_from_slice(&tail);
            if position < start || position >= end {
                return Err(StoreError::InvalidArgument(
                    "cursor is out of the selector's range".into(),
                ));
            }
            if options.reverse {
                end = position;
            } else {
                position.push(0);
                start = position;
            }
        }
        Ok(ListIterator {
            snapshot,
            now_ms,
            start,
            end,
            common_prefix,
            reverse: options.reverse,
            remaining: options.limit,
            batch_size: options.batch_size,
            buffer: VecDeque::new(),
            exhausted: false,
            last_key: None,
        })
    }

    /// The next entry, or `None` at the end.
    pub async fn next(&mut self) -> Option<Result<Entry>> {
        self.next_raw()
            .map(|r| r.and_then(|raw| Entry::try_from(raw).map_err(StoreError::from)))
    }

    /// The next entry with its key still encoded.
    pub fn next_raw(&mut self) -> Option<Result<RawEntry>> {
        if self.remaining == Some(0) {
            return None;
        }
        if self.buffer.is_empty() && !self.exhausted {
            if let Err(e) = self.refill() {
                self.exhausted = true;
                return Some(Err(e));
            }
        }
        let entry = self.buffer.pop_front()?;
        if let Some(n) = self.remaining.as_mut() {
            *n -= 1;
        }
        self.last_key = Some(entry.key.clone());
        Some(Ok(entry))
    }

    fn refill(&mut self) -> Result<()> {
        let want = self
            .remaining
            .map_or(self.batch_size, |n| n.min(self.batch_size));
        let range = ReadRange {
            start: self.start.clone(),
            end: self.end.clone(),
            limit: want,
            reverse: self.reverse,
        };
        let batch = read_range(self.snapshot.as_ref(), &range, self.now_ms)?;
        if batch.len() < want {
            self.exhausted = true;
        }
        if let Some(last) = batch.last() {
            if self.reverse {
                self.end = last.key.clone();
            } else {
                self.start = last.key.clone();
                self.start.push(0);
            }
        }
        self.buffer.extend(batch);
        Ok(())
    }

    /// A cursor for the position after the last entry returned (empty before the first).
    pub fn cursor(&self) -> String {
        match &self.last_key {
            Some(key) => {
                let tail = key.get(self.common_prefix.len()..).unwrap_or_default();
                base64::engine::general_purpose::URL_SAFE.encode(tail)
            }
            None => String::new(),
        }
    }

    /// Every remaining entry.
    pub async fn collect(mut self) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        while let Some(entry) = self.next().await {
            out.push(entry?);
        }
        Ok(out)
    }
}
