//! `cairn backup` (a snapshot now, or the archive's restorable ranges with `list`) and
//! `cairn restore`: the command line over `cairn_store::archive`.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use cairn_store::archive::{
    backup_snapshot, list_databases, restore_to_dir, ArchiveConfig, Catalog, Destination, LocalDir,
    RestoreTarget,
};
use cairn_store::{Database, Versionstamp};

/// `cairn backup`.
#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    command: Option<BackupCommand>,
    /// Database directory to back up (not open in a server: its lock is held there; use --url).
    #[arg(long, default_value = "cairn-data/default")]
    path: PathBuf,
    /// Ask a running `cairn serve --archive DEST` for a snapshot into its own archive.
    #[arg(long, conflicts_with_all = ["to", "name"])]
    url: Option<String>,
    /// Read-write access token for --url.
    #[arg(long, env = "DENO_KV_ACCESS_TOKEN", hide_env_values = true)]
    access_token: Option<String>,
    /// With --url: the database (repeatable). [default: the default database]
    #[arg(long = "database", requires = "url")]
    databases: Vec<String>,
    /// With --url: every database the token opens.
    #[arg(long, requires = "url", conflicts_with = "databases")]
    all: bool,
    /// Archive destination: a directory or s3://bucket/prefix.
    #[arg(long)]
    to: Option<String>,
    /// The database's name in the archive. [default: the directory's name]
    #[arg(long)]
    name: Option<String>,
}

#[derive(clap::Subcommand)]
enum BackupCommand {
    /// Print the restorable ranges (first and last versionstamp and time) of every database.
    List {
        /// Archive: a directory or s3://bucket/prefix.
        #[arg(long)]
        from: String,
    },
}

/// `cairn restore`.
#[derive(clap::Args)]
pub struct RestoreArgs {
    /// Archive: a directory or s3://bucket/prefix.
    #[arg(long)]
    from: String,
    /// New database directory (must not exist or be empty).
    #[arg(long)]
    to: PathBuf,
    /// The database in the archive. [default: the only one]
    #[arg(long)]
    database: Option<String>,
    /// Restore every commit up to this versionstamp (20 hex digits).
    #[arg(long, conflicts_with = "at_time")]
    at_versionstamp: Option<String>,
    /// Restore every commit made up to this time (RFC 3339, UTC, e.g. 2026-12-03T09:00:00Z).
    #[arg(long)]
    at_time: Option<String>,
}

/// A destination from its command-line form.
pub fn destination(text: &str) -> anyhow::Result<Arc<dyn Destination>> {
    if text.starts_with("s3://") {
        return crate::backup_s3::destination(text);
    }
    if text.contains("://") {
        bail!("unsupported archive destination {text:?}: use a directory or s3://bucket/prefix");
    }
    Ok(Arc::new(LocalDir::new(text)))
}

/// `cairn backup`.
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    if let Some(BackupCommand::List { from }) = args.command {
        return list(&from);
    }
    if let Some(url) = &args.url {
        return backup_remote(url, &args);
    }
    let Some(to) = args.to else {
        bail!("cairn backup needs --to DEST (or `cairn backup list --from DEST`)");
    };
    let name = match args.name {
        Some(name) => name,
        None => args
            .path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("default")
            .to_owned(),
    };
    let db = Database::open(&args.path)
        .with_context(|| format!("opening database {}", args.path.display()))?;
    let config = ArchiveConfig::new(destination(&to)?, &name);
    let started = std::time::Instant::now();
    let done = backup_snapshot(&db, &config).context("writing the snapshot")?;
    db.close();
    let elapsed = started.elapsed();
    println!(
        "backed up {} as {name}: range {}, {} entries at versionstamp {} in {:.2}s ({:.0} entries/s)",
        args.path.display(),
        done.range,
        done.entries,
        Versionstamp::new(done.commit_version, 0),
        elapsed.as_secs_f64(),
        done.entries as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    Ok(())
}

