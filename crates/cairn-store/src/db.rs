//! [`Database`]: opening, reads and writes.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use cairn_model::{
    AtomicWrite, CommitResult, Entry, Key, Kv, ListOptions, ListSelector, ReadRange, Versionstamp,
};
use parking_lot::{Mutex, RwLock};

use crate::changelog::read_changelog;
use crate::config::Config;
use crate::error::{Result, StoreError};
use crate::list::ListIterator;
use crate::meta;
use crate::pipeline::{Admission, Pipeline, Published, Request, Shared, WhenFull};
use crate::queue::hub::QueueHub;
use crate::read::{self, encode_key, RawEntry};
use crate::record::ChangelogRecord;
use crate::replication::Replication;
use crate::storage::{FjallStorage, MemoryStorage, Snapshot, Storage};
use crate::sweeper::Sweeper;
use crate::watch::{Watch, WatchHub};

/// The path that opens an in-memory database, as in Deno.
pub const MEMORY_PATH: &str = ":memory:";

/// An open cairn database. Cheap to clone; every clone is a handle to the same database.
/// The database closes when the last handle is dropped (or at [`Database::close`]): queued
/// writes finish first.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use cairn_store::{Database, Kv, KvValue};
/// use cairn_model::key;
///
/// let db = Database::open_in_memory()?;
/// db.set(&key!["users", "alice"], KvValue::Bytes(b"hi".to_vec())).await?;
/// let entry = db.get(&key!["users", "alice"]).await?.expect("just written");
/// assert_eq!(entry.value, KvValue::Bytes(b"hi".to_vec()));
/// # Ok::<(), cairn_store::StoreError>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<Shared>,
    /// Watchers and queue delivery: subscribers of the pipeline's announcements.
    watch: Arc<WatchHub>,
    queue: Arc<QueueHub>,
    /// `None` once closed. Cloned per request, so closing cannot race a send.
    sender: RwLock<Option<crossbeam_channel::Sender<Request>>>,
    running: Mutex<Option<(Pipeline, Sweeper)>>,
    /// Stopped before the pipeline: it holds a request sender.
    dispatcher: Mutex<Option<crate::queue::dispatcher::Dispatcher>>,
    /// Builds and drops secondary indexes in the background; stopped before the pipeline.
    indexer: Mutex<Option<crate::index::worker::IndexWorker>>,
    /// Bumped after every index request is answered (`Database::wait_index`).
    index_progress: Arc<crate::index::worker::Progress>,
    /// Stopped after the pipeline, so that it ships every published batch.
    archiver: Mutex<Option<crate::archive::Archiver>>,
    database_id: [u8; 16],
    /// The database's directory (`None` in memory): a replica's is marked as such.
    dir: Option<std::path::PathBuf>,
}

impl Inner {
    /// Stops the sweeper, lets the pipeline finish what is queued, and joins its threads.
    fn shut_down(&self) {
        self.sender.write().take();
        if let Some(dispatcher) = self.dispatcher.lock().take() {
            dispatcher.stop();
        }
        if let Some(indexer) = self.indexer.lock().take() {
            indexer.stop();
        }
        if let Some((pipeline, sweeper)) = self.running.lock().take() {
            sweeper.stop();
            pipeline.shutdown();
        }
        if let Some(archiver) = self.archiver.lock().take() {
            archiver.stop();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shut_down();
    }
}

impl Database {
    /// Opens (or creates) the database in directory `path`, or an in-memory one for
    /// `":memory:"`, with the default [`Config`].
    pub fn open(path: impl AsRef<Path>) -> Result<Database> {
        Self::open_with(path, Config::default())
    }

    /// Opens (or creates) a database with `config`.
    pub fn open_with(path: impl AsRef<Path>, config: Config) -> Result<Database> {
        let path = path.as_ref();
        if path.as_os_str() == MEMORY_PATH {
            return Self::open_in_memory_with(config);
        }
        let replica_of = config.replication.replica_of.clone();
        crate::replication::refuse_if_replica(path, replica_of.as_deref())?;
        let storage = FjallStorage::open(path, config.cache_bytes)?;
        let db = Self::open_storage_at(Arc::new(storage), config, Some(path.to_path_buf()))?;
        if let Some(primary) = replica_of {
            crate::replication::mark(path, &primary)?;
        }
        Ok(db)
    }

