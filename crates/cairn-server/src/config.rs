//! Server configuration: flags, environment and an optional TOML file all end up here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cairn_model::{IndexSpec, Limits};
use cairn_store::Durability;
use serde::Deserialize;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    /// Reads and writes.
    ReadWrite,
    /// Reads only; writes are refused with `AW_WRITE_DISABLED`.
    ReadOnly,
}

/// An access token and what it grants.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TokenGrant {
    /// The bearer token clients send (`DENO_KV_ACCESS_TOKEN`).
    pub token: String,
    /// Database names it opens; `["*"]` (the default) for every database.
    #[serde(default = "all_databases")]
    pub databases: Vec<String>,
    /// Read-write (default) or read-only.
    #[serde(default = "read_write")]
    pub access: Access,
}

fn all_databases() -> Vec<String> {
    vec!["*".into()]
}

fn read_write() -> Access {
    Access::ReadWrite
}

impl TokenGrant {
    /// A read-write token for every database.
    pub fn read_write_all(token: impl Into<String>) -> Self {
        TokenGrant {
            token: token.into(),
            databases: all_databases(),
            access: Access::ReadWrite,
        }
    }

    /// A read-only token for every database.
    pub fn read_only_all(token: impl Into<String>) -> Self {
        TokenGrant {
            token: token.into(),
            databases: all_databases(),
            access: Access::ReadOnly,
        }
    }

    /// True if the token opens database `name`.
    pub fn opens(&self, name: &str) -> bool {
        self.databases.iter().any(|d| d == "*" || d == name)
    }
}

/// Databases a server holds unless configured otherwise (`databases_max`). Each open
/// database has threads of its own (commit pipeline, sweeper, queue dispatcher, engine
/// worker) and engine memory, so a server does not create them without bound.
pub const DATABASES_MAX_DEFAULT: usize = 100;
/// Requests slower than this are logged by default (`--slow-request-ms`).
pub const SLOW_REQUEST_MS_DEFAULT: u64 = 1000;

/// Everything the server needs to run.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Directory holding one subdirectory per database.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Access tokens.
    pub tokens: Vec<TokenGrant>,
    /// Durability of every database.
    pub durability: Durability,
    /// Request limits of every database.
    pub limits: Limits,
    /// Lifetime of data-path tokens handed out by the metadata exchange, in seconds.
    pub data_token_ttl_s: u64,
    /// Concurrent watch streams one access token may hold.
    pub watches_per_token_max: usize,
    /// Largest request body, in bytes.
    pub body_bytes_max: usize,
    /// Continuous archiving of the databases (`cairn serve --archive`), each under its name.
    pub archive: Option<cairn_store::archive::ArchiveConfig>,
    /// Most databases the server holds (those on disk count); past it, creating one is
    /// refused with 403.
    pub databases_max: usize,
    /// Bearer token of `GET /metrics` on the main listener; `None`: not served there.
    pub metrics_token: Option<String>,
    /// Serve `/metrics` (no token), `/healthz` and `/readyz` on a listener of their own too.
    pub metrics_listen: Option<SocketAddr>,
    /// Requests slower than this are logged (`slow request`, with their id); 0 logs none.
    pub slow_request_ms: u64,
    /// Count HTTP requests and keep the databases' statistics (`--no-metrics` turns both
    /// off, to measure what they cost).
    pub metrics: bool,
    /// Most bytes of request bodies the whole server holds at once, from before a body is
    /// read until its answer is ready (announced `Content-Length`, or `body_bytes_max` for a
    /// body without one). Past it, requests are answered 503 with `Retry-After` and nothing
    /// applied. At least `body_bytes_max`.
    pub body_bytes_in_flight_max: usize,
    /// Most bytes of writes in each database's commit pipeline (cairn-store's
    /// `Config::commit_queue_bytes_max`). A write to a database whose queue is full is
    /// answered 503 with `Retry-After` and nothing applied.
    pub commit_queue_bytes_max: usize,
    /// Replication: the databases this server follows, the replication token, synchronous
    /// replicas.
    pub replication: ReplicationSettings,
    /// Serve the web console at `/console` (`--no-console` turns it off).
    pub console: bool,
    /// Origins whose pages may read the JSON API's answers (CORS); empty (the default)
    /// answers no cross-origin request, `"*"` any origin.
    pub api_cors_origins: Vec<String>,
    /// Address of the Redis protocol front end (crate `cairn-resp`), if it is on; it serves
    /// the same databases with the same tokens (see docs/resp.md).
    pub resp_listen: Option<SocketAddr>,
    /// Secondary indexes each database must have: created (and built in the background)
    /// when the database is opened, if missing.
    pub indexes: Vec<DeclaredIndex>,
    /// Membership of a failover group (`--etcd`): the election decides which member is the
    /// primary of its databases.
    pub failover: Option<crate::failover::FailoverSettings>,
}

