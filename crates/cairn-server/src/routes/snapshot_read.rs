//! `snapshot_read`: several ranges from one snapshot.

use cairn_proto::messages as pb;

use super::{protobuf, DataRequest};
use crate::error::ApiError;
use axum::response::Response;

pub(crate) async fn handle(request: DataRequest) -> Result<Response, ApiError> {
    let read: pb::SnapshotRead = cairn_proto::decode(&request.body)?;
    let limits = &request.app.config.limits;
    let ranges = cairn_proto::snapshot_read_from_proto(read, limits)?;
    let results = request.db.snapshot_read(&ranges).await?;
    let output = cairn_proto::snapshot_read_output(
        results
            .into_iter()
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| (e.key, e.value, e.versionstamp))
                    .collect()
            })
            .collect(),
    );
    Ok(protobuf(&output))
}
