//! `cairn serve`: flags, environment and config file into a `ServerConfig`, logging, signals.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use cairn_server::config::{parse_durability, FileConfig};
use cairn_server::{ServerConfig, TokenGrant};

// The flags' doc comments are clap's `--help` text, read in a terminal: `<name>` and
// `[archive]` there are placeholders for people, not HTML or links for rustdoc.
#[allow(
    rustdoc::invalid_html_tags,
    rustdoc::broken_intra_doc_links,
    reason = "doc comments here are --help text"
)]
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Directory holding the databases (one subdirectory each). [default: cairn-data]
    #[arg(long, env = "CAIRN_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on. [default: 127.0.0.1:4512]
    #[arg(long, env = "CAIRN_LISTEN")]
    listen: Option<SocketAddr>,
    /// A read-write access token for every database (repeatable). DENO_KV_ACCESS_TOKEN is
    /// honoured too, so cairn can stand in for the reference server with the same environment.
    #[arg(long = "access-token")]
    access_tokens: Vec<String>,
    /// A read-only access token for every database (repeatable).
    #[arg(long = "read-only-token")]
    read_only_tokens: Vec<String>,
    /// TOML configuration file (see the README); flags override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// "sync" (default: acknowledged writes survive power loss) or "relaxed".
    #[arg(long)]
    durability: Option<String>,
    /// Log format on stderr: text or json.
    #[arg(long, default_value = "text")]
    log_format: String,
    /// Archive every database continuously to DEST (a directory or s3://bucket/prefix), each
    /// under its name; settings in the config file's [archive] table.
    #[arg(long, env = "CAIRN_ARCHIVE")]
    archive: Option<String>,
    /// Threads serving HTTP. [default: the machine's cores less one, at least one: the other
    /// core is left to the commit pipeline]
    #[arg(long, env = "CAIRN_HTTP_THREADS")]
    http_threads: Option<usize>,
    /// Most databases the server holds, those on disk included; creating one more is refused
    /// with 403. [default: 100]
    #[arg(long, env = "CAIRN_DATABASES_MAX")]
    databases_max: Option<usize>,
    /// Serve GET /metrics on the main listener to requests bearing this token.
    #[arg(long, env = "CAIRN_METRICS_TOKEN")]
    metrics_token: Option<String>,
    /// Also serve /metrics (no token), /healthz and /readyz on this address.
    #[arg(long, env = "CAIRN_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Log requests slower than this many milliseconds (0: none). [default: 1000]
    #[arg(long, env = "CAIRN_SLOW_REQUEST_MS")]
    slow_request_ms: Option<u64>,
    /// Count nothing: no request counts, no database statistics (to measure their cost).
    #[arg(long)]
    no_metrics: bool,
    /// Most bytes of request bodies the server holds at once; past it, requests are answered
    /// 503 with Retry-After (nothing applied). [default: 67108864 (64 MiB)]
    #[arg(long)]
    body_bytes_in_flight_max: Option<usize>,
    /// Most bytes of writes in each database's commit pipeline; a write to a database whose
    /// queue is full is answered 503 with Retry-After (nothing applied). At least the largest
    /// write (819,200 bytes plus 256). [default: 67108864 (64 MiB)]
    #[arg(long)]
    commit_queue_bytes_max: Option<usize>,
    /// Follow the database at URL as a read-only replica (repeatable):
    /// http://host:port for the primary's default database, http://host:port/db/NAME for
    /// another; the local database has the same name. Needs --replication-token.
    #[arg(long = "replica-of", env = "CAIRN_REPLICA_OF", value_delimiter = ',')]
    replica_of: Vec<String>,
    /// The replication stream's token: replicas present it to this server (which then keeps
    /// a stream of durable batches for them), and this server to the primaries it follows.
    #[arg(long, env = "CAIRN_REPLICATION_TOKEN", hide_env_values = true)]
    replication_token: Option<String>,
    /// This server's URL as clients reach it, e.g. http://10.0.0.2:4512; the primaries it
    /// follows list it as an eventual endpoint. [default: http://<listen address>]
    #[arg(long, env = "CAIRN_ADVERTISE_URL")]
    advertise_url: Option<String>,
    /// Acknowledge a commit only once this many replicas have it durable. [default: 0]
    #[arg(long, env = "CAIRN_SYNC_REPLICAS")]
    sync_replicas: Option<usize>,
    /// Longest a commit waits for its synchronous replicas, ms; then it is answered 424
    /// (durable here, not acknowledged). [default: 10000]
    #[arg(long, env = "CAIRN_SYNC_TIMEOUT_MS")]
    sync_timeout_ms: Option<u64>,
    /// Bytes of the newest durable batches kept per database for replicas; one further
    /// behind catches up from --archive. [default: 67108864 (64 MiB)]
    #[arg(long)]
    replication_retained_bytes: Option<u64>,
    /// What this server's replicas list in the metadata exchange: "primary" (the primary as
    /// strong, the replica as eventual) or "replica" (only the replica, so that the Deno
    /// runtime, which sends every call to the strong endpoint, reads here; its strong reads
    /// and writes then fail with the reason). [default: primary]
    #[arg(long, env = "CAIRN_REPLICA_ENDPOINTS")]
    replica_endpoints: Option<String>,
    /// What a replica does when its primary refuses it as diverged (it holds batches the
    /// primary never had: a deposed primary's unacknowledged tail) or no longer retains its
    /// position and no --archive reaches it: "auto" rebuilds it from a snapshot of the
    /// primary, keeping the old copy as <name>.discarded-<epoch>-<position>; "never" leaves
    /// it refused until an operator acts. [default: auto]
    #[arg(long, env = "CAIRN_REPLICA_REBUILD")]
    replica_rebuild: Option<String>,
    /// Do not serve the web console at /console (the JSON API under /api/v1 stays).
    #[arg(long)]
    no_console: bool,
    /// An origin whose web pages may read the JSON API's answers (CORS; repeatable, "*" for
    /// any). [default: none: no cross-origin access]
    #[arg(long = "cors-origin")]
    cors_origins: Vec<String>,
    /// Also serve the Redis protocol (RESP2/RESP3) on this address, with the same databases
    /// and tokens (AUTH <token>; SELECT n is database "db<n>", 0 is "default"); see
    /// docs/resp.md. [default: off]
    #[arg(long, env = "CAIRN_RESP_LISTEN")]
    resp_listen: Option<SocketAddr>,
    /// Join a failover group: etcd client URLs (comma-separated, http://host:port). The
    /// group's members elect the primary of its databases through a leader key under an etcd
    /// lease (docs/design/failover.md). Needs --failover-group, --node-name,
    /// --replication-token and --advertise-url. [default: off]
    #[arg(long, env = "CAIRN_ETCD", value_delimiter = ',')]
    etcd: Vec<String>,
    /// The failover group's name (its etcd keys live under /cairn/<group>/).
    #[arg(long, env = "CAIRN_FAILOVER_GROUP")]
    failover_group: Option<String>,
    /// This member's name in the failover group (unique in it).
    #[arg(long, env = "CAIRN_NODE_NAME")]
    node_name: Option<String>,
    /// The etcd lease TTL, seconds: a primary that cannot renew stops acknowledging before
    /// it, and another member can be elected after it. [default: 10]
    #[arg(long, env = "CAIRN_FAILOVER_TTL_S")]
    failover_ttl_s: Option<u64>,
    /// Pause between a member's rounds (lease renewal, reading the leader), ms. Must satisfy
    /// renew + 2 × retry-timeout ≤ TTL. [default: 2000]
    #[arg(long, env = "CAIRN_FAILOVER_RENEW_MS")]
    failover_renew_ms: Option<u64>,
    /// Longest one etcd operation may take over all --etcd endpoints, ms. [default: 4000]
    #[arg(long, env = "CAIRN_FAILOVER_RETRY_TIMEOUT_MS")]
    failover_retry_timeout_ms: Option<u64>,
    /// This member never becomes the failover group's primary.
    #[arg(long)]
    no_promote: bool,
    /// The databases the failover group replicates (comma-separated). [default: default]
    #[arg(long, env = "CAIRN_FAILOVER_DATABASES", value_delimiter = ',')]
    failover_databases: Vec<String>,
}

