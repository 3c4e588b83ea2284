//! `cairn queue ...`: the durable queue of a database directory (`--path`) or a server
//! (`--url`): `stats` prints its counts, `enqueue` adds a message, `listen` consumes messages
//! and prints them. The embedded database and cairn-client offer the same queue calls; this
//! file picks one as [`crate::data::Target`] says.

use std::time::Duration;

use anyhow::bail;
use cairn_model::{EnqueueOptions, KvValue};
use serde_json::json;

use crate::data::Target;
use crate::values;

/// The `queue` subcommands.
#[derive(clap::Subcommand)]
pub enum QueueCommand {
    /// Print the queue's depth (ready, delayed), in-flight and dead-lettered counts.
    Stats {
        #[command(flatten)]
        target: Target,
        /// One JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Enqueue a message: a JavaScript string, or (--json) the value a JSON text describes.
    Enqueue {
        #[command(flatten)]
        target: Target,
        /// The message.
        value: String,
        /// Read the value as JSON.
        #[arg(long)]
        json: bool,
        /// Deliver no earlier than this many milliseconds from now.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
    /// Consume messages until interrupted: print each (`attempt=<n> payload=<hex> <value>`)
    /// and acknowledge it.
    Listen {
        #[command(flatten)]
        target: Target,
        /// Handlers running at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
        /// Lease of each message, in milliseconds.
        #[arg(long, default_value_t = 300_000)]
        visibility_timeout_ms: u64,
        /// Never finish a handler (messages stay leased until the process ends): for tests of
        /// redelivery after a consumer dies.
        #[arg(long, hide = true)]
        hold: bool,
    },
}

/// Runs a `queue` subcommand.
pub async fn run(command: QueueCommand) -> anyhow::Result<()> {
    match command {
        QueueCommand::Stats { target, json } => stats(&target, json).await,
        QueueCommand::Enqueue {
            target,
            value,
            json,
            delay_ms,
        } => {
            let value = if json {
                values::json_value(&value)?
            } else {
                values::string_value(&value)?
            };
            let KvValue::V8(payload) = value else {
                bail!("queue messages are V8-serialized values");
            };
            let options = EnqueueOptions {
                delay: Duration::from_millis(delay_ms),
                ..EnqueueOptions::default()
            };
            let committed = match target.remote().await? {
                Some(client) => client.enqueue(payload, options).await?.is_committed(),
                None => target
                    .open()?
                    .enqueue(payload, options)
                    .await?
                    .is_committed(),
            };
            if !committed {
                bail!("the enqueue was not committed");
            }
            Ok(())
        }
        QueueCommand::Listen {
            target,
            concurrency,
            visibility_timeout_ms,
            hold,
        } => listen(&target, concurrency, visibility_timeout_ms, hold).await,
    }
}

async fn stats(target: &Target, json_output: bool) -> anyhow::Result<()> {
    let (ready, delayed, in_flight, dead_lettered) = match target.remote().await? {
        Some(client) => {
            let s = client.queue_stats().await?;
            (s.ready, s.delayed, s.in_flight, s.dead_lettered)
        }
        None => {
            let s = target.open()?.queue_stats()?;
            (s.ready, s.delayed, s.in_flight, s.dead_lettered)
        }
    };
    if json_output {
        let doc = json!({
            "ready": ready,
            "delayed": delayed,
            "in_flight": in_flight,
            "dead_lettered": dead_lettered,
        });
        println!("{doc}");
    } else {
        println!("ready: {ready}");
        println!("delayed: {delayed}");
        println!("in_flight: {in_flight}");
        println!("dead_lettered: {dead_lettered}");
    }
    Ok(())
}

/// One line per message, flushed at once (a test may kill the process right after reading it).
fn print_message(attempt: u32, payload: &[u8]) {
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let shown = values::show(&KvValue::V8(payload.to_vec()));
    println!("attempt={attempt} payload={hex} {shown}");
}

async fn listen(
    target: &Target,
    concurrency: usize,
    visibility_timeout_ms: u64,
    hold: bool,
) -> anyhow::Result<()> {
    let visibility = Duration::from_millis(visibility_timeout_ms);
    let handle = move |attempt: u32, payload: Vec<u8>| async move {
        print_message(attempt, &payload);
        if hold {
            std::future::pending::<()>().await;
        }
        Ok::<(), String>(())
    };
    match target.remote().await? {
        Some(client) => {
            let options = cairn_client::QueueListenOptions::default()
                .concurrency(concurrency)
                .visibility_timeout(visibility);
            let listener = client.listen_queue(move |d| handle(d.attempt, d.payload), options)?;
            until_interrupted(|| listener.is_finished()).await?;
            listener.close().await?;
        }
        None => {
            let db = target.open()?;
            let options = cairn_store::QueueListenOptions::default()
                .concurrency(concurrency)
                .visibility_timeout(visibility);
            let listener = db.listen_queue(move |d| handle(d.attempt(), d.payload), options)?;
            until_interrupted(|| listener.is_finished()).await?;
            listener.close().await?;
        }
    }
    Ok(())
}

/// Waits for Ctrl-C, or until the listener ended by itself (e.g. a refused token), checked a
/// few times a second: `close` then reports why it ended.
async fn until_interrupted(finished: impl Fn() -> bool) -> anyhow::Result<()> {
    let mut interrupted = std::pin::pin!(tokio::signal::ctrl_c());
    while !finished() {
        tokio::select! {
            result = &mut interrupted => return Ok(result?),
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    Ok(())
}
