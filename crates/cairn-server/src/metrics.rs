//! `GET /metrics`: the Prometheus text exposition of the server and of every open database.
//!
//! The store keeps its own counters (`cairn_store::stats`, no Prometheus there); at each
//! scrape this module reads `Database::stats()` and a few gauges of each open database into a
//! [`DatabaseSample`], and [`StoreCollector`] writes them out with `prometheus-client`. The
//! server's own counts (HTTP requests by route and status class, their latency) are kept by
//! `observe.rs`; open watch streams come from the watch route's counter.
//!
//! Labels are bounded: `database` (a name the operator's tokens allow, each an open
//! database), `route` (a fixed list, `observe::route_label`), `status` (a class, `2xx`…`5xx`),
//! `result`, `kind`, `state`, `role` (primary or replica). Never a key, a token or a raw
//! path.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_store::replication::{ReplicationStatus, Role};
use cairn_store::stats::{CommitOutcome, HistogramSnapshot, ReadKind, StatsSnapshot};
use cairn_store::{Database, QueueStats};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::App;

/// The `Content-Type` of the exposition (Prometheus text format 0.0.4).
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// `GET /metrics` on the main listener: needs `Authorization: Bearer <metrics token>`.
pub(crate) async fn guarded(State(app): State<Arc<App>>, request: Request) -> Response {
    let Some(expected) = app.config.metrics_token.as_deref() else {
        return (
            StatusCode::NOT_FOUND,
            "metrics are not served here: start cairn serve with --metrics-token TOKEN \
             (then send it as a bearer token) or --metrics-listen ADDR\n",
        )
            .into_response();
    };
    let given = crate::routes::bearer(request.headers());
    let matches = given
        .is_ok_and(|t| subtle::ConstantTimeEq::ct_eq(t.as_bytes(), expected.as_bytes()).into());
    if !matches {
        return (
            StatusCode::UNAUTHORIZED,
            "metrics need Authorization: Bearer <the --metrics-token>\n",
        )
            .into_response();
    }
    exposition(&app)
}

/// `GET /metrics` on the `--metrics-listen` address: no token (bind it where only the
/// monitoring system reaches).
pub(crate) async fn open(State(app): State<Arc<App>>) -> Response {
    exposition(&app)
}

fn exposition(app: &App) -> Response {
    let samples = app
        .registry
        .open_databases()
        .into_iter()
        .map(|(name, db)| {
            let mut sample = DatabaseSample::read(&name, &db, &app.config.data_dir.join(&name));
            if let Some(follower) = app.followers.state(&name) {
                sample.follower = Some(follower.state);
                sample.rebuilds = Some(Rebuilds {
                    primary: follower.rebuilds_primary,
                    archive: follower.rebuilds_archive,
                    discarded_positions: follower.discarded_positions,
                });
            }
            sample
        })
        .collect();
    match render(samples, app) {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "encoding metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding metrics failed\n",
            )
                .into_response()
        }
    }
}

/// The whole exposition: the databases' samples, then the server's own metrics.
fn render(samples: Vec<DatabaseSample>, app: &App) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(StoreCollector {
        databases: samples,
        watch_streams: app.watches.open_total() as u64,
    }));
    app.http_metrics.register(&mut registry);
    for collector in app.front_end_metrics.collect() {
        registry.register_collector(collector);
    }
    if let Some(failover) = &app.failover {
        registry.register_collector(Box::new(crate::failover::FailoverCollector(
            failover.status(),
        )));
    }
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

