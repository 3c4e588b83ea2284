//! `cairn stats`: a summary per database (size, keys, commits and their rate, latency
//! percentiles, queue depth, poisoned or not), from a server's `/metrics` (`--url`) or from a
//! database directory (`--path`).
//!
//! Both go through the same exposition: for `--path` the database is opened and sampled as
//! the server samples it at a scrape, so the two summaries cannot drift apart. A commit rate
//! needs two readings: with `--url` the command scrapes twice, `--interval-ms` apart.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use cairn_server::metrics::{render_collector, DatabaseSample, StoreCollector};
use cairn_store::Database;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Largest `/metrics` answer read (a server with a few thousand databases stays below it).
const EXPOSITION_BYTES_MAX: usize = 64 * 1024 * 1024;

#[derive(clap::Args)]
pub struct StatsArgs {
    /// The server's base address (its main listener with --metrics-token, or its
    /// --metrics-listen address), e.g. http://127.0.0.1:4512.
    #[arg(long, conflicts_with = "path", required_unless_present = "path")]
    url: Option<String>,
    /// The token of the server's /metrics on its main listener (`--metrics-token`).
    #[arg(long, env = "CAIRN_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// A database directory (not held by a running server: use --url then).
    #[arg(long)]
    path: Option<PathBuf>,
    /// Time between the two scrapes that give the commit rate (--url), milliseconds.
    #[arg(long, default_value_t = 1000)]
    interval_ms: u64,
    /// One JSON document instead of the summary.
    #[arg(long)]
    json: bool,
}

pub async fn run(args: StatsArgs) -> anyhow::Result<()> {
    let mut failover = None;
    let summaries = match (&args.url, &args.path) {
        (Some(url), _) => {
            let token = args.metrics_token.as_deref();
            let before = parse(&scrape(url, token).await?)?;
            tokio::time::sleep(Duration::from_millis(args.interval_ms)).await;
            let after = parse(&scrape(url, token).await?)?;
            failover = Failover::of(&after);
            summarize(&after, Some((&before, args.interval_ms as f64 / 1000.0)))
        }
        (None, Some(path)) => {
            let db = Database::open(path)
                .with_context(|| format!("opening database {}", path.display()))?;
            let name = path
                .file_name()
                .map_or_else(|| "database".into(), |n| n.to_string_lossy().into_owned());
            let sample = DatabaseSample::read(&name, &db, path);
            let text = render_collector(StoreCollector {
                databases: vec![sample],
                watch_streams: 0,
            })?;
            summarize(&parse(&text)?, None)
        }
        (None, None) => bail!("give --url URL or --path DIR"),
    };
    if args.json {
        let docs: Vec<_> = summaries.iter().map(Summary::to_json).collect();
        let failover = failover.as_ref().map(Failover::to_json);
        println!("{}", json!({ "databases": docs, "failover": failover }));
        return Ok(());
    }
    if let Some(failover) = &failover {
        failover.print();
    }
    if summaries.is_empty() {
        println!("no database open on the server yet");
    } else {
        for s in &summaries {
            s.print();
        }
    }
    Ok(())
}

/// A failover group member's state (`cairn_failover_*`), when the server is one.
struct Failover {
    role: String,
    epoch: f64,
    lease: String,
    lease_remaining_s: f64,
    leader: Option<String>,
    etcd_up: bool,
    leader_changes: f64,
    /// (from, to, Unix seconds) of the last change of leader seen.
    last: Option<(String, String, f64)>,
}