/// `cairn backup --url`: `POST /backup`, `/db/<name>/backup` or `/backup/all`.
fn backup_remote(url: &str, args: &BackupArgs) -> anyhow::Result<()> {
    let token = args
        .access_token
        .as_deref()
        .context("--url needs a read-write access token: --access-token or DENO_KV_ACCESS_TOKEN")?;
    let base = url.trim_end_matches('/');
    let paths: Vec<String> = if args.all {
        vec![format!("{base}/backup/all")]
    } else if args.databases.is_empty() {
        vec![format!("{base}/backup")]
    } else {
        args.databases
            .iter()
            .map(|name| format!("{base}/db/{name}/backup"))
            .collect()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = reqwest::Client::new();
        for path in paths {
            let response = client
                .post(&path)
                .bearer_auth(token)
                .send()
                .await
                .with_context(|| format!("POST {path}"))?;
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            if !status.is_success() {
                bail!("POST {path}: {status}: {}", body.trim());
            }
            let done: Vec<serde_json::Value> = serde_json::from_str(&body)
                .with_context(|| format!("POST {path}: unexpected answer {body:?}"))?;
            for d in done {
                println!(
                    "backed up {} on the server: range {}, {} entries at versionstamp {}",
                    d["database"].as_str().unwrap_or("?"),
                    d["range"],
                    d["entries"],
                    d["versionstamp"].as_str().unwrap_or("?")
                );
            }
        }
        Ok(())
    })
}

fn list(from: &str) -> anyhow::Result<()> {
    let dest = destination(from)?;
    let databases = list_databases(dest.as_ref())?;
    if databases.is_empty() {
        println!("no database archived in {from}");
    }
    for name in databases {
        let config = ArchiveConfig::new(dest.clone(), &name);
        let prefixed = config.prefixed();
        let summaries = Catalog::load(&prefixed)?.summaries(&prefixed)?;
        println!("{name}:");
        if summaries.is_empty() {
            println!("  no complete snapshot yet");
        }
        for s in summaries {
            println!(
                "  range {}: {} ({}) .. {} ({}); {} snapshots, {} log segments; opened: {}",
                s.range,
                Versionstamp::new(s.first_commit_version, 0),
                cairn_proto::metadata::rfc3339_ms(s.first_time_ms),
                Versionstamp::new(s.last_commit_version, 0),
                cairn_proto::metadata::rfc3339_ms(s.last_time_ms),
                s.snapshots,
                s.segments,
                s.reason
            );
        }
    }
    Ok(())
}

/// `cairn restore`.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let target = match (&args.at_versionstamp, &args.at_time) {
        (Some(v), _) => {
            let vs: Versionstamp = v
                .parse()
                .map_err(|e| anyhow::anyhow!("--at-versionstamp {v:?}: {e}"))?;
            RestoreTarget::CommitVersion(vs.commit_version())
        }
        (None, Some(t)) => RestoreTarget::TimeMs(
            cairn_proto::metadata::parse_rfc3339_ms(t).with_context(|| {
                format!("--at-time {t:?} is not an RFC 3339 UTC time (e.g. 2026-12-03T09:00:00Z)")
            })?,
        ),
        (None, None) => RestoreTarget::Latest,
    };
    let dest = destination(&args.from)?;
    let name = match args.database {
        Some(name) => name,
        None => {
            let mut names = list_databases(dest.as_ref())?;
            match names.len() {
                1 => names.remove(0),
                0 => bail!("no database archived in {}", args.from),
                _ => bail!(
                    "{} holds several databases ({}): choose one with --database",
                    args.from,
                    names.join(", ")
                ),
            }
        }
    };
    let config = ArchiveConfig::new(dest, &name);
    let started = std::time::Instant::now();
    let report = restore_to_dir(
        &config.prefixed(),
        target,
        &args.to,
        cairn_store::limits::ENGINE_CACHE_BYTES_DEFAULT,
    )?;
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    let entries = report.snapshot_entries + report.log_ops;
    println!(
        "restored {name} into {} at commit version {} (versionstamp {}): snapshot of range {} ({} entries) and {} log batches ({} operations) in {elapsed:.2}s ({:.0} entries/s)",
        args.to.display(),
        report.commit_version,
        Versionstamp::new(report.commit_version, 0),
        report.range,
        report.snapshot_entries,
        report.batches_replayed,
        report.log_ops,
        entries as f64 / elapsed
    );
    Ok(())
}
