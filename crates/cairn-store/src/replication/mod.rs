//! Replication at the storage level: a primary's stream of durable batches, a replica's
//! apply path, synchronous acknowledgement, epochs and promotion (design in
//! `docs/design/replication.md`).
//!
//! - **Primary.** Every storage batch gets the next [`StreamPosition`] in its own `meta`
//!   (`history.rs`). Once durable, and before it is published or answered, the batch goes
//!   into the database's [`StreamLog`] (`log.rs`), from which the server streams it to
//!   replicas in the archive's record format. With [`ReplicationConfig::sync_replicas`] `K`,
//!   the batch's callers are answered only once `K` replicas have acknowledged it
//!   ([`SyncGate`], `gate.rs`).
//! - **Replica.** [`crate::Database::replicate`] hands received batches to the pipeline,
//!   which applies them byte for byte to storage (the primary's position and epoch come with
//!   them, so a replica's position is durable exactly with the batch), makes them durable with
//!   one sync and publishes them to readers and watchers. Writes, queue deliveries, expiry
//!   sweeps and changelog trimming are the primary's: a replica refuses or skips them.
//! - **Promotion.** [`crate::Database::promote`] turns a replica into a primary: a batch that
//!   starts the next epoch ([`EpochHistory`]), carried in every later batch's position.

mod api;
mod gate;
pub mod history;
mod lease;
pub mod log;
mod marker;
pub mod wire;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

pub use api::{directory_history, directory_position};
pub use gate::{ReplicaInfo, SyncGate};
pub use history::{EpochHistory, StreamPosition};
pub use lease::WriteLease;
pub use log::{ReadError, StreamLog, StreamRecord};
pub use marker::MARKER_FILE;
pub(crate) use marker::{clear as clear_marker, mark, refuse_if_replica};
pub use wire::{Frame, FrameReader};

use crate::error::{Result, StoreError};
use crate::stats::{Histogram, HistogramSnapshot, LATENCY_BUCKETS_NS};

/// Replication settings of one database ([`crate::Config::replication`]).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ReplicationConfig {
    /// Open the database as a replica of this primary (its URL, for messages and for the
    /// metadata exchange); `None`: a primary.
    pub replica_of: Option<String>,
    /// Keep the stream of durable batches for replicas, about this many bytes of the newest
    /// ([`StreamLog`]); `None`: keep none (no replica can follow this database).
    pub stream_retained_bytes: Option<u64>,
    /// Replicas that must have a batch durable before its callers are answered (0: none).
    /// Applies while the database is a primary.
    pub sync_replicas: usize,
    /// Longest a batch waits for `sync_replicas` acknowledgements after its local sync, ms;
    /// then its callers get [`StoreError::ReplicationUnconfirmed`].
    pub sync_timeout_ms: u64,
    /// The id a new replica's directory is created with (its primary's); an existing
    /// directory holding another database is refused.
    pub database_id: Option<[u8; 16]>,
    /// A failover group's write lease (`None`: no failover group). While it is not valid,
    /// a primary refuses writes and finishes waiting batches unconfirmed, and a replica's
    /// refusal says "not the primary" as a retryable 503 rather than a 421.
    pub lease: Option<Arc<WriteLease>>,
}

impl ReplicationConfig {
    /// The database id the directory must hold (created with it when new).
    pub fn database_id(mut self, id: [u8; 16]) -> Self {
        self.database_id = Some(id);
        self
    }

    /// Sets the database to follow `primary`.
    pub fn replica_of(mut self, primary: impl Into<String>) -> Self {
        self.replica_of = Some(primary.into());
        self
    }

    /// Keeps about `bytes` of the stream for replicas.
    pub fn stream(mut self, bytes: u64) -> Self {
        self.stream_retained_bytes = Some(bytes);
        self
    }

