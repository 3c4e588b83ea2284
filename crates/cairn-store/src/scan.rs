//! Reads that return less than whole entries, each from one snapshot: keys-only listings,
//! counts and aggregates of numeric values (`cairn_model::scan`).
//!
//! A count or an aggregate runs in *pages*: `count_page` and `aggregate_page` read from
//! `start` until the range ends or the [`ScanBudget`] is spent, and say where to resume. The
//! embedded [`Kv::count`](cairn_model::Kv::count) runs every page on the same snapshot and
//! yields to the runtime between them; the server answers one page per request (its budget in
//! `cairn-server`'s `limits.rs`), each from the snapshot current when the request arrives.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use cairn_model::{
    decode_key, Aggregate, AggregateOptions, KeyEntry, KvKeyList, Limits, ListOptions,
    ListSelector, ReadRange, Versionstamp,
};

use crate::error::{Result, StorageError, StoreError};
use crate::index::fields;
use crate::limits::SCAN_PAGE_ENTRIES;
use crate::list::{PagedReader, PagedRow};
use crate::record::DataRecord;
use crate::storage::{Keyspace, Scan, Snapshot};

/// Pairs read from storage per scan call.
const SCAN_CHUNK: usize = 4096;

/// How much one page of a count or an aggregate may read.
#[derive(Debug, Clone, Copy)]
pub struct ScanBudget {
    /// Most stored entries read (expired ones included).
    pub entries_max: usize,
    /// When to stop even if entries remain in the budget (checked between chunks of 4,096).
    pub deadline: Option<Instant>,
}

impl ScanBudget {
    /// At most `entries_max` entries, no deadline.
    pub fn entries(entries_max: usize) -> ScanBudget {
        ScanBudget {
            entries_max,
            deadline: None,
        }
    }
}

/// One page of a count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountPage {
    /// Live entries counted in this page.
    pub count: u64,
    /// Where the next page starts (inclusive); `None` when the range is done.
    pub resume: Option<Vec<u8>>,
}

/// One page of an aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatePage {
    /// The aggregate of this page's live entries.
    pub aggregate: Aggregate,
    /// Where the next page starts (inclusive); `None` when the range is done.
    pub resume: Option<Vec<u8>>,
}

/// A key as stored, with its versionstamp (what the server's keys-only read sends on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawKey {
    /// Encoded key.
    pub key: Vec<u8>,
    /// The commit that wrote it.
    pub versionstamp: Versionstamp,
}