    /// A new, empty in-memory database.
    pub fn open_in_memory() -> Result<Database> {
        Self::open_in_memory_with(Config::default())
    }

    /// A new, empty in-memory database with `config`.
    pub fn open_in_memory_with(config: Config) -> Result<Database> {
        Self::open_storage(Arc::new(MemoryStorage::new()), config)
    }

    /// Opens a database on any [`Storage`] (tests use this to inject faults).
    pub fn open_storage(storage: Arc<dyn Storage>, config: Config) -> Result<Database> {
        Self::open_storage_at(storage, config, None)
    }

    /// [`Database::open_storage`] of the database in directory `dir`, if it has one.
    fn open_storage_at(
        storage: Arc<dyn Storage>,
        config: Config,
        dir: Option<std::path::PathBuf>,
    ) -> Result<Database> {
        let meta = meta::load_or_init_as(storage.as_ref(), config.replication.database_id)?;
        let starts_empty = meta.commit_version == 0 && meta.stream.position == 0;
        let replication = Replication::new(&config.replication, meta.stream, starts_empty);
        let published = ArcSwap::from_pointee(Published {
            snapshot: storage.snapshot(),
        });
        let shared = Arc::new(Shared {
            storage,
            published,
            poison: Default::default(),
            admission: Admission::new(
                config.commit_queue_bytes_max,
                config.limits.write_bytes_max,
            )?,
            writers_busy: Default::default(),
            completion: Default::default(),
            announcer: Default::default(),
            stats: Arc::new(crate::stats::Stats::new(config.stats)),
            replication,
            config,
        });
        if shared.replication.log.is_some() {
            shared.announcer.want_batches();
        }
        let watch = Arc::new(WatchHub::default());
        let queue = Arc::new(QueueHub::default());
        shared.announcer.subscribe(watch.clone());
        shared.announcer.subscribe(queue.clone());
        shared.announcer.subscribe(shared.stats.clone());
        let io = |e: std::io::Error| {
            StoreError::Storage(crate::error::StorageError::Engine(e.to_string()))
        };
        // A replica archives once it is promoted (until then its primary does).
        let archive = shared
            .config
            .archive
            .clone()
            .filter(|_| shared.replication.is_primary());
        let archiver = match archive {
            Some(archive) => Some(
                crate::archive::Archiver::start(
                    shared.clone(),
                    archive,
                    meta.commit_version,
                    meta.database_id,
                )
                .map_err(io)?,
            ),
            None => None,
        };
        let (pipeline, sender) = Pipeline::start(shared.clone(), &meta).map_err(io)?;
        let sweeper = Sweeper::start(shared.clone(), sender.clone()).map_err(io)?;
        let dispatcher = crate::queue::dispatcher::Dispatcher::start(
            shared.clone(),
            queue.clone(),
            sender.clone(),
        )
        .map_err(io)?;
        let index_progress = Arc::new(tokio::sync::watch::Sender::new(0));
        let indexer = crate::index::worker::IndexWorker::start(
            shared.clone(),
            sender.clone(),
            index_progress.clone(),
        )
        .map_err(io)?;
        Ok(Database {
            inner: Arc::new(Inner {
                shared,
                watch,
                queue,
                sender: RwLock::new(Some(sender)),
                running: Mutex::new(Some((pipeline, sweeper))),
                dispatcher: Mutex::new(Some(dispatcher)),
                indexer: Mutex::new(Some(indexer)),
                index_progress,
                archiver: Mutex::new(archiver),
                database_id: meta.database_id,
                dir,
            }),
        })
    }

    /// Finishes queued writes and stops the database's threads. Other handles fail with
    /// [`StoreError::Closed`] afterwards.
    pub fn close(self) {
        self.inner.shut_down();
    }

    /// The database's id, fixed at creation (a UUID).
    pub fn database_id(&self) -> uuid::Uuid {
        uuid::Uuid::from_bytes(self.inner.database_id)
    }

