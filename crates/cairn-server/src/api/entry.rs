//! One key: `GET`, `PUT`, `DELETE /api/v1/databases/{db}/entry?key=<JSON tuple>`.
//!
//! The entity tag is the entry's versionstamp. Writes are conditional on request:
//! `If-Match: "<versionstamp>"` (the entry is unchanged), `If-Match: *` (it exists) or
//! `If-None-Match: *` (it does not); a condition that does not hold is 412 and nothing is
//! written. Each write is one atomic write whose check states the condition, so no other
//! write can slip in between. `GET` with `If-None-Match` answers 304 when the entry is
//! unchanged.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use cairn_model::codec::try_encode_key;
use cairn_model::{
    AtomicWrite, Check, CommitResult, Key, Kv, Mutation, MutationKind, Versionstamp,
};
use cairn_store::Clock;
use serde_json::json;

use super::reply::{entry_json, etag, json_response};
use super::request::{bad, Caller, Query};
use super::values::from_json;
use super::JsonError;
use crate::error::ApiError;
use crate::limits::API_EXPIRE_IN_MS_MAX;
use crate::App;

/// What a conditional write requires of the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// No condition.
    None,
    /// `If-Match: *`.
    Exists,
    /// `If-Match: "<versionstamp>"`.
    Unchanged(Versionstamp),
    /// `If-None-Match: *`.
    Absent,
}

pub(crate) async fn get(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &["key"])?;
    let key = query.key("key")?;
    let caller = Caller::open(app, &headers, &db).await?;
    let entry = caller
        .db
        .get(&key)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no entry for key {key}")))?;
    let tag = etag(&entry.versionstamp);
    if let Some(wanted) = headers.get(header::IF_NONE_MATCH) {
        if none_match_hits(wanted.to_str().ok(), &entry.versionstamp)? {
            return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag)]).into_response());
        }
    }
    let mut response = json_response(StatusCode::OK, &entry_json(&entry, false));
    response.headers_mut().insert(header::ETAG, tag);
    Ok(response)
}

pub(crate) async fn put(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &["key", "expireIn"])?;
    let key = query.key("key")?;
    let expire_in = match query.one("expireIn")? {
        None => None,
        Some(_) => Some(query.integer("expireIn", 0, (1, API_EXPIRE_IN_MS_MAX))?),
    };
    let caller = Caller::open(app, &headers, &db).await?;
    caller.require_write()?;
    let condition = condition(&headers)?;
    let document: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| bad(format!("the body must be a value as JSON: {e}")))?;
    let value = from_json(&document, "value")?;
    let expire_at_ms = expire_in.map(|ms| caller.app.clock.now_ms().saturating_add(ms));
    let kind = MutationKind::Set(value);
    write(&caller, &key, condition, kind, expire_at_ms).await
}

pub(crate) async fn delete(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &["key"])?;
    let key = query.key("key")?;
    let caller = Caller::open(app, &headers, &db).await?;
    caller.require_write()?;
    let condition = condition(&headers)?;
    write(&caller, &key, condition, MutationKind::Delete, None).await
}

/// Commits one mutation of `key` under `condition`: 200 with the versionstamp (and ETag), or
/// 412 naming the entry's versionstamp now.
async fn write(
    caller: &Caller,
    key: &Key,
    condition: Condition,
    kind: MutationKind,
    expire_at_ms: Option<u64>,
) -> Result<Response, JsonError> {
    let encoded = try_encode_key(key).map_err(|e| bad(format!("key: {e}")))?;
    let expected = match condition {
        Condition::None => None,
        Condition::Absent => Some(None),
        Condition::Unchanged(v) => Some(Some(v)),
        // "Exists": the check names the versionstamp read now, so the write still fails if
        // the entry changes (or goes) in between.
        Condition::Exists => match caller.db.get(key).await? {
            Some(entry) => Some(Some(entry.versionstamp)),
            None => {
                return Err(ApiError::PreconditionFailed(format!(
                    "If-Match: * but there is no entry for key {key}"
                ))
                .into())
            }
        },
    };
    let write = AtomicWrite {
        checks: expected
            .map(|versionstamp| Check {
                key: encoded.clone(),
                versionstamp,
            })
            .into_iter()
            .collect(),
        mutations: vec![Mutation {
            key: encoded,
            kind,
            expire_at_ms,
        }],
        enqueues: Vec::new(),
    };
    match caller.db.try_atomic_write(write).await? {
        CommitResult::Committed { versionstamp } => {
            let body = json!({ "versionstamp": versionstamp.to_hex() });
            let mut response = json_response(StatusCode::OK, &body);
            response
                .headers_mut()
                .insert(header::ETAG, etag(&versionstamp));
            Ok(response)
        }
        CommitResult::CheckFailed {
            reason: Some(reason),
            ..
        } => Err(ApiError::UniqueConflict(reason).into()),
        CommitResult::CheckFailed { .. } => {
            let now = caller.db.get(key).await?;
            let state = now.map_or("there is no entry".to_owned(), |e| {
                format!(
                    "the entry's versionstamp is now {}",
                    e.versionstamp.to_hex()
                )
            });
            let wanted = match condition {
                Condition::Absent => "If-None-Match: *".to_owned(),
                Condition::Unchanged(v) => format!("If-Match: \"{}\"", v.to_hex()),
                _ => "If-Match: *".to_owned(),
            };
            Err(ApiError::PreconditionFailed(format!("{wanted} but {state}")).into())
        }
    }
}