/// One database's figures, read at scrape time.
#[derive(Debug)]
pub struct DatabaseSample {
    /// The database's name (the `database` label).
    pub name: String,
    /// Its counters and histograms.
    pub stats: StatsSnapshot,
    /// Its queue; `None` if reading it failed.
    pub queue: Option<QueueStats>,
    /// Bytes of its directory; `None` if it could not be read.
    pub size_bytes: Option<u64>,
    /// Keys, as the engine estimates them.
    pub keys: Option<u64>,
    /// Expiry index entries already due, up to `cairn_store::stats::EXPIRY_BACKLOG_COUNT_MAX`.
    pub expiry_backlog: Option<u64>,
    /// How continuous archiving is doing; `None` when the database is not archived.
    pub archive: Option<cairn_store::archive::ArchiveStatus>,
    /// Role, epoch, positions, lag and replicas.
    pub replication: ReplicationStatus,
    /// A replica's follower: `connecting`, `streaming`, `rebuilding` or `refused`.
    pub follower: Option<&'static str>,
    /// A replica's rebuilds since the server started.
    pub rebuilds: Option<Rebuilds>,
}

/// A replica's rebuilds of its copy, since the server started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rebuilds {
    /// From a snapshot of the primary.
    pub primary: u64,
    /// From the archive.
    pub archive: u64,
    /// Positions of a diverged tail the last discarding rebuild discarded.
    pub discarded_positions: u64,
}

impl DatabaseSample {
    /// Reads database `name`, open from directory `dir`, now.
    pub fn read(name: &str, db: &Database, dir: &std::path::Path) -> DatabaseSample {
        DatabaseSample {
            name: name.to_owned(),
            stats: db.stats(),
            queue: db.queue_stats().ok(),
            size_bytes: cairn_store::stats::dir_size_bytes(dir).ok(),
            keys: db.approximate_key_count().ok(),
            expiry_backlog: db.expiry_backlog().ok(),
            archive: db.archive_status(),
            replication: db.replication_status(),
            follower: None,
            rebuilds: None,
        }
    }
}

/// Writes [`DatabaseSample`]s as metric families, one series per database.
#[derive(Debug)]
pub struct StoreCollector {
    /// The open databases.
    pub databases: Vec<DatabaseSample>,
    /// Watch streams open on the server.
    pub watch_streams: u64,
}

/// A metric family written series by series.
struct Series<'a> {
    encoder: prometheus_client::encoding::MetricEncoder<'a>,
}

fn family<'a>(
    encoder: &'a mut DescriptorEncoder<'_>,
    name: &'a str,
    help: &str,
    kind: MetricType,
) -> Result<Series<'a>, std::fmt::Error> {
    Ok(Series {
        encoder: encoder.encode_descriptor(name, help, None, kind)?,
    })
}

/// The label of a database's series.
fn db_label(d: &DatabaseSample) -> [(&'static str, &str); 1] {
    [("database", d.name.as_str())]
}

impl Series<'_> {
    fn counter(&mut self, labels: &[(&str, &str)], value: u64) -> Result<(), std::fmt::Error> {
        ConstCounter::new(value).encode(self.encoder.encode_family(&labels)?)
    }

    fn gauge(&mut self, labels: &[(&str, &str)], value: u64) -> Result<(), std::fmt::Error> {
        let value = i64::try_from(value).unwrap_or(i64::MAX);
        ConstGauge::new(value).encode(self.encoder.encode_family(&labels)?)
    }

    fn gauge_f64(&mut self, labels: &[(&str, &str)], value: f64) -> Result<(), std::fmt::Error> {
        ConstGauge::new(value).encode(self.encoder.encode_family(&labels)?)
    }

    /// A histogram whose observations are in units of `scale` (1e-9: nanoseconds → seconds).
    fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        h: &HistogramSnapshot,
        scale: f64,
    ) -> Result<(), std::fmt::Error> {
        let mut buckets: Vec<(f64, u64)> = h
            .bounds
            .iter()
            .zip(&h.counts)
            .map(|(&bound, &count)| (bound as f64 * scale, count))
            .collect();
        buckets.push((f64::INFINITY, h.counts.last().copied().unwrap_or(0)));
        self.encoder
            .encode_family(&labels)?
            .encode_histogram::<NoLabelSet>(h.sum as f64 * scale, h.count(), &buckets, None)
    }
}