impl Failover {
    fn of(samples: &Samples) -> Option<Failover> {
        let label = |name: &str, label: &str| {
            samples
                .iter()
                .find(|((n, _), v)| n == name && **v > 0.0)
                .and_then(|((_, labels), _)| {
                    labels
                        .iter()
                        .find(|(k, _)| k == label)
                        .map(|(_, v)| v.clone())
                })
        };
        let role = label("cairn_failover_role", "role")?;
        let last = samples
            .iter()
            .find(|((n, _), _)| n == "cairn_failover_last_timestamp_seconds")
            .map(|((_, labels), v)| {
                let get = |k: &str| {
                    labels
                        .iter()
                        .find(|(key, _)| key == k)
                        .map_or(String::new(), |(_, v)| v.clone())
                };
                (get("from"), get("to"), *v)
            });
        Some(Failover {
            role,
            epoch: value(samples, "cairn_failover_epoch", &[]).unwrap_or(0.0),
            lease: label("cairn_failover_lease", "state").unwrap_or_default(),
            lease_remaining_s: value(samples, "cairn_failover_lease_remaining_seconds", &[])
                .unwrap_or(0.0),
            leader: label("cairn_failover_leader", "leader").filter(|l| !l.is_empty()),
            etcd_up: value(samples, "cairn_failover_etcd_up", &[]).is_some_and(|v| v > 0.0),
            leader_changes: value(samples, "cairn_failover_leader_changes_total", &[])
                .unwrap_or(0.0),
            last,
        })
    }

    fn print(&self) {
        println!(
            "failover: {}, epoch {:.0}, leader {}, lease {}{}, etcd {}",
            self.role,
            self.epoch,
            self.leader.as_deref().unwrap_or("-"),
            self.lease,
            if self.lease == "held" {
                format!(" ({:.3} s left)", self.lease_remaining_s)
            } else {
                String::new()
            },
            if self.etcd_up {
                "reachable"
            } else {
                "UNREACHABLE"
            }
        );
        if let Some((from, to, at)) = &self.last {
            let from = if from.is_empty() { "-" } else { from };
            println!(
                "  last leader change: {from} -> {to} at {} ({:.0} changes seen)",
                cairn_proto::metadata::rfc3339_ms((*at * 1000.0) as u64),
                self.leader_changes
            );
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "role": self.role,
            "epoch": self.epoch,
            "leader": self.leader,
            "lease": self.lease,
            "lease_remaining_s": self.lease_remaining_s,
            "etcd_up": self.etcd_up,
            "leader_changes": self.leader_changes,
            "last_failover": self.last.as_ref().map(|(from, to, at)| json!({
                "from": from, "to": to, "time_s": at,
            })),
        })
    }
}

/// `GET <url>/metrics` over HTTP/1.1.
async fn scrape(url: &str, token: Option<&str>) -> anyhow::Result<String> {
    let rest = url
        .strip_prefix("http://")
        .context("--url must start with http://")?;
    let authority = rest.split('/').next().unwrap_or(rest);
    ensure!(!authority.is_empty(), "--url {url:?} names no host");
    let mut stream = tokio::net::TcpStream::connect(authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    let request =
        format!("GET /metrics HTTP/1.1\r\nHost: {authority}\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut raw = Vec::new();
    (&mut stream)
        .take(EXPOSITION_BYTES_MAX as u64)
        .read_to_end(&mut raw)
        .await
        .with_context(|| format!("reading {url}/metrics"))?;
    let text = String::from_utf8(raw).context("the /metrics answer is not UTF-8")?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("the /metrics answer has no end of headers")?;
    let status = head.split(' ').nth(1).unwrap_or("");
    if status != "200" {
        bail!("{url}/metrics answered {status}: {}", body.trim_end());
    }
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    if chunked {
        return dechunk(body);
    }
    Ok(body.to_owned())
}

/// The body of a `Transfer-Encoding: chunked` answer.
fn dechunk(mut body: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").context("truncated chunk header")?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        if size == 0 {
            return Ok(out);
        }
        let chunk = rest.get(..size).context("truncated chunk")?;
        out.push_str(chunk);
        body = rest.get(size..).unwrap_or("").trim_start_matches("\r\n");
    }
}

/// One sample line: metric name and labels → value.
type Samples = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Parses the Prometheus text format (the subset cairn writes: no timestamps, label values
/// without escaped quotes).
fn parse(text: &str) -> anyhow::Result<Samples> {
    let mut samples = Samples::new();
    for line in text.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .with_context(|| format!("metric line without a value: {line:?}"))?;
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v
                .parse()
                .with_context(|| format!("bad value in {line:?}"))?,
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, labels)) => (name, parse_labels(labels.trim_end_matches('}'))),
            None => (series, Vec::new()),
        };
        samples.insert((name.to_owned(), labels), value);
    }
    Ok(samples)
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    text.split("\",")
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            Some((k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .collect()
}

/// The value of `name` with exactly `labels` (0 when absent).
fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let labels: Vec<(String, String)> = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    samples.get(&(name.to_owned(), labels)).copied()
}

