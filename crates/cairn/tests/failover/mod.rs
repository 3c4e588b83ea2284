//! Machinery of the failover tests: a 3-member etcd 3.4 cluster on loopback (Debian's
//! `etcd-server`, free ports, temporary directories) and a group of `cairn serve` members
//! that elect their primary through it.
//!
//! Members' roles cross processes, so the tests learn them from each member's `/metrics`
//! (`cairn_failover_role`): bounded waits that poll, as the replication tests do.

#![allow(
    dead_code,
    reason = "each failover test file uses a different subset of the machinery"
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use crate::replication::{Node, TOKEN, WAIT};

/// `GET path` from `addr`; `None` when nothing answers (a killed member).
pub fn try_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let addr_parsed: std::net::SocketAddr = addr.parse().ok()?;
    let mut stream =
        std::net::TcpStream::connect_timeout(&addr_parsed, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// The lease TTL of the test groups, seconds, and the timeouts that fit it
/// (renew + 2 × retry ≤ TTL). An etcd leader's loss takes etcd about a second to get over
/// on loopback (election timeout 500 ms): the TTL leaves room for that.
pub const TTL_S: &str = "3";
const RENEW_MS: &str = "500";
const RETRY_TIMEOUT_MS: &str = "1000";

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One etcd member.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    dir: PathBuf,
    child: Option<Child>,
}

/// A 3-member etcd cluster on loopback; killed on drop.
pub struct Etcd {
    members: Vec<Member>,
    cluster: String,
    /// A second address the members serve clients on.
    host: Option<String>,
}

impl Etcd {
    /// Starts the cluster in directories under `dir` and waits until it is healthy.
    pub fn start(dir: &Path) -> Etcd {
        Etcd::start_on(dir, None)
    }

