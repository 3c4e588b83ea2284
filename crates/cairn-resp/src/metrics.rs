//! The Redis front end's own figures, in the server's `/metrics` beside the databases' and
//! KV Connect's (registered with cairn-server's `FrontEndMetrics` when the listener starts):
//! connections, commands by name, error replies, protocol errors. Counting costs a relaxed
//! atomic increment per command.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::cmd::COMMANDS;

/// The counters, shared by the listener and its connections.
#[derive(Debug)]
pub struct Counters {
    /// Connections open now.
    pub(crate) open: AtomicU64,
    /// Connections accepted since the server started.
    pub(crate) accepted: AtomicU64,
    /// Connections turned away at the connection bound.
    pub(crate) refused: AtomicU64,
    /// Requests that broke the protocol (malformed, too large, too slow): each closed its
    /// connection.
    pub(crate) protocol_errors: AtomicU64,
    /// Error replies sent (to any command).
    pub(crate) error_replies: AtomicU64,
    /// Commands received, by their place in [`COMMANDS`]; the last counts unknown names.
    calls: Box<[AtomicU64]>,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            open: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            error_replies: AtomicU64::new(0),
            calls: (0..=COMMANDS.len()).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Counters {
    /// Counts one more of `counter`.
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a command: the one at `index` in [`COMMANDS`], or an unknown one.
    pub(crate) fn call(&self, index: Option<usize>) {
        let slot = index.unwrap_or(COMMANDS.len());
        if let Some(counter) = self.calls.get(slot) {
            Self::add(counter);
        }
    }

    /// The figures now, as a collector for one scrape.
    pub fn snapshot(self: &Arc<Self>) -> Box<dyn Collector> {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let names = COMMANDS.iter().map(|spec| spec.name).chain(["unknown"]);
        Box::new(Snapshot {
            open: load(&self.open),
            accepted: load(&self.accepted),
            refused: load(&self.refused),
            protocol_errors: load(&self.protocol_errors),
            error_replies: load(&self.error_replies),
            calls: names
                .zip(self.calls.iter().map(load))
                .filter(|&(_, n)| n > 0)
                .collect(),
        })
    }
}

/// The counters at one scrape.
#[derive(Debug)]
struct Snapshot {
    open: u64,
    accepted: u64,
    refused: u64,
    protocol_errors: u64,
    error_replies: u64,
    /// Commands received, by name (only those received at least once).
    calls: Vec<(&'static str, u64)>,
}

impl Collector for Snapshot {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let no_labels: [(&str, &str); 0] = [];
        let gauge = i64::try_from(self.open).unwrap_or(i64::MAX);
        ConstGauge::new(gauge).encode(
            encoder
                .encode_descriptor(
                    "cairn_resp_connections",
                    "Redis protocol connections open",
                    None,
                    MetricType::Gauge,
                )?
                .encode_family(&no_labels)?,
        )?;
        for (name, help, value) in [
            (
                "cairn_resp_connections_accepted",
                "Redis protocol connections accepted",
                self.accepted,
            ),
            (
                "cairn_resp_connections_refused",
                "Redis protocol connections turned away at the connection bound",
                self.refused,
            ),
            (
                "cairn_resp_protocol_errors",
                "Redis protocol requests that broke the protocol (the connection was closed)",
                self.protocol_errors,
            ),
            (
                "cairn_resp_error_replies",
                "Error replies sent on the Redis protocol",
                self.error_replies,
            ),
        ] {
            ConstCounter::new(value).encode(
                encoder
                    .encode_descriptor(name, help, None, MetricType::Counter)?
                    .encode_family(&no_labels)?,
            )?;
        }
        let mut family = encoder.encode_descriptor(
            "cairn_resp_commands",
            "Redis protocol commands received, by name (unknown names as `unknown`)",
            None,
            MetricType::Counter,
        )?;
        for &(command, value) in &self.calls {
            ConstCounter::new(value).encode(family.encode_family(&[("command", command)])?)?;
        }
        Ok(())
    }
}
