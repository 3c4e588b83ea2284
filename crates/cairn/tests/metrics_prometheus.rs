//! A real Prometheus server scrapes a real `cairn serve` under load: the exposition must be
//! one Prometheus accepts (names, types, labels, histogram buckets), and PromQL over what it
//! stored must show a non-zero commit rate and an fsync latency histogram.
//!
//! Needs Debian's `prometheus` package (scripts/test.sh installs it with apt-get when
//! missing). Prometheus runs on loopback with a 1 s scrape interval and a throwaway data
//! directory; the test is bounded by [`DEADLINE`].

mod observe;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_client::Client;
use cairn_model::{key, Kv, KvValue};
use observe::{get, Served, TOKEN};

/// Longest the whole check may take once both servers run.
const DEADLINE: Duration = Duration::from_secs(75);

/// A Prometheus child, killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port free right now (Prometheus cannot be asked to pick one and say which).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

fn start_prometheus(dir: &std::path::Path, target: &str) -> Prometheus {
    let config = dir.join("prometheus.yml");
    let mut file = std::fs::File::create(&config).expect("config file");
    write!(
        file,
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
         scrape_configs:\n  - job_name: cairn\n    scrape_timeout: 1s\n    \
         static_configs:\n      - targets: ['{target}']\n"
    )
    .expect("write config");
    let addr = format!("127.0.0.1:{}", free_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("cannot start prometheus (scripts/test.sh installs Debian's package): {e}")
        });
    Prometheus { child, addr }
}

/// Percent-encodes a PromQL query for a URL.
fn encode(query: &str) -> String {
    query
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The first sample value of an instant query, if the result has one.
fn query(prometheus: &Prometheus, promql: &str) -> Option<f64> {
    let path = format!("/api/v1/query?query={}", encode(promql));
    // Prometheus may still be starting: not listening yet is "no value yet".
    std::net::TcpStream::connect(&prometheus.addr).ok()?;
    let (status, body) = get(&prometheus.addr, &path);
    if status != 200 {
        return None;
    }
    let doc: serde_json::Value = serde_json::from_str(&body).ok()?;
    let value = doc["data"]["result"].get(0)?["value"].get(1)?.as_str()?;
    value.parse().ok()
}

#[test]
fn prometheus_scrapes_cairn_and_sees_commits_and_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    // With the Redis front end too: its families are in the same exposition.
    let server = Served::start(
        &dir.path().join("data"),
        &["--resp-listen", "127.0.0.1:0"],
        None,
    );
    let prometheus = start_prometheus(dir.path(), &server.metrics_addr);

    // Load: one writer task committing until the checks are done.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (url, stop) = (server.url.clone(), stop.clone());
        runtime.spawn(async move {
            let db = Client::connect(&url, TOKEN).await.expect("connect");
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                db.set(&key!["load", i], KvValue::U64(i))
                    .await
                    .expect("set");
                i += 1;
            }
            i
        })
    };

    let checks = [
        (
            "commit rate",
            "sum(rate(cairn_commits_total{result=\"committed\"}[5s]))",
        ),
        (
            "fsync histogram",
            "sum(rate(cairn_wal_fsync_duration_seconds_count[5s]))",
        ),
        (
            "fsync p99",
            "histogram_quantile(0.99, sum by (le) (rate(cairn_wal_fsync_duration_seconds_bucket[5s])))",
        ),
        ("scrape health", "up{job=\"cairn\"}"),
        (
            "the Redis front end's families",
            "count(cairn_resp_connections) + count(cairn_resp_error_replies_total)",
        ),
    ];
    let started = Instant::now();
    let mut seen: Vec<Option<f64>> = vec![None; checks.len()];
    while seen.iter().any(Option::is_none) && started.elapsed() < DEADLINE {
        for ((_, promql), slot) in checks.iter().zip(seen.iter_mut()) {
            if slot.is_none() {
                *slot = query(&prometheus, promql).filter(|v| *v > 0.0 && v.is_finite());
            }
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::Relaxed);
    let writes = runtime.block_on(writer).expect("writer task");
    for ((name, promql), value) in checks.iter().zip(&seen) {
        assert!(
            value.is_some(),
            "{name}: `{promql}` gave no positive value within {DEADLINE:?} ({writes} writes made)\n{}",
            server.log()
        );
        eprintln!("{name}: {promql} = {value:?}");
    }
}