impl Collector for StoreCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter as C, Gauge as G, Histogram as H};
        let e = &mut encoder;
        self.each(
            e,
            "cairn_commits",
            "Atomic writes answered, by result",
            C,
            |f, d| {
                for outcome in CommitOutcome::ALL {
                    let labels = [("database", d.name.as_str()), ("result", outcome.name())];
                    f.counter(&labels, d.stats.commits(outcome))?;
                }
                Ok(())
            },
        )?;
        let help = "Atomic writes from submission to the pipeline to their answer";
        self.each(e, "cairn_commit_duration_seconds", help, H, |f, d| {
            f.histogram(&db_label(d), &d.stats.commit_latency_ns, 1e-9)
        })?;
        let help = "Durable syncs (fdatasync) of the transaction log";
        self.each(e, "cairn_wal_fsync_duration_seconds", help, H, |f, d| {
            f.histogram(&db_label(d), &d.stats.sync_ns, 1e-9)
        })?;
        let help = "Requests answered per published commit batch (group commit)";
        self.each(e, "cairn_batch_writes", help, H, |f, d| {
            f.histogram(&db_label(d), &d.stats.batch_writes, 1.0)
        })?;
        self.each(e, "cairn_batches", "Commit batches published", C, |f, d| {
            f.counter(&db_label(d), d.stats.batches)
        })?;
        self.encode_gauges(e)?;
        let help = "Reads by kind, labelled with the database's role (primary or replica)";
        self.each(e, "cairn_reads", help, C, |f, d| {
            let role = d.replication.role.name();
            for kind in ReadKind::ALL {
                let labels = [
                    ("database", d.name.as_str()),
                    ("kind", kind.name()),
                    ("role", role),
                ];
                f.counter(&labels, d.stats.reads_total(kind))?;
            }
            Ok(())
        })?;
        const _: () = assert!(
            cairn_store::stats::READ_TIMING_SAMPLE == 8,
            "the help says 8"
        );
        let help = "Read latency by kind, of one read in 8 (cairn_reads_total counts them all)";
        self.each(e, "cairn_read_duration_seconds", help, H, |f, d| {
            for kind in ReadKind::ALL {
                let labels = [("database", d.name.as_str()), ("kind", kind.name())];
                f.histogram(&labels, d.stats.reads(kind), 1e-9)?;
            }
            Ok(())
        })?;
        let help = "Expired keys the sweeper removed";
        self.each(e, "cairn_expired_keys_swept", help, C, |f, d| {
            f.counter(&db_label(d), d.stats.expired_keys_swept)
        })?;
        let help = "Queue messages dead-lettered since the database was created";
        self.each(e, "cairn_queue_dead_lettered", help, C, |f, d| {
            match &d.queue {
                Some(q) => f.counter(&db_label(d), q.dead_lettered),
                None => Ok(()),
            }
        })?;
        self.encode_replication(e)?;
        let mut f = family(
            e,
            "cairn_watch_streams_open",
            "Watch streams open on this server",
            G,
        )?;
        f.gauge(&[], self.watch_streams)
    }
}

