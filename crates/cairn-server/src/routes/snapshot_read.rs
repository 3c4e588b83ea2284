//! `snapshot_read`: several ranges from one snapshot.

use cairn_proto::messages as pb;

use super::{protobuf, DataRequest};
use crate::error::ApiError;
use axum::response::Response;
use cairn_store::replication::Role;

pub(crate) async fn handle(request: DataRequest) -> Result<Response, ApiError> {
    let read: pb::SnapshotRead = cairn_proto::decode(&request.body)?;
    let limits = &request.app.config.limits;
    let ranges = cairn_proto::snapshot_read_from_proto(read, limits)?;
    let results = request.db.snapshot_read(&ranges).await?;
    let mut output = cairn_proto::snapshot_read_output(
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
    // A replica's snapshot may lag its primary's: never claim otherwise (the Deno runtime
    // refuses such an answer to a strong read, with "Strong consistency reads are not
    // available"; eventual reads take it).
    output.read_is_strongly_consistent = request.db.role() == Role::Primary;
    Ok(protobuf(&output))
}
