//! The data commands: get, set, delete, list and watch, on a database directory or a server.
//! Every command is written once against the `Kv` trait; [`run`] picks the implementation
//! (the embedded database for `--path`, cairn-client for `--url`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_client::Client;
use cairn_model::text::parse_key;
use cairn_model::{
    Aggregate, AggregateOptions, Entry, Key, KeyEntry, Kv, KvKeyList, KvList, KvValue, KvWatch,
    ListOptions, ListSelector,
};
use cairn_store::Database;
use serde_json::json;

use crate::values;

/// How `set` reads its value argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ValueKind {
    /// A JavaScript string.
    String,
    /// JSON, stored as the JavaScript value it describes.
    Json,
    /// The text's UTF-8 bytes, as a `Uint8Array`.
    Bytes,
    /// An unsigned 64-bit integer (`Deno.KvU64`).
    U64,
}

fn key(text: &str) -> anyhow::Result<Key> {
    Ok(parse_key(text)?)
}

/// Where the database is: a directory (the default) or a server.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// Database directory (created if missing), or ":memory:". The default is the directory
    /// of the default database `cairn serve` keeps under its default data directory, so that
    /// the command line and a stopped server see the same data (a running server holds the
    /// directory's lock: use --url then).
    #[arg(
        long,
        env = "CAIRN_PATH",
        default_value = "cairn-data/default",
        conflicts_with = "url"
    )]
    pub path: PathBuf,
    /// A KV Connect server instead of a directory, e.g. http://127.0.0.1:4512 or
    /// http://127.0.0.1:4512/db/{name}.
    #[arg(long, env = "CAIRN_URL")]
    pub url: Option<String>,
    /// The access token for --url (as Deno's clients, read from DENO_KV_ACCESS_TOKEN by
    /// default).
    #[arg(long, env = "DENO_KV_ACCESS_TOKEN", hide_env_values = true)]
    pub access_token: Option<String>,
    /// A database by name: with --url, the server's database NAME (URL/db/NAME); without,
    /// the directory cairn-data/NAME that `cairn serve` keeps it in ("default" is the one at
    /// /).
    #[arg(long, value_name = "NAME", conflicts_with = "path")]
    pub db: Option<String>,
}

impl Target {
    /// The server's client for `--url`, or `None` for a directory.
    pub async fn remote(&self) -> anyhow::Result<Option<Client>> {
        let url = match (&self.url, &self.db) {
            (Some(url), Some(db)) if db != "default" => {
                format!("{}/db/{db}", url.trim_end_matches('/'))
            }
            (Some(url), _) => url.clone(),
            (None, _) => return Ok(None),
        };
        Ok(Some(connect(&url, self.access_token.as_deref()).await?))
    }

    /// The database directory of `--path` (or `--db`).
    pub fn open(&self) -> anyhow::Result<Database> {
        let path = match &self.db {
            Some(db) => std::path::Path::new("cairn-data").join(db),
            None => self.path.clone(),
        };
        Database::open(&path).with_context(|| format!("opening database {}", path.display()))
    }
}

