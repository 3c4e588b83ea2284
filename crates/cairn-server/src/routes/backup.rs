//! `POST /backup`, `POST /db/{name}/backup`, `POST /backup/all` (`cairn backup --url`): a
//! consistent snapshot of the database (or of every database the token opens) into the
//! server's own archive (`cairn serve --archive`). A read-write access token is required, as
//! for the metadata exchange; a client never chooses where the server writes.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use cairn_store::archive::backup_snapshot;
use cairn_store::{StorageError, StoreError, Versionstamp};
use serde_json::json;

use super::bearer;
use crate::config::Access;
use crate::error::ApiError;
use crate::registry::{validate_name, DEFAULT_DATABASE};
use crate::App;

pub(crate) async fn default_database(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let done = backup(&app, DEFAULT_DATABASE, &headers).await?;
    Ok(axum::Json(json!([done])).into_response())
}

pub(crate) async fn named_database(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let done = backup(&app, &name, &headers).await?;
    Ok(axum::Json(json!([done])).into_response())
}

/// Every database directory under the data directory that the token may back up.
pub(crate) async fn all_databases(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut names: Vec<String> = std::fs::read_dir(&app.config.data_dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .filter(|name| validate_name(name).is_ok())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let token = bearer(&headers)?;
    names.retain(|name| app.auth.access_token(token, name).is_some());
    let mut done = Vec::new();
    for name in names {
        done.push(backup(&app, &name, &headers).await?);
    }
    Ok(axum::Json(json!(done)).into_response())
}

async fn backup(
    app: &Arc<App>,
    name: &str,
    headers: &HeaderMap,
) -> Result<serde_json::Value, ApiError> {
    validate_name(name)?;
    let token = bearer(headers)?;
    let grant = app
        .auth
        .access_token(token, name)
        .ok_or(ApiError::Unauthorized("unknown access token"))?;
    if grant.access != Access::ReadWrite {
        return Err(ApiError::Forbidden(
            "a backup needs a read-write access token".into(),
        ));
    }
    let archive = app
        .config
        .archive
        .as_ref()
        .and_then(|a| a.for_database(name))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "this server does not archive database {name:?}: start it with --archive DEST (or list it in [archive] databases)"
            ))
        })?;
    // ReadOnly: a backup never creates the database it names (a missing one is a 404).
    let db = app.registry.get(name, Access::ReadOnly).await?;
    let done = tokio::task::spawn_blocking(move || backup_snapshot(&db, &archive))
        .await
        .map_err(|e| engine(format!("backup task failed: {e}")))?
        .map_err(|e| engine(format!("backup of {name:?} failed: {e}")))?;
    Ok(json!({
        "database": name,
        "range": done.range,
        "entries": done.entries,
        "versionstamp": Versionstamp::new(done.commit_version, 0).to_hex(),
    }))
}

/// The destination failed: the server's problem, not the caller's.
fn engine(message: String) -> ApiError {
    ApiError::Store(StoreError::Storage(StorageError::Engine(message)))
}