impl StoreCollector {
    /// The gauges: state now, not counts since start.
    fn encode_gauges(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::Gauge as G;
        type Read = fn(&DatabaseSample) -> Option<u64>;
        let simple: [(&str, &str, Read); 7] = [
            (
                "cairn_commit_queue_depth",
                "Requests waiting for the commit pipeline's evaluator",
                |d| Some(d.stats.commit_queue_depth),
            ),
            (
                "cairn_commits_in_flight",
                "Atomic writes submitted and not yet answered",
                |d| Some(d.stats.commits_in_flight),
            ),
            (
                "cairn_commit_in_flight_bytes",
                "Payload bytes of the atomic writes submitted and not yet answered",
                |d| Some(d.stats.commit_bytes_in_flight),
            ),
            (
                "cairn_poisoned",
                "1 once a failed sync or storage write made the database refuse writes",
                |d| Some(u64::from(d.stats.poisoned.is_some())),
            ),
            (
                "cairn_database_size_bytes",
                "Bytes of the database's directory on disk",
                |d| d.size_bytes,
            ),
            (
                "cairn_keys",
                "Keys in the database, as the storage engine estimates them",
                |d| d.keys,
            ),
            (
                "cairn_expiry_backlog",
                "Expiry index entries already due, not yet swept (counted up to 100000)",
                |d| d.expiry_backlog,
            ),
        ];
        for (name, help, read) in simple {
            self.each(encoder, name, help, G, |f, d| match read(d) {
                Some(value) => f.gauge(&db_label(d), value),
                None => Ok(()),
            })?;
        }
        let help = "Bytes of published log not yet shipped to the archive";
        self.each(
            encoder,
            "cairn_archive_unshipped_bytes",
            help,
            G,
            |f, d| match &d.archive {
                Some(a) => f.gauge(&db_label(d), a.unshipped_bytes),
                None => Ok(()),
            },
        )?;
        let help = "Age of the oldest batch not yet shipped to the archive (0: all shipped)";
        self.each(
            encoder,
            "cairn_archive_lag_seconds",
            help,
            G,
            |f, d| match &d.archive {
                Some(a) => f.gauge_f64(&db_label(d), a.lag_ms as f64 / 1000.0),
                None => Ok(()),
            },
        )?;
        let help = "Failed attempts to write to the archive since the database opened";
        self.each(
            encoder,
            "cairn_archive_errors",
            help,
            MetricType::Counter,
            |f, d| match &d.archive {
                Some(a) => f.counter(&db_label(d), a.errors),
                None => Ok(()),
            },
        )?;
        let help = "Queue messages by state: ready, delayed (not due yet), in_flight (leased)";
        self.each(encoder, "cairn_queue_messages", help, G, |f, d| {
            let Some(q) = &d.queue else { return Ok(()) };
            for (state, n) in [
                ("ready", q.ready),
                ("delayed", q.delayed),
                ("in_flight", q.in_flight),
            ] {
                f.gauge(&[("database", d.name.as_str()), ("state", state)], n)?;
            }
            Ok(())
        })
    }

    /// Replication: role, epoch, positions, lag, replicas (reads by role are in
    /// `cairn_reads_total`).
    fn encode_replication(&self, e: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter as C, Gauge as G, Histogram as H};
        let role = |d: &DatabaseSample| d.replication.role.name();
        let help = "1, labelled with the database's role: primary or replica";
        self.each(e, "cairn_replication_role", help, G, |f, d| {
            f.gauge(&[("database", d.name.as_str()), ("role", role(d))], 1)
        })?;
        type Read = fn(&ReplicationStatus) -> Option<u64>;
        let gauges: [(&str, &str, Read); 6] = [
            (
                "cairn_replication_epoch",
                "Epoch of the newest published batch (promotions so far)",
                |r| Some(r.published.epoch),
            ),
            (
                "cairn_replication_position",
                "Stream position of the newest published batch",
                |r| Some(r.published.position),
            ),
            (
                "cairn_replication_lag_positions",
                "Replica: batches its primary has made durable that it has not published yet",
                |r| {
                    matches!(r.role, Role::Replica { .. })
                        .then(|| r.primary_position.saturating_sub(r.published.position))
                },
            ),
            (
                "cairn_replication_replicas",
                "Primary: replicas streaming from it now",
                |r| matches!(r.role, Role::Primary).then_some(r.replicas.len() as u64),
            ),
            (
                "cairn_replication_sync_replicas",
                "Primary: replicas that must have a commit durable before it is acknowledged",
                |r| matches!(r.role, Role::Primary).then_some(r.sync_replicas as u64),
            ),
            (
                "cairn_replication_unconfirmed_batches",
                "Primary: batches answered with an error for want of synchronous replicas",
                |r| Some(r.unconfirmed_batches),
            ),
        ];
        for (name, help, read) in gauges {
            self.each(e, name, help, G, |f, d| match read(&d.replication) {
                Some(value) => f.gauge(&db_label(d), value),
                None => Ok(()),
            })?;
        }
        let help = "Replica: time from a batch's durability on the primary to its publication here";
        self.each(
            e,
            "cairn_replication_lag_seconds",
            help,
            H,
            |f, d| match d.replication.role {
                Role::Replica { .. } => f.histogram(&db_label(d), &d.replication.lag, 1e-9),
                _ => Ok(()),
            },
        )?;
        let help = "Replica: 1, labelled with what its follower does (connecting, streaming, rebuilding, refused)";
        self.each(e, "cairn_replication_follower", help, G, |f, d| {
            match d.follower {
                Some(state) => f.gauge(&[("database", d.name.as_str()), ("state", state)], 1),
                None => Ok(()),
            }
        })?;
        let help = "Replica: rebuilds of its copy, from a snapshot of the primary (diverged, or behind the retained stream) or from the archive";
        self.each(e, "cairn_replication_rebuilds", help, C, |f, d| {
            let Some(r) = d.rebuilds else { return Ok(()) };
            let name = d.name.as_str();
            f.counter(&[("database", name), ("source", "primary")], r.primary)?;
            f.counter(&[("database", name), ("source", "archive")], r.archive)
        })?;
        let help = "Replica: positions of a diverged tail discarded by its last rebuild from the primary (kept as <name>.discarded-<epoch>-<position>)";
        self.each(
            e,
            "cairn_replication_discarded_positions",
            help,
            G,
            |f, d| match d.rebuilds {
                Some(r) => f.gauge(&db_label(d), r.discarded_positions),
                None => Ok(()),
            },
        )
    }

    /// One family: its descriptor, then `series` for every database.
    fn each(
        &self,
        encoder: &mut DescriptorEncoder,
        name: &str,
        help: &str,
        kind: MetricType,
        mut series: impl FnMut(&mut Series<'_>, &DatabaseSample) -> Result<(), std::fmt::Error>,
    ) -> Result<(), std::fmt::Error> {
        let mut f = family(encoder, name, help, kind)?;
        for d in &self.databases {
            series(&mut f, d)?;
        }
        Ok(())
    }
}