    /// Acknowledges writes only while `lease` holds (a failover group's member).
    pub fn lease(mut self, lease: Arc<WriteLease>) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Answers commits only once `replicas` replicas have them durable, waiting at most
    /// `timeout_ms`.
    pub fn sync(mut self, replicas: usize, timeout_ms: u64) -> Self {
        self.sync_replicas = replicas;
        self.sync_timeout_ms = timeout_ms;
        self
    }
}

/// What a database is in its replication group.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Role {
    /// Accepts writes.
    Primary,
    /// Follows a primary; refuses writes.
    Replica {
        /// The primary's URL.
        primary: String,
    },
}

impl Role {
    /// `primary` or `replica` (metric labels, `cairn stats`).
    pub fn name(&self) -> &'static str {
        match self {
            Role::Primary => "primary",
            Role::Replica { .. } => "replica",
        }
    }
}

/// How replication stands, for metrics and `cairn stats`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ReplicationStatus {
    /// Primary or replica.
    pub role: Role,
    /// The newest batch published to readers.
    pub published: StreamPosition,
    /// Replica: the newest position its primary reported (0 before it connected).
    pub primary_position: u64,
    /// Replica: time from a batch's durability on the primary to its publication here, in
    /// nanoseconds (clocks of two machines: as good as their agreement).
    pub lag: HistogramSnapshot,
    /// Replica: age of the newest batch applied when it was applied, ms.
    pub lag_ms_last: u64,
    /// Primary: replicas connected now.
    pub replicas: Vec<ReplicaInfo>,
    /// Primary: replicas that must confirm a batch (`--sync-replicas`).
    pub sync_replicas: usize,
    /// Primary: the position `sync_replicas` replicas have durable.
    pub sync_frontier: u64,
    /// Primary: batches finished without `sync_replicas` confirmations (their callers got
    /// `ReplicationUnconfirmed`).
    pub unconfirmed_batches: u64,
}

/// A database's replication state, shared by the pipeline and the `Database` handles.
pub(crate) struct Replication {
    role: ArcSwap<Role>,
    /// The stream kept for replicas, when configured.
    pub(crate) log: Option<Arc<StreamLog>>,
    /// The connected replicas and their acknowledgements, when there is a stream or
    /// `sync_replicas > 0`.
    pub(crate) gate: Option<Arc<SyncGate>>,
    published: parking_lot::Mutex<StreamPosition>,
    primary_position: AtomicU64,
    lag: Histogram,
    lag_ms_last: AtomicU64,
    unconfirmed: AtomicU64,
    /// The failover group's write lease, if any.
    pub(crate) lease: Option<Arc<WriteLease>>,
}

impl Replication {
    pub(crate) fn new(config: &ReplicationConfig, at: StreamPosition, starts_empty: bool) -> Self {
        let role = match &config.replica_of {
            Some(primary) => Role::Replica {
                primary: primary.clone(),
            },
            None => Role::Primary,
        };
        Replication {
            role: ArcSwap::from_pointee(role),
            log: config
                .stream_retained_bytes
                .map(|bytes| Arc::new(StreamLog::new(at, bytes, starts_empty))),
            // Replicas register with the gate whenever there is a stream to follow, also
            // without synchronous replication (the metadata exchange lists them).
            gate: (config.sync_replicas > 0 || config.stream_retained_bytes.is_some())
                .then(|| Arc::new(SyncGate::new(config.sync_replicas, config.sync_timeout_ms))),
            published: parking_lot::Mutex::new(at),
            primary_position: AtomicU64::new(0),
            lag: Histogram::new(&LATENCY_BUCKETS_NS),
            lag_ms_last: AtomicU64::new(0),
            unconfirmed: AtomicU64::new(0),
            lease: config.lease.clone(),
        }
    }

    pub(crate) fn role(&self) -> Arc<Role> {
        self.role.load_full()
    }

    pub(crate) fn is_primary(&self) -> bool {
        matches!(**self.role.load(), Role::Primary)
    }

    pub(crate) fn become_primary(&self) {
        self.role.store(Arc::new(Role::Primary));
    }

