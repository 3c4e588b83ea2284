//! One connection of a replica to its primary: say where the local copy stands, then apply
//! every batch the primary streams, acknowledging each durable position.
//!
//! Received batches go to the database's pipeline as they arrive: up to
//! [`REPLICATION_APPLY_IN_FLIGHT_MAX`] replicate requests are in it at once, so the replica
//! reads the next batches while it syncs the earlier ones, and its syncs group several of the
//! primary's batches (group commit on the replica too). Each request is sent in stream order
//! before the next is made, so the pipeline applies them in order; their answers come in
//! order too, and each moves the acknowledged position, which a task of its own reports to
//! the primary (one request in flight, always the newest position: acknowledgements
//! coalesce).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use base64::Engine as _;
use cairn_store::replication::{Frame, FrameReader, StreamPosition, StreamRecord};
use cairn_store::Database;
use futures_util::stream::{FuturesOrdered, StreamExt};
use http_body_util::BodyExt;
use hyper::StatusCode;

use super::http::{Answer, Http};
use super::{Ended, Follower};
use crate::limits::{
    REPLICATION_APPLY_IN_FLIGHT_MAX, REPLICATION_ASYNC_ACK_INTERVAL_MS,
    REPLICATION_PENDING_BYTES_MAX, REPLICATION_STREAM_SILENCE_MS,
};
use crate::routes::replication::{SYNC_REPLICAS_HEADER, TOKEN_KEY_HEADER};

type Applying = Pin<Box<dyn Future<Output = cairn_store::Result<StreamPosition>> + Send>>;

/// Connects, streams and applies until the stream ends; says why it ended.
pub(crate) async fn run(follower: &Follower, http: &Http) -> Ended {
    let app = &follower.app;
    let name = follower.name.as_str();
    let local = match app.registry.existing_replica(name).await {
        Ok(local) => local,
        Err(e) => return Ended::Failed(format!("opening the local copy: {e}")),
    };
    let at = local
        .as_ref()
        .map_or(StreamPosition::default(), Database::stream_position);
    let empty = match &local {
        None => true,
        Some(db) => at.position == 0 && db.approximate_key_count().unwrap_or(1) == 0,
    };
    let replica_id = u64::from_be_bytes(
        uuid::Uuid::new_v4().as_bytes()[..8]
            .try_into()
            .unwrap_or_default(),
    );
    let request = serde_json::json!({
        "databaseId": local.as_ref().map(|db| db.database_id().to_string()),
        "epoch": at.epoch,
        "position": at.position,
        "empty": empty,
        "replicaId": replica_id,
        "advertiseUrl": app.advertise_url,
    });
    let Some(token) = app.config.replication.token.as_deref() else {
        return Ended::Refused("no --replication-token to present to the primary".into());
    };
    let url = format!("{}/replication/stream", follower.primary);
    let response = match http.post(&url, token, request.to_string()).await {
        Ok(Answer::Ok(response)) => response,
        Ok(Answer::Status(StatusCode::GONE, text)) => return not_retained(&text),
        Ok(Answer::Status(StatusCode::CONFLICT, text)) if is_diverged(&text) => {
            return Ended::Diverged(text)
        }
        Ok(Answer::Status(status, text)) if status.is_client_error() => {
            return Ended::Refused(format!("the primary answered {status}: {text}"))
        }
        Ok(Answer::Status(status, text)) => {
            return Ended::Failed(format!("the primary answered {status}: {text}"))
        }
        Err(e) => return Ended::Failed(e),
    };
    if let Some(key) = response
        .headers()
        .get(TOKEN_KEY_HEADER)
        .and_then(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(v.as_bytes())
                .ok()
        })
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
    {
        if let Err(e) = app.auth.adopt(name, key) {
            return Ended::Failed(format!("keeping the primary's data-token key: {e}"));
        }
    }
    // A primary without synchronous replicas needs no acknowledgement at once.
    let sync = response
        .headers()
        .get(SYNC_REPLICAS_HEADER)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        .is_none_or(|k| k > 0);
    let mut stream = Stream {
        follower,
        http: http.clone(),
        body: response.into_body(),
        reader: FrameReader::default(),
        db: local,
        replica_id,
        token: token.to_owned(),
        sync,
    };
    stream.follow().await
}

