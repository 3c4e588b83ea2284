//! The data commands: get, set, delete, list on a database directory.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context};
use cairn_model::text::parse_key;
use cairn_model::{Key, KvValue};
use cairn_store::{Database, Entry, ListOptions, ListSelector};

fn key(text: &str) -> anyhow::Result<Key> {
    Ok(parse_key(text)?)
}

fn open(path: &Path) -> anyhow::Result<Database> {
    Database::open(path).with_context(|| format!("opening database {}", path.display()))
}

/// How a value is shown to a person.
pub fn show_value(value: &KvValue) -> String {
    match value {
        KvValue::U64(n) => format!("{n}n (u64)"),
        KvValue::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => format!("{text:?} (bytes)"),
            Err(_) => format!("0x{} (bytes)", hex(b)),
        },
        KvValue::V8(b) => format!("0x{} (v8)", hex(b)),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn print_entry(entry: &Entry) {
    println!(
        "{} = {}  @{}",
        entry.key,
        show_value(&entry.value),
        entry.versionstamp
    );
}

pub async fn get(path: &Path, key_text: &str) -> anyhow::Result<()> {
    let db = open(path)?;
    match db.get(&key(key_text)?).await? {
        Some(entry) => print_entry(&entry),
        None => println!("{key_text}: not found"),
    }
    Ok(())
}

pub async fn set(
    path: &Path,
    key_text: &str,
    value: &str,
    u64: bool,
    expire_in_ms: Option<u64>,
) -> anyhow::Result<()> {
    let db = open(path)?;
    let k = key(key_text)?;
    let value = if u64 {
        KvValue::U64(
            value
                .parse()
                .with_context(|| format!("{value:?} is not a u64"))?,
        )
    } else {
        KvValue::Bytes(value.as_bytes().to_vec())
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

pub async fn list(
    path: &Path,
    selector: ListSelector,
    limit: Option<usize>,
    reverse: bool,
    cursor: Option<String>,
) -> anyhow::Result<()> {
    let db = open(path)?;
    let options = ListOptions {
        limit,
        reverse,
        cursor,
        ..Default::default()
    };
    let mut entries = db.list(selector, options)?;
    let mut count = 0usize;
    while let Some(entry) = entries.next().await {
        print_entry(&entry?);
        count += 1;
    }
    if limit.is_some_and(|l| count == l) {
        println!("# cursor: {}", entries.cursor());
    }
    Ok(())
}