/// `cairn serve`: reads the configuration, then serves on a runtime of `http_threads`
/// worker threads until SIGINT or SIGTERM.
pub fn main(args: ServeArgs) -> anyhow::Result<()> {
    let prepared = prepare(args)?;
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(prepared.http_threads)
        .enable_all()
        .build()?
        .block_on(run(prepared))
}

/// A server ready to start: its configuration, and how many threads its runtime should have.
struct Prepared {
    config: ServerConfig,
    /// Worker threads of the Tokio runtime that serves HTTP.
    http_threads: usize,
}

/// Reads flags, environment and config file, and starts logging: everything that must be
/// known before the runtime is built.
fn prepare(args: ServeArgs) -> anyhow::Result<Prepared> {
    init_logging(&args.log_format)?;
    let failover = failover_settings(&args)?;
    let file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(anyhow::Error::msg)?,
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("cairn-data"));
    let mut config = ServerConfig::new(data_dir);
    if let Some(listen) = args.listen.or(file.listen) {
        config.listen = listen;
    }
    if let Some(mode) = args.durability.or(file.durability) {
        config.durability = parse_durability(&mode).map_err(anyhow::Error::msg)?;
    }
    if let Some(ttl) = file.data_token_ttl_s {
        config.data_token_ttl_s = ttl;
    }
    if let Some(max) = file.watches_per_token_max {
        config.watches_per_token_max = max;
    }
    match args.databases_max.or(file.databases_max) {
        Some(0) => bail!("--databases-max must be at least 1"),
        Some(max) => config.databases_max = max,
        None => {}
    }
    config.metrics_token = args.metrics_token.or(file.metrics_token);
    config.metrics_listen = args.metrics_listen.or(file.metrics_listen);
    if let Some(ms) = args.slow_request_ms.or(file.slow_request_ms) {
        config.slow_request_ms = ms;
    }
    config.metrics = !args.no_metrics;
    if let Some(bytes) = args
        .body_bytes_in_flight_max
        .or(file.body_bytes_in_flight_max)
    {
        config.body_bytes_in_flight_max = bytes;
    }
    if let Some(bytes) = args.commit_queue_bytes_max.or(file.commit_queue_bytes_max) {
        config.commit_queue_bytes_max = bytes;
    }
    config.indexes = file
        .indexes
        .iter()
        .map(|i| i.declared().map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<_>>()?;
    config.console = !args.no_console && file.console.unwrap_or(true);
    config.api_cors_origins = file.cors_origins;
    config.api_cors_origins.extend(args.cors_origins);
    config.resp_listen = args.resp_listen.or(file.resp_listen);
    config.tokens = file.tokens;
    config.tokens.extend(
        args.access_tokens
            .into_iter()
            .map(TokenGrant::read_write_all),
    );
    config.tokens.extend(
        args.read_only_tokens
            .into_iter()
            .map(TokenGrant::read_only_all),
    );
    if let Ok(token) = std::env::var("DENO_KV_ACCESS_TOKEN") {
        config.tokens.push(TokenGrant::read_write_all(token));
    }
    if config.tokens.is_empty() {
        bail!("no access token: pass --access-token, set DENO_KV_ACCESS_TOKEN, or list tokens in --config");
    }
    config.archive = archive_config(args.archive, file.archive)?;
    config.replication = replication_settings(
        ReplicationFlags {
            replica_of: args.replica_of,
            token: args.replication_token,
            advertise_url: args.advertise_url,
            sync_replicas: args.sync_replicas,
            sync_timeout_ms: args.sync_timeout_ms,
            retained_bytes: args.replication_retained_bytes,
            endpoints: args.replica_endpoints,
            rebuild: args.replica_rebuild,
        },
        file.replication.unwrap_or_default(),
    )?;
    config.failover = failover;
    let http_threads = match args.http_threads.or(file.http_threads) {
        Some(0) => bail!("--http-threads must be at least 1"),
        Some(n) => n,
        None => default_http_threads(),
    };
    Ok(Prepared {
        config,
        http_threads,
    })
}

