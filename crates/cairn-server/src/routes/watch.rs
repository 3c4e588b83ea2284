//! `watch`: a never-ending stream of frames (u32 little-endian length, then a `WatchOutput`).
//! The first frame reports every key; later frames report changes; an empty frame every
//! [`KEEPALIVE`] keeps proxies from closing an idle stream.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use cairn_model::decode_key;
use cairn_proto::messages as pb;
use cairn_proto::WatchKeyChange;
use cairn_store::{Entry, Kv, KvWatch, Watch};
use parking_lot::Mutex;

use super::DataRequest;
use crate::error::ApiError;
use crate::App;

/// Interval between keep-alive frames on an idle stream.
pub(crate) const KEEPALIVE: Duration =
    Duration::from_millis(crate::limits::SERVER_WATCH_KEEPALIVE_MS);

/// Open watch streams per access token.
#[derive(Default)]
pub(crate) struct WatchCounter {
    open: Mutex<HashMap<u16, usize>>,
}

impl WatchCounter {
    /// Streams open now, over every token (for metrics).
    pub(crate) fn open_total(&self) -> usize {
        self.open.lock().values().sum()
    }
}

/// One open stream; counted down when the stream ends (the client went away).
pub(crate) struct Slot {
    app: Arc<App>,
    token: u16,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.app.watches.open.lock();
        if let Some(n) = open.get_mut(&self.token) {
            *n = n.saturating_sub(1);
        }
    }
}

pub(crate) fn take_slot(app: &Arc<App>, token: u16) -> Result<Slot, ApiError> {
    let max = app.config.watches_per_token_max;
    let mut open = app.watches.open.lock();
    let n = open.entry(token).or_default();
    if *n >= max {
        return Err(ApiError::TooManyWatches(max));
    }
    *n += 1;
    Ok(Slot {
        app: app.clone(),
        token,
    })
}

struct Stream {
    watch: Watch,
    closing: tokio::sync::watch::Receiver<bool>,
    encoded: Vec<Vec<u8>>,
    _slot: Slot,
}

pub(crate) fn handle(request: DataRequest) -> Result<Response, ApiError> {
    let watch: pb::Watch = cairn_proto::decode(&request.body)?;
    let encoded = cairn_proto::watch_from_proto(watch, &request.app.config.limits)?;
    let keys = encoded
        .iter()
        .map(|k| decode_key(k).map_err(|e| ApiError::BadRequest(format!("watch key: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let slot = take_slot(&request.app, request.grant.index)?;
    let watch = request.db.watch(keys)?;
    let state = Stream {
        watch,
        closing: request.app.closing.subscribe(),
        encoded,
        _slot: slot,
    };
    let frames = futures_util::stream::unfold(state, |mut state| async move {
        let event = tokio::select! {
            next = state.watch.next() => Event::Report(next),
            () = tokio::time::sleep(KEEPALIVE) => Event::KeepAlive,
            _ = state.closing.wait_for(|closing| *closing) => Event::Closing,
        };
        let frame = match event {
            Event::Report(Ok(entries)) => output_frame(&mut state, entries),
            Event::Report(Err(e)) => {
                tracing::warn!(error = %e, "watch stream ended");
                return None;
            }
            Event::KeepAlive => Bytes::from_static(&cairn_proto::WATCH_KEEPALIVE_FRAME),
            // The server is shutting down: end the stream (the client reconnects elsewhere).
            Event::Closing => return None,
        };
        Some((Ok::<_, Infallible>(frame), state))
    });
    Ok((
        [("content-type", "application/octet-stream")],
        Body::from_stream(frames),
    )
        .into_response())
}

/// What woke a watch stream.
enum Event {
    Report(cairn_store::Result<Vec<Option<Entry>>>),
    KeepAlive,
    Closing,
}

/// The frame for a new report: every key with its current entry.
///
/// Every frame reports every key as changed. The protocol allows `changed: false` for the
/// keys that did not change, but the Deno runtime (2.9) turns such a key into `null`, which
/// its watch stream then reports as deleted; both clients skip entries whose versionstamp
/// they have already seen, so full frames cost only bytes.
fn output_frame(state: &mut Stream, entries: Vec<Option<Entry>>) -> Bytes {
    let changes = entries
        .into_iter()
        .zip(&state.encoded)
        .map(|(entry, key)| {
            WatchKeyChange::Changed(entry.map(|e| (key.clone(), e.value, e.versionstamp)))
        })
        .collect();
    Bytes::from(cairn_proto::encode_watch_frame(&cairn_proto::watch_output(
        changes,
    )))
}