/// The exposition of `collector` alone (tests and `cairn stats` parse it).
pub fn render_collector(collector: StoreCollector) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(collector));
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{key, Kv, KvValue};

    /// Series lines of `text` as (name, labels, value).
    fn series(text: &str) -> Vec<(String, String, f64)> {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(|line| {
                let (series, value) = line.rsplit_once(' ').expect("name and value");
                let value = match value {
                    "+Inf" => f64::INFINITY,
                    v => v.parse().unwrap_or_else(|_| panic!("bad value: {line}")),
                };
                let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
                (
                    name.to_owned(),
                    labels.trim_end_matches('}').to_owned(),
                    value,
                )
            })
            .collect()
    }

    async fn sample_of_a_used_database() -> DatabaseSample {
        let db = Database::open_in_memory().expect("open");
        for i in 0..5u64 {
            db.set(&key!["k", i], KvValue::U64(i)).await.expect("set");
        }
        let _ = db.get(&key!["k", 0u64]).await.expect("get");
        let dir = tempfile::tempdir().expect("dir");
        DatabaseSample::read("app", &db, dir.path())
    }

    #[tokio::test]
    async fn exposition_follows_prometheus_conventions() {
        let text = render_collector(StoreCollector {
            databases: vec![sample_of_a_used_database().await],
            watch_streams: 2,
        })
        .expect("renders");
        for line in text.lines().filter(|l| l.starts_with("# TYPE")) {
            let mut words = line.split(' ').skip(2);
            let (name, kind) = (words.next().expect("name"), words.next().expect("type"));
            assert!(name.starts_with("cairn_"), "prefix: {line}");
            match kind {
                "counter" => assert!(name.ends_with("_total"), "counters end in _total: {line}"),
                "histogram" | "gauge" => assert!(!name.ends_with("_total"), "{line}"),
                other => panic!("unexpected type {other}: {line}"),
            }
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "every family has help: {name}"
            );
        }
        let all = series(&text);
        for (name, labels, _) in &all {
            for pair in labels.split(',').filter(|p| !p.is_empty()) {
                let key = pair.split('=').next().expect("key");
                assert!(
                    ["database", "result", "kind", "state", "role", "le"].contains(&key),
                    "bounded labels only: {name}{{{labels}}}"
                );
            }
        }
        let get = |name: &str, labels: &str| {
            all.iter()
                .find(|(n, l, _)| n == name && l == labels)
                .map(|(_, _, v)| *v)
                .unwrap_or_else(|| panic!("missing {name}{{{labels}}} in\n{text}"))
        };
        assert_eq!(
            get(
                "cairn_commits_total",
                "database=\"app\",result=\"committed\""
            ),
            5.0
        );
        assert_eq!(get("cairn_poisoned", "database=\"app\""), 0.0);
        assert_eq!(get("cairn_watch_streams_open", ""), 2.0);
        assert_eq!(
            get("cairn_commit_duration_seconds_count", "database=\"app\""),
            5.0
        );
        assert_eq!(get("cairn_keys", "database=\"app\""), 5.0);
        assert_eq!(
            get(
                "cairn_read_duration_seconds_count",
                "database=\"app\",kind=\"get\""
            ),
            1.0
        );
        assert_eq!(
            get(
                "cairn_reads_total",
                "database=\"app\",kind=\"get\",role=\"primary\""
            ),
            1.0
        );
        assert_eq!(
            get("cairn_queue_messages", "database=\"app\",state=\"ready\""),
            0.0
        );
    }

    #[tokio::test]
    async fn an_archived_database_reports_its_archive_and_others_do_not() {
        use cairn_store::archive::{ArchiveConfig, LocalDir};
        let data = tempfile::tempdir().expect("dir");
        let archive = tempfile::tempdir().expect("dir");
        let config = cairn_store::Config::default().archive(ArchiveConfig::new(
            Arc::new(LocalDir::new(archive.path())),
            "app",
        ));
        let db = Database::open_with(data.path().join("app"), config).expect("open");
        db.set(&key!["k"], KvValue::U64(1)).await.expect("set");
        let archived = DatabaseSample::read("app", &db, data.path());
        let text = render_collector(StoreCollector {
            databases: vec![archived, sample_of_a_used_database().await],
            watch_streams: 0,
        })
        .expect("renders");
        let all = series(&text);
        for name in [
            "cairn_archive_unshipped_bytes",
            "cairn_archive_lag_seconds",
            "cairn_archive_errors_total",
        ] {
            let labels: Vec<&str> = all
                .iter()
                .filter(|(n, _, _)| n == name)
                .map(|(_, l, _)| l.as_str())
                .collect();
            assert_eq!(labels, ["database=\"app\""], "{name} in\n{text}");
        }
        db.close();
    }

    #[tokio::test]
    async fn histogram_buckets_are_cumulative_and_end_at_the_count() {
        let text = render_collector(StoreCollector {
            databases: vec![sample_of_a_used_database().await],
            watch_streams: 0,
        })
        .expect("renders");
        let all = series(&text);
        let buckets: Vec<f64> = all
            .iter()
            .filter(|(n, l, _)| n == "cairn_commit_duration_seconds_bucket" && l.contains("app"))
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(
            buckets.len(),
            cairn_store::stats::LATENCY_BUCKETS_NS.len() + 1,
            "one per bound and +Inf"
        );
        assert!(
            buckets.windows(2).all(|w| w[0] <= w[1]),
            "cumulative: {buckets:?}"
        );
        let last_line = all
            .iter()
            .find(|(n, l, _)| n == "cairn_commit_duration_seconds_bucket" && l.contains("+Inf"))
            .expect("+Inf bucket");
        assert_eq!(last_line.2, 5.0);
        // Bounds in seconds (25 µs is the first), written as Go writes floats.
        assert!(
            text.contains(
                "cairn_wal_fsync_duration_seconds_bucket{database=\"app\",le=\"2.5e-05\"}"
            ),
            "{text}"
        );
    }
}