/// Connects to the KV Connect server at `url` (the one place the CLI does).
pub async fn connect(url: &str, access_token: Option<&str>) -> anyhow::Result<Client> {
    let token = access_token
        .context("--url needs an access token: --access-token or DENO_KV_ACCESS_TOKEN")?;
    Client::connect(url, token)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// One data command, with its arguments parsed.
pub enum Op {
    /// Print a key's entry.
    Get { key: String, json: bool },
    /// Set a key.
    Set {
        key: String,
        value: String,
        kind: ValueKind,
        expire_in_ms: Option<u64>,
    },
    /// Delete a key.
    Delete { key: String },
    /// List entries.
    List {
        selector: ListSelector,
        args: ListArgs,
    },
    /// Watch keys until interrupted.
    Watch { keys: Vec<String>, json: bool },
    /// Count the entries of a selector.
    Count { selector: ListSelector, json: bool },
    /// Aggregate the numbers of a selector.
    Aggregate {
        selector: ListSelector,
        field: Option<String>,
        json: bool,
    },
}

/// Runs `op` on the database `target` names.
pub async fn run(target: &Target, op: Op) -> anyhow::Result<()> {
    match target.remote().await? {
        Some(client) => execute(&client, op).await,
        None => execute(&target.open()?, op).await,
    }
}

async fn execute<K: Kv>(db: &K, op: Op) -> anyhow::Result<()> {
    match op {
        Op::Get { key, json } => get(db, &key, json).await,
        Op::Set {
            key,
            value,
            kind,
            expire_in_ms,
        } => set(db, &key, &value, kind, expire_in_ms).await,
        Op::Delete { key } => delete(db, &key).await,
        Op::List { selector, args } => list(db, selector, args).await,
        Op::Watch { keys, json } => watch(db, &keys, json).await,
        Op::Count { selector, json } => {
            let n = db.count(selector).await?;
            if json {
                println!("{}", json!({ "count": n }));
            } else {
                println!("{n}");
            }
            Ok(())
        }
        Op::Aggregate {
            selector,
            field,
            json,
        } => {
            let aggregate = db.aggregate(selector, AggregateOptions { field }).await?;
            print_aggregate(&aggregate, json);
            Ok(())
        }
    }
}

fn print_entry(entry: &Entry, json_output: bool) {
    if json_output {
        let line = json!({
            "key": entry.key.to_string(),
            "value": values::to_json(&entry.value),
            "versionstamp": entry.versionstamp.to_string(),
        });
        println!("{line}");
    } else {
        println!(
            "{} = {}  @{}",
            entry.key,
            values::show(&entry.value),
            entry.versionstamp
        );
    }
}

async fn get<K: Kv>(db: &K, key_text: &str, json_output: bool) -> anyhow::Result<()> {
    match db.get(&key(key_text)?).await? {
        Some(entry) => print_entry(&entry, json_output),
        None if json_output => println!("null"),
        None => println!("{key_text}: not found"),
    }
    Ok(())
}

async fn set<K: Kv>(
    db: &K,
    key_text: &str,
    value: &str,
    kind: ValueKind,
    expire_in_ms: Option<u64>,
) -> anyhow::Result<()> {
    let k = key(key_text)?;
    let value = match kind {
        ValueKind::String => values::string_value(value)?,
        ValueKind::Json => values::json_value(value)?,
        ValueKind::Bytes => KvValue::Bytes(value.as_bytes().to_vec()),
        ValueKind::U64 => KvValue::U64(
            value
                .parse()
                .with_context(|| format!("{value:?} is not a u64"))?,
        ),
    };
    let op = match expire_in_ms {
        Some(ms) => db
            .atomic()
            .set_expiring(&k, value, Duration::from_millis(ms)),
        None => db.atomic().set(&k, value),
    };
    match op.commit().await? {
        cairn_model::CommitResult::Committed { versionstamp } => {
            println!("{versionstamp}");
            Ok(())
        }
        // No check was asked for: only a unique index refuses a plain set.
        cairn_model::CommitResult::CheckFailed { reason, .. } => bail!(
            "not written: {}",
            reason.unwrap_or_else(|| "the write failed a check".into())
        ),
    }
}

async fn delete<K: Kv>(db: &K, key_text: &str) -> anyhow::Result<()> {
    let versionstamp = db.delete(&key(key_text)?).await?;
    println!("{versionstamp}");
    Ok(())
}

/// Which keys a listing, count or aggregate covers: a prefix, a prefix with a bound, or a
/// range.
#[derive(clap::Args, Clone, Debug)]
pub struct Range {
    /// The prefix, e.g. '["users"]'. Omit with --start/--end.
    prefix: Option<String>,
    /// Inclusive start key.
    #[arg(long)]
    start: Option<String>,
    /// Exclusive end key.
    #[arg(long)]
    end: Option<String>,
}

impl Range {
    pub fn selector(&self) -> anyhow::Result<ListSelector> {
        let parse = |text: &Option<String>| text.as_deref().map(key).transpose();
        Ok(
            match (parse(&self.prefix)?, parse(&self.start)?, parse(&self.end)?) {
                (Some(prefix), None, None) => ListSelector::Prefix(prefix),
                (Some(prefix), Some(start), None) => ListSelector::PrefixStart { prefix, start },
                (Some(prefix), None, Some(end)) => ListSelector::PrefixEnd { prefix, end },
                (None, Some(start), Some(end)) => ListSelector::Range { start, end },
                _ => bail!("give a prefix, a prefix with --start or --end, or --start and --end"),
            },
        )
    }
}

/// What `list` was asked for besides the selector.
pub struct ListArgs {
    pub limit: Option<usize>,
    pub reverse: bool,
    pub cursor: Option<String>,
    pub json: bool,
    pub keys_only: bool,
}

fn print_aggregate(a: &Aggregate, json_output: bool) {
    let show = |n: Option<cairn_model::Number>| n.map(|n| n.to_string());
    let avg = a.avg();
    if json_output {
        let number = |n: Option<cairn_model::Number>| match n {
            Some(cairn_model::Number::Int(i)) => match i64::try_from(i) {
                Ok(small) => json!(small),
                Err(_) => json!(i.to_string()),
            },
            Some(cairn_model::Number::Float(x)) => {
                serde_json::Number::from_f64(x).map_or_else(|| json!(x.to_string()), |n| json!(n))
            }
            None => serde_json::Value::Null,
        };
        let line = json!({
            "count": a.count,
            "sum": number(Some(a.sum)),
            "min": number(a.min),
            "max": number(a.max),
            "avg": avg,
            "skipped": a.skipped,
        });
        println!("{line}");
    } else {
        let or_dash = |s: Option<String>| s.unwrap_or_else(|| "-".into());
        println!(
            "count={} sum={} min={} max={} avg={} skipped={}",
            a.count,
            a.sum,
            or_dash(show(a.min)),
            or_dash(show(a.max)),
            or_dash(avg.map(|x| x.to_string())),
            a.skipped
        );
    }
}

fn print_key(entry: &KeyEntry, json_output: bool) {
    if json_output {
        let line = json!({
            "key": entry.key.to_string(),
            "versionstamp": entry.versionstamp.to_string(),
        });
        println!("{line}");
    } else {
        println!("{}  @{}", entry.key, entry.versionstamp);
    }
}

async fn list<K: Kv>(db: &K, selector: ListSelector, args: ListArgs) -> anyhow::Result<()> {
    let options = ListOptions {
        limit: args.limit,
        reverse: args.reverse,
        cursor: args.cursor,
        ..Default::default()
    };
    let (count, cursor) = if args.keys_only {
        let mut keys = db.list_keys(selector, options)?;
        let mut count = 0usize;
        while let Some(entry) = keys.next().await {
            print_key(&entry?, args.json);
            count += 1;
        }
        (count, keys.cursor())
    } else {
        let mut entries = db.list(selector, options)?;
        let mut count = 0usize;
        while let Some(entry) = entries.next().await {
            print_entry(&entry?, args.json);
            count += 1;
        }
        (count, entries.cursor())
    };
    if args.limit.is_some_and(|l| count == l) {
        // On stderr with --json, so that stdout stays one JSON document per line.
        if args.json {
            eprintln!("cursor: {cursor}");
        } else {
            println!("# cursor: {cursor}");
        }
    }
    Ok(())
}

async fn watch<K: Kv>(db: &K, key_texts: &[String], json_output: bool) -> anyhow::Result<()> {
    let keys = key_texts
        .iter()
        .map(|k| key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut watch = db.watch(keys.clone())?;
    loop {
        let entries = watch.next().await?;
        for (k, entry) in keys.iter().zip(&entries) {
            match entry {
                Some(entry) => print_entry(entry, json_output),
                None if json_output => {
                    println!("{}", json!({ "key": k.to_string(), "value": null }))
                }
                None => println!("{k}: not found"),
            }
        }
    }
}