/// The `q` quantile of histogram `name` of `database`, interpolated within its bucket as
/// PromQL's `histogram_quantile` does.
fn quantile(samples: &Samples, name: &str, database: &str, q: f64) -> Option<f64> {
    let bucket = format!("{name}_bucket");
    let mut buckets: Vec<(f64, f64)> = samples
        .iter()
        .filter(|((n, labels), _)| {
            n == &bucket && labels.iter().any(|(k, v)| k == "database" && v == database)
        })
        .filter_map(|((_, labels), count)| {
            let le = labels.iter().find(|(k, _)| k == "le")?.1.as_str();
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, *count))
        })
        .collect();
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for (le, cumulative) in buckets {
        if cumulative >= rank {
            if le.is_infinite() {
                return Some(lower);
            }
            let within = if cumulative > below {
                (rank - below) / (cumulative - below)
            } else {
                1.0
            };
            return Some(lower + (le - lower) * within);
        }
        (lower, below) = (le, cumulative);
    }
    None
}

/// What `cairn stats` tells about one database.
struct Summary {
    name: String,
    size_bytes: Option<f64>,
    keys: Option<f64>,
    commits: BTreeMap<&'static str, f64>,
    /// Committed writes per second between the two scrapes (`--url` only).
    commit_rate: Option<f64>,
    commit_p50_s: Option<f64>,
    commit_p99_s: Option<f64>,
    fsync_p50_s: Option<f64>,
    fsync_p99_s: Option<f64>,
    commit_queue_depth: f64,
    queue: BTreeMap<&'static str, f64>,
    poisoned: bool,
    replication: Replication,
}

/// Replication's part of the summary.
struct Replication {
    /// `primary` or `replica`.
    role: Option<String>,
    epoch: Option<f64>,
    position: Option<f64>,
    /// Replica: batches behind its primary, and the lag's quantiles since open.
    lag_positions: Option<f64>,
    lag_p50_s: Option<f64>,
    lag_p99_s: Option<f64>,
    /// Replica: what its follower does.
    follower: Option<String>,
    /// Primary: replicas streaming, and how many must confirm a commit.
    replicas: Option<f64>,
    sync_replicas: Option<f64>,
    /// Replica: rebuilds from the primary's snapshot and from the archive, and the diverged
    /// positions the last discarding rebuild discarded.
    rebuilds_primary: Option<f64>,
    rebuilds_archive: Option<f64>,
    discarded_positions: Option<f64>,
}

impl Replication {
    fn of(samples: &Samples, db: &str) -> Replication {
        let gauge = |metric: &str| value(samples, metric, &[("database", db)]);
        let labelled = |metric: &str, label: &str| {
            samples
                .iter()
                .filter(|((n, labels), v)| {
                    n == metric
                        && **v > 0.0
                        && labels.iter().any(|(k, v)| k == "database" && v == db)
                })
                .find_map(|((_, labels), _)| {
                    labels
                        .iter()
                        .find(|(k, _)| k == label)
                        .map(|(_, v)| v.clone())
                })
        };
        Replication {
            role: labelled("cairn_replication_role", "role"),
            epoch: gauge("cairn_replication_epoch"),
            position: gauge("cairn_replication_position"),
            lag_positions: gauge("cairn_replication_lag_positions"),
            lag_p50_s: quantile(samples, "cairn_replication_lag_seconds", db, 0.5),
            lag_p99_s: quantile(samples, "cairn_replication_lag_seconds", db, 0.99),
            follower: labelled("cairn_replication_follower", "state"),
            replicas: gauge("cairn_replication_replicas"),
            sync_replicas: gauge("cairn_replication_sync_replicas"),
            rebuilds_primary: value(
                samples,
                "cairn_replication_rebuilds_total",
                &[("database", db), ("source", "primary")],
            ),
            rebuilds_archive: value(
                samples,
                "cairn_replication_rebuilds_total",
                &[("database", db), ("source", "archive")],
            ),
            discarded_positions: gauge("cairn_replication_discarded_positions"),
        }
    }