/// The condition of a write from `If-Match` / `If-None-Match`.
fn condition(headers: &HeaderMap) -> Result<Condition, JsonError> {
    let text = |name: &header::HeaderName| -> Result<Option<&str>, JsonError> {
        headers
            .get(name)
            .map(|v| v.to_str().map_err(|_| bad(format!("{name} is not text"))))
            .transpose()
    };
    match (text(&header::IF_MATCH)?, text(&header::IF_NONE_MATCH)?) {
        (None, None) => Ok(Condition::None),
        (Some(_), Some(_)) => Err(bad("give If-Match or If-None-Match, not both")),
        (None, Some(value)) if value.trim() == "*" => Ok(Condition::Absent),
        (None, Some(_)) => Err(bad(
            "on a write, If-None-Match takes only * (the entry must not exist)",
        )),
        (Some(value), None) if value.trim() == "*" => Ok(Condition::Exists),
        (Some(value), None) => Ok(Condition::Unchanged(entity_tag(value)?)),
    }
}

/// One strong entity tag: a versionstamp in quotes (or bare).
fn entity_tag(value: &str) -> Result<Versionstamp, JsonError> {
    let value = value.trim();
    let hex = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value);
    hex.parse().map_err(|_| {
        bad(format!(
            "If-Match must be * or one versionstamp (20 hex digits, in quotes), not {value:?}"
        ))
    })
}

/// Whether a `GET`'s `If-None-Match` (a list of entity tags, weak or strong, or `*`) names
/// the entry's versionstamp.
fn none_match_hits(value: Option<&str>, versionstamp: &Versionstamp) -> Result<bool, JsonError> {
    let value = value.ok_or_else(|| bad("If-None-Match is not text"))?;
    if value.trim() == "*" {
        return Ok(true);
    }
    let mut hit = false;
    for tag in value.split(',') {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        hit |= entity_tag(tag)? == *versionstamp;
    }
    Ok(hit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(name.clone(), HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn conditions_come_from_the_headers() {
        let v = Versionstamp::new(7, 1);
        let tag = format!("\"{}\"", v.to_hex());
        let cases = [
            (headers(&[]), Some(Condition::None)),
            (headers(&[(header::IF_MATCH, "*")]), Some(Condition::Exists)),
            (
                headers(&[(header::IF_NONE_MATCH, " * ")]),
                Some(Condition::Absent),
            ),
            (
                headers(&[(header::IF_MATCH, &tag)]),
                Some(Condition::Unchanged(v)),
            ),
            (
                headers(&[(header::IF_MATCH, &v.to_hex())]),
                Some(Condition::Unchanged(v)),
            ),
            (headers(&[(header::IF_MATCH, "\"xyz\"")]), None),
            (
                headers(&[(header::IF_MATCH, &format!("{tag}, {tag}"))]),
                None,
            ),
            (headers(&[(header::IF_NONE_MATCH, &tag)]), None),
            (
                headers(&[(header::IF_MATCH, "*"), (header::IF_NONE_MATCH, "*")]),
                None,
            ),
        ];
        for (map, expected) in cases {
            assert_eq!(condition(&map).ok(), expected, "{map:?}");
        }
    }

    #[test]
    fn if_none_match_lists_weak_and_strong_tags() {
        let v = Versionstamp::new(7, 1);
        let other = Versionstamp::new(8, 0);
        let list = format!("W/\"{}\", \"{}\"", other.to_hex(), v.to_hex());
        assert!(none_match_hits(Some(&list), &v).expect("valid"));
        assert!(!none_match_hits(Some(&format!("\"{}\"", other.to_hex())), &v).expect("valid"));
        assert!(none_match_hits(Some("*"), &v).expect("valid"));
        assert!(none_match_hits(Some("nonsense"), &v).is_err());
    }
}