/// A secondary index the configuration declares for one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredIndex {
    /// The database's name (`"default"` for the one at `/`).
    pub database: String,
    /// The index.
    pub spec: IndexSpec,
}

/// An index as the TOML file writes it (`[[indexes]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileIndex {
    /// The database (default: `"default"`).
    #[serde(default = "default_database")]
    pub database: String,
    /// The index's name.
    pub name: String,
    /// The indexed prefix, as key text: `'["users"]'`.
    pub prefix: String,
    /// The fields, in order.
    pub fields: Vec<String>,
    /// One entry per combination of values at most.
    #[serde(default)]
    pub unique: bool,
}

fn default_database() -> String {
    crate::registry::DEFAULT_DATABASE.to_owned()
}

impl FileIndex {
    /// The declaration, checked.
    pub fn declared(&self) -> Result<DeclaredIndex, String> {
        let prefix = cairn_model::text::parse_key(&self.prefix)
            .map_err(|e| format!("index {:?}: prefix: {e}", self.name))?;
        let spec = IndexSpec {
            name: self.name.clone(),
            prefix,
            fields: self.fields.clone(),
            unique: self.unique,
        };
        spec.validate()
            .map_err(|e| format!("index {:?}: {e}", self.name))?;
        Ok(DeclaredIndex {
            database: self.database.clone(),
            spec,
        })
    }
}

/// A server's replication settings (`cairn serve --replica-of`, `[replication]`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReplicationSettings {
    /// Databases this server follows: `(local name, the primary's URL of that database)`.
    /// The name is the database's on the primary too (tokens name it).
    pub replica_of: Vec<(String, String)>,
    /// The bearer token of the replication stream: accepted from replicas (a server without
    /// one keeps no stream and serves none), and presented to primaries.
    pub token: Option<String>,
    /// This server's base URL as clients reach it; a primary lists it (with the database's
    /// path) as an `eventual` endpoint. Default: `http://<listen address>`.
    pub advertise_url: Option<String>,
    /// Replicas that must have a commit durable before it is acknowledged.
    pub sync_replicas: usize,
    /// Longest a commit waits for them, ms.
    pub sync_timeout_ms: u64,
    /// Bytes of the newest durable batches kept for replicas, per database.
    pub retained_bytes: u64,
    /// What a replica's metadata exchange lists.
    pub replica_endpoints: ReplicaEndpoints,
    /// Whether a replica diverged from its primary, or behind its retained stream with no
    /// usable archive, rebuilds itself from a snapshot of the primary (`--replica-rebuild`).
    pub rebuild: ReplicaRebuild,
}

/// `--replica-rebuild`: what a replica does when its primary refuses it as diverged (409),
/// or no longer retains its position (410) and no archive can bring it there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaRebuild {
    /// Fetch a snapshot of the primary, keep the old copy aside as
    /// `<name>.discarded-<epoch>-<position>`, swap, stream on.
    #[default]
    Auto,
    /// Stay refused until an operator moves the copy away (or an archive catches it up).
    Never,
}