/// A failover group's membership from `--etcd` and the flags beside it.
fn failover_settings(
    args: &ServeArgs,
) -> anyhow::Result<Option<cairn_server::failover::FailoverSettings>> {
    if args.etcd.is_empty() {
        if args.failover_group.is_some() || args.node_name.is_some() || args.no_promote {
            bail!("--failover-group, --node-name and --no-promote need --etcd");
        }
        return Ok(None);
    }
    let (Some(group), Some(node)) = (&args.failover_group, &args.node_name) else {
        bail!("--etcd needs --failover-group and --node-name");
    };
    if args.advertise_url.is_none() {
        bail!("--etcd needs --advertise-url: the URL where the other members and the clients reach this one");
    }
    let mut settings = cairn_server::failover::FailoverSettings::new(
        args.etcd.clone(),
        group.clone(),
        node.clone(),
    );
    if let Some(ttl) = args.failover_ttl_s {
        settings.ttl_s = ttl;
    }
    if let Some(ms) = args.failover_renew_ms {
        settings.renew_ms = ms;
    }
    if let Some(ms) = args.failover_retry_timeout_ms {
        settings.retry_timeout_ms = ms;
    }
    settings.promote = !args.no_promote;
    if !args.failover_databases.is_empty() {
        settings.databases = args.failover_databases.clone();
    }
    settings.check().map_err(anyhow::Error::msg)?;
    Ok(Some(settings))
}