    fn snapshot(&self) -> Arc<dyn Snapshot> {
        self.inner.shared.published.load().snapshot.clone()
    }

    /// KV Connect's snapshot read: several ranges of encoded keys from one snapshot.
    pub async fn snapshot_read(&self, ranges: &[ReadRange]) -> Result<Vec<Vec<RawEntry>>> {
        let _timer = self
            .inner
            .shared
            .stats
            .read(crate::stats::ReadKind::SnapshotRead);
        let limits = &self.inner.shared.config.limits;
        let entries = ranges.iter().map(|r| r.limit).sum();
        limits.check_read(ranges.len(), entries)?;
        for range in ranges {
            limits.check_range_key(&range.start)?;
            limits.check_range_key(&range.end)?;
        }
        read::snapshot_read(&self.snapshot(), ranges, self.now_ms())
    }

    /// Changelog entries after `after` (exclusive), oldest first, at most `limit`.
    pub fn changelog(
        &self,
        after: Option<Versionstamp>,
        limit: usize,
    ) -> Result<Vec<(Versionstamp, ChangelogRecord)>> {
        read_changelog(self.snapshot().as_ref(), after, limit)
    }

    /// A receiver marked changed each time batches are published from now on (its value is
    /// an internal order, not a versionstamp): what code that follows the changelog waits
    /// on, instead of polling it. Subscribe before reading, so nothing published between the
    /// read and the wait goes unnoticed.
    pub fn published_batches(&self) -> tokio::sync::watch::Receiver<u64> {
        self.shared().announcer.published()
    }

    /// The queue's delivery state (the queue module's primitives use it).
    pub(crate) fn queue_hub(&self) -> &Arc<QueueHub> {
        &self.inner.queue
    }

    /// State shared with the pipeline (the queue module reads the hub and the snapshot).
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// Sends an index request through the pipeline and waits for its answer; then wakes the
    /// index worker and the callers waiting for an index.
    pub(crate) async fn index_request(&self, op: crate::index::IndexOp) -> Result<CommitResult> {
        // Declaring and dropping are writes: the primary's, with its synchronous replicas.
        self.inner.shared.replication.check_writable()?;
        let sender = self.inner.sender.read().clone();
        let sender = sender.ok_or_else(|| StoreError::Closed.not_applied())?;
        let answer = crate::index::worker::submit(&self.inner.shared, &sender, op).await;
        if let Some(indexer) = self.inner.indexer.lock().as_ref() {
            indexer.wake();
        }
        self.inner.index_progress.send_modify(|n| *n += 1);
        answer
    }

    /// True once closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.inner.sender.read().is_none()
    }

    /// Bumped after every index request is answered.
    pub(crate) fn index_progress(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.index_progress.subscribe()
    }

    /// The published snapshot (scans and the index catalog read it).
    pub(crate) fn published_snapshot(&self) -> Arc<dyn Snapshot> {
        self.snapshot()
    }

    /// Commits a queue op and waits for its answer (queue state changes use this). Waits for
    /// room in the commit queue asynchronously, like [`Kv::atomic_write`].
    pub(crate) async fn send_request(
        &self,
        op: crate::queue::ops::QueueOp,
    ) -> Result<crate::pipeline::reply::Answer> {
        let cost = crate::pipeline::queue_op_cost(&op);
        let (reply, answer) = self.admit(cost, WhenFull::Wait).await?;
        self.send(Request::Queue {
            op,
            reply: Some(reply),
        })?;
        Ok(answer)
    }

    /// As [`Kv::atomic_write`], but when the commit queue is full
    /// ([`Config::commit_queue_bytes_max`] bytes, or `COMMIT_QUEUE_DEPTH` writes, waiting
    /// for their answer) refuses at once with [`StoreError::Overloaded`] instead of waiting
    /// for room. A refused write was never queued: nothing of it is applied. The server uses
    /// this, so that a database whose disk cannot keep up holds no more than its queue.
    pub async fn try_atomic_write(&self, write: AtomicWrite) -> Result<CommitResult> {
        self.commit(write, WhenFull::Refuse).await
    }

