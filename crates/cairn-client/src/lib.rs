//! A Rust client for cairn over KV Connect, the protocol of Deno's KV clients.
//!
//! [`Client`] implements [`cairn_model::Kv`], the trait the embedded database implements too,
//! so code written for a database directory runs unchanged against a server:
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_client::ClientError> {
//! use cairn_client::{Client, Kv};
//! use cairn_model::{key, KvValue};
//!
//! let db = Client::connect("http://127.0.0.1:4512", "my-access-token").await?;
//! db.set(&key!["users", "alice"], KvValue::Bytes(b"hi".to_vec())).await?;
//! let entry = db.get(&key!["users", "alice"]).await?;
//! assert!(entry.is_some());
//! # Ok(()) }
//! ```
//!
//! It speaks to any KV Connect server (cairn, or Deno's reference server `denokv`): the
//! metadata exchange yields a short-lived data token, refreshed before it expires; reads and
//! writes are protobuf over HTTP/1.1 on a pool of kept-alive connections; a watch is one
//! streaming response. Differences from the embedded database, all inherent to a network:
//!
//! - concurrent `get`s share snapshot reads (see `coalesce.rs`): many tasks reading at once
//!   cost a few requests, not one each;
//! - a listing is consistent per batch, not across batches (as with Deno's remote lists);
//! - a server that fails (5xx) or cannot be reached is retried for
//!   [`ClientOptions::retry_budget`]; a *write* is retried only when it provably never
//!   reached the database (no connection, cairn's `421` from a replica, or cairn's `503`
//!   marked `cairn-not-applied: 1`); after no connection or a `421` the metadata exchange
//!   runs again first, so a client follows a failover to the new primary:
//!   after a lost answer or any other 5xx (a proxy's 502/504) it may have committed, and the
//!   caller gets [`ClientError::OutcomeUnknown`];
//! - limits are checked locally only where the request shape needs it (batch sizes, the
//!   number of keys of `get_many`); everything else is the server's to refuse, with its
//!   message in [`ClientError::Refused`].
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod coalesce;
mod error;
pub mod limits;
mod list;
mod queue;
mod scan;
mod session;
mod transport;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use crate::limits::{CLIENT_REQUEST_TIMEOUT_MS, CLIENT_RETRY_BUDGET_MS};
use bytes::Bytes;
use cairn_model::{
    decode_key, AtomicWrite, CommitResult, EnqueueOptions, Entry, Key, Limits, ListOptions,
    ListSelector, ReadRange, Versionstamp,
};
use cairn_proto::messages as pb;
use cairn_proto::{EntryParts, Message};
use hyper::body::Incoming;
use hyper::{Response, Uri};
use parking_lot::RwLock;

pub use cairn_model::{Kv, KvIndexes, KvKeyList, KvList, KvWatch};
pub use error::{ClientError, Result};
pub use list::RemoteList;
pub use queue::{
    Delivery, DeliveryId, NackOutcome, QueueListenOptions, QueueListener, QueueStats, SettleOutcome,
};
pub use scan::RemoteKeyList;
pub use watch::RemoteWatch;

use session::Session;
use transport::{read_body, Attempt, Backoff, Transport};

/// A connection to one database of a KV Connect server. Cheap to clone; clones share the
/// connection pool and the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    url: url::Url,
    access_token: String,
    options: ClientOptions,
    session: RwLock<Arc<Session>>,
    /// Held while the metadata exchange runs, so that concurrent callers run it once.
    refreshing: tokio::sync::Mutex<()>,
    /// Point reads waiting to share a request.
    coalescer: coalesce::Coalescer,
}

/// How a [`Client`] behaves; the defaults are the `CLIENT_*` bounds of
/// [`limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The limits the server enforces, where the client must know them (batch sizes, keys per
    /// `get_many` and watch). Deno's defaults unless the server was configured otherwise.
    pub limits: Limits,
    /// Longest wait for one HTTP exchange before the attempt counts as failed.
    pub request_timeout: Duration,
    /// How long an operation retries a failing (5xx) or unreachable server before
    /// [`ClientError::Unavailable`].
    pub retry_budget: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            limits: Limits::default(),
            request_timeout: Duration::from_millis(CLIENT_REQUEST_TIMEOUT_MS),
            retry_budget: Duration::from_millis(CLIENT_RETRY_BUDGET_MS),
        }
    }
}

