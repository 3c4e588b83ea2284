//! The data commands: get, set, delete, list and watch on a database directory.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_model::text::parse_key;
use cairn_model::{Key, KvValue};
use cairn_store::{Database, Entry, Kv, KvList, KvWatch, ListOptions, ListSelector};
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

fn open(path: &Path) -> anyhow::Result<Database> {
    Database::open(path).with_context(|| format!("opening database {}", path.display()))
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

pub async fn get(path: &Path, key_text: &str, json_output: bool) -> anyhow::Result<()> {
    let db = open(path)?;
    match db.get(&key(key_text)?).await? {
        Some(entry) => print_entry(&entry, json_output),
        None if json_output => println!("null"),
        None => println!("{key_text}: not found"),
    }
    Ok(())
}

pub async fn set(
    path: &Path,
    key_text: &str,
    value: &str,
    kind: ValueKind,
    expire_in_ms: Option<u64>,
) -> anyhow::Result<()> {
    let db = open(path)?;
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
    let versionstamp = match expire_in_ms {
        Some(ms) => {
            db.set_expiring(&k, value, Duration::from_millis(ms))
                .await?
        }
        None => db.set(&k, value).await?,
    };
    println!("{versionstamp}");
    Ok(())
}

pub async fn delete(path: &Path, key_text: &str) -> anyhow::Result<()> {
    let db = open(path)?;
    let versionstamp = db.delete(&key(key_text)?).await?;
    println!("{versionstamp}");
    Ok(())
}

pub fn selector(
    prefix: Option<&str>,
    start: Option<&str>,
    end: Option<&str>,
) -> anyhow::Result<ListSelector> {
    Ok(
        match (
            prefix.map(key).transpose()?,
            start.map(key).transpose()?,
            end.map(key).transpose()?,
        ) {
            (Some(prefix), None, None) => ListSelector::Prefix(prefix),
            (Some(prefix), Some(start), None) => ListSelector::PrefixStart { prefix, start },
            (Some(prefix), None, Some(end)) => ListSelector::PrefixEnd { prefix, end },
            (None, Some(start), Some(end)) => ListSelector::Range { start, end },
            _ => bail!("give a prefix, a prefix with --start or --end, or --start and --end"),
        },
    )
}

/// What `list` was asked for besides the selector.
pub struct ListArgs {
    pub limit: Option<usize>,
    pub reverse: bool,
    pub cursor: Option<String>,
    pub json: bool,
}

pub async fn list(path: &Path, selector: ListSelector, args: ListArgs) -> anyhow::Result<()> {
    let db = open(path)?;
    let options = ListOptions {
        limit: args.limit,
        reverse: args.reverse,
        cursor: args.cursor,
        ..Default::default()
    };
    let mut entries = db.list(selector, options)?;
    let mut count = 0usize;
    while let Some(entry) = entries.next().await {
        print_entry(&entry?, args.json);
        count += 1;
    }
    if args.limit.is_some_and(|l| count == l) {
        // On stderr with --json, so that stdout stays one JSON document per line.
        if args.json {
            eprintln!("cursor: {}", entries.cursor());
        } else {
            println!("# cursor: {}", entries.cursor());
        }
    }
    Ok(())
}

pub async fn watch(path: &Path, key_texts: &[String], json_output: bool) -> anyhow::Result<()> {
    let db = open(path)?;
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