    /// Validates, admits (waiting or not), queues and awaits one atomic write.
    async fn commit(&self, write: AtomicWrite, when_full: WhenFull) -> Result<CommitResult> {
        let stats = &self.inner.shared.stats;
        write
            .validate(&self.inner.shared.config.limits, self.now_ms())
            .inspect_err(|_| stats.commit_rejected())?;
        let cost = crate::pipeline::write_cost(&write);
        let (reply, answer) = self
            .admit(cost, when_full)
            .await
            .inspect_err(|e| stats.commit_refused(e))?;
        let guard = stats.commit_submitted(&write);
        self.send(Request::Commit { write, reply })
            .inspect_err(|e| stats.commit_refused(e))?;
        guard.answered(answer.await)
    }

    /// A place in the commit queue for a request of `cost` bytes, held by the reply until
    /// the request is answered.
    async fn admit(
        &self,
        cost: usize,
        when_full: WhenFull,
    ) -> Result<(crate::pipeline::Reply, crate::pipeline::reply::Answer)> {
        // Refusals before submission are `NotApplied` (or `Overloaded`): the server may
        // promise the client that nothing was written (see `StoreError::NotApplied`).
        let shared = &self.inner.shared;
        shared.poison.check().map_err(StoreError::not_applied)?;
        shared.replication.check_writable()?;
        let ticket = shared.admission.admit(cost, when_full).await?;
        // Poisoned while waiting: refuse before queueing.
        shared.poison.check().map_err(StoreError::not_applied)?;
        Ok(crate::pipeline::reply::channel_holding(ticket))
    }

    /// Submits one of the database's own requests (replication, promotion) of `cost` bytes,
    /// without the checks of a caller's write (a replica takes these), waiting for room.
    pub(crate) async fn submit_internal(
        &self,
        cost: usize,
        request: impl FnOnce(crate::pipeline::Reply) -> Request,
    ) -> Result<crate::pipeline::reply::Answer> {
        let shared = &self.inner.shared;
        shared.poison.check().map_err(StoreError::not_applied)?;
        let ticket = shared.admission.admit(cost, WhenFull::Wait).await?;
        let (reply, answer) = crate::pipeline::reply::channel_holding(ticket);
        self.send(request(reply))?;
        Ok(answer)
    }

    /// The database's directory, if it has one.
    pub(crate) fn dir(&self) -> Option<&std::path::Path> {
        self.inner.dir.as_deref()
    }

    /// Tells the index worker to look for work (a promoted replica continues the builds and
    /// drops its primary left unfinished).
    pub(crate) fn wake_indexer(&self) {
        if let Some(indexer) = self.inner.indexer.lock().as_ref() {
            indexer.wake();
        }
    }

    /// Starts continuous archiving now (a replica, once promoted), if configured and not
    /// running.
    pub(crate) fn start_archiving(&self) -> Result<()> {
        let shared = &self.inner.shared;
        let Some(archive) = shared.config.archive.clone() else {
            return Ok(());
        };
        let mut slot = self.inner.archiver.lock();
        if slot.is_some() {
            return Ok(());
        }
        let at = self.stream_position();
        let commit_version = match shared
            .published
            .load()
            .snapshot
            .get(crate::storage::Keyspace::Meta, meta::COMMIT_VERSION_KEY)?
        {
            Some(bytes) => crate::record::Reader::new(&bytes, "meta").u64()?,
            None => 0,
        };
        tracing::info!(%at, commit_version, "archiving starts");
        let archiver = crate::archive::Archiver::start(
            shared.clone(),
            archive,
            commit_version,
            self.inner.database_id,
        )
        .map_err(|e| StoreError::Storage(crate::error::StorageError::Engine(e.to_string())))?;
        *slot = Some(archiver);
        Ok(())
    }

    /// Queues an admitted request; never blocks (see `Admission::send`).
    fn send(&self, request: Request) -> Result<()> {
        let sender = self.inner.sender.read().clone();
        let sender = sender.ok_or_else(|| StoreError::Closed.not_applied())?;
        self.inner.shared.admission.send(&sender, request)
    }