/// Which data-path endpoint a request goes to.
#[derive(Clone, Copy)]
enum Path {
    SnapshotRead,
    AtomicWrite,
    Watch,
    /// cairn's queue extension: an index into `Session::queue` (see `queue.rs`).
    Queue(queue::QueuePath),
    /// cairn's scan and index extensions (see `scan.rs`).
    Scan(scan::ScanPath),
}

impl Client {
    /// Connects to the database at `url` (`http://host:port` for the server's default
    /// database, `http://host:port/db/<name>` for another) with an access token, and runs the
    /// metadata exchange, so a wrong URL or token fails here.
    pub async fn connect(url: &str, access_token: &str) -> Result<Client> {
        Self::connect_with(url, access_token, ClientOptions::default()).await
    }

    /// As [`Client::connect`], with options.
    pub async fn connect_with(
        url: &str,
        access_token: &str,
        options: ClientOptions,
    ) -> Result<Client> {
        let url = session::parse_url(url)?;
        let transport = Transport::new(options.request_timeout);
        let session = session::exchange(&transport, &url, access_token, &options).await?;
        Ok(Client {
            inner: Arc::new(Inner {
                transport,
                url,
                access_token: access_token.to_owned(),
                options,
                session: RwLock::new(Arc::new(session)),
                refreshing: tokio::sync::Mutex::new(()),
                coalescer: coalesce::Coalescer::default(),
            }),
        })
    }

    /// The database's id, as the server reported it.
    pub fn database_id(&self) -> String {
        self.inner.session.read().database_id.clone()
    }

    /// The current session, after a new metadata exchange if it is due (or `renew`).
    async fn session(&self, renew: bool) -> Result<Arc<Session>> {
        let current = self.inner.session.read().clone();
        if !renew && !current.is_due() {
            return Ok(current);
        }
        let _exchanging = self.inner.refreshing.lock().await;
        let latest = self.inner.session.read().clone();
        if !Arc::ptr_eq(&latest, &current) {
            // Someone else renewed it while we waited.
            return Ok(latest);
        }
        let fresh = Arc::new(
            session::exchange(
                &self.inner.transport,
                &self.inner.url,
                &self.inner.access_token,
                &self.inner.options,
            )
            .await?,
        );
        *self.inner.session.write() = fresh.clone();
        Ok(fresh)
    }

    /// Sends a data-path request and returns the response once its status is 2xx: retries
    /// within the budget, renews the session once if the data token was refused.
    async fn send(&self, path: Path, body: Bytes, idempotent: bool) -> Result<Response<Incoming>> {
        self.exchange(path, body, idempotent, |response| async move {
            Attempt::Done(response)
        })
        .await
    }

    /// Sends a data-path request and returns its whole response body.
    async fn call(&self, path: Path, body: Vec<u8>, idempotent: bool) -> Result<Bytes> {
        let timeout = self.inner.options.request_timeout;
        self.exchange(path, Bytes::from(body), idempotent, |response| {
            read_body(response, idempotent, timeout)
        })
        .await
    }