/// Archiving from `--archive` and the `[archive]` table (the flag's destination wins).
fn archive_config(
    flag: Option<String>,
    table: Option<cairn_server::config::ArchiveFileConfig>,
) -> anyhow::Result<Option<cairn_store::archive::ArchiveConfig>> {
    let table = table.unwrap_or_default();
    let Some(to) = flag.or_else(|| table.to.clone()) else {
        return Ok(None);
    };
    let mut config = cairn_store::archive::ArchiveConfig::new(
        crate::backup_cmd::destination(&to)?,
        cairn_server::registry::DEFAULT_DATABASE,
    );
    table.apply(&mut config);
    if config.ship_interval_ms == 0 {
        bail!("archive ship_interval_ms must be at least 1");
    }
    tracing::info!(destination = %to, "archiving every committed batch");
    Ok(Some(config))
}

/// Replication's flags (each overrides the `[replication]` table's setting).
struct ReplicationFlags {
    replica_of: Vec<String>,
    token: Option<String>,
    advertise_url: Option<String>,
    sync_replicas: Option<usize>,
    sync_timeout_ms: Option<u64>,
    retained_bytes: Option<u64>,
    endpoints: Option<String>,
    rebuild: Option<String>,
}

/// Replication from the flags and the `[replication]` table.
fn replication_settings(
    flags: ReplicationFlags,
    table: cairn_server::config::ReplicationFileConfig,
) -> anyhow::Result<cairn_server::config::ReplicationSettings> {
    let mut settings = cairn_server::config::ReplicationSettings::default();
    let urls = if flags.replica_of.is_empty() {
        table.replica_of.unwrap_or_default()
    } else {
        flags.replica_of
    };
    for url in urls {
        let (name, url) =
            cairn_server::config::parse_replica_of(&url).map_err(anyhow::Error::msg)?;
        if settings.primary_of(&name).is_some() {
            bail!("--replica-of names database {name:?} twice");
        }
        settings.replica_of.push((name, url));
    }
    settings.token = flags.token.or(table.token);
    settings.advertise_url = flags.advertise_url.or(table.advertise_url);
    if let Some(url) = &settings.advertise_url {
        if !url.starts_with("http://") {
            bail!("--advertise-url {url:?} must start with http://");
        }
    }
    if let Some(n) = flags.sync_replicas.or(table.sync_replicas) {
        settings.sync_replicas = n;
    }
    if let Some(ms) = flags.sync_timeout_ms.or(table.sync_timeout_ms) {
        if ms == 0 {
            bail!("--sync-timeout-ms must be at least 1");
        }
        settings.sync_timeout_ms = ms;
    }
    if let Some(bytes) = flags.retained_bytes.or(table.retained_bytes) {
        settings.retained_bytes = bytes;
    }
    use cairn_server::config::ReplicaEndpoints;
    settings.replica_endpoints = match flags.endpoints.as_deref() {
        None => table.replica_endpoints.unwrap_or_default(),
        Some("primary") => ReplicaEndpoints::Primary,
        Some("replica") => ReplicaEndpoints::Replica,
        Some(other) => bail!("--replica-endpoints must be primary or replica, not {other:?}"),
    };
    use cairn_server::config::ReplicaRebuild;
    settings.rebuild = match flags.rebuild.as_deref() {
        None => table.replica_rebuild.unwrap_or_default(),
        Some("auto") => ReplicaRebuild::Auto,
        Some("never") => ReplicaRebuild::Never,
        Some(other) => bail!("--replica-rebuild must be auto or never, not {other:?}"),
    };
    if (!settings.replica_of.is_empty() || settings.sync_replicas > 0) && settings.token.is_none() {
        bail!("--replica-of and --sync-replicas need --replication-token (replicas authenticate with it)");
    }
    for (name, primary) in &settings.replica_of {
        tracing::info!(database = %name, %primary, "a replica of");
    }
    Ok(settings)
}

