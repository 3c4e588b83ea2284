//! `cairn export` (every entry as one NDJSON line, in key order, from one snapshot) and
//! `cairn import` (NDJSON lines loaded in atomic batches), on a `--path` or a `--url`.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use cairn_model::{key, Kv, KvList, ListOptions, ListSelector};

use crate::data::Target;
use crate::ndjson;

/// Entries an import writes per atomic write: half the default limit of 1000 mutations.
const IMPORT_BATCH_ENTRIES: usize = 500;
/// Bytes of NDJSON an import writes per atomic write. A line is longer than the key and value
/// it holds, so a batch stays under the default 819,200 bytes even with one more entry of the
/// largest size (65,536 + 2,048 bytes).
const IMPORT_BATCH_BYTES: usize = 512 * 1024;
/// Progress is printed every this many entries.
const PROGRESS_EVERY: u64 = 10_000;

const _: () = assert!(IMPORT_BATCH_ENTRIES <= 1000);
const _: () = assert!(IMPORT_BATCH_BYTES + 65_536 + 2_048 < 819_200);

/// `cairn export`.
#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    target: Target,
    /// Write here instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
}

/// `cairn import`.
#[derive(clap::Args)]
pub struct ImportArgs {
    #[command(flatten)]
    target: Target,
    /// The NDJSON file (`-`: standard input).
    file: PathBuf,
}

/// `cairn export`.
pub async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = BufWriter::new(out);
    let count = match args.target.remote().await? {
        Some(client) => export_from(&client, &mut out).await?,
        None => {
            let db = args.target.open()?;
            let count = export_from(&db, &mut out).await?;
            db.close();
            count
        }
    };
    out.flush()?;
    eprintln!("exported {count} entries");
    Ok(())
}

async fn export_from<K: Kv>(db: &K, out: &mut impl Write) -> anyhow::Result<u64> {
    let mut list = db
        .list(ListSelector::Prefix(key![]), ListOptions::default())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut count = 0u64;
    while let Some(entry) = list.next().await {
        let entry = entry.map_err(|e| anyhow::anyhow!("{e}"))?;
        serde_json::to_writer(&mut *out, &ndjson::entry_to_json(&entry))?;
        out.write_all(b"\n")?;
        count += 1;
    }
    Ok(count)
}

/// `cairn import`.
pub async fn import(args: ImportArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        let file = std::fs::File::open(&args.file)
            .with_context(|| format!("opening {}", args.file.display()))?;
        Box::new(std::io::BufReader::new(file))
    };
    let count = match args.target.remote().await? {
        Some(client) => import_into(&client, input).await?,
        None => {
            let db = args.target.open()?;
            let count = import_into(&db, input).await;
            db.close();
            count?
        }
    };
    println!("imported {count} entries");
    Ok(())
}

async fn import_into<K: Kv>(db: &K, input: impl BufRead) -> anyhow::Result<u64> {
    let mut batch = Vec::new();
    let mut batch_bytes = 0;
    let mut count = 0u64;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let parse = || -> anyhow::Result<_> {
            let json: serde_json::Value = serde_json::from_str(&line)?;
            let key = ndjson::key_from_json(json.get("key").context("no \"key\"")?)?;
            let value = ndjson::value_from_json(json.get("value").context("no \"value\"")?)?;
            Ok((key, value))
        };
        let (key, value) = parse().with_context(|| format!("line {}", n + 1))?;
        batch_bytes += line.len();
        batch.push((key, value));
        if batch.len() >= IMPORT_BATCH_ENTRIES || batch_bytes >= IMPORT_BATCH_BYTES {
            count += commit(db, std::mem::take(&mut batch), count).await?;
            batch_bytes = 0;
        }
    }
    count += commit(db, batch, count).await?;
    Ok(count)
}

/// Writes one batch atomically; returns its size.
async fn commit<K: Kv>(
    db: &K,
    batch: Vec<(cairn_model::Key, cairn_model::KvValue)>,
    before: u64,
) -> anyhow::Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let n = batch.len() as u64;
    let mut op = db.atomic();
    for (key, value) in &batch {
        op = op.set(key, value.clone());
    }
    op.commit()
        .await
        .map_err(|e| anyhow::anyhow!("importing entries {}..{}: {e}", before + 1, before + n))?;
    if (before + n) / PROGRESS_EVERY > before / PROGRESS_EVERY {
        eprintln!("imported {} entries", before + n);
    }
    Ok(n)
}
