//! `cairn index ...`: declared secondary indexes of a database directory (`--path`/`--db`) or
//! a server (`--url`): `create` declares one and follows its backfill until it is ready,
//! `drop` removes one, `list` shows them. Written once against `KvIndexes`.

use std::time::Duration;

use anyhow::{bail, Context};
use cairn_model::text::parse_key;
use cairn_model::{IndexInfo, IndexSpec, IndexState, KvIndexes};
use serde_json::json;

use crate::data::Target;

/// How often `index create` looks at the backfill's progress.
const PROGRESS_POLL: Duration = Duration::from_millis(200);

/// The `index` subcommands.
#[derive(clap::Subcommand)]
pub enum IndexCommand {
    /// Declare an index and wait until existing entries are indexed (progress on stderr).
    Create {
        #[command(flatten)]
        target: Target,
        /// The index's name: the first part of every index entry's key.
        name: String,
        /// Entries under this prefix are indexed, e.g. '["users"]'.
        #[arg(long)]
        prefix: String,
        /// A field of the values (`a.b` for a nested one); repeat for a compound index.
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
        /// Refuse a write that would give two entries the same field values.
        #[arg(long)]
        unique: bool,
        /// Return once declared instead of waiting for the backfill.
        #[arg(long)]
        no_wait: bool,
    },
    /// Drop an index (its entries are removed in the background).
    Drop {
        #[command(flatten)]
        target: Target,
        /// The index's name.
        name: String,
    },
    /// List the indexes with their state and counts.
    List {
        #[command(flatten)]
        target: Target,
        /// One JSON document per index.
        #[arg(long)]
        json: bool,
    },
}

/// Runs an `index` subcommand.
pub async fn run(command: IndexCommand) -> anyhow::Result<()> {
    let target = match &command {
        IndexCommand::Create { target, .. }
        | IndexCommand::Drop { target, .. }
        | IndexCommand::List { target, .. } => target.clone(),
    };
    match target.remote().await? {
        Some(client) => execute(&client, command).await,
        None => {
            let db = target.open()?;
            let result = execute(&db, command).await;
            db.close();
            result
        }
    }
}

async fn execute<K: KvIndexes>(db: &K, command: IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Create {
            name,
            prefix,
            fields,
            unique,
            no_wait,
            ..
        } => {
            let spec = IndexSpec {
                name: name.clone(),
                prefix: parse_key(&prefix).context("--prefix")?,
                fields,
                unique,
            };
            let mut info = db.create_index(spec).await?;
            while !no_wait && matches!(info.state, IndexState::Building { .. }) {
                if let IndexState::Building { scanned } = info.state {
                    eprintln!("# {name}: building, {scanned} entries visited");
                }
                tokio::time::sleep(PROGRESS_POLL).await;
                info = find(db, &name).await?;
            }
            println!("{}", line(&info));
            if let IndexState::Failed { reason } = &info.state {
                bail!("index {name:?} failed: {reason}");
            }
            Ok(())
        }
        IndexCommand::Drop { name, .. } => {
            if db.drop_index(&name).await? {
                println!("dropped {name}");
                Ok(())
            } else {
                bail!("no index named {name:?} (or it is being dropped already)")
            }
        }
        IndexCommand::List { json, .. } => {
            for info in db.indexes().await? {
                if json {
                    println!("{}", to_json(&info));
                } else {
                    println!("{}", line(&info));
                }
            }
            Ok(())
        }
    }
}

async fn find<K: KvIndexes>(db: &K, name: &str) -> anyhow::Result<IndexInfo> {
    db.indexes()
        .await?
        .into_iter()
        .find(|i| i.spec.name == name)
        .with_context(|| format!("index {name:?} disappeared (dropped meanwhile?)"))
}

fn state_text(state: &IndexState) -> String {
    match state {
        IndexState::Building { scanned } => format!("building ({scanned} visited)"),
        IndexState::Failed { reason } => format!("failed: {reason}"),
        other => other.name().to_owned(),
    }
}

fn line(info: &IndexInfo) -> String {
    let spec = &info.spec;
    format!(
        "{} prefix={} fields={}{} state={} entries={} undecodable={} oversized={}",
        spec.name,
        spec.prefix,
        spec.fields.join(","),
        if spec.unique { " unique" } else { "" },
        state_text(&info.state),
        info.entries,
        info.undecodable,
        info.oversized
    )
}

fn to_json(info: &IndexInfo) -> serde_json::Value {
    json!({
        "name": info.spec.name,
        "prefix": info.spec.prefix.to_string(),
        "fields": info.spec.fields,
        "unique": info.spec.unique,
        "state": info.state.name(),
        "scanned": match info.state { IndexState::Building { scanned } => Some(scanned), _ => None },
        "failure": match &info.state { IndexState::Failed { reason } => Some(reason.clone()), _ => None },
        "entries": info.entries,
        "undecodable": info.undecodable,
        "oversized": info.oversized,
    })
}
