//! `atomic_write`: checks, mutations and enqueues, all or nothing.

use axum::body::Bytes;
use axum::response::Response;
use cairn_proto::messages as pb;
use cairn_store::{Clock, CommitResult};

use super::{protobuf, BodyShare, DataRequest};
use crate::config::Access;
use crate::error::ApiError;

pub(crate) async fn handle(
    mut request: DataRequest,
    share: &BodyShare,
) -> Result<Response, ApiError> {
    let write: pb::AtomicWrite = cairn_proto::decode(&request.body)?;
    // From here the write is counted by its database's commit queue (or refused at once):
    // the body and its share of the server's budget go.
    request.body = Bytes::new();
    share.release();
    commit(&request, write).await
}

/// Commits a decoded `AtomicWrite` and answers as `atomic_write` does (also the body of the
/// queue extension's `enqueue`).
pub(crate) async fn commit(
    request: &DataRequest,
    write: pb::AtomicWrite,
) -> Result<Response, ApiError> {
    if request.grant.access == Access::ReadOnly {
        // The protocol's own refusal, which clients report as a failed write, never as success.
        return Ok(protobuf(&cairn_proto::atomic_write_output_write_disabled()));
    }
    let now_ms = request.app.clock.now_ms();
    let write = cairn_proto::atomic_write_from_proto(write, now_ms)?;
    // A full commit queue is answered at once (503, nothing applied) rather than waited
    // for: a database whose disk cannot keep up then holds no more than its queue.
    let output = match request.db.try_atomic_write(write).await? {
        CommitResult::Committed { versionstamp } => {
            cairn_proto::atomic_write_output_committed(versionstamp)
        }
        CommitResult::CheckFailed {
            failed_checks,
            reason,
        } => cairn_proto::atomic_write_output_check_failed(failed_checks, reason),
    };
    Ok(protobuf(&output))
}