/// The endpoints a replica's metadata exchange lists (`--replica-endpoints`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReplicaEndpoints {
    /// The primary as `strong`, the replica as `eventual`: clients that route eventual
    /// reads (`@deno/kv`) read here, everything else goes to the primary.
    #[default]
    Primary,
    /// Only the replica, as the `strong` endpoint (the Deno runtime sends every call to the
    /// first `strong` endpoint, whatever the read's consistency): eventual reads are served
    /// here; strong reads are answered `read_is_strongly_consistent: false`, which the
    /// clients refuse, and writes 421 naming the primary.
    Replica,
}

impl Default for ReplicationSettings {
    fn default() -> Self {
        ReplicationSettings {
            replica_of: Vec::new(),
            token: None,
            advertise_url: None,
            sync_replicas: 0,
            sync_timeout_ms: cairn_store::limits::REPLICATION_SYNC_TIMEOUT_MS_DEFAULT,
            retained_bytes: cairn_store::limits::REPLICATION_RETAINED_BYTES_DEFAULT,
            replica_endpoints: ReplicaEndpoints::Primary,
            rebuild: ReplicaRebuild::Auto,
        }
    }
}

impl ReplicationSettings {
    /// The primary's URL of database `name`, if this server follows it.
    pub fn primary_of(&self, name: &str) -> Option<&str> {
        self.replica_of
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, url)| url.as_str())
    }
}

/// The database a `--replica-of` URL names and the URL itself, normalized: `http://host:port`
/// (the default database) or `http://host:port/db/<name>`.
pub fn parse_replica_of(url: &str) -> Result<(String, String), String> {
    let trimmed = url.trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .ok_or_else(|| format!("--replica-of {url:?}: must start with http://"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() {
        return Err(format!("--replica-of {url:?}: names no host"));
    }
    let name = match path {
        "" => crate::registry::DEFAULT_DATABASE.to_owned(),
        p => p
            .strip_prefix("/db/")
            .filter(|n| !n.contains('/'))
            .ok_or_else(|| format!("--replica-of {url:?}: the path must be empty or /db/<name>"))?
            .to_owned(),
    };
    crate::registry::validate_name(&name).map_err(|e| format!("--replica-of {url:?}: {e}"))?;
    Ok((name, trimmed.to_owned()))
}

impl ServerConfig {
    /// Defaults for a data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 4512)),
            tokens: Vec::new(),
            durability: Durability::Sync,
            limits: Limits::default(),
            data_token_ttl_s: 15 * 60,
            watches_per_token_max: 64,
            archive: None,
            body_bytes_max: crate::limits::BODY_BYTES_MAX_DEFAULT,
            body_bytes_in_flight_max: crate::limits::BODY_BYTES_IN_FLIGHT_MAX_DEFAULT,
            commit_queue_bytes_max: cairn_store::COMMIT_QUEUE_BYTES_MAX_DEFAULT,
            databases_max: DATABASES_MAX_DEFAULT,
            indexes: Vec::new(),
            failover: None,
            resp_listen: None,
            metrics_token: None,
            metrics_listen: None,
            slow_request_ms: SLOW_REQUEST_MS_DEFAULT,
            metrics: true,
            replication: ReplicationSettings::default(),
            console: true,
            api_cors_origins: Vec::new(),
        }
    }
}