    /// The live entry of `key` and when it expires (milliseconds since the Unix epoch, on the
    /// database's clock; `None` = never), read from the published snapshot like
    /// [`Kv::get`]. The expiry is what a write's `expire_in` set; front ends that report it
    /// (the Redis protocol's `TTL`, or keeping it across a rewrite) read it here.
    pub fn get_with_expiry(&self, key: &Key) -> Result<Option<(Entry, Option<u64>)>> {
        let encoded = encode_key(key)?;
        let snapshot = self.snapshot();
        let Some(bytes) = snapshot.get(crate::storage::Keyspace::Data, &encoded)? else {
            return Ok(None);
        };
        let record = crate::record::DataRecord::decode(&bytes)?;
        if record.is_expired(self.now_ms()) {
            return Ok(None);
        }
        let entry = Entry {
            key: key.clone(),
            value: record.value,
            versionstamp: record.versionstamp,
        };
        Ok(Some((entry, record.expire_at_ms)))
    }

    /// Writes admitted to the commit pipeline and not yet answered, and their bytes (as
    /// counted against [`Config::commit_queue_bytes_max`]).
    pub fn commit_queue_usage(&self) -> (usize, usize) {
        self.inner.shared.admission.usage()
    }

    /// Requests waiting for the evaluator (the sequencer's queue), for `stats`.
    pub(crate) fn commit_queue_depth(&self) -> u64 {
        self.inner
            .sender
            .read()
            .as_ref()
            .map_or(0, |s| s.len() as u64)
    }

    /// How continuous archiving is doing (`None` when the database does not archive).
    pub fn archive_status(&self) -> Option<crate::archive::ArchiveStatus> {
        self.inner.archiver.lock().as_ref().map(|a| a.status())
    }

    /// Why the database refuses writes, if it does.
    pub fn poisoned(&self) -> Option<StoreError> {
        self.inner.shared.poison.check().err()
    }

    /// The expiry sweeper's backlog: how many expired entries wait to be physically removed
    /// (invisible to reads already, but still stored and stepped over by scans). It counts
    /// the expiry index entries whose time has come, from where the sweeper has removed
    /// every one, in the published snapshot; stale index entries of rewritten keys count too
    /// (the sweeper removes them as well). An estimate: an entry written with an expire-at
    /// already past, behind the sweeper's position, is counted only once a periodic sweep
    /// from the beginning reaches it. The count stops at [`EXPIRY_BACKLOG_COUNT_MAX`], so a
    /// call costs at most that many index reads; 0 means the sweeper has caught up.
    ///
    /// [`EXPIRY_BACKLOG_COUNT_MAX`]: crate::EXPIRY_BACKLOG_COUNT_MAX
    pub fn expiry_backlog(&self) -> Result<u64> {
        let progress = match self.inner.running.lock().as_ref() {
            Some((_, sweeper)) => sweeper.progress(),
            None => return Err(StoreError::Closed),
        };
        crate::sweeper::backlog(&self.inner.shared, &progress)
    }
}

/// The database API (see [`Kv`]): reads from the published snapshot, writes through the
/// pipeline.
impl Kv for Database {
    type Error = StoreError;
    type List = ListIterator;
    type Watch = Watch;
    type QueueListener = crate::QueueListener;
    type KeyList = crate::scan::KeyListIterator;

    /// Lists keys from one snapshot, without reading their values.
    fn list_keys(
        &self,
        selector: ListSelector,
        options: ListOptions,
    ) -> Result<crate::scan::KeyListIterator> {
        crate::scan::KeyListIterator::new(
            self.snapshot(),
            self.now_ms(),
            &selector,
            options,
            &self.inner.shared.config.limits,
        )
    }

    /// Counts on one snapshot, in pages between which other tasks run.
    async fn count(&self, selector: ListSelector) -> Result<u64> {
        let range = selector.range()?;
        crate::scan::count_all(self.snapshot(), range, self.now_ms()).await
    }

    /// Aggregates on one snapshot, in pages between which other tasks run.
    async fn aggregate(
        &self,
        selector: ListSelector,
        options: cairn_model::AggregateOptions,
    ) -> Result<cairn_model::Aggregate> {
        let path = crate::scan::field_path(&options)?;
        let range = selector.range()?;
        crate::scan::aggregate_all(self.snapshot(), range, self.now_ms(), path).await
    }

