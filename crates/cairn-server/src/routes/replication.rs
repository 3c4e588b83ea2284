//! The replication extension beside KV Connect (`docs/protocol.md`, "Replication"), at
//! `<database URL>/replication/{stream,ack,promote}`, authenticated with the replication
//! token (not an access token: the stream carries every byte of the database).
//!
//! - `stream`: a replica says where it stands; the primary checks that it is this database,
//!   that their histories agree and that the position is still retained, then streams every
//!   durable batch after it, in order, for as long as the connection lasts (heartbeats when
//!   idle). The replica is registered meanwhile: it counts for `--sync-replicas`, and the
//!   metadata exchange lists it as an `eventual` endpoint.
//! - `ack`: the replica has every batch up to a position durable.
//! - `promote`: this server's replica of the database becomes its primary.
//! - `snapshot`: a consistent image of the database at its last published position, in the
//!   archive's snapshot objects (`cairn_store::archive::SnapshotSource`): what a replica
//!   diverged from this primary, or behind its retained stream, rebuilds itself from.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use cairn_store::limits::REPLICATION_FRAME_RECORDS_BYTES;
use cairn_store::replication::{Frame, ReadError, Role, StreamLog, StreamPosition, SyncGate};
use cairn_store::Clock;
use serde::Deserialize;

use super::bearer;
use crate::config::Access;
use crate::error::ApiError;
use crate::limits::{
    REPLICATION_ADVERTISE_URL_BYTES_MAX, REPLICATION_HEARTBEAT_MS,
    REPLICATION_SNAPSHOT_OBJECTS_IN_FLIGHT, REPLICATION_SNAPSHOT_TRANSFERS_MAX,
};
use crate::registry::DEFAULT_DATABASE;
use crate::App;

/// The response header carrying the database's data-token key (base64url) to a replica.
pub const TOKEN_KEY_HEADER: &str = "cairn-token-key";
/// The response header telling a replica how many replicas must confirm each commit
/// (`--sync-replicas`): with 0, its acknowledgements need not be immediate.
pub const SYNC_REPLICAS_HEADER: &str = "cairn-sync-replicas";
/// The response header of a snapshot transfer naming its position: `<epoch>/<position>`.
pub const SNAPSHOT_POSITION_HEADER: &str = "cairn-stream-position";
/// The response header of a snapshot transfer naming the database's id.
pub const DATABASE_ID_HEADER: &str = "cairn-database-id";

/// Snapshot transfers being served (at most [`REPLICATION_SNAPSHOT_TRANSFERS_MAX`]).
static SNAPSHOT_TRANSFERS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(REPLICATION_SNAPSHOT_TRANSFERS_MAX);

pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/replication/{op}", post(default_database))
        .route("/db/{name}/replication/{op}", post(named_database))
}

async fn default_database(
    State(app): State<Arc<App>>,
    Path(op): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    dispatch(app, DEFAULT_DATABASE, &op, &headers, &body).await
}

async fn named_database(
    State(app): State<Arc<App>>,
    Path((name, op)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    dispatch(app, &name, &op, &headers, &body).await
}

async fn dispatch(
    app: Arc<App>,
    name: &str,
    op: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    crate::registry::validate_name(name)?;
    check_token(&app, headers)?;
    match op {
        "stream" => stream(app, name, body).await,
        "ack" => ack(&app, name, body).await,
        "promote" => promote(&app, name).await,
        "snapshot" => snapshot(&app, name).await,
        other => Err(ApiError::NotFound(format!(
            "no replication operation {other:?}"
        ))),
    }
}

fn check_token(app: &App, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = app.config.replication.token.as_deref() else {
        return Err(ApiError::NotFound(
            "replication is not enabled on this server: start it with --replication-token".into(),
        ));
    };
    let given = bearer(headers)?;
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        expected.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("invalid replication token"))
    }
}

/// What a replica sends to start a stream.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StreamRequest {
    /// The database the replica holds (`None`: none yet).
    pub database_id: Option<String>,
    /// Its position and the epoch that wrote it.
    pub epoch: u64,
    pub position: u64,
    /// It holds nothing yet.
    pub empty: bool,
    /// An id of the replica's choosing, for its acknowledgements.
    pub replica_id: u64,
    /// Where it serves reads (listed as an `eventual` endpoint).
    pub advertise_url: Option<String>,
}

/// What a replica sends to acknowledge.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AckRequest {
    replica_id: u64,
    position: u64,
}