    /// [`Etcd::start`], the members also serving clients on `host` (an address of this
    /// machine other than loopback, for a member in a network namespace).
    pub fn start_on(dir: &Path, host: Option<&str>) -> Etcd {
        let members: Vec<Member> = (0..3)
            .map(|i| Member {
                name: format!("e{i}"),
                client: free_port(),
                peer: free_port(),
                dir: dir.join(format!("etcd-{i}")),
                child: None,
            })
            .collect();
        let cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer))
            .collect::<Vec<_>>()
            .join(",");
        let mut etcd = Etcd {
            members,
            cluster,
            host: host.map(str::to_owned),
        };
        for i in 0..3 {
            etcd.spawn(i);
        }
        etcd.wait_healthy(&[0, 1, 2]);
        etcd
    }

    fn spawn(&mut self, i: usize) {
        let cluster = self.cluster.clone();
        let m = &mut self.members[i];
        let client = format!("http://127.0.0.1:{}", m.client);
        let listen = match &self.host {
            Some(host) => format!("{client},http://{host}:{}", m.client),
            None => client.clone(),
        };
        let peer = format!("http://127.0.0.1:{}", m.peer);
        let child = Command::new("etcd")
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(&m.dir)
            .args([
                "--listen-client-urls",
                &listen,
                "--advertise-client-urls",
                &client,
            ])
            .args([
                "--listen-peer-urls",
                &peer,
                "--initial-advertise-peer-urls",
                &peer,
            ])
            .args([
                "--initial-cluster",
                &cluster,
                "--initial-cluster-state",
                "new",
            ])
            .args(["--initial-cluster-token", "cairn-failover-test"])
            // Loopback: short heartbeats, quick elections.
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting etcd (Debian's etcd-server; scripts/test.sh installs it)");
        m.child = Some(child);
    }

    /// The client URLs, comma-separated (`--etcd`).
    pub fn endpoints(&self) -> String {
        self.endpoints_on("127.0.0.1")
    }

    /// The client URLs on address `host`, comma-separated.
    pub fn endpoints_on(&self, host: &str) -> String {
        self.members
            .iter()
            .map(|m| format!("http://{host}:{}", m.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Waits until the members `which` answer their health check with a leader elected.
    pub fn wait_healthy(&self, which: &[usize]) {
        let deadline = Instant::now() + WAIT;
        for &i in which {
            let addr = format!("127.0.0.1:{}", self.members[i].client);
            loop {
                let (status, body) = try_get(&addr, "/health").unwrap_or_default();
                if status == 200 && body.contains("\"true\"") {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "etcd member {i} not healthy: {body}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// SIGKILLs member `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` again on its data directory.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i);
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A failover group's member: its node, name and fixed port.
pub struct Member3 {
    pub node: Node,
    pub name: String,
    pub port: u16,
}

/// The arguments of member `name` on `port` of a group on `etcd`.
pub fn member_args(etcd: &str, name: &str, port: u16, extra: &[&str]) -> Vec<String> {
    let at = format!("127.0.0.1:{port}");
    member_args_at(etcd, name, &at, &at, extra)
}

/// The arguments of member `name` listening on `listen` and reached at `advertise`
/// (host:port each).
pub fn member_args_at(
    etcd: &str,
    name: &str,
    listen: &str,
    advertise: &str,
    extra: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = [
        "--etcd",
        etcd,
        "--failover-group",
        "test",
        "--node-name",
        name,
        "--failover-ttl-s",
        TTL_S,
        "--failover-renew-ms",
        RENEW_MS,
        "--failover-retry-timeout-ms",
        RETRY_TIMEOUT_MS,
        "--sync-replicas",
        "1",
        "--sync-timeout-ms",
        "30000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(["--listen".into(), listen.to_owned()]);
    args.extend(["--advertise-url".into(), format!("http://{advertise}")]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// A group of three members `n0`, `n1`, `n2` under `dir`.
pub fn start_group(dir: &Path, etcd: &Etcd) -> Vec<Member3> {
    (0..3)
        .map(|i| {
            let name = format!("n{i}");
            let port = free_port();
            let args = member_args(&etcd.endpoints(), &name, port, &[]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Member3 {
                node: Node::start(&dir.join(&name), &args),
                name,
                port,
            }
        })
        .collect()
}

/// The member's role as its metrics say (`leader`, `replica`, `candidate`); `None` when it
/// does not answer.
pub fn role(node: &Node) -> Option<&'static str> {
    let (status, body) = try_get(&node.metrics_addr, "/metrics")?;
    if status != 200 {
        return None;
    }
    ["leader", "replica", "candidate"]
        .into_iter()
        .find(|r| body.contains(&format!("cairn_failover_role{{role=\"{r}\"}} 1")))
}

/// Waits until exactly one of `members` (by index, among those `alive`) leads, its lease
/// held, and `replicas` replicas are connected to it; its index.
pub fn wait_for_leader(members: &[Member3], alive: &[usize], replicas: usize) -> usize {
    let deadline = Instant::now() + WAIT;
    loop {
        let leaders: Vec<usize> = alive
            .iter()
            .copied()
            .filter(|&i| role(&members[i].node) == Some("leader"))
            .collect();
        if let [leader] = leaders[..] {
            let node = &members[leader].node;
            let held = node.metric("cairn_failover_lease", &["state=\"held\""]) == Some(1.0);
            let connected = node
                .metric("cairn_replication_replicas", &["database=\"default\""])
                .unwrap_or(0.0);
            if held && connected >= replicas as f64 {
                return leader;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no single leader with {replicas} replicas: leaders {leaders:?}\n{}",
            alive
                .iter()
                .map(|&i| format!("--- {} ---\n{}", members[i].name, members[i].node.log()))
                .collect::<String>()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cairn-client write acknowledged: key, value, when acknowledged, when sent.
pub type Acked = (cairn_model::Key, u64, Instant, Instant);

/// Write load on a group: cairn-client writers (distinct keys `["acked", tag, w, n]`) and the
/// Deno runtime (`tests/e2e/failover/deno_writer.ts`, keys `["deno", tag, n]`), each through
/// the metadata exchange of `url` (a member that stays up): they find the primary there.
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Acknowledged cairn-client writes, with the time of their acknowledgement and the
    /// time they were sent.
    pub acked: std::sync::Arc<std::sync::Mutex<Vec<Acked>>>,
    /// The Deno writer's lines, with the time they were read.
    pub deno: std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
    writers: Vec<tokio::task::JoinHandle<()>>,
    deno_child: Option<Child>,
    pub tag: u64,
}

/// Cairn-client writers of a load.
pub const WRITERS: u64 = 3;

impl Load {
    /// Starts the load on `runtime` through `url`.
    pub fn start(runtime: &tokio::runtime::Runtime, url: &str, tag: u64, deno_dir: &Path) -> Load {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::{Arc, Mutex};
        let stop = Arc::new(AtomicBool::new(false));
        let acked = Arc::new(Mutex::new(Vec::new()));
        let writers = (0..WRITERS)
            .map(|w| {
                let (stop, acked, url) = (stop.clone(), acked.clone(), url.to_owned());
                runtime.spawn(async move {
                    let mut options = cairn_client::ClientOptions::default();
                    options.retry_budget = Duration::from_secs(2);
                    options.request_timeout = Duration::from_secs(5);
                    // A member's exchange answers 503 while it rebuilds its copy: an
                    // application connects again, and so do these writers.
                    let db = loop {
                        match cairn_client::Client::connect_with(&url, TOKEN, options.clone()).await
                        {
                            Ok(db) => break db,
                            Err(_) if !stop.load(Ordering::SeqCst) => {
                                tokio::time::sleep(Duration::from_millis(50)).await
                            }
                            Err(_) => return,
                        }
                    };
                    for n in 0u64.. {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        let k = cairn_model::key!["acked", tag, w, n];
                        use cairn_model::Kv as _;
                        let sent = Instant::now();
                        match db.set(&k, cairn_model::KvValue::U64(n)).await {
                            Ok(_) => acked
                                .lock()
                                .expect("lock")
                                .push((k, n, Instant::now(), sent)),
                            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                        }
                    }
                })
            })
            .collect();
        let (deno, child) = spawn_deno(&[], url, tag, deno_dir);
        Load {
            stop,
            acked,
            deno,
            writers,
            deno_child: Some(child),
            tag,
        }
    }

    /// A load of the Deno writer alone, run under `wrapper` (e.g. `ip netns exec <ns>`).
    pub fn start_deno(wrapper: &[&str], url: &str, tag: u64, deno_dir: &Path) -> Load {
        let (deno, child) = spawn_deno(wrapper, url, tag, deno_dir);
        Load {
            stop: Default::default(),
            acked: Default::default(),
            deno,
            writers: Vec::new(),
            deno_child: Some(child),
            tag,
        }
    }

    /// Acknowledgements so far (cairn-client's and Deno's).
    pub fn acks(&self) -> usize {
        self.acked.lock().expect("lock").len() + self.deno_acked().len()
    }

    /// Acknowledgements of writes sent after `t`: (cairn-client's, Deno's). An answer the
    /// old primary sent just before `t` does not count.
    pub fn acks_after(&self, t: Instant) -> (usize, usize) {
        let client = self
            .acked
            .lock()
            .expect("lock")
            .iter()
            .filter(|a| a.3 > t)
            .count();
        let deno = self
            .deno
            .lock()
            .expect("lock")
            .windows(2)
            .filter(|w| w[0].1 > t && w[1].0.starts_with("acked "))
            .count();
        (client, deno)
    }

    /// Time from `t` to the first acknowledgement of a write *sent* after it, for each kind
    /// of client (cairn-client's, Deno's): an answer the old primary sent just before `t`
    /// does not count. The Deno writer sends each write right after the line of the one
    /// before, so its writes sent after `t` are those whose previous line is after `t`.
    pub fn first_acks_after(&self, t: Instant) -> (Option<Duration>, Option<Duration>) {
        let client = self
            .acked
            .lock()
            .expect("lock")
            .iter()
            .filter(|a| a.3 > t)
            .map(|a| a.2 - t)
            .min();
        let deno = self.first_deno_ack_sent_after(t).map(|at| at - t);
        (client, deno)
    }

    /// When the Deno runtime got its first acknowledgement of a write sent after `t`.
    fn first_deno_ack_sent_after(&self, t: Instant) -> Option<Instant> {
        let lines = self.deno.lock().expect("lock");
        lines
            .windows(2)
            .find(|w| w[0].1 > t && w[1].0.starts_with("acked "))
            .map(|w| w[1].1)
    }

    /// Waits (bounded) until both kinds of client had `n` acknowledgements after `t`.
    pub fn wait_for_acks_after(&self, t: Instant, n: usize, what: &str) {
        self.wait_for_acks(t, n, n, what)
    }

    /// Waits (bounded) until cairn-client had `client_n` and Deno `deno_n` acknowledgements
    /// after `t`.
    pub fn wait_for_acks(&self, t: Instant, client_n: usize, deno_n: usize, what: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            let (client, deno) = self.acks_after(t);
            if client >= client_n && deno >= deno_n {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {client} cairn-client and {deno} Deno acknowledgements after the event\n{}",
                self.deno_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The n of every write the Deno runtime acknowledged.
    pub fn deno_acked(&self) -> Vec<u64> {
        self.deno
            .lock()
            .expect("lock")
            .iter()
            .filter_map(|(l, _)| l.strip_prefix("acked ")?.split(' ').next()?.parse().ok())
            .collect()
    }

    /// The Deno writer's last lines (for failure messages).
    pub fn deno_tail(&self) -> String {
        let lines = self.deno.lock().expect("lock");
        let from = lines.len().saturating_sub(10);
        lines[from..]
            .iter()
            .map(|(l, _)| format!("{l}\n"))
            .collect()
    }

    /// Stops the writers and the Deno writer.
    pub fn stop(&mut self, runtime: &tokio::runtime::Runtime) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        for w in self.writers.drain(..) {
            let _ = runtime.block_on(w);
        }
        if let Some(mut child) = self.deno_child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The acknowledged writes (either client's) missing on the member at `url`.
    pub fn count_missing(&self, runtime: &tokio::runtime::Runtime, url: &str) -> (usize, usize) {
        use cairn_model::Kv as _;
        let acked = self.acked.lock().expect("lock").clone();
        let deno = self.deno_acked();
        runtime.block_on(async {
            let db = cairn_client::Client::connect(url, TOKEN)
                .await
                .expect("connect");
            let mut missing = 0;
            for (k, v, _, _) in &acked {
                let found = db.get(k).await.expect("get").map(|e| e.value);
                if found != Some(cairn_model::KvValue::U64(*v)) {
                    missing += 1;
                }
            }
            for n in &deno {
                let k = cairn_model::key!["deno", self.tag as f64, *n as f64];
                if db.get(&k).await.expect("get").is_none() {
                    missing += 1;
                }
            }
            (missing, acked.len() + deno.len())
        })
    }

    /// The Deno runtime's write unavailability around `t`: from its last acknowledgement
    /// before `t` to its first acknowledgement of a write sent after `t`.
    pub fn deno_gap_around(&self, t: Instant) -> Option<Duration> {
        let after = self.first_deno_ack_sent_after(t)?;
        let lines = self.deno.lock().expect("lock");
        let before = lines
            .iter()
            .filter(|(l, at)| *at <= t && l.starts_with("acked "))
            .map(|(_, at)| *at)
            .max()?;
        Some(after - before)
    }

    /// Checks that every write acknowledged to either client is on the member at `url`
    /// (read from its own data endpoint: the primary's metadata names itself); the number
    /// of writes checked.
    pub fn check_all_present(&self, runtime: &tokio::runtime::Runtime, url: &str) -> usize {
        use cairn_model::{Kv as _, KvList as _};
        let acked = self.acked.lock().expect("lock").clone();
        let deno = self.deno_acked();
        runtime.block_on(async {
            let db = cairn_client::Client::connect(url, TOKEN)
                .await
                .expect("connect");
            let mut found = std::collections::BTreeMap::new();
            for prefix in [
                cairn_model::key!["acked", self.tag],
                cairn_model::key!["deno", self.tag as f64],
            ] {
                let mut list = db
                    .list(
                        cairn_model::ListSelector::Prefix(prefix),
                        cairn_model::ListOptions::default(),
                    )
                    .expect("list");
                while let Some(entry) = list.next().await {
                    let entry = entry.expect("an entry");
                    found.insert(entry.key, entry.value);
                }
            }
            for (k, v, _, _) in &acked {
                assert_eq!(
                    found.get(k),
                    Some(&cairn_model::KvValue::U64(*v)),
                    "acknowledged write {k} lost"
                );
            }
            for n in &deno {
                let k = cairn_model::key!["deno", self.tag as f64, *n as f64];
                assert!(
                    found.contains_key(&k),
                    "the Deno runtime's acknowledged write {k} lost"
                );
            }
        });
        acked.len() + deno.len()
    }
}

/// The Deno writer's lines as they come, and its process.
type DenoLines = std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>;

fn spawn_deno(wrapper: &[&str], url: &str, tag: u64, deno_dir: &Path) -> (DenoLines, Child) {
    let deno = crate::e2e::deno_binary();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&deno);
            command
        }
        None => Command::new(&deno),
    };
    let mut child = crate::e2e::deno_script(
        &mut command,
        "failover/deno_writer.ts",
        url,
        TOKEN,
        deno_dir,
    )
    .arg(tag.to_string())
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("starting the Deno writer");
    let deno = DenoLines::default();
    let stdout = child.stdout.take().expect("piped");
    let sink = deno.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            sink.lock().expect("lock").push((line, Instant::now()));
        }
    });
    (deno, child)
}

impl Drop for Load {
    fn drop(&mut self) {
        if let Some(mut child) = self.deno_child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until `member` follows the primary `leader` and holds everything the primary has
/// published (the load stopped first): it rejoined as a replica, its own unacknowledged tail
/// (if it had one) discarded.
pub fn wait_rejoined(member: &Node, leader: &Node) {
    member.wait_until("the member rejoined as a replica and caught up", |n| {
        role(n) == Some("replica")
            && n.metric("cairn_replication_follower", &["state=\"streaming\""]) == Some(1.0)
            && n.position() >= leader.position()
            && n.metric("cairn_replication_epoch", &["database=\"default\""])
                == leader.metric("cairn_replication_epoch", &["database=\"default\""])
    });
}

/// A cairn-client writer straight to `url` (not through another member): keys
/// `["direct", n]`; what it was told.
pub async fn direct_writes(
    url: String,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<(cairn_model::Key, u64)> {
    use cairn_model::Kv as _;
    let mut options = cairn_client::ClientOptions::default();
    options.retry_budget = Duration::from_millis(500);
    options.request_timeout = Duration::from_secs(30);
    let db = cairn_client::Client::connect_with(&url, TOKEN, options)
        .await
        .expect("connect");
    let mut acked = Vec::new();
    for n in 0u64.. {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            break;
        }
        let k = cairn_model::key!["direct", n];
        match db.set(&k, cairn_model::KvValue::U64(n)).await {
            Ok(_) => acked.push((k, n)),
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    acked
}

/// Checks that every `(key, n)` of `acked` is on the member at `url`.
pub fn check_present(
    runtime: &tokio::runtime::Runtime,
    url: &str,
    acked: &[(cairn_model::Key, u64)],
) {
    use cairn_model::Kv as _;
    runtime.block_on(async {
        let db = cairn_client::Client::connect(url, TOKEN)
            .await
            .expect("connect");
        for (k, n) in acked {
            let entry = db.get(k).await.expect("get");
            assert_eq!(
                entry.map(|e| e.value),
                Some(cairn_model::KvValue::U64(*n)),
                "acknowledged write {k} lost (split brain?)"
            );
        }
    });
}

/// Waits (bounded) until the metadata exchange of `node` answers (a member rebuilding its
/// copy answers 503 meanwhile); its log on failure.
pub fn wait_exchange(runtime: &tokio::runtime::Runtime, node: &Node) {
    let deadline = Instant::now() + WAIT;
    loop {
        let connected = runtime.block_on(cairn_client::Client::connect(&node.url, TOKEN));
        match connected {
            Ok(_) => return,
            Err(e) => assert!(
                Instant::now() < deadline,
                "the metadata exchange of {} never answered: {e}\n{}",
                node.url,
                node.log()
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