/// The TOML file (`--config`). Every field is optional; flags override the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory.
    pub data_dir: Option<PathBuf>,
    /// Listen address, e.g. "127.0.0.1:4512".
    pub listen: Option<SocketAddr>,
    /// "sync" or "relaxed".
    pub durability: Option<String>,
    /// Access tokens.
    #[serde(default)]
    pub tokens: Vec<TokenGrant>,
    /// Lifetime of data-path tokens, seconds.
    pub data_token_ttl_s: Option<u64>,
    /// Concurrent watches per token.
    pub watches_per_token_max: Option<usize>,
    /// Threads serving HTTP (see `cairn serve --http-threads`).
    pub http_threads: Option<usize>,
    /// Continuous archiving (`[archive]`).
    pub archive: Option<ArchiveFileConfig>,
    /// Most databases the server holds (see `cairn serve --databases-max`).
    pub databases_max: Option<usize>,
    /// Bearer token of `/metrics` on the main listener.
    pub metrics_token: Option<String>,
    /// Address of the metrics listener (`/metrics` without a token, `/healthz`, `/readyz`).
    pub metrics_listen: Option<SocketAddr>,
    /// Slow-request log threshold, milliseconds (0: off).
    pub slow_request_ms: Option<u64>,
    /// Bytes of request bodies in flight on the server (see `--body-bytes-in-flight-max`).
    pub body_bytes_in_flight_max: Option<usize>,
    /// Bytes of writes in each database's commit pipeline (see `--commit-queue-bytes-max`).
    pub commit_queue_bytes_max: Option<usize>,
    /// Secondary indexes each database must have.
    #[serde(default)]
    pub indexes: Vec<FileIndex>,
    /// Replication (`[replication]`).
    pub replication: Option<ReplicationFileConfig>,
    /// Serve the web console at `/console` (default true).
    pub console: Option<bool>,
    /// Origins whose pages may read the JSON API's answers (see `--cors-origin`).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// Address of the Redis protocol front end (see `cairn serve --resp-listen`).
    pub resp_listen: Option<SocketAddr>,
}

/// The `[replication]` table (see `cairn serve --replica-of` and [`ReplicationSettings`]).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationFileConfig {
    /// Primary URLs of the databases this server follows (`http://host:port[/db/<name>]`).
    pub replica_of: Option<Vec<String>>,
    /// The replication stream's bearer token.
    pub token: Option<String>,
    /// This server's URL as clients reach it.
    pub advertise_url: Option<String>,
    /// Replicas that must have a commit durable before it is acknowledged.
    pub sync_replicas: Option<usize>,
    /// Longest a commit waits for them, ms.
    pub sync_timeout_ms: Option<u64>,
    /// Bytes of durable batches kept for replicas, per database.
    pub retained_bytes: Option<u64>,
    /// What a replica's metadata exchange lists: "primary" or "replica".
    pub replica_endpoints: Option<ReplicaEndpoints>,
    /// Whether a diverged or too-far-behind replica rebuilds from its primary: "auto" or
    /// "never".
    pub replica_rebuild: Option<ReplicaRebuild>,
}

/// The `[archive]` table: where and how to archive (see `cairn_store::archive::ArchiveConfig`
/// for each bound's meaning and default).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveFileConfig {
    /// Destination: a directory or s3://bucket/prefix.
    pub to: Option<String>,
    /// Databases archived; absent or `["*"]`: all.
    pub databases: Option<Vec<String>>,
    /// Longest a batch waits before it is shipped, ms.
    pub ship_interval_ms: Option<u64>,
    /// A snapshot at least this often, ms.
    pub snapshot_interval_ms: Option<u64>,
    /// A snapshot after this much log, bytes.
    pub snapshot_log_bytes: Option<u64>,
    /// Snapshots kept.
    pub retention_snapshots: Option<u32>,
    /// Snapshots older than this are removed, ms.
    pub retention_ms: Option<u64>,
    /// Unshipped log kept while the destination fails, bytes (past it: a gap and a new range).
    pub unshipped_bytes_max: Option<u64>,
}

impl ArchiveFileConfig {
    /// Applies the table's settings to `config`.
    pub fn apply(&self, config: &mut cairn_store::archive::ArchiveConfig) {
        let set = |slot: &mut u64, value: Option<u64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut config.ship_interval_ms, self.ship_interval_ms);
        set(&mut config.snapshot_interval_ms, self.snapshot_interval_ms);
        set(&mut config.snapshot_log_bytes, self.snapshot_log_bytes);
        set(&mut config.retention_ms, self.retention_ms);
        set(&mut config.unshipped_bytes_max, self.unshipped_bytes_max);
        if let Some(n) = self.retention_snapshots {
            config.retention_snapshots = n;
        }
        if let Some(names) = &self.databases {
            config.databases = names
                .iter()
                .filter(|n| n.as_str() != "*")
                .cloned()
                .collect();
        }
    }
}

impl FileConfig {
    /// Reads and parses a TOML file.
    pub fn load(path: &Path) -> Result<FileConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("parsing {}: {e}", path.display()))
    }
}

