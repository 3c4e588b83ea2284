//! The metadata exchange (kv-connect.md §1): access token in, data-path token and endpoint out.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_proto::metadata::{
    rfc3339_ms, Endpoint, MetadataRequest, MetadataResponse, PROTOCOL_VERSIONS,
};
use cairn_store::replication::Role;
use cairn_store::Clock;

use super::bearer;
use crate::config::ReplicaEndpoints;
use crate::error::ApiError;
use crate::registry::DEFAULT_DATABASE;
use crate::App;

pub(crate) async fn default_database(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    exchange(&app, DEFAULT_DATABASE, "/data", &headers, &body).await
}

pub(crate) async fn named_database(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoint = format!("/db/{name}/data");
    exchange(&app, &name, &endpoint, &headers, &body).await
}

/// The data-path endpoints of `db`, whose own is `endpoint`: a primary is the `strong`
/// one and lists its connected replicas as `eventual`; a replica points `strong` at its
/// primary and lists itself as `eventual` (or, with `--replica-endpoints replica`, lists only
/// itself, as `strong`: see [`ReplicaEndpoints`]). Each replica's address is what it advertised,
/// with the database's path (the same name on every server of the group).
fn endpoints(db: &cairn_store::Database, endpoint: &str, only_here: bool) -> Vec<Endpoint> {
    let at = |url: String, consistency: &str| Endpoint {
        url,
        consistency: consistency.to_owned(),
    };
    match db.role() {
        Role::Replica { .. } if only_here => vec![at(endpoint.to_owned(), "strong")],
        // A failover group's member while no leader is known: itself (writes get a
        // retryable 503 until a leader is elected; the client asks again soon).
        Role::Replica { primary } if primary.is_empty() => {
            vec![at(endpoint.to_owned(), "strong")]
        }
        Role::Replica { primary } => vec![
            at(format!("{primary}/data"), "strong"),
            at(endpoint.to_owned(), "eventual"),
        ],
        _ => {
            let mut endpoints = vec![at(endpoint.to_owned(), "strong")];
            let replicas = db.sync_gate().map(|g| g.replicas()).unwrap_or_default();
            endpoints.extend(
                replicas
                    .into_iter()
                    .filter_map(|r| r.advertise_url)
                    .map(|base| at(format!("{base}{endpoint}"), "eventual")),
            );
            endpoints
        }
    }
}

async fn exchange(
    app: &App,
    name: &str,
    endpoint: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    crate::registry::validate_name(name)?;
    let token = bearer(headers)?;
    let grant = app
        .auth
        .access_token(token, name)
        .ok_or(ApiError::Unauthorized("unknown access token"))?;
    let request: MetadataRequest = serde_json::from_slice(body).map_err(|e| {
        ApiError::BadRequest(format!(
            "metadata request must be JSON {{\"supportedVersions\": [..]}}: {e}"
        ))
    })?;
    let version = PROTOCOL_VERSIONS
        .into_iter()
        .find(|v| request.supported_versions.contains(v))
        .ok_or_else(|| {
            ApiError::BadRequest("no supported protocol version: this server speaks 2 and 3".into())
        })?;
    let db = app.registry.get(name, grant.access).await?;
    // A failover group's answers expire soon: the clients run the exchange again when they
    // do, which is how they find a new primary (docs/design/failover.md).
    let ttl_s = match app.failover {
        Some(_) => app
            .config
            .data_token_ttl_s
            .min(crate::limits::FAILOVER_METADATA_TTL_S),
        None => app.config.data_token_ttl_s,
    };
    let expires_at_ms = app
        .clock
        .now_ms()
        .saturating_add(ttl_s.saturating_mul(1000));
    let response = MetadataResponse {
        version,
        database_id: db.database_id().to_string(),
        endpoints: endpoints(
            &db,
            endpoint,
            app.config.replication.replica_endpoints == ReplicaEndpoints::Replica,
        ),
        token: app.auth.issue(&grant, name, expires_at_ms),
        expires_at: rfc3339_ms(expires_at_ms),
    };
    // Serializing these plain fields cannot fail.
    let body = serde_json::to_string(&response).unwrap_or_default();
    // `@deno/kv` insists on exactly this content type.
    Ok(([("content-type", "application/json")], body).into_response())
}
