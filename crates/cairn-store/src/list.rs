//! The embedded listing iterator (selectors, options and cursors are cairn-model's).
//!
//! A list reads one snapshot from its first entry to its last, so the whole listing is
//! consistent (Deno's remote lists are only consistent per batch; cairn's embedded lists are
//! consistent throughout).

use std::collections::VecDeque;
use std::sync::Arc;

use cairn_model::{Entry, KvList, Limits, ListOptions, ListPager, ListSelector, ReadRange};

use crate::error::{Result, StoreError};
use crate::read::{decode_entry, read_range, RawEntry};
use crate::storage::Snapshot;

/// What a paged listing reads, one page at a time: whole entries, or keys only.
pub(crate) trait PagedRow: Sized {
    /// The row's encoded key (the pager resumes after the last one returned).
    fn key(&self) -> &[u8];
    /// Up to `range.limit` live rows of the range.
    fn read_page(snapshot: &dyn Snapshot, range: &ReadRange, now_ms: u64) -> Result<Vec<Self>>;
}

impl PagedRow for RawEntry {
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn read_page(snapshot: &dyn Snapshot, range: &ReadRange, now_ms: u64) -> Result<Vec<Self>> {
        read_range(snapshot, range, now_ms)
    }
}

/// A listing read in pages from one snapshot: the part the entry and key listings share.
pub(crate) struct PagedReader<R> {
    snapshot: Arc<dyn Snapshot>,
    now_ms: u64,
    pager: ListPager,
    buffer: VecDeque<R>,
}

impl<R: PagedRow> PagedReader<R> {
    pub(crate) fn new(
        snapshot: Arc<dyn Snapshot>,
        now_ms: u64,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<Self> {
        Ok(PagedReader {
            snapshot,
            now_ms,
            pager: ListPager::new(selector, options, limits)?,
            buffer: VecDeque::new(),
        })
    }

    /// The next row, reading the next page when the buffer is empty.
    pub(crate) fn next_row(&mut self) -> Option<Result<R>> {
        if self.pager.limit_reached() {
            return None;
        }
        if self.buffer.is_empty() {
            let range = self.pager.next_range()?;
            match R::read_page(self.snapshot.as_ref(), &range, self.now_ms) {
                Ok(page) => {
                    self.pager.advance(range.limit, page.iter().map(R::key));
                    self.buffer.extend(page);
                }
                Err(e) => {
                    // Ends the listing: a later call must not skip past the failed page.
                    self.pager.advance(usize::MAX, []);
                    return Some(Err(e));
                }
            }
        }
        let row = self.buffer.pop_front()?;
        self.pager.returned(row.key());
        Some(Ok(row))
    }

    pub(crate) fn cursor(&self) -> String {
        self.pager.cursor()
    }
}

/// Iterates a listing in batches from one snapshot.
pub struct ListIterator {
    reader: PagedReader<RawEntry>,
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
            reader: PagedReader::new(snapshot, now_ms, selector, options, limits)?,
        })
    }

    /// The next entry with its key still encoded.
    pub fn next_raw(&mut self) -> Option<Result<RawEntry>> {
        self.reader.next_row()
    }
}

impl KvList for ListIterator {
    type Error = StoreError;

    async fn next(&mut self) -> Option<Result<Entry>> {
        self.next_raw()
            .map(|r| r.and_then(|raw| decode_entry(raw).map_err(StoreError::from)))
    }

    fn cursor(&self) -> String {
        self.reader.cursor()
    }
}
