//! Keys-only listings, counts, aggregates and index management over cairn's extension
//! endpoints (`docs/protocol.md` §10, §11).
//!
//! A keys-only listing pages through `scan/keys` with the shared [`ListPager`], consistent per
//! batch like [`crate::RemoteList`]. A count or an aggregate sends `scan/count` or
//! `scan/aggregate` until the server says the range is done: each request is answered from
//! one snapshot, so a range the server finishes in one request (up to a million entries) is
//! counted consistently, and a longer one is the sum of consistent pages. All of them are
//! reads, retried like `snapshot_read`; creating and dropping an index may be repeated
//! harmlessly, so they are retried too.

use cairn_model::{
    decode_key, Aggregate, AggregateOptions, IndexInfo, IndexSpec, KeyEntry, KvIndexes, KvKeyList,
    Limits, ListOptions, ListSelector, ReadRange, Versionstamp,
};
use cairn_proto::scan as s;
use cairn_proto::{messages as pb, Message};
use hyper::Uri;

use crate::error::{ClientError, Result};
use crate::list::{Page, PagedReader};
use crate::session::Session;
use crate::{decode, Client, Path};

/// The scan and index endpoints, in the order of `Session::scan` then `Session::index`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ScanPath {
    Keys,
    Count,
    Aggregate,
    IndexCreate,
    IndexDrop,
    IndexList,
}

impl ScanPath {
    pub(crate) fn uri(self, session: &Session) -> &Uri {
        let [keys, count, aggregate] = &session.scan;
        let [create, drop, list] = &session.index;
        match self {
            ScanPath::Keys => keys,
            ScanPath::Count => count,
            ScanPath::Aggregate => aggregate,
            ScanPath::IndexCreate => create,
            ScanPath::IndexDrop => drop,
            ScanPath::IndexList => list,
        }
    }
}

fn protocol(e: impl std::fmt::Display) -> ClientError {
    ClientError::Protocol(e.to_string())
}

impl Client {
    async fn scan_call<M: Message + Default>(&self, path: ScanPath, body: Vec<u8>) -> Result<M> {
        let bytes = self.call(Path::Scan(path), body, true).await?;
        decode(&bytes)
    }

    /// The number of live entries under `selector`: see [`cairn_model::Kv::count`].
    pub(crate) async fn count_remote(&self, selector: &ListSelector) -> Result<u64> {
        let (mut start, end) = selector.range()?;
        let mut total = 0u64;
        loop {
            let body = s::ScanCount {
                start: start.clone(),
                end: end.clone(),
            }
            .encode_to_vec();
            let page: s::ScanCountOutput = self.scan_call(ScanPath::Count, body).await?;
            total += page.count;
            if page.resume_start.is_empty() {
                return Ok(total);
            }
            if page.resume_start <= start {
                return Err(protocol("scan/count did not advance"));
            }
            start = page.resume_start;
        }
    }

    /// The aggregate of the numbers under `selector`: see [`cairn_model::Kv::aggregate`].
    pub(crate) async fn aggregate_remote(
        &self,
        selector: &ListSelector,
        options: &AggregateOptions,
    ) -> Result<Aggregate> {
        let (mut start, end) = selector.range()?;
        let mut total = Aggregate::default();
        loop {
            let body = s::ScanAggregate {
                start: start.clone(),
                end: end.clone(),
                field: options.field.clone().unwrap_or_default(),
            }
            .encode_to_vec();
            let page: s::ScanAggregateOutput = self.scan_call(ScanPath::Aggregate, body).await?;
            let (aggregate, resume) = s::aggregate_from_proto(&page).map_err(protocol)?;
            total.merge(&aggregate);
            match resume {
                None => return Ok(total),
                Some(next) if next <= start => {
                    return Err(protocol("scan/aggregate did not advance"))
                }
                Some(next) => start = next,
            }
        }
    }
}

/// Index management through the server's `index/*` endpoints (read-write token for create
/// and drop).
impl KvIndexes for Client {
    async fn create_index(&self, spec: IndexSpec) -> Result<IndexInfo> {
        spec.validate()?;
        let body = s::index_spec_to_proto(&spec)
            .map_err(protocol)?
            .encode_to_vec();
        let info: s::IndexInfoMessage = self.scan_call(ScanPath::IndexCreate, body).await?;
        s::index_info_from_proto(&info).map_err(protocol)
    }

    async fn drop_index(&self, name: &str) -> Result<bool> {
        let body = s::IndexDrop {
            name: name.to_owned(),
        }
        .encode_to_vec();
        let output: s::IndexDropOutput = self.scan_call(ScanPath::IndexDrop, body).await?;
        Ok(output.dropped)
    }

    async fn indexes(&self) -> Result<Vec<IndexInfo>> {
        let body = s::IndexList {}.encode_to_vec();
        let output: s::IndexListOutput = self.scan_call(ScanPath::IndexList, body).await?;
        output
            .indexes
            .iter()
            .map(|i| s::index_info_from_proto(i).map_err(protocol))
            .collect()
    }
}

/// A keys-only listing in progress against a server; see [`cairn_model::Kv::list_keys`].
/// Each batch is one request, so a listing is consistent per batch.
pub struct RemoteKeyList {
    reader: PagedReader<(Vec<u8>, Versionstamp)>,
}

impl RemoteKeyList {
    pub(crate) fn new(
        client: Client,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<RemoteKeyList> {
        Ok(RemoteKeyList {
            reader: PagedReader::new(client, selector, options, limits)?,
        })
    }
}

impl Page for (Vec<u8>, Versionstamp) {
    const WHAT: &'static str = "keys";
    fn key(&self) -> &[u8] {
        &self.0
    }
    async fn read(client: &Client, range: ReadRange) -> Result<Vec<Self>> {
        let body = s::ScanKeys {
            range: Some(pb::ReadRange {
                start: range.start,
                end: range.end,
                limit: i32::try_from(range.limit).unwrap_or(i32::MAX),
                reverse: range.reverse,
            }),
        }
        .encode_to_vec();
        let output: s::ScanKeysOutput = client.scan_call(ScanPath::Keys, body).await?;
        output
            .keys
            .into_iter()
            .map(|k| {
                let stamp: [u8; 10] = k.versionstamp.as_slice().try_into().map_err(|_| {
                    protocol(format!(
                        "versionstamp of {} bytes, not 10",
                        k.versionstamp.len()
                    ))
                })?;
                Ok((k.key, Versionstamp(stamp)))
            })
            .collect()
    }
}

impl KvKeyList for RemoteKeyList {
    type Error = ClientError;

    async fn next(&mut self) -> Option<Result<KeyEntry>> {
        let (key, versionstamp) = match self.reader.next_row().await? {
            Ok(row) => row,
            Err(e) => return Some(Err(e)),
        };
        Some(
            decode_key(&key)
                .map(|key| KeyEntry { key, versionstamp })
                .map_err(|e| protocol(format!("server sent an undecodable key: {e}"))),
        )
    }

    fn cursor(&self) -> String {
        self.reader.cursor()
    }
}
