//! The key tree: `GET /api/v1/databases/{db}/children?prefix=…` lists the distinct parts that
//! follow `prefix` in the database's keys, a page at a time, without reading the keys under
//! them: usable on millions of keys (the console's tree).
//!
//! Keys sort by their encoding, and every key under `prefix + [p]` has the encoding of
//! `prefix + [p]` as its own prefix followed by a part's type byte (never `FF`). So one range
//! read of one entry finds the next child `p`, and the read after it starts at
//! `encode(prefix + [p]) ‖ FF`, past every key under `p`: a child costs one or two reads
//! (the second to learn whether `p` has children of its own), whatever lies beneath it.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, KeyPart, ReadRange};
use cairn_store::{Database, RawEntry};
use serde_json::json;

use super::keys::part_to_json;
use super::reply::json_response;
use super::request::{bad, Caller, Query};
use super::JsonError;
use crate::limits::{API_CHILDREN_LIMIT_DEFAULT, API_CHILDREN_LIMIT_MAX};
use crate::App;

pub(crate) async fn children(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &["prefix", "cursor", "limit"])?;
    let prefix = query.optional_key("prefix")?.unwrap_or_default();
    let limit = query.integer(
        "limit",
        API_CHILDREN_LIMIT_DEFAULT as u64,
        (1, API_CHILDREN_LIMIT_MAX as u64),
    )? as usize;
    let encoded_prefix = try_encode_key(&prefix).map_err(|e| bad(format!("prefix: {e}")))?;
    let end = [encoded_prefix.as_slice(), &[0xFF]].concat();
    // The cursor is the encoding of the last part returned: resume past everything under it.
    let mut start = match query.one("cursor")? {
        None => [encoded_prefix.as_slice(), &[0x00]].concat(),
        Some(cursor) => {
            let part = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(cursor)
                .map_err(|e| bad(format!("invalid cursor: {e}")))?;
            [encoded_prefix.as_slice(), &part, &[0xFF]].concat()
        }
    };
    let caller = Caller::open(app, &headers, &db).await?;
    let depth = prefix.0.len();
    let mut children = Vec::new();
    let mut last_part = None;
    while children.len() < limit && start < end {
        let Some(first) = first_in(&caller.db, &start, &end).await? else {
            break;
        };
        let key = decode_key(&first.key).map_err(|e| bad(format!("stored key: {e}")))?;
        let Some(part) = key.0.get(depth).cloned() else {
            break;
        };
        let child = [encoded_prefix.as_slice(), &part.encode()].concat();
        let under = [child.as_slice(), &[0xFF]].concat();
        // The smallest key under the child is the child itself, when it is an entry.
        let is_entry = key.0.len() == depth + 1;
        let has_children = if is_entry {
            let below = [child.as_slice(), &[0x00]].concat();
            first_in(&caller.db, &below, &under).await?.is_some()
        } else {
            true
        };
        children.push(child_json(&part, is_entry, has_children));
        last_part = Some(part);
        start = under;
    }
    let more = children.len() == limit
        && start < end
        && first_in(&caller.db, &start, &end).await?.is_some();
    let cursor = last_part
        .filter(|_| more)
        .map(|p| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(p.encode()));
    let body = json!({ "children": children, "cursor": cursor });
    Ok(json_response(StatusCode::OK, &body))
}

fn child_json(part: &KeyPart, is_entry: bool, has_children: bool) -> serde_json::Value {
    json!({ "part": part_to_json(part), "entry": is_entry, "children": has_children })
}

/// The first live entry in `[start, end)`.
async fn first_in(db: &Database, start: &[u8], end: &[u8]) -> Result<Option<RawEntry>, JsonError> {
    let range = ReadRange {
        start: start.to_vec(),
        end: end.to_vec(),
        limit: 1,
        reverse: false,
    };
    let mut ranges = db.snapshot_read(std::slice::from_ref(&range)).await?;
    Ok(ranges.pop().and_then(|mut entries| entries.pop()))
}