    /// A replica follows another primary from now on (a failover group's new leader).
    pub(crate) fn set_primary_url(&self, primary: &str) -> bool {
        if self.is_primary() {
            return false;
        }
        self.role.store(Arc::new(Role::Replica {
            primary: primary.to_owned(),
        }));
        true
    }

    /// False when a failover group's lease does not hold at `now`: nothing may be
    /// acknowledged (always true outside a failover group).
    pub(crate) fn lease_valid_at(&self, now: std::time::Instant) -> bool {
        self.lease.as_ref().is_none_or(|l| l.valid_at(now))
    }

    /// The gate, while it applies (a primary with synchronous replicas).
    pub(crate) fn active_gate(&self) -> Option<&Arc<SyncGate>> {
        self.gate
            .as_ref()
            .filter(|g| g.required > 0 && self.is_primary())
    }

    /// The position synchronous replicas have durable: `u64::MAX` when none are required.
    pub(crate) fn frontier(&self) -> u64 {
        self.active_gate().map_or(u64::MAX, |g| g.frontier())
    }

    /// Refuses a write before it enters the pipeline: a replica takes none, and a primary
    /// with synchronous replicas none while too few are connected.
    pub(crate) fn check_writable(&self) -> Result<()> {
        if let Role::Replica { primary } = &**self.role.load() {
            if self.lease.is_some() {
                let primary = if primary.is_empty() {
                    "no primary is elected at the moment".to_owned()
                } else {
                    format!("it is a replica of {primary}")
                };
                return Err(StoreError::NotLeader(primary).not_applied());
            }
            return Err(StoreError::ReadOnlyReplica {
                primary: primary.clone(),
            });
        }
        if !self.lease_valid_at(std::time::Instant::now()) {
            return Err(StoreError::NotLeader(
                "its lease as the group's primary is not held (the coordinator is \
                 unreachable, or another member leads)"
                    .into(),
            )
            .not_applied());
        }
        if let Some(gate) = self.active_gate() {
            let connected = gate.connected();
            if connected < gate.required {
                return Err(StoreError::ReplicasUnavailable(format!(
                    "{connected} of the {} synchronous replicas this database requires are \
                     connected",
                    gate.required
                ))
                .not_applied());
            }
        }
        Ok(())
    }

    pub(crate) fn set_published(&self, at: StreamPosition) {
        let mut published = self.published.lock();
        if at.position >= published.position {
            *published = at;
        }
    }

    pub(crate) fn published(&self) -> StreamPosition {
        *self.published.lock()
    }

    pub(crate) fn unconfirmed(&self, batches: u64) {
        self.unconfirmed.fetch_add(batches, Ordering::Relaxed);
    }

    /// Replica: a batch written on the primary at `time_ms` is published here at `now_ms`.
    pub(crate) fn applied_lag(&self, time_ms: u64, now_ms: u64) {
        let lag_ms = now_ms.saturating_sub(time_ms);
        self.lag_ms_last.store(lag_ms, Ordering::Relaxed);
        self.lag.record(lag_ms.saturating_mul(1_000_000));
    }

    pub(crate) fn saw_primary_position(&self, position: u64) {
        self.primary_position.fetch_max(position, Ordering::Relaxed);
    }

    pub(crate) fn status(&self) -> ReplicationStatus {
        let gate = self.gate.as_ref();
        ReplicationStatus {
            role: (*self.role()).clone(),
            published: self.published(),
            primary_position: self.primary_position.load(Ordering::Relaxed),
            lag: self.lag.snapshot(),
            lag_ms_last: self.lag_ms_last.load(Ordering::Relaxed),
            replicas: gate.map_or_else(Vec::new, |g| g.replicas()),
            sync_replicas: gate.map_or(0, |g| g.required),
            sync_frontier: gate.map_or(0, |g| g.frontier()),
            unconfirmed_batches: self.unconfirmed.load(Ordering::Relaxed),
        }
    }
}