    fn print(&self) {
        let count = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        let role = self.role.as_deref().unwrap_or("-");
        println!(
            "  replication: {role}, epoch {}, position {}",
            count(self.epoch),
            count(self.position)
        );
        if role == "replica" {
            println!(
                "  replica: {}, {} batches behind; lag since open p50 {} p99 {}",
                self.follower.as_deref().unwrap_or("-"),
                count(self.lag_positions),
                ms(self.lag_p50_s),
                ms(self.lag_p99_s)
            );
            println!(
                "  rebuilds: {} from the primary, {} from the archive; last discarded tail {} positions",
                count(self.rebuilds_primary),
                count(self.rebuilds_archive),
                count(self.discarded_positions)
            );
        } else if role == "primary" {
            println!(
                "  replicas streaming: {} (synchronous required: {})",
                count(self.replicas),
                count(self.sync_replicas)
            );
        }
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "role": self.role,
            "epoch": self.epoch,
            "position": self.position,
            "lag_positions": self.lag_positions,
            "lag_s": { "p50": self.lag_p50_s, "p99": self.lag_p99_s },
            "follower": self.follower,
            "replicas": self.replicas,
            "sync_replicas": self.sync_replicas,
            "rebuilds": { "primary": self.rebuilds_primary, "archive": self.rebuilds_archive },
            "discarded_positions": self.discarded_positions,
        })
    }
}

const RESULTS: [&str; 4] = ["committed", "check_failed", "rejected", "poisoned"];
const QUEUE_STATES: [&str; 3] = ["ready", "delayed", "in_flight"];

fn summarize(now: &Samples, before: Option<(&Samples, f64)>) -> Vec<Summary> {
    let names: std::collections::BTreeSet<String> = now
        .keys()
        .filter(|(n, _)| n == "cairn_poisoned")
        .flat_map(|(_, labels)| labels.iter().filter(|(k, _)| k == "database"))
        .map(|(_, v)| v.clone())
        .collect();
    names
        .into_iter()
        .map(|name| {
            let db = name.as_str();
            let gauge = |metric: &str| value(now, metric, &[("database", db)]);
            let commits_of = |samples: &Samples, result: &str| {
                value(
                    samples,
                    "cairn_commits_total",
                    &[("database", db), ("result", result)],
                )
                .unwrap_or(0.0)
            };
            let commit_rate = before.map(|(earlier, seconds)| {
                (commits_of(now, "committed") - commits_of(earlier, "committed")).max(0.0)
                    / seconds.max(1e-3)
            });
            Summary {
                size_bytes: gauge("cairn_database_size_bytes"),
                keys: gauge("cairn_keys"),
                commits: RESULTS.iter().map(|r| (*r, commits_of(now, r))).collect(),
                commit_rate,
                commit_p50_s: quantile(now, "cairn_commit_duration_seconds", db, 0.5),
                commit_p99_s: quantile(now, "cairn_commit_duration_seconds", db, 0.99),
                fsync_p50_s: quantile(now, "cairn_wal_fsync_duration_seconds", db, 0.5),
                fsync_p99_s: quantile(now, "cairn_wal_fsync_duration_seconds", db, 0.99),
                commit_queue_depth: gauge("cairn_commit_queue_depth").unwrap_or(0.0),
                queue: QUEUE_STATES
                    .iter()
                    .map(|s| {
                        let v = value(
                            now,
                            "cairn_queue_messages",
                            &[("database", db), ("state", s)],
                        );
                        (*s, v.unwrap_or(0.0))
                    })
                    .collect(),
                poisoned: gauge("cairn_poisoned").is_some_and(|v| v > 0.0),
                replication: Replication::of(now, db),
                name,
            }
        })
        .collect()
}

fn ms(seconds: Option<f64>) -> String {
    seconds.map_or("-".into(), |s| format!("{:.3} ms", s * 1000.0))
}

