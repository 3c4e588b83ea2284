//! Automatic failover: the members of a group elect the primary of its databases through a
//! leader key under an etcd lease (`docs/design/failover.md`).
//!
//! - `etcd.rs`: a small etcd v3 client over etcd's JSON gateway.
//! - `election.rs`: each member's loop — renew its lease, publish its positions, read the
//!   leader, run for leader when none is elected and it is the most up-to-date member.
//! - `roles.rs`: what the loop does to the databases — promote them to the election's
//!   epoch, follow the leader, demote a former leader.
//!
//! The write lease ([`cairn_store::replication::WriteLease`]) is what makes a leader that
//! can no longer renew stop acknowledging before another member can be elected: the
//! pipeline refuses writes and finishes waiting batches unconfirmed once it has passed.

mod election;
pub mod etcd;
mod roles;
mod settings;

use std::sync::Arc;

use cairn_store::replication::WriteLease;
use parking_lot::Mutex;
pub use settings::FailoverSettings;

use crate::App;

/// The last change of leader this member saw.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastFailover {
    /// When it was seen, Unix ms.
    pub time_ms: u64,
    /// The former leader (empty: none known).
    pub from: String,
    /// The new leader.
    pub to: String,
    /// The epoch the new leader was elected for.
    pub epoch: u64,
}

/// How this member stands in its group, for `/metrics`, `cairn stats` and logs.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FailoverStatus {
    /// `leader`, `replica` (a leader is known and followed) or `candidate` (none known).
    pub role: &'static str,
    /// The group's epoch as this member last saw it.
    pub epoch: u64,
    /// The leader's name, when one is known.
    pub leader: Option<String>,
    /// The leader's URL, when one is known.
    pub leader_url: Option<String>,
    /// `held` (a leader with a valid lease), `lost` (a leader whose lease passed) or `none`.
    pub lease: &'static str,
    /// Time left on the write lease, ms (0 unless `held`).
    pub lease_remaining_ms: u64,
    /// The last error talking to etcd, cleared by the next success.
    pub etcd_error: Option<String>,
    /// The last change of leader seen.
    pub last_failover: Option<LastFailover>,
    /// Leader changes seen since start.
    pub failovers: u64,
}

/// A member of a failover group.
pub(crate) struct Failover {
    pub settings: FailoverSettings,
    /// Shared with every database: acknowledgements stop when it passes.
    pub lease: Arc<WriteLease>,
    status: Mutex<FailoverStatus>,
}

impl Failover {
    pub(crate) fn new(settings: FailoverSettings, lease: Arc<WriteLease>) -> Self {
        Failover {
            settings,
            lease,
            status: Mutex::new(FailoverStatus {
                role: "candidate",
                lease: "none",
                ..FailoverStatus::default()
            }),
        }
    }

    /// The member's state now.
    pub(crate) fn status(&self) -> FailoverStatus {
        let mut status = self.status.lock().clone();
        if status.role == "leader" {
            let remaining = self.lease.remaining();
            status.lease = if remaining.is_zero() { "lost" } else { "held" };
            status.lease_remaining_ms = remaining.as_millis() as u64;
        } else {
            status.lease = "none";
        }
        status
    }

    fn update(&self, f: impl FnOnce(&mut FailoverStatus)) {
        f(&mut self.status.lock());
    }
}

/// Starts the member's loop (a tokio task for the server's lifetime).
pub(crate) fn start(app: &Arc<App>) {
    if let Some(failover) = &app.failover {
        for name in &failover.settings.databases {
            // Every database of the group opens as a replica until an election says more.
            app.registry.set_replica(name, "");
        }
        tokio::spawn(election::run(app.clone()));
    }
}

/// The URL of database `name` on the server at `base`.
pub(crate) fn database_url(base: &str, name: &str) -> String {
    if name == crate::registry::DEFAULT_DATABASE {
        base.to_owned()
    } else {
        format!("{base}/db/{name}")
    }
}

/// `/metrics` series of a failover group's member (`cairn_failover_*`).
pub(crate) struct FailoverCollector(pub FailoverStatus);

impl std::fmt::Debug for FailoverCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FailoverCollector")
    }
}

impl prometheus_client::collector::Collector for FailoverCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;
        use prometheus_client::metrics::MetricType::{Counter, Gauge};
        let s = &self.0;
        let gauge = |encoder: &mut prometheus_client::encoding::DescriptorEncoder,
                     name: &str,
                     help: &str,
                     labels: &[(&str, &str)],
                     value: i64| {
            let mut family = encoder.encode_descriptor(name, help, None, Gauge)?;
            ConstGauge::new(value).encode(family.encode_family(&labels.to_vec())?)
        };
        gauge(
            &mut encoder,
            "cairn_failover_role",
            "This member's role in its failover group (1 for the current one)",
            &[("role", s.role)],
            1,
        )?;
        gauge(
            &mut encoder,
            "cairn_failover_epoch",
            "The group's epoch as this member last saw it",
            &[],
            i64::try_from(s.epoch).unwrap_or(i64::MAX),
        )?;
        gauge(
            &mut encoder,
            "cairn_failover_lease",
            "The write lease's state (held, lost or none)",
            &[("state", s.lease)],
            1,
        )?;
        let mut family = encoder.encode_descriptor(
            "cairn_failover_lease_remaining_seconds",
            "Time left on this leader's write lease",
            None,
            Gauge,
        )?;
        ConstGauge::new(s.lease_remaining_ms as f64 / 1000.0)
            .encode(family.encode_family(&Vec::<(&str, &str)>::new())?)?;
        gauge(
            &mut encoder,
            "cairn_failover_leader",
            "The leader this member knows (1), by name",
            &[("leader", s.leader.as_deref().unwrap_or(""))],
            i64::from(s.leader.is_some()),
        )?;
        gauge(
            &mut encoder,
            "cairn_failover_etcd_up",
            "Whether the last round reached etcd",
            &[],
            i64::from(s.etcd_error.is_none()),
        )?;
        let mut family = encoder.encode_descriptor(
            "cairn_failover_leader_changes",
            "Changes of leader this member saw since it started",
            None,
            Counter,
        )?;
        ConstCounter::new(s.failovers)
            .encode(family.encode_family(&Vec::<(&str, &str)>::new())?)?;
        if let Some(last) = &s.last_failover {
            gauge(
                &mut encoder,
                "cairn_failover_last_timestamp_seconds",
                "When this member saw the last change of leader, with the former and new leader",
                &[("from", last.from.as_str()), ("to", last.to.as_str())],
                i64::try_from(last.time_ms / 1000).unwrap_or(i64::MAX),
            )?;
        }
        Ok(())
    }
}