/// The database `name` as a primary that keeps a stream.
async fn primary(
    app: &App,
    name: &str,
) -> Result<(cairn_store::Database, Arc<StreamLog>, Arc<SyncGate>), ApiError> {
    // Read-only: a stream never creates a database.
    let db = app.registry.get(name, Access::ReadOnly).await?;
    if let Role::Replica { primary } = db.role() {
        return Err(ApiError::Conflict(format!(
            "database {name:?} on this server is a replica of {primary}, not a primary: \
             point --replica-of at the primary"
        )));
    }
    match (db.stream_log(), db.sync_gate()) {
        (Some(log), Some(gate)) => Ok((db, log, gate)),
        _ => Err(ApiError::Conflict(format!(
            "database {name:?} keeps no replication stream"
        ))),
    }
}

async fn stream(app: Arc<App>, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let request: StreamRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("replication stream request: {e}")))?;
    if let Some(url) = &request.advertise_url {
        if !url.starts_with("http://") || url.len() > REPLICATION_ADVERTISE_URL_BYTES_MAX {
            return Err(ApiError::BadRequest(format!(
                "advertiseUrl must be an http:// URL of at most \
                 {REPLICATION_ADVERTISE_URL_BYTES_MAX} bytes"
            )));
        }
    }
    let (db, log, gate) = primary(&app, name).await?;
    let database_id = db.database_id();
    if let Some(theirs) = &request.database_id {
        if *theirs != database_id.to_string() {
            return Err(ApiError::Conflict(format!(
                "this primary's database {name:?} is {database_id}, the replica holds {theirs}: \
                 another database (a replica never mixes two histories; give it an empty \
                 directory)"
            )));
        }
    }
    let at = StreamPosition {
        epoch: request.epoch,
        position: request.position,
    };
    // A diverged history is answered with a JSON body naming it, so that the replica can tell
    // it from the other refusals (another database, not a primary) and rebuild itself.
    db.check_follower(at).map_err(|e| match e {
        cairn_store::StoreError::Replication(reason) => ApiError::Diverged(reason),
        other => ApiError::Store(other),
    })?;
    if let Err(ReadError::NotRetained { oldest }) = log.check(at.position, request.empty) {
        return Err(ApiError::NotRetained {
            oldest,
            database_id: database_id.to_string(),
        });
    }
    gate.register(
        request.replica_id,
        request.advertise_url.clone(),
        at.position,
    );
    tracing::info!(database = name, replica = request.replica_id, %at, advertise = ?request.advertise_url, "replica connected");
    let registration = Registration {
        gate,
        id: request.replica_id,
        name: name.to_owned(),
    };
    let hello = Frame::Hello {
        database_id: *database_id.as_bytes(),
        newest: log.newest(),
    };
    let state = Streaming {
        newest: log.subscribe(),
        log,
        after: at.position,
        database_id: *database_id.as_bytes(),
        closing: app.closing.subscribe(),
        demotions: app.demotions.subscribe(),
        hello: Some(hello.encode()),
        _registration: registration,
    };
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(app.auth.data_key(name));
    let sync = app.config.replication.sync_replicas.to_string();
    Ok((
        [
            ("content-type", "application/octet-stream".to_owned()),
            (TOKEN_KEY_HEADER, key),
            (SYNC_REPLICAS_HEADER, sync),
        ],
        Body::from_stream(futures_util::stream::unfold(state, next_frame)),
    )
        .into_response())
}

/// A replica's registration, for as long as its stream lasts.
struct Registration {
    gate: Arc<SyncGate>,
    id: u64,
    name: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.gate.unregister(self.id);
        tracing::info!(database = %self.name, replica = self.id, "replica disconnected");
    }
}

/// What a waiting stream woke up for.
enum Woken {
    More,
    Idle,
    Closing,
}

struct Streaming {
    log: Arc<StreamLog>,
    newest: tokio::sync::watch::Receiver<u64>,
    /// The last position sent.
    after: u64,
    database_id: [u8; 16],
    closing: tokio::sync::watch::Receiver<bool>,
    /// A failover group's demotion of this server ends the stream.
    demotions: tokio::sync::watch::Receiver<u64>,
    hello: Option<Vec<u8>>,
    _registration: Registration,
}