    async fn exchange<T, F>(
        &self,
        path: Path,
        body: Bytes,
        idempotent: bool,
        finish: impl Fn(Response<Incoming>) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Attempt<T>>,
    {
        let mut backoff = Backoff::new(self.inner.options.retry_budget);
        let mut renewed = false;
        let mut renew = false;
        // The server may have moved (unreachable, or a replica now): ask the metadata
        // exchange again before the next attempt. It may fail too while a failover group
        // elects its next primary; that is one more failed attempt, within the budget.
        let mut moved = false;
        // A 421 after a fresh exchange: the exchange itself sends writes to a replica (one
        // started with `--replica-endpoints replica`); that refusal stands.
        let mut misdirected_before = false;
        loop {
            let session = match self.session(renew || moved).await {
                Ok(session) => session,
                Err(e) if moved => {
                    backoff.pause(format!("metadata exchange: {e}")).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            renew = false;
            moved = false;
            let uri: &Uri = match path {
                Path::SnapshotRead => &session.snapshot_read,
                Path::AtomicWrite => &session.atomic_write,
                Path::Watch => &session.watch,
                Path::Queue(op) => op.uri(&session),
                Path::Scan(op) => op.uri(&session),
            };
            let sent = self
                .inner
                .transport
                .post(uri, &session.headers, body.clone(), idempotent)
                .await;
            match sent.then(&finish).await {
                Attempt::Done(t) => return Ok(t),
                Attempt::Retry(last) => backoff.pause(last).await?,
                Attempt::Elsewhere {
                    reason,
                    misdirected,
                } => {
                    if misdirected && misdirected_before {
                        return Err(ClientError::Refused {
                            status: 421,
                            message: reason,
                        });
                    }
                    misdirected_before |= misdirected;
                    backoff.pause(reason).await?;
                    moved = true;
                }
                // The data token may have expired or the server restarted with a new secret:
                // one new metadata exchange, then the refusal stands.
                Attempt::Unauthorized { .. } if !renewed => {
                    renewed = true;
                    renew = true;
                }
                Attempt::Unauthorized { status, message } => {
                    return Err(ClientError::Unauthorized { status, message })
                }
                Attempt::Fail(e) => return Err(e),
            }
        }
    }

    /// One snapshot read of several ranges.
    async fn snapshot_read(&self, ranges: Vec<ReadRange>) -> Result<Vec<Vec<EntryParts>>> {
        let expected = ranges.len();
        let request = cairn_proto::snapshot_read_to_proto(ranges).encode_to_vec();
        let bytes = self.call(Path::SnapshotRead, request, true).await?;
        let output: pb::SnapshotReadOutput = decode(&bytes)?;
        if output.read_disabled || output.status == pb::SnapshotReadStatus::SrReadDisabled as i32 {
            return Err(ClientError::ReadDisabled);
        }
        if output.ranges.len() != expected {
            return Err(ClientError::Protocol(format!(
                "asked for {expected} ranges, got {}",
                output.ranges.len()
            )));
        }
        output
            .ranges
            .into_iter()
            .map(|range| {
                range
                    .values
                    .into_iter()
                    .map(|entry| {
                        cairn_proto::kv_entry_from_proto(entry)
                            .map_err(|e| ClientError::Protocol(e.to_string()))
                    })
                    .collect()
            })
            .collect()
    }
}

/// The range of exactly one key, as Deno's clients read it.
fn point_range(key: &Key) -> Result<ReadRange> {
    let start = cairn_model::codec::try_encode_key(key).map_err(cairn_model::RequestError::from)?;
    let mut end = start.clone();
    end.push(0);
    Ok(ReadRange {
        start,
        end,
        limit: 1,
        reverse: false,
    })
}

/// The entry of a key the caller named: the server's key must be that key.
fn point_entry(key: &Key, found: Vec<EntryParts>) -> Option<Entry> {
    found
        .into_iter()
        .next()
        .map(|(_, value, versionstamp)| Entry {
            key: key.clone(),
            value,
            versionstamp,
        })
}

/// An entry as the server sent it, with its key decoded.
pub(crate) fn decode_entry((key, value, versionstamp): EntryParts) -> Result<Entry> {
    let key = decode_key(&key)
        .map_err(|e| ClientError::Protocol(format!("server sent an undecodable key: {e}")))?;
    Ok(Entry {
        key,
        value,
        versionstamp,
    })
}

fn decode<M: Message + Default>(bytes: &[u8]) -> Result<M> {
    cairn_proto::decode(bytes).map_err(|e| ClientError::Protocol(e.to_string()))
}

impl Kv for Client {
    type Error = ClientError;
    type List = RemoteList;
    type Watch = RemoteWatch;
    type QueueListener = QueueListener;
    type KeyList = RemoteKeyList;

    fn list_keys(&self, selector: ListSelector, options: ListOptions) -> Result<RemoteKeyList> {
        RemoteKeyList::new(self.clone(), &selector, options, &self.inner.options.limits)
    }

    /// Through `scan/count`, one request per million entries or so (each from one snapshot).
    async fn count(&self, selector: ListSelector) -> Result<u64> {
        self.count_remote(&selector).await
    }

    /// Through `scan/aggregate`, one request per page (each from one snapshot).
    async fn aggregate(
        &self,
        selector: ListSelector,
        options: cairn_model::AggregateOptions,
    ) -> Result<cairn_model::Aggregate> {
        self.aggregate_remote(&selector, &options).await
    }

    /// [`Client::listen_queue`], with the handler seeing what every `Kv` offers.
    fn listen_queue<F, Fut, E>(
        &self,
        handler: F,
        options: QueueListenOptions,
    ) -> Result<QueueListener>
    where
        F: Fn(cairn_model::QueueDelivery) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let handler =
            move |d: Delivery| handler(cairn_model::QueueDelivery::new(d.payload, d.attempt));
        Client::listen_queue(self, handler, options)
    }

    /// Through `queue/enqueue` (the same commit as `atomic_write` with one enqueue).
    async fn enqueue(&self, payload: Vec<u8>, options: EnqueueOptions) -> Result<CommitResult> {
        Client::enqueue(self, payload, options).await
    }

    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let range = point_range(key)?;
        // Checked here: one read over a limit must not fail the others sharing its request.
        self.inner.options.limits.check_range_key(&range.end)?;
        let found = coalesce::Coalescer::read(self, range).await?;
        Ok(point_entry(key, found))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Entry>>> {
        self.inner.options.limits.check_get_many(keys.len())?;
        let ranges = keys.iter().map(point_range).collect::<Result<Vec<_>>>()?;
        let found = self.snapshot_read(ranges).await?;
        Ok(keys
            .iter()
            .zip(found)
            .map(|(key, entries)| point_entry(key, entries))
            .collect())
    }

    fn list(&self, selector: ListSelector, options: ListOptions) -> Result<RemoteList> {
        RemoteList::new(self.clone(), &selector, options, &self.inner.options.limits)
    }

    async fn atomic_write(&self, write: AtomicWrite) -> Result<CommitResult> {
        let request = cairn_proto::atomic_write_to_proto(write).encode_to_vec();
        let bytes = self.call(Path::AtomicWrite, request, false).await?;
        let output: pb::AtomicWriteOutput = decode(&bytes)?;
        commit_result(output)
    }

    fn watch(&self, keys: Vec<Key>) -> Result<RemoteWatch> {
        self.inner.options.limits.check_watch(keys.len())?;
        RemoteWatch::new(self.clone(), keys)
    }
}

/// The outcome an `AtomicWriteOutput` reports (of `atomic_write` or `queue/enqueue`).
fn commit_result(output: pb::AtomicWriteOutput) -> Result<CommitResult> {
    match pb::AtomicWriteStatus::try_from(output.status) {
        Ok(pb::AtomicWriteStatus::AwSuccess) => {
            let stamp: [u8; 10] = output.versionstamp.as_slice().try_into().map_err(|_| {
                ClientError::Protocol(format!(
                    "versionstamp of {} bytes, not 10",
                    output.versionstamp.len()
                ))
            })?;
            Ok(CommitResult::Committed {
                versionstamp: Versionstamp(stamp),
            })
        }
        Ok(pb::AtomicWriteStatus::AwCheckFailure) => Ok(CommitResult::CheckFailed {
            failed_checks: output.failed_checks,
            reason: (!output.failure_reason.is_empty()).then_some(output.failure_reason),
        }),
        Ok(pb::AtomicWriteStatus::AwWriteDisabled) => Err(ClientError::WriteDisabled),
        _ => Err(ClientError::Protocol(format!(
            "unknown atomic write status {}",
            output.status
        ))),
    }
}