/// The machine's cores less those left to the commit pipeline, at least one.
fn default_http_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    cores
        .saturating_sub(cairn_server::limits::SERVER_CORES_FOR_COMMITS)
        .max(1)
}

/// Serves until SIGINT or SIGTERM.
async fn run(prepared: Prepared) -> anyhow::Result<()> {
    let Prepared {
        config,
        http_threads,
    } = prepared;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, data_dir = %config.data_dir.display(), http_threads, "cairn serving");
    let metrics_listener = match config.metrics_listen {
        Some(at) => Some(
            tokio::net::TcpListener::bind(at)
                .await
                .with_context(|| format!("listening for metrics on {at}"))?,
        ),
        None => None,
    };
    if let Some(metrics) = &metrics_listener {
        // Before the line below, which scripts take as the sign that everything is up.
        println!("metrics on http://{}/metrics", metrics.local_addr()?);
    }
    let resp = match config.resp_listen {
        Some(address) => Some(
            tokio::net::TcpListener::bind(address)
                .await
                .with_context(|| format!("listening for the Redis protocol on {address}"))?,
        ),
        None => None,
    };
    if let Some(resp) = &resp {
        let resp_addr = resp.local_addr()?;
        tracing::info!(%resp_addr, "serving the Redis protocol");
        println!("resp listening on redis://{resp_addr}");
    }
    // Scripts and tests wait for this line to know the server is ready (and which port it got).
    println!("listening on http://{addr}");
    let Some(resp) = resp else {
        cairn_server::serve_with_metrics(config, listener, metrics_listener, shutdown_signal())
            .await?;
        tracing::info!("shut down cleanly");
        return Ok(());
    };
    // Both front ends share the databases and tokens, and stop on the same signal; the
    // databases close once both have.
    let backend = cairn_server::Backend::open(&config)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        stop.send_replace(true);
    });
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    let limits = config.limits.clone();
    let http = cairn_server::serve_with(
        config,
        backend.clone(),
        listener,
        metrics_listener,
        until_stopped(stopped.clone()),
    );
    let redis = cairn_resp::serve(backend.clone(), limits, resp, until_stopped(stopped));
    let served = tokio::try_join!(http, redis);
    backend.registry.close_all();
    served?;
    tracing::info!("shut down cleanly");
    Ok(())
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.unwrap_or(());
    tracing::info!("shutting down: finishing in-flight requests and commits");
}

fn init_logging(format: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,fjall=warn,lsm_tree=warn"));
    // Colours only on a terminal: logs written to a file or a collector stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        "text" => builder.init(),
        "json" => builder.json().init(),
        other => bail!("--log-format must be text or json, not {other:?}"),
    }
    Ok(())
}
