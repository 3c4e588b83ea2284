//! Watching over the network: one streaming response of length-prefixed `WatchOutput` frames
//! (kv-connect.md §2), reopened if the server ends it.

use std::time::Duration;

use crate::limits::{CLIENT_RETRY_BACKOFF_MIN_MS, CLIENT_WATCH_FRAME_BYTES_MAX};
use bytes::Bytes;
use cairn_model::{codec::try_encode_key, Entry, Key, KvWatch, RequestError, Versionstamp};
use cairn_proto::messages as pb;
use cairn_proto::{decode_watch_frame, Message, WatchFrame};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::error::{ClientError, Result};
use crate::{Client, Path};

/// A watch in progress against a server; see [`cairn_model::Kv::watch`].
///
/// The stream is opened at the first [`KvWatch::next`]. If the server ends it (a restart, a
/// shutdown) or stays silent longer than the request timeout (servers send
/// keep-alive frames every few seconds), it is reopened; the new stream's first frame is
/// reported only if it differs from what the caller last saw.
pub struct RemoteWatch {
    client: Client,
    keys: Vec<Key>,
    request: Bytes,
    stream: Option<Incoming>,
    buf: Vec<u8>,
    state: Vec<Option<Entry>>,
    reported: Option<Vec<Option<Versionstamp>>>,
}

impl RemoteWatch {
    pub(crate) fn new(client: Client, keys: Vec<Key>) -> Result<RemoteWatch> {
        let encoded = keys
            .iter()
            .map(|k| try_encode_key(k).map_err(RequestError::from))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let request = Bytes::from(cairn_proto::watch_to_proto(encoded).encode_to_vec());
        Ok(RemoteWatch {
            client,
            state: vec![None; keys.len()],
            keys,
            request,
            stream: None,
            buf: Vec::new(),
            reported: None,
        })
    }

    /// Applies one frame to the known state.
    fn apply(&mut self, output: pb::WatchOutput) -> Result<()> {
        if output.status == pb::SnapshotReadStatus::SrReadDisabled as i32 {
            return Err(ClientError::ReadDisabled);
        }
        if output.keys.len() != self.keys.len() {
            return Err(ClientError::Protocol(format!(
                "watch frame reports {} keys, {} are watched",
                output.keys.len(),
                self.keys.len()
            )));
        }
        for ((slot, key), change) in self.state.iter_mut().zip(&self.keys).zip(output.keys) {
            if !change.changed {
                continue;
            }
            *slot = match change.entry_if_changed {
                None => None,
                Some(entry) => {
                    let (_, value, versionstamp) = cairn_proto::kv_entry_from_proto(entry)
                        .map_err(|e| ClientError::Protocol(e.to_string()))?;
                    Some(Entry {
                        key: key.clone(),
                        value,
                        versionstamp,
                    })
                }
            };
        }
        Ok(())
    }

    /// The state, if it differs from what was last reported.
    fn report(&mut self) -> Option<Vec<Option<Entry>>> {
        let stamps: Vec<_> = self
            .state
            .iter()
            .map(|e| e.as_ref().map(|e| e.versionstamp))
            .collect();
        if self.reported.as_ref() == Some(&stamps) {
            return None;
        }
        self.reported = Some(stamps);
        Some(self.state.clone())
    }
}

impl KvWatch for RemoteWatch {
    type Error = ClientError;

    async fn next(&mut self) -> Result<Vec<Option<Entry>>> {
        loop {
            // Whole frames already received come first.
            match decode_watch_frame(&self.buf, CLIENT_WATCH_FRAME_BYTES_MAX) {
                Err(e) => {
                    self.stream = None;
                    return Err(ClientError::Protocol(e.to_string()));
                }
                Ok(Some((frame, used))) => {
                    self.buf.drain(..used);
                    if let WatchFrame::Output(output) = frame {
                        self.apply(output)?;
                        if let Some(report) = self.report() {
                            return Ok(report);
                        }
                    }
                    continue;
                }
                Ok(None) => {}
            }
            let Some(stream) = self.stream.as_mut() else {
                let response = self
                    .client
                    .send(Path::Watch, self.request.clone(), true)
                    .await?;
                self.stream = Some(response.into_body());
                self.buf.clear();
                continue;
            };
            let idle = self.client.inner.options.request_timeout;
            match tokio::time::timeout(idle, stream.frame()).await {
                Ok(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        self.buf.extend_from_slice(&data);
                    }
                }
                // Ended, broken, or silent for too long: open a new stream after a pause
                // (`send` retries an unreachable server within its budget).
                Ok(Some(Err(_)) | None) | Err(_) => {
                    tracing::debug!("watch stream ended; reopening");
                    self.stream = None;
                    tokio::time::sleep(Duration::from_millis(CLIENT_RETRY_BACKOFF_MIN_MS)).await;
                }
            }
        }
    }
}