/// Visits the stored pairs of `[start, end)` in order until the budget is spent; returns
/// where to resume, if anywhere.
fn visit(
    snapshot: &dyn Snapshot,
    start: &[u8],
    end: &[u8],
    budget: ScanBudget,
    mut each: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<Option<Vec<u8>>> {
    let mut from = start.to_vec();
    let mut read = 0usize;
    loop {
        let want = SCAN_CHUNK
            .min(budget.entries_max.saturating_sub(read))
            .max(1);
        let scan = Scan {
            start: &from,
            end,
            reverse: false,
            limit: want,
        };
        let chunk = snapshot.scan(Keyspace::Data, scan)?;
        let exhausted = chunk.len() < want;
        for (key, bytes) in &chunk {
            each(key, bytes)?;
        }
        read += chunk.len();
        let Some((last, _)) = chunk.last() else {
            return Ok(None);
        };
        if exhausted {
            return Ok(None);
        }
        from = last.clone();
        from.push(0);
        let spent =
            read >= budget.entries_max || budget.deadline.is_some_and(|d| Instant::now() >= d);
        if spent {
            return Ok(Some(from));
        }
    }
}

/// Counts the live entries of `[start, end)`, one page.
pub(crate) fn count_page(
    snapshot: &dyn Snapshot,
    start: &[u8],
    end: &[u8],
    now_ms: u64,
    budget: ScanBudget,
) -> Result<CountPage> {
    let mut count = 0u64;
    let resume = visit(snapshot, start, end, budget, |_, bytes| {
        let (_, expire_at) = DataRecord::decode_header(bytes)?;
        if expire_at.is_none_or(|at| at > now_ms) {
            count += 1;
        }
        Ok(())
    })?;
    Ok(CountPage { count, resume })
}

/// Aggregates the numbers of the live entries of `[start, end)` (or of their field `path`),
/// one page.
pub(crate) fn aggregate_page(
    snapshot: &dyn Snapshot,
    start: &[u8],
    end: &[u8],
    now_ms: u64,
    path: Option<&[String]>,
    budget: ScanBudget,
) -> Result<AggregatePage> {
    let mut aggregate = Aggregate::default();
    let resume = visit(snapshot, start, end, budget, |_, bytes| {
        let record = DataRecord::decode(bytes)?;
        if !record.is_expired(now_ms) {
            aggregate.add(fields::number(&record.value, path));
        }
        Ok(())
    })?;
    Ok(AggregatePage { aggregate, resume })
}

/// Up to `range.limit` live keys of the range, without their values.
pub(crate) fn read_keys(
    snapshot: &dyn Snapshot,
    range: &ReadRange,
    now_ms: u64,
) -> Result<Vec<RawKey>> {
    crate::read::scan_live(snapshot, range, |key, bytes| {
        let (versionstamp, expire_at) = DataRecord::decode_header(bytes)?;
        Ok(expire_at
            .is_none_or(|at| at > now_ms)
            .then_some(RawKey { key, versionstamp }))
    })
}

/// A field path of an aggregate, split at dots; `None` for the values themselves.
pub(crate) fn field_path(options: &AggregateOptions) -> Result<Option<Vec<String>>> {
    match &options.field {
        None => Ok(None),
        Some(field) if field.is_empty() || field.split('.').any(str::is_empty) => {
            Err(StoreError::InvalidArgument(format!(
                "field {field:?} must be names separated by single dots"
            )))
        }
        Some(field) => Ok(Some(field.split('.').map(str::to_owned).collect())),
    }
}

/// Counts `[start, end)` on one snapshot, yielding to the runtime every page.
pub(crate) async fn count_all(
    snapshot: Arc<dyn Snapshot>,
    (start, end): (Vec<u8>, Vec<u8>),
    now_ms: u64,
) -> Result<u64> {
    let mut from = start;
    let mut total = 0u64;
    loop {
        let page = count_page(
            snapshot.as_ref(),
            &from,
            &end,
            now_ms,
            ScanBudget::entries(SCAN_PAGE_ENTRIES),
        )?;
        total += page.count;
        match page.resume {
            Some(next) => {
                from = next;
                YieldNow(false).await;
            }
            None => return Ok(total),
        }
    }
}

/// Aggregates `[start, end)` on one snapshot, yielding to the runtime every page.
pub(crate) async fn aggregate_all(
    snapshot: Arc<dyn Snapshot>,
    (start, end): (Vec<u8>, Vec<u8>),
    now_ms: u64,
    path: Option<Vec<String>>,
) -> Result<Aggregate> {
    let mut from = start;
    let mut total = Aggregate::default();
    loop {
        let budget = ScanBudget::entries(SCAN_PAGE_ENTRIES);
        let page = aggregate_page(
            snapshot.as_ref(),
            &from,
            &end,
            now_ms,
            path.as_deref(),
            budget,
        )?;
        total.merge(&page.aggregate);
        match page.resume {
            Some(next) => {
                from = next;
                YieldNow(false).await;
            }
            None => return Ok(total),
        }
    }
}

/// Pending once, so that other tasks of the runtime run between two pages.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A keys-only listing of the embedded database, from one snapshot (see
/// [`Kv::list_keys`](cairn_model::Kv::list_keys)).
pub struct KeyListIterator {
    reader: PagedReader<RawKey>,
}

impl PagedRow for RawKey {
    fn key(&self) -> &[u8] {
        &self.key
    }
    fn read_page(snapshot: &dyn Snapshot, range: &ReadRange, now_ms: u64) -> Result<Vec<Self>> {
        read_keys(snapshot, range, now_ms)
    }
}

impl KeyListIterator {
    pub(crate) fn new(
        snapshot: Arc<dyn Snapshot>,
        now_ms: u64,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<Self> {
        Ok(KeyListIterator {
            reader: PagedReader::new(snapshot, now_ms, selector, options, limits)?,
        })
    }
}

impl KvKeyList for KeyListIterator {
    type Error = StoreError;

    async fn next(&mut self) -> Option<Result<KeyEntry>> {
        self.reader.next_row().map(|r| {
            r.and_then(|raw| {
                let key = decode_key(&raw.key).map_err(|e| StorageError::Corrupt {
                    keyspace: "data",
                    reason: format!("stored key: {e}"),
                })?;
                Ok(KeyEntry {
                    key,
                    versionstamp: raw.versionstamp,
                })
            })
        })
    }

    fn cursor(&self) -> String {
        self.reader.cursor()
    }
}

impl crate::Database {
    /// One page of a count of `[start, end)` (encoded bounds, as a `ReadRange`'s), from the
    /// published snapshot: what the server answers per request.
    pub fn count_page(&self, start: &[u8], end: &[u8], budget: ScanBudget) -> Result<CountPage> {
        self.check_bounds(start, end)?;
        let snapshot = self.published_snapshot();
        count_page(
            snapshot.as_ref(),
            start,
            end,
            cairn_model::Kv::now_ms(self),
            budget,
        )
    }

    /// One page of an aggregate of `[start, end)`, from the published snapshot.
    pub fn aggregate_page(
        &self,
        start: &[u8],
        end: &[u8],
        options: &AggregateOptions,
        budget: ScanBudget,
    ) -> Result<AggregatePage> {
        self.check_bounds(start, end)?;
        let path = field_path(options)?;
        let snapshot = self.published_snapshot();
        let now = cairn_model::Kv::now_ms(self);
        aggregate_page(snapshot.as_ref(), start, end, now, path.as_deref(), budget)
    }

    /// The live keys of one range, without their values (at most the read limit's entries).
    pub fn read_keys(&self, range: &ReadRange) -> Result<Vec<RawKey>> {
        self.shared().config.limits.check_read(1, range.limit)?;
        self.check_bounds(&range.start, &range.end)?;
        let snapshot = self.published_snapshot();
        read_keys(snapshot.as_ref(), range, cairn_model::Kv::now_ms(self))
    }

    fn check_bounds(&self, start: &[u8], end: &[u8]) -> Result<()> {
        let limits = &self.shared().config.limits;
        limits.check_range_key(start)?;
        limits.check_range_key(end)?;
        Ok(())
    }
}
