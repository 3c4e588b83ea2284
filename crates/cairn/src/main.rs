//! `cairn`: data commands on a database directory or a server, the server, and benchmarks.

// The commit path allocates many small buffers per write; mimalloc measured about 20% more
// durable atomic writes per second than the system allocator in `cairn bench`.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod backup_cmd;
mod backup_s3;
mod bench;
mod bench_expiry;
mod bench_index;
mod bench_queue;
mod bench_replication;
mod bench_soak;
mod data;
mod export_cmd;
mod index_cmd;
mod ndjson;
mod promote_cmd;
mod queue_cmd;
mod serve;
mod stats_cmd;
mod values;

use clap::{Parser, Subcommand};
use data::Op;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "A transactional, ordered key-value database with Deno KV's data model"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the entry of a key.
    Get {
        #[command(flatten)]
        target: data::Target,
        /// The key, e.g. '["users", "alice", 42n]'.
        key: String,
        /// One JSON document per entry.
        #[arg(long)]
        json: bool,
    },
    /// Set a key.
    Set {
        #[command(flatten)]
        target: data::Target,
        /// The key, e.g. '["users", "alice"]'.
        key: String,
        /// The value (read as --type says).
        value: String,
        /// How to read the value: a JavaScript string (default), JSON, bytes or a u64.
        #[arg(long = "type", value_enum, default_value = "string")]
        kind: data::ValueKind,
        /// Expire the key this many milliseconds from now.
        #[arg(long)]
        expire_in_ms: Option<u64>,
    },
    /// Delete a key.
    Delete {
        #[command(flatten)]
        target: data::Target,
        /// The key.
        key: String,
    },
    /// List entries under a prefix (or between --start and --end).
    List {
        #[command(flatten)]
        target: data::Target,
        #[command(flatten)]
        range: data::Range,
        /// Most entries.
        #[arg(long)]
        limit: Option<usize>,
        /// Descending order.
        #[arg(long)]
        reverse: bool,
        /// Resume from a cursor printed by an earlier listing.
        #[arg(long)]
        cursor: Option<String>,
        /// One JSON document per entry.
        #[arg(long)]
        json: bool,
        /// Keys and versionstamps only, without reading values.
        #[arg(long)]
        keys_only: bool,
    },
    /// Count the entries under a prefix (or between --start and --end), on one snapshot.
    Count {
        #[command(flatten)]
        target: data::Target,
        #[command(flatten)]
        range: data::Range,
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Count, sum, min, max and average of the numbers under a prefix (u64s, JavaScript
    /// numbers and bigints, JSON numbers), or of one field of object values.
    Aggregate {
        #[command(flatten)]
        target: data::Target,
        #[command(flatten)]
        range: data::Range,
        /// Aggregate this field of object values (`a.b` for a nested one).
        #[arg(long)]
        field: Option<String>,
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Secondary indexes: create, drop, list.
    Index {
        #[command(subcommand)]
        command: index_cmd::IndexCommand,
    },
    /// Print the entries of keys now and each time one changes (until interrupted).
    Watch {
        #[command(flatten)]
        target: data::Target,
        /// Up to 10 keys.
        #[arg(required = true)]
        keys: Vec<String>,
        /// One JSON document per entry.
        #[arg(long)]
        json: bool,
    },
    /// The durable queue: stats, enqueue, listen.
    Queue {
        #[command(subcommand)]
        command: queue_cmd::QueueCommand,
    },
    /// What a database is doing: size, keys, commit rate and latency, queue, poisoned or not.
    Stats(stats_cmd::StatsArgs),
    /// Run the embedded benchmark workloads on a fresh database.
    Bench(bench::BenchArgs),
    /// Write every entry as one NDJSON line (denoland/kv-utils' entry JSON).
    Export(export_cmd::ExportArgs),
    /// Load NDJSON entries (as `cairn export` writes them) in atomic batches.
    Import(export_cmd::ImportArgs),
    /// Write a consistent snapshot of a database to an archive (`backup list`: what an archive holds).
    Backup(backup_cmd::BackupArgs),
    /// Build a new database directory from an archive, at its latest point or an earlier one.
    Restore(backup_cmd::RestoreArgs),
    /// Serve databases over KV Connect (Deno.openKv("http://...") and @deno/kv).
    Serve(Box<serve::ServeArgs>),
    /// Turn a running server's replica of a database into its primary (a new epoch).
    Promote(promote_cmd::PromoteArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // The server's configuration decides its runtime's size (`--http-threads`).
    let command = match cli.command {
        Command::Serve(args) => return serve::main(*args),
        Command::Backup(args) => return backup_cmd::backup(args),
        Command::Restore(args) => return backup_cmd::restore(args),
        other => other,
    };
    // The benchmark's load generator runs on one worker thread so that the database's own
    // threads (evaluator, writers, engine workers) keep the other core. It is still the
    // multi-thread scheduler: a current-thread runtime writes its eventfd for every task woken
    // from another thread, where this one wakes its parked worker once per burst (the
    // pipeline answers a whole batch at a time). Everything else gets the default runtime.
    let runtime = match command {
        Command::Bench(_) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()?,
        _ => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?,
    };
    runtime.block_on(async move {
        match command {
            Command::Get { target, key, json } => data::run(&target, Op::Get { key, json }).await,
            Command::Set {
                target,
                key,
                value,
                kind,
                expire_in_ms,
            } => {
                let op = Op::Set {
                    key,
                    value,
                    kind,
                    expire_in_ms,
                };
                data::run(&target, op).await
            }
            Command::Delete { target, key } => data::run(&target, Op::Delete { key }).await,
            Command::List {
                target,
                range,
                limit,
                reverse,
                cursor,
                json,
                keys_only,
            } => {
                let selector = range.selector()?;
                let args = data::ListArgs {
                    limit,
                    reverse,
                    cursor,
                    json,
                    keys_only,
                };
                data::run(&target, Op::List { selector, args }).await
            }
            Command::Count {
                target,
                range,
                json,
            } => {
                let selector = range.selector()?;
                data::run(&target, Op::Count { selector, json }).await
            }
            Command::Aggregate {
                target,
                range,
                field,
                json,
            } => {
                let selector = range.selector()?;
                let op = Op::Aggregate {
                    selector,
                    field,
                    json,
                };
                data::run(&target, op).await
            }
            Command::Index { command } => index_cmd::run(command).await,
            Command::Watch { target, keys, json } => {
                data::run(&target, Op::Watch { keys, json }).await
            }
            Command::Queue { command } => queue_cmd::run(command).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Export(args) => export_cmd::export(args).await,
            Command::Import(args) => export_cmd::import(args).await,
            Command::Stats(args) => stats_cmd::run(args).await,
            Command::Promote(args) => promote_cmd::run(args).await,
            Command::Serve(_) | Command::Backup(_) | Command::Restore(_) => {
                unreachable!("handled before the runtime is built")
            }
        }
    })
}