impl Summary {
    fn print(&self) {
        let count = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.0}"));
        println!("database {}", self.name);
        println!(
            "  poisoned: {}",
            if self.poisoned {
                "YES (writes refused until reopened)"
            } else {
                "no"
            }
        );
        println!("  size on disk: {} bytes", count(self.size_bytes));
        println!("  keys (approximate): {}", count(self.keys));
        let commits: Vec<String> = self
            .commits
            .iter()
            .map(|(r, n)| format!("{r} {n:.0}"))
            .collect();
        println!("  commits since open: {}", commits.join(", "));
        match self.commit_rate {
            Some(rate) => println!("  commit rate: {rate:.1}/s"),
            None => println!("  commit rate: - (a directory has no live traffic; use --url)"),
        }
        println!(
            "  commit latency since open: p50 {} p99 {}",
            ms(self.commit_p50_s),
            ms(self.commit_p99_s)
        );
        println!(
            "  fsync latency since open: p50 {} p99 {}",
            ms(self.fsync_p50_s),
            ms(self.fsync_p99_s)
        );
        println!("  commit queue depth: {:.0}", self.commit_queue_depth);
        let queue: Vec<String> = self
            .queue
            .iter()
            .map(|(s, n)| format!("{s} {n:.0}"))
            .collect();
        println!("  queue messages: {}", queue.join(", "));
        self.replication.print();
    }

    fn to_json(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "poisoned": self.poisoned,
            "size_bytes": self.size_bytes,
            "keys_approximate": self.keys,
            "commits": self.commits,
            "commit_rate_per_s": self.commit_rate,
            "commit_latency_s": { "p50": self.commit_p50_s, "p99": self.commit_p99_s },
            "fsync_latency_s": { "p50": self.fsync_p50_s, "p99": self.fsync_p99_s },
            "commit_queue_depth": self.commit_queue_depth,
            "queue_messages": self.queue,
            "replication": self.replication.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# TYPE cairn_commits_total counter
cairn_commits_total{database=\"app\",result=\"committed\"} 10
cairn_poisoned{database=\"app\"} 1
cairn_commit_duration_seconds_bucket{database=\"app\",le=\"0.001\"} 2
cairn_commit_duration_seconds_bucket{database=\"app\",le=\"0.002\"} 4
cairn_commit_duration_seconds_bucket{database=\"app\",le=\"+Inf\"} 4
cairn_replication_role{database=\"app\",role=\"replica\"} 1
cairn_replication_epoch{database=\"app\"} 2
cairn_replication_lag_positions{database=\"app\"} 7
cairn_replication_follower{database=\"app\",state=\"streaming\"} 1
cairn_replication_rebuilds_total{database=\"app\",source=\"primary\"} 1
cairn_replication_rebuilds_total{database=\"app\",source=\"archive\"} 0
cairn_replication_discarded_positions{database=\"app\"} 12
";

    #[test]
    fn summary_reads_the_exposition() {
        let samples = parse(TEXT).expect("parses");
        let s = summarize(&samples, None);
        assert_eq!(s.len(), 1);
        assert!(s[0].poisoned);
        assert_eq!(s[0].commits["committed"], 10.0);
        assert_eq!(s[0].commit_p50_s, Some(0.001));
        let p99 = s[0].commit_p99_s.expect("has observations");
        assert!(p99 > 0.001 && p99 <= 0.002, "{p99}");
        let r = &s[0].replication;
        assert_eq!(r.role.as_deref(), Some("replica"));
        assert_eq!((r.epoch, r.lag_positions), (Some(2.0), Some(7.0)));
        assert_eq!(r.follower.as_deref(), Some("streaming"));
        assert_eq!(
            (
                r.rebuilds_primary,
                r.rebuilds_archive,
                r.discarded_positions
            ),
            (Some(1.0), Some(0.0), Some(12.0))
        );
    }

    #[test]
    fn chunked_bodies_are_joined() {
        assert_eq!(
            dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").expect("ok"),
            "abcde"
        );
        assert!(dechunk("zz\r\n").is_err());
    }
}
