//! The embedded listing iterator (selectors, options and cursors are cairn-model's).
//!
//! A list reads one snapshot from its first entry to its last, so the whole listing is
//! consistent (Deno's remote lists are only consistent per batch; cairn's embedded lists are
//! consistent throughout).

use std::collections::VecDeque;
use std::sync::Arc;

use cairn_model::{Entry, KvList, Limits, ListOptions, ListPager, ListSelector};

use crate::error::{Result, StoreError};
use crate::read::{decode_entry, read_range, RawEntry};
use crate::storage::Snapshot;

/// Iterates a listing in batches from one snapshot.
pub struct ListIterator {
    snapshot: Arc<dyn Snapshot>,
    now_ms: u64,
    pager: ListPager,
    buffer: VecDeque<RawEntry>,
}

impl ListIterator {
    pub(crate) fn new(
        snapshot: Arc<dyn Snapshot>,
        now_ms: u64,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<Self> {
        Ok(ListIterator {
            snapshot,
            now_ms,
            pager: ListPager::new(selector, options, limits)?,
            buffer: VecDeque::new(),
        })
    }

    /// The next entry with its key still encoded.
    pub fn next_raw(&mut self) -> Option<Result<RawEntry>> {
        if self.pager.limit_reached() {
            return None;
        }
        if self.buffer.is_empty() {
            let range = self.pager.next_range()?;
            match read_range(self.snapshot.as_ref(), &range, self.now_ms) {
                Ok(batch) => {
                    self.pager
                        .advance(range.limit, batch.iter().map(|e| e.key.as_slice()));
                    self.buffer.extend(batch);
                }
                Err(e) => {
                    // Ends the listing: a later call must not skip past the failed batch.
                    self.pager.advance(usize::MAX, []);
                    return Some(Err(e));
                }
            }
        }
        let entry = self.buffer.pop_front()?;
        self.pager.returned(&entry.key);
        Some(Ok(entry))
    }
}

impl KvList for ListIterator {
    type Error = StoreError;

    async fn next(&mut self) -> Option<Result<Entry>> {
        self.next_raw()
            .map(|r| r.and_then(|raw| decode_entry(raw).map_err(StoreError::from)))
    }

    fn cursor(&self) -> String {
        self.pager.cursor()
    }
}
