//! `cairn promote --url URL`: turns a running server's replica of a database into its
//! primary (`POST <database URL>/replication/promote`), starting the next epoch.

use anyhow::{bail, Context};

#[derive(clap::Args)]
pub struct PromoteArgs {
    /// The replica's URL of the database: http://host:port (its default database) or
    /// http://host:port/db/NAME.
    #[arg(long)]
    url: String,
    /// The replica server's --replication-token.
    #[arg(long, env = "CAIRN_REPLICATION_TOKEN", hide_env_values = true)]
    replication_token: String,
}

/// Promotes, and prints the new epoch and the promotion's position.
pub async fn run(args: PromoteArgs) -> anyhow::Result<()> {
    let (name, base) = cairn_server::config::parse_replica_of(&args.url)
        .map_err(|e| anyhow::anyhow!(e.replace("--replica-of", "--url")))?;
    let url = format!("{base}/replication/promote");
    let response = reqwest::Client::new()
        .post(&url)
        .bearer_auth(&args.replication_token)
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    if !status.is_success() {
        bail!("POST {url}: {status}: {}", body.trim());
    }
    let answer: serde_json::Value =
        serde_json::from_str(&body).with_context(|| format!("POST {url}: answered {body:?}"))?;
    println!(
        "database {name} is a primary now: epoch {}, from position {}; remove its --replica-of \
         before the server's next start",
        answer["epoch"], answer["position"]
    );
    Ok(())
}