/// The stream's next bytes: the hello, records as they become durable, heartbeats while
/// idle. Ends when the server shuts down, or when the replica fell out of the retained
/// stream (it reconnects, and is told to catch up from the archive).
async fn next_frame(mut state: Streaming) -> Option<(Result<Bytes, Infallible>, Streaming)> {
    if let Some(hello) = state.hello.take() {
        return Some((Ok(Bytes::from(hello)), state));
    }
    let heartbeat = Duration::from_millis(REPLICATION_HEARTBEAT_MS);
    loop {
        match state.log.read(state.after, REPLICATION_FRAME_RECORDS_BYTES) {
            Err(ReadError::NotRetained { .. }) => return None,
            Ok(records) => {
                if let Some(last) = records.last() {
                    state.after = last.record.asn;
                    let bytes = Frame::encode_records(state.database_id, &records);
                    return Some((Ok(Bytes::from(bytes)), state));
                }
            }
        }
        let woken = tokio::select! {
            changed = state.newest.changed() => if changed.is_err() { Woken::Closing } else { Woken::More },
            () = tokio::time::sleep(heartbeat) => Woken::Idle,
            _ = state.closing.wait_for(|closing| *closing) => Woken::Closing,
            _ = state.demotions.changed() => Woken::Closing,
        };
        match woken {
            Woken::More => {}
            Woken::Idle => {
                let frame = Frame::Heartbeat {
                    newest: state.log.newest(),
                    time_ms: cairn_store::SystemClock.now_ms(),
                };
                return Some((Ok(Bytes::from(frame.encode())), state));
            }
            Woken::Closing => return None,
        }
    }
}

async fn ack(app: &App, name: &str, body: &[u8]) -> Result<Response, ApiError> {
    let request: AckRequest = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("replication ack: {e}")))?;
    let (db, _, _) = primary(app, name).await?;
    if db.replica_acknowledged(request.replica_id, request.position) {
        Ok(([("content-type", "application/json")], "{}").into_response())
    } else {
        Err(ApiError::Conflict(format!(
            "replica {} has no stream open to database {name:?}: reconnect",
            request.replica_id
        )))
    }
}

async fn promote(app: &App, name: &str) -> Result<Response, ApiError> {
    let db = app.registry.get(name, Access::ReadOnly).await?;
    if db.role() == Role::Primary {
        return Err(ApiError::Conflict(format!(
            "database {name:?} on this server is a primary already (at {})",
            db.stream_position()
        )));
    }
    // Stop following first: nothing of the old primary may arrive after the promotion.
    app.followers.stop(name).await;
    let at = db.promote().await?;
    tracing::warn!(database = name, %at, "promoted to primary by hand; remove its --replica-of before the next start");
    let body = serde_json::json!({ "epoch": at.epoch, "position": at.position }).to_string();
    Ok(([("content-type", "application/json")], body).into_response())
}

/// Streams a consistent image of the database (`docs/protocol.md` §12, "snapshot"): the
/// archive's objects for one snapshot, read from a storage snapshot by a blocking task and
/// handed to the response through a bounded channel, one part at a time.
async fn snapshot(app: &App, name: &str) -> Result<Response, ApiError> {
    let (db, _, _) = primary(app, name).await?;
    let permit = SNAPSHOT_TRANSFERS.try_acquire().map_err(|_| {
        ApiError::Overloaded(format!(
            "{REPLICATION_SNAPSHOT_TRANSFERS_MAX} snapshot transfers are being served"
        ))
    })?;
    let source = cairn_store::archive::SnapshotSource::take(&db)
        .map_err(|e| ApiError::Store(cairn_store::StoreError::Replication(e.to_string())))?;
    let at = source.position();
    let database_id = uuid::Uuid::from_bytes(source.database_id());
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(
        REPLICATION_SNAPSHOT_OBJECTS_IN_FLIGHT,
    );
    let database = name.to_owned();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let sent = source.send(&|object| {
            tx.blocking_send(Ok(Bytes::from(object))).map_err(|_| {
                cairn_store::archive::ArchiveError::Destination("the replica went away".into())
            })
        });
        match sent {
            Ok(done) => {
                tracing::info!(database, %at, entries = done.entries, "snapshot sent to a replica")
            }
            Err(e) => {
                tracing::warn!(database, %at, error = %e, "snapshot transfer to a replica stopped");
                // Break the body off: the replica sees a torn transfer, never a short one.
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
            }
        }
    });
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(app.auth.data_key(name));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((
        [
            ("content-type", "application/octet-stream".to_owned()),
            (TOKEN_KEY_HEADER, key),
            (
                SNAPSHOT_POSITION_HEADER,
                format!("{}/{}", at.epoch, at.position),
            ),
            (DATABASE_ID_HEADER, database_id.to_string()),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