/// A 410: the position is no longer retained; the body says from where it is, and which
/// database the primary holds.
fn not_retained(text: &str) -> Ended {
    let parsed: Option<(u64, String)> = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| {
            Some((
                v.get("oldest")?.as_u64()?,
                v.get("databaseId")?.as_str()?.to_owned(),
            ))
        });
    match parsed.and_then(|(oldest, id)| Some((oldest, uuid::Uuid::parse_str(&id).ok()?))) {
        Some((oldest, database_id)) => Ended::NotRetained {
            oldest,
            database_id,
        },
        None => Ended::Failed(format!("the primary answered 410 with {text:?}")),
    }
}

/// A 409 whose JSON body says `"error": "diverged"` (the other 409s — another database,
/// not a primary — are plain text and stay refusals).
fn is_diverged(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("error").and_then(|e| e.as_str()) == Some("diverged"))
}

struct Stream<'a> {
    follower: &'a Follower,
    http: Http,
    body: hyper::body::Incoming,
    reader: FrameReader,
    db: Option<Database>,
    replica_id: u64,
    token: String,
    /// The primary waits for this replica's acknowledgements (`--sync-replicas` > 0).
    sync: bool,
}

impl Stream<'_> {
    async fn follow(&mut self) -> Ended {
        let mut applying: FuturesOrdered<Applying> = FuturesOrdered::new();
        let ended = self.stream(&mut applying).await;
        // What went into the pipeline finishes before the next session asks for the stream
        // after the published position (else it would be sent those batches again, and
        // refuse them as repeats).
        while applying.next().await.is_some() {}
        ended
    }

    async fn stream(&mut self, applying: &mut FuturesOrdered<Applying>) -> Ended {
        let (ack_tx, ack_rx) = tokio::sync::watch::channel(0u64);
        let acker = tokio::spawn(acknowledge(
            self.http.clone(),
            format!("{}/replication/ack", self.follower.primary),
            self.token.clone(),
            self.replica_id,
            ack_rx,
            self.sync,
        ));
        let _acker = AbortOnDrop(acker);
        let mut pending: Vec<StreamRecord> = Vec::new();
        let mut pending_bytes = 0usize;
        let silence = Duration::from_millis(REPLICATION_STREAM_SILENCE_MS);
        let mut hello_seen = false;
        loop {
            // Hand what arrived to the pipeline, in order, while there is room.
            while !pending.is_empty() && applying.len() < REPLICATION_APPLY_IN_FLIGHT_MAX {
                let Some(db) = self.db.clone() else {
                    return Ended::Failed("records before the primary's hello".into());
                };
                let take = pending
                    .len()
                    .min(cairn_store::limits::REPLICATE_RECORDS_MAX);
                let records: Vec<StreamRecord> = pending.drain(..take).collect();
                pending_bytes -= records.iter().map(|r| r.record.batch.len()).sum::<usize>();
                match db.replicate_send(records).await {
                    Ok(answer) => applying.push_back(Box::pin(answer)),
                    Err(e) => return Ended::Failed(format!("applying the stream: {e}")),
                }
            }
            let reading = pending_bytes < REPLICATION_PENDING_BYTES_MAX;
            tokio::select! {
                Some(applied) = applying.next(), if !applying.is_empty() => match applied {
                    Ok(at) => {
                        ack_tx.send_replace(at.position);
                    }
                    // A gap or a refused batch: reconnect from what is durable here.
                    Err(e) => return Ended::Failed(format!("applying the stream: {e}")),
                },
                frame = tokio::time::timeout(silence, self.body.frame()), if reading => {
                    let bytes = match frame {
                        Ok(Some(Ok(frame))) => match frame.into_data() {
                            Ok(bytes) => bytes,
                            Err(_) => continue,
                        },
                        Ok(Some(Err(e))) => return Ended::Closed(format!("stream broke off: {e}")),
                        Ok(None) => return Ended::Closed("the primary ended the stream".into()),
                        Err(_) => return Ended::Closed(format!("the primary was silent for {silence:?}")),
                    };
                    self.reader.push(&bytes);
                    loop {
                        let frame = match self.reader.next_frame() {
                            Ok(Some(frame)) => frame,
                            Ok(None) => break,
                            Err(e) => return Ended::Failed(format!("stream frame: {e}")),
                        };
                        match self.take(frame, &mut hello_seen).await {
                            Ok(records) => {
                                pending_bytes += records.iter().map(|r| r.record.batch.len()).sum::<usize>();
                                pending.extend(records);
                            }
                            Err(ended) => return ended,
                        }
                    }
                }
            }
        }
    }

    /// Acts on one frame; returns the records it carried.
    async fn take(
        &mut self,
        frame: Frame,
        hello_seen: &mut bool,
    ) -> Result<Vec<StreamRecord>, Ended> {
        match frame {
            Frame::Hello {
                database_id,
                newest,
            } => {
                *hello_seen = true;
                let db = match &self.db {
                    Some(db) if *db.database_id().as_bytes() != database_id => {
                        return Err(Ended::Refused(format!(
                            "the primary holds database {}, this replica {}",
                            uuid::Uuid::from_bytes(database_id),
                            db.database_id()
                        )))
                    }
                    Some(db) => db.clone(),
                    None => {
                        let registry = &self.follower.app.registry;
                        let db = registry
                            .open_replica(&self.follower.name, database_id)
                            .await
                            .map_err(|e| Ended::Failed(format!("creating the local copy: {e}")))?;
                        tracing::info!(database = %self.follower.name, id = %db.database_id(), "replica created");
                        self.db = Some(db.clone());
                        db
                    }
                };
                db.saw_primary_position(newest.position);
                self.follower.set_state("streaming", None);
                Ok(Vec::new())
            }
            Frame::Records {
                database_id,
                epoch,
                records,
            } => {
                if !*hello_seen {
                    return Err(Ended::Failed("records before the primary's hello".into()));
                }
                if let Some(db) = &self.db {
                    if *db.database_id().as_bytes() != database_id {
                        return Err(Ended::Refused("records of another database".into()));
                    }
                    if let Some(last) = records.last() {
                        db.saw_primary_position(last.asn);
                    }
                }
                Ok(records
                    .into_iter()
                    .map(|record| StreamRecord { epoch, record })
                    .collect())
            }
            Frame::Heartbeat { newest, .. } => {
                if let Some(db) = &self.db {
                    db.saw_primary_position(newest.position);
                }
                Ok(Vec::new())
            }
        }
    }
}

/// Reports the newest durable position to the primary, one request at a time (at most every
/// [`REPLICATION_ASYNC_ACK_INTERVAL_MS`] when the primary does not wait for it).
async fn acknowledge(
    http: Http,
    url: String,
    token: String,
    replica_id: u64,
    mut durable: tokio::sync::watch::Receiver<u64>,
    sync: bool,
) {
    let interval = Duration::from_millis(REPLICATION_ASYNC_ACK_INTERVAL_MS);
    while durable.changed().await.is_ok() {
        if !sync {
            tokio::time::sleep(interval).await;
        }
        let position = *durable.borrow_and_update();
        let body = serde_json::json!({ "replicaId": replica_id, "position": position });
        match http.post(&url, &token, body.to_string()).await {
            Ok(Answer::Ok(response)) => {
                // Read to the end, so that the connection is kept for the next one.
                let _ = response.into_body().collect().await;
            }
            Ok(Answer::Status(status, text)) => {
                tracing::debug!(%status, %text, "acknowledgement refused");
            }
            Err(e) => tracing::debug!(error = %e, "acknowledgement failed"),
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