/// Parses a durability mode name.
pub fn parse_durability(text: &str) -> Result<Durability, String> {
    match text {
        "sync" => Ok(Durability::Sync),
        "relaxed" => Ok(Durability::Relaxed),
        other => Err(format!(
            "durability must be \"sync\" or \"relaxed\", not {other:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_config_parses_tokens_with_defaults() {
        let text = r#"
            listen = "127.0.0.1:9000"
            durability = "relaxed"
            databases_max = 7
            [[tokens]]
            token = "admin"
            [[tokens]]
            token = "reader"
            databases = ["app"]
            access = "read-only"
        "#;
        let config: FileConfig = toml::from_str(text).expect("parses");
        assert_eq!(config.databases_max, Some(7));
        assert_eq!(config.tokens[0], TokenGrant::read_write_all("admin"));
        assert!(config.tokens[1].opens("app") && !config.tokens[1].opens("other"));
        assert_eq!(config.tokens[1].access, Access::ReadOnly);
        assert!(toml::from_str::<FileConfig>("bogus = 1").is_err());
    }

    #[test]
    fn file_config_declares_indexes() {
        let text = r#"
            [[indexes]]
            name = "by_email"
            prefix = '["users"]'
            fields = ["email"]
            unique = true
            [[indexes]]
            database = "app"
            name = "by_city"
            prefix = '["people", 1n]'
            fields = ["address.city", "name"]
        "#;
        let config: FileConfig = toml::from_str(text).expect("parses");
        let declared: Vec<_> = config
            .indexes
            .iter()
            .map(|i| i.declared().expect("valid"))
            .collect();
        assert_eq!(declared[0].database, "default");
        assert!(declared[0].spec.unique);
        assert_eq!(declared[1].spec.fields, ["address.city", "name"]);
        let bad: FileConfig =
            toml::from_str("[[indexes]]\nname = \"x\"\nprefix = \"users\"\nfields = [\"a\"]\n")
                .expect("parses");
        assert!(bad.indexes[0].declared().is_err());
    }

    #[test]
    fn replica_of_names_the_database_of_its_url() {
        assert_eq!(
            parse_replica_of("http://p:4512/"),
            Ok(("default".into(), "http://p:4512".into()))
        );
        assert_eq!(
            parse_replica_of("http://p:4512/db/app"),
            Ok(("app".into(), "http://p:4512/db/app".into()))
        );
        for bad in [
            "https://p",
            "http://",
            "http://p/data",
            "http://p/db/A",
            "http://p/db/a/b",
        ] {
            assert!(parse_replica_of(bad).is_err(), "{bad}");
        }
        let text = "[replication]\nreplica_of = [\"http://p:1\"]\nsync_replicas = 1\n";
        let config: FileConfig = toml::from_str(text).expect("parses");
        assert_eq!(config.replication.and_then(|r| r.sync_replicas), Some(1));
    }

    #[test]
    fn file_config_parses_console_and_cors() {
        let text = "console = false\ncors_origins = [\"https://app.example\"]\n";
        let config: FileConfig = toml::from_str(text).expect("parses");
        assert_eq!(config.console, Some(false));
        assert_eq!(config.cors_origins, ["https://app.example"]);
        let defaults = ServerConfig::new("d");
        assert!(defaults.console && defaults.api_cors_origins.is_empty());
    }

    #[test]
    fn file_config_parses_memory_bounds() {
        let text = "body_bytes_in_flight_max = 33554432\ncommit_queue_bytes_max = 16777216\n";
        let config: FileConfig = toml::from_str(text).expect("parses");
        assert_eq!(config.body_bytes_in_flight_max, Some(32 << 20));
        assert_eq!(config.commit_queue_bytes_max, Some(16 << 20));
    }

    #[test]
    fn file_config_parses_the_resp_address() {
        let config: FileConfig =
            toml::from_str("resp_listen = \"127.0.0.1:6379\"\n").expect("parses");
        assert_eq!(
            config.resp_listen,
            Some(SocketAddr::from(([127, 0, 0, 1], 6379)))
        );
    }
}