    /// [`Database::listen_queue`], with the handler seeing what every `Kv` offers.
    fn listen_queue<F, Fut, E>(
        &self,
        handler: F,
        options: crate::QueueListenOptions,
    ) -> Result<crate::QueueListener>
    where
        F: Fn(cairn_model::QueueDelivery) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = std::result::Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let handler = move |d: crate::Delivery| {
            let attempt = d.attempt();
            handler(cairn_model::QueueDelivery::new(d.payload, attempt))
        };
        Database::listen_queue(self, handler, options)
    }

    async fn get(&self, key: &Key) -> Result<Option<Entry>> {
        let _timer = self.inner.shared.stats.read(crate::stats::ReadKind::Get);
        let encoded = encode_key(key)?;
        let published = self.inner.shared.published.load();
        let raw = read::get(published.snapshot.as_ref(), &encoded, self.now_ms())?;
        // The caller's key is the stored key: no need to decode it back.
        Ok(raw.map(|r| Entry {
            key: key.clone(),
            value: r.value,
            versionstamp: r.versionstamp,
        }))
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Entry>>> {
        let _timer = self
            .inner
            .shared
            .stats
            .read(crate::stats::ReadKind::GetMany);
        self.inner.shared.config.limits.check_get_many(keys.len())?;
        read::entries(&self.inner.shared.published, keys, self.now_ms())
    }

    /// Lists entries from one snapshot: the whole listing is consistent.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use cairn_store::{Database, Kv, KvList, KvValue, ListOptions, ListSelector};
    /// use cairn_model::key;
    ///
    /// let db = Database::open_in_memory()?;
    /// for i in 0..3u64 {
    ///     db.set(&key!["n", i], KvValue::U64(i)).await?;
    /// }
    /// let mut it = db.list(ListSelector::Prefix(key!["n"]), ListOptions { reverse: true, ..Default::default() })?;
    /// let first = it.next().await.expect("three entries")?;
    /// assert_eq!(first.value, KvValue::U64(2));
    /// # Ok::<(), cairn_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    fn list(&self, selector: ListSelector, options: ListOptions) -> Result<ListIterator> {
        let _timer = self.inner.shared.stats.read(crate::stats::ReadKind::List);
        ListIterator::new(
            self.snapshot(),
            self.now_ms(),
            &selector,
            options,
            &self.inner.shared.config.limits,
        )
    }

    /// Commits `write`. When the commit queue is full
    /// ([`Config::commit_queue_bytes_max`]), waits for room without blocking the thread:
    /// other tasks, reads and other databases go on meanwhile. See also
    /// [`Database::try_atomic_write`].
    async fn atomic_write(&self, write: AtomicWrite) -> Result<CommitResult> {
        self.commit(write, WhenFull::Wait).await
    }

    /// Watches up to `Limits::watch_keys_max` keys: the first [`KvWatch::next`](cairn_model::KvWatch::next) returns their
    /// entries at once, each later one when a commit (or an expiry removal) changed one.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use cairn_store::{Database, Kv, KvValue, KvWatch};
    /// use cairn_model::key;
    ///
    /// let db = Database::open_in_memory()?;
    /// let mut watch = db.watch(vec![key!["light"]])?;
    /// assert_eq!(watch.next().await?[0], None);
    /// db.set(&key!["light"], KvValue::Bytes(b"on".to_vec())).await?;
    /// let now = watch.next().await?;
    /// assert_eq!(now[0].as_ref().map(|e| &e.value), Some(&KvValue::Bytes(b"on".to_vec())));
    /// # Ok::<(), cairn_store::StoreError>(())
    /// # }).unwrap();
    /// ```
    fn watch(&self, keys: Vec<Key>) -> Result<Watch> {
        Watch::new(self.inner.shared.clone(), self.inner.watch.clone(), keys)
    }

    fn now_ms(&self) -> u64 {
        self.inner.shared.config.clock.now_ms()
    }
}
