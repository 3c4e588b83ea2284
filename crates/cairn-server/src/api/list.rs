//! Listing: `GET /api/v1/databases/{db}/entries` (a page of entries and the cursor of the
//! next page) and `GET …/count` (how many entries a selector holds, counted up to
//! [`API_COUNT_MAX`]).
//!
//! The selector is Deno's: `prefix` (default `[]`, everything), `prefix` with `start` or
//! `end`, or `start` with `end`; keys are JSON tuples. Cursors are Deno's too, so a page can
//! be resumed by any client.

use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use cairn_model::{Key, Kv, KvList, ListOptions, ListSelector};
use cairn_store::StoreError;
use serde_json::json;

use super::reply::{entry_json, json_response};
use super::request::{bad, Caller, Query};
use super::JsonError;
use crate::limits::{API_COUNT_MAX, API_LIST_LIMIT_DEFAULT, API_LIST_LIMIT_MAX};
use crate::App;

const SELECTOR: [&str; 3] = ["prefix", "start", "end"];

pub(crate) async fn entries(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let known = [&SELECTOR[..], &["limit", "cursor", "reverse", "keysOnly"]].concat();
    let query = Query::parse(query.as_deref(), &known)?;
    let selector = selector(&query)?;
    let limit = query.integer(
        "limit",
        API_LIST_LIMIT_DEFAULT as u64,
        (1, API_LIST_LIMIT_MAX as u64),
    )? as usize;
    let keys_only = query.flag("keysOnly")?;
    let caller = Caller::open(app, &headers, &db).await?;
    // One entry more than the page, to learn whether another page follows.
    let options = ListOptions {
        limit: Some(limit + 1),
        reverse: query.flag("reverse")?,
        batch_size: (limit + 1).min(caller.app.config.limits.entries_per_read_max),
        cursor: query.one("cursor")?.map(str::to_owned),
    };
    let mut list = caller.db.list(selector, options)?;
    let mut page = Vec::with_capacity(limit);
    while page.len() < limit {
        match list.next().await {
            Some(entry) => page.push(entry_json(&entry?, keys_only)),
            None => break,
        }
    }
    let cursor = list.cursor();
    let more = page.len() == limit && list.next().await.transpose()?.is_some();
    let body = json!({ "entries": page, "cursor": more.then_some(cursor) });
    Ok(json_response(StatusCode::OK, &body))
}

pub(crate) async fn count(
    State(app): State<Arc<App>>,
    Path(db): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, JsonError> {
    let query = Query::parse(query.as_deref(), &SELECTOR)?;
    let selector = selector(&query)?;
    let caller = Caller::open(app, &headers, &db).await?;
    let options = ListOptions {
        limit: Some(API_COUNT_MAX + 1),
        batch_size: caller.app.config.limits.entries_per_read_max,
        ..ListOptions::default()
    };
    let mut list = caller.db.list(selector, options)?;
    // Up to API_COUNT_MAX reads of the engine: off the HTTP threads.
    let counted = tokio::task::spawn_blocking(move || {
        let mut n = 0usize;
        while let Some(entry) = list.next_raw() {
            entry?;
            n += 1;
        }
        Ok::<_, StoreError>(n)
    })
    .await
    .map_err(|_| StoreError::Closed)??;
    let body = json!({
        "count": counted.min(API_COUNT_MAX),
        "complete": counted <= API_COUNT_MAX,
    });
    Ok(json_response(StatusCode::OK, &body))
}

/// Deno's selector from `prefix`, `start` and `end`.
fn selector(query: &Query) -> Result<ListSelector, JsonError> {
    let prefix = query.optional_key("prefix")?;
    let start = query.optional_key("start")?;
    let end = query.optional_key("end")?;
    Ok(match (prefix, start, end) {
        (Some(_), Some(_), Some(_)) => {
            return Err(bad(
                "give prefix with start or end, or start with end; not all three",
            ))
        }
        (None, Some(start), Some(end)) => ListSelector::Range { start, end },
        (None, Some(_), None) | (None, None, Some(_)) => {
            return Err(bad(
                "start needs end (or a prefix), and end needs start (or a prefix)",
            ))
        }
        (prefix, None, None) => ListSelector::Prefix(prefix.unwrap_or(Key(Vec::new()))),
        (Some(prefix), Some(start), None) => ListSelector::PrefixStart { prefix, start },
        (Some(prefix), None, Some(end)) => ListSelector::PrefixEnd { prefix, end },
    })
}
