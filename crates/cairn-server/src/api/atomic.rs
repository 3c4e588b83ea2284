//! `POST /api/v1/databases/{db}/atomic`: checks and mutations committed together or not at
//! all, as Deno's `kv.atomic()`:
//!
//! ```json
//! { "checks": [{ "key": ["users", "alice"], "versionstamp": "0000000000000a2b0000" },
//!              { "key": ["users", "bob"], "versionstamp": null }],
//!   "mutations": [{ "type": "set", "key": ["users", "bob"], "value": {"name": "Bob"}, "expireIn": 60000 },
//!                 { "type": "delete", "key": ["users", "carol"] },
//!                 { "type": "sum", "key": ["visits"], "value": {"$type": "KvU64", "value": "1"} }] }
//! ```
//!
//! A check's `versionstamp` is required: `null` means the key must not exist. Answers
//! `{"ok": true, "versionstamp": …}`, or 409 `check_failed` with `failedChecks` (indexes into
//! `checks`) and nothing written.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cairn_model::codec::try_encode_key;
use cairn_model::{AtomicWrite, Check, CommitResult, Mutation, MutationKind, Versionstamp};
use cairn_store::Clock;
use serde::Deserialize;
use serde_json::{json, Value};

use super::keys::key_from_json;
use super::reply::json_response;
use super::request::{bad, Caller, Query};
use super::values::from_json;
use super::JsonError;
use crate::error::ApiError;
use crate::limits::API_EXPIRE_IN_MS_MAX;
use crate::routes::BodyShare;
use crate::App;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    checks: Vec<CheckJson>,
    #[serde(default)]
    mutations: Vec<MutationJson>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckJson {
    key: Value,
    /// Required, `null` for "must not exist" (see `required_nullable`).
    #[serde(deserialize_with = "required_nullable")]
    versionstamp: Option<String>,
}

/// A field that must be present and may be `null`: serde would take a missing `Option` for
/// `None`, and a forgotten versionstamp must not turn into "the key must not exist".
fn required_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum MutationJson {
    Set {
        key: Value,
        value: Value,
        #[serde(rename = "expireIn")]
        expire_in: Option<u64>,
    },
    Delete {
        key: Value,
    },
    Sum {
        key: Value,
        value: Value,
    },
    Min {
        key: Value,
        value: Value,
    },
    Max {
        key: Value,
        value: Value,
    },
}

pub(crate) async fn atomic(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    share: Option<axum::Extension<BodyShare>>,
    body: Bytes,
) -> Result<Response, JsonError> {
    Query::parse(query.as_deref(), &[])?;
    let caller = Caller::open(app, &headers, &db).await?;
    caller.require_write()?;
    let shape = |e: &dyn std::fmt::Display| {
        bad(format!(
            "the body must be {{\"checks\": [...], \"mutations\": [...]}}: {e}"
        ))
    };
    // Through `Value` first: serde would also take a JSON array for the struct.
    let body: Value = serde_json::from_slice(&body).map_err(|e| shape(&e))?;
    if !body.is_object() {
        return Err(shape(&"not an object"));
    }
    let body: Body = serde_json::from_value(body).map_err(|e| shape(&e))?;
    let now_ms = caller.app.clock.now_ms();
    let write = AtomicWrite {
        checks: body
            .checks
            .iter()
            .enumerate()
            .map(|(i, c)| check(c, &format!("checks[{i}]")))
            .collect::<Result<_, _>>()?,
        mutations: body
            .mutations
            .into_iter()
            .enumerate()
            .map(|(i, m)| mutation(m, &format!("mutations[{i}]"), now_ms))
            .collect::<Result<_, _>>()?,
        enqueues: Vec::new(),
    };
    // From here the write is counted by the database's commit queue: the body's share goes.
    if let Some(axum::Extension(share)) = share {
        share.release();
    }
    match caller.db.try_atomic_write(write).await? {
        CommitResult::Committed { versionstamp } => Ok(json_response(
            StatusCode::OK,
            &json!({ "ok": true, "versionstamp": versionstamp.to_hex() }),
        )),
        CommitResult::CheckFailed {
            reason: Some(reason),
            ..
        } => Err(ApiError::UniqueConflict(reason).into()),
        CommitResult::CheckFailed { failed_checks, .. } => {
            Err(ApiError::ChecksFailed(failed_checks).into())
        }
    }
}

fn encoded_key(document: &Value, path: &str) -> Result<Vec<u8>, JsonError> {
    let key = key_from_json(document, &format!("{path}.key"))?;
    try_encode_key(&key).map_err(|e| bad(format!("{path}.key: {e}")))
}

fn check(check: &CheckJson, path: &str) -> Result<Check, JsonError> {
    let versionstamp = match &check.versionstamp {
        None => None,
        Some(text) => Some(text.parse::<Versionstamp>().map_err(|e| {
            bad(format!(
                "{path}.versionstamp: {e} (or null: the key must not exist)"
            ))
        })?),
    };
    Ok(Check {
        key: encoded_key(&check.key, path)?,
        versionstamp,
    })
}

fn mutation(mutation: MutationJson, path: &str, now_ms: u64) -> Result<Mutation, JsonError> {
    let value = |v: &Value| from_json(v, &format!("{path}.value"));
    let (key, kind, expire_in) = match &mutation {
        MutationJson::Set {
            key,
            value: v,
            expire_in,
        } => (key, MutationKind::Set(value(v)?), *expire_in),
        MutationJson::Delete { key } => (key, MutationKind::Delete, None),
        MutationJson::Sum { key, value: v } => (
            key,
            MutationKind::Sum {
                value: value(v)?,
                min: None,
                max: None,
                clamp: false,
            },
            None,
        ),
        MutationJson::Min { key, value: v } => (key, MutationKind::Min(value(v)?), None),
        MutationJson::Max { key, value: v } => (key, MutationKind::Max(value(v)?), None),
    };
    let expire_at_ms = match expire_in {
        None => None,
        Some(ms) if (1..=API_EXPIRE_IN_MS_MAX).contains(&ms) => Some(now_ms.saturating_add(ms)),
        Some(ms) => {
            return Err(bad(format!(
                "{path}.expireIn must be 1 to {API_EXPIRE_IN_MS_MAX} milliseconds, not {ms}"
            )))
        }
    };
    Ok(Mutation {
        key: encoded_key(key, path)?,
        kind,
        expire_at_ms,
    })
}
