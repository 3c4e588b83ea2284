//! cairn's scan and index extensions of the data path (`docs/protocol.md`, §10 and §11):
//! keys-only reads, counts and aggregates (`POST <endpoint>/scan/{keys,count,aggregate}`),
//! and index management (`POST <endpoint>/index/{create,drop,list}`). Messages written by
//! hand with `prost`'s derives, in package `cairn.scan.v1`; field numbers are the wire format
//! and never change (pinned by `tests/wire_scan_known_bytes.rs`). Conversions to and from
//! the model are here too, so server and client share one definition.

use cairn_model::codec::try_encode_key;
use cairn_model::{decode_key, Aggregate, IndexInfo, IndexSpec, IndexState, Number};

use crate::error::ProtoError;
use crate::messages::ReadRange;

/// `POST <endpoint>/scan/keys` request body: the live keys of one range, without values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanKeys {
    /// The range, as in `snapshot_read` (limit at most the read limit's entries).
    #[prost(message, optional, tag = "1")]
    pub range: Option<ReadRange>,
}

/// `POST <endpoint>/scan/keys` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanKeysOutput {
    /// The keys, in the range's order.
    #[prost(message, repeated, tag = "1")]
    pub keys: Vec<ScanKey>,
}

/// One key of a keys-only read.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanKey {
    /// The encoded key.
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    /// The 10-byte versionstamp of the commit that wrote it.
    #[prost(bytes = "vec", tag = "2")]
    pub versionstamp: Vec<u8>,
}

/// `POST <endpoint>/scan/count` request body: count the live entries of `[start, end)`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanCount {
    /// Inclusive start (encoded key bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    /// Exclusive end (encoded key bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
}

/// `POST <endpoint>/scan/count` response body: one page of the count.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanCountOutput {
    /// Live entries counted in this page.
    #[prost(uint64, tag = "1")]
    pub count: u64,
    /// Empty when the range is done; otherwise ask again with `start` = this.
    #[prost(bytes = "vec", tag = "2")]
    pub resume_start: Vec<u8>,
}

/// `POST <endpoint>/scan/aggregate` request body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanAggregate {
    /// Inclusive start (encoded key bytes).
    #[prost(bytes = "vec", tag = "1")]
    pub start: Vec<u8>,
    /// Exclusive end (encoded key bytes).
    #[prost(bytes = "vec", tag = "2")]
    pub end: Vec<u8>,
    /// A field of object values (`a.b` for a nested one); empty for the values themselves.
    #[prost(string, tag = "3")]
    pub field: String,
}

/// `POST <endpoint>/scan/aggregate` response body: one page of the aggregate.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanAggregateOutput {
    /// Numeric values in this page.
    #[prost(uint64, tag = "1")]
    pub count: u64,
    /// Entries of this page without a number.
    #[prost(uint64, tag = "2")]
    pub skipped: u64,
    /// Their sum.
    #[prost(message, optional, tag = "3")]
    pub sum: Option<ScanNumber>,
    /// The smallest, absent when `count` is 0.
    #[prost(message, optional, tag = "4")]
    pub min: Option<ScanNumber>,
    /// The largest, absent when `count` is 0.
    #[prost(message, optional, tag = "5")]
    pub max: Option<ScanNumber>,
    /// Empty when the range is done; otherwise ask again with `start` = this.
    #[prost(bytes = "vec", tag = "6")]
    pub resume_start: Vec<u8>,
}

/// A number: an integer (decimal text, as it may exceed 64 bits) or a double.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ScanNumber {
    /// Which.
    #[prost(oneof = "scan_number::Kind", tags = "1, 2")]
    pub kind: Option<scan_number::Kind>,
}

/// The two kinds of [`ScanNumber`].
pub mod scan_number {
    /// An integer or a double.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Kind {
        /// An integer, as decimal text (`-12`).
        #[prost(string, tag = "1")]
        Integer(String),
        /// A double.
        #[prost(double, tag = "2")]
        Float(f64),
    }
}

/// An index definition (`index/create`'s body; part of [`IndexInfoMessage`]).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexSpecMessage {
    /// The index's name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// The indexed prefix, an encoded key.
    #[prost(bytes = "vec", tag = "2")]
    pub prefix: Vec<u8>,
    /// The fields, in order.
    #[prost(string, repeated, tag = "3")]
    pub fields: Vec<String>,
    /// One entry per combination of values at most.
    #[prost(bool, tag = "4")]
    pub unique: bool,
}

/// What the database reports about one index (`index/create`'s and `index/list`'s answers).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexInfoMessage {
    /// The definition.
    #[prost(message, optional, tag = "1")]
    pub spec: Option<IndexSpecMessage>,
    /// [`IndexStateCode`].
    #[prost(enumeration = "IndexStateCode", tag = "2")]
    pub state: i32,
    /// While building: entries of the prefix visited so far.
    #[prost(uint64, tag = "3")]
    pub scanned: u64,
    /// When failed: why.
    #[prost(string, tag = "4")]
    pub failure_reason: String,
    /// Index entries held.
    #[prost(uint64, tag = "5")]
    pub entries: u64,
    /// Entries not indexed because their value could not be decoded.
    #[prost(uint64, tag = "6")]
    pub undecodable: u64,
    /// Entries not indexed because their index key would be too large.
    #[prost(uint64, tag = "7")]
    pub oversized: u64,
}

/// The phase of an index on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum IndexStateCode {
    /// Unknown; clients treat it as an error.
    IsUnspecified = 0,
    /// Being built.
    IsBuilding = 1,
    /// Maintained by every commit.
    IsReady = 2,
    /// Its backfill failed.
    IsFailed = 3,
    /// Its entries are being removed.
    IsDropping = 4,
}

/// `POST <endpoint>/index/drop` request body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexDrop {
    /// The index to drop.
    #[prost(string, tag = "1")]
    pub name: String,
}

/// `POST <endpoint>/index/drop` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexDropOutput {
    /// False when there was no such index.
    #[prost(bool, tag = "1")]
    pub dropped: bool,
}

/// `POST <endpoint>/index/list` request body (no fields).
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexList {}

/// `POST <endpoint>/index/list` response body.
#[derive(Clone, PartialEq, prost::Message)]
pub struct IndexListOutput {
    /// Every index, in name order.
    #[prost(message, repeated, tag = "1")]
    pub indexes: Vec<IndexInfoMessage>,
}

/// A number on the wire.
pub fn number_to_proto(n: Number) -> ScanNumber {
    ScanNumber {
        kind: Some(match n {
            Number::Int(i) => scan_number::Kind::Integer(i.to_string()),
            Number::Float(x) => scan_number::Kind::Float(x),
        }),
    }
}

/// A number from the wire.
pub fn number_from_proto(n: &ScanNumber) -> Result<Number, ProtoError> {
    match &n.kind {
        Some(scan_number::Kind::Integer(text)) => text
            .parse()
            .map(Number::Int)
            .map_err(|_| ProtoError::Extension(format!("integer {text:?} is not a decimal i128"))),
        Some(scan_number::Kind::Float(x)) if !x.is_nan() => Ok(Number::Float(*x)),
        Some(scan_number::Kind::Float(_)) => {
            Err(ProtoError::Extension("a number may not be NaN".into()))
        }
        None => Err(ProtoError::Extension("a number without a value".into())),
    }
}

/// One page of an aggregate, on the wire.
pub fn aggregate_to_proto(aggregate: &Aggregate, resume: Option<Vec<u8>>) -> ScanAggregateOutput {
    ScanAggregateOutput {
        count: aggregate.count,
        skipped: aggregate.skipped,
        sum: Some(number_to_proto(aggregate.sum)),
        min: aggregate.min.map(number_to_proto),
        max: aggregate.max.map(number_to_proto),
        resume_start: resume.unwrap_or_default(),
    }
}

/// One page of an aggregate from the wire, and where to resume.
pub fn aggregate_from_proto(
    output: &ScanAggregateOutput,
) -> Result<(Aggregate, Option<Vec<u8>>), ProtoError> {
    let optional = |n: &Option<ScanNumber>| n.as_ref().map(number_from_proto).transpose();
    let aggregate = Aggregate {
        count: output.count,
        skipped: output.skipped,
        sum: optional(&output.sum)?.unwrap_or(Number::Int(0)),
        min: optional(&output.min)?,
        max: optional(&output.max)?,
    };
    let resume = (!output.resume_start.is_empty()).then(|| output.resume_start.clone());
    Ok((aggregate, resume))
}

/// An index definition on the wire.
pub fn index_spec_to_proto(spec: &IndexSpec) -> Result<IndexSpecMessage, ProtoError> {
    Ok(IndexSpecMessage {
        name: spec.name.clone(),
        prefix: try_encode_key(&spec.prefix)
            .map_err(|e| ProtoError::Extension(format!("index prefix: {e}")))?,
        fields: spec.fields.clone(),
        unique: spec.unique,
    })
}

/// An index definition from the wire (checked by [`IndexSpec::validate`] too).
pub fn index_spec_from_proto(message: &IndexSpecMessage) -> Result<IndexSpec, ProtoError> {
    let prefix = decode_key(&message.prefix)
        .map_err(|e| ProtoError::Extension(format!("index prefix: {e}")))?;
    let spec = IndexSpec {
        name: message.name.clone(),
        prefix,
        fields: message.fields.clone(),
        unique: message.unique,
    };
    spec.validate()
        .map_err(|e| ProtoError::Extension(e.to_string()))?;
    Ok(spec)
}

/// What a database reports about an index, on the wire.
pub fn index_info_to_proto(info: &IndexInfo) -> Result<IndexInfoMessage, ProtoError> {
    let (state, scanned, failure_reason) = match &info.state {
        IndexState::Building { scanned } => (IndexStateCode::IsBuilding, *scanned, String::new()),
        IndexState::Ready => (IndexStateCode::IsReady, 0, String::new()),
        IndexState::Failed { reason } => (IndexStateCode::IsFailed, 0, reason.clone()),
        IndexState::Dropping => (IndexStateCode::IsDropping, 0, String::new()),
    };
    Ok(IndexInfoMessage {
        spec: Some(index_spec_to_proto(&info.spec)?),
        state: state.into(),
        scanned,
        failure_reason,
        entries: info.entries,
        undecodable: info.undecodable,
        oversized: info.oversized,
    })
}

/// What a database reports about an index, from the wire.
pub fn index_info_from_proto(message: &IndexInfoMessage) -> Result<IndexInfo, ProtoError> {
    let spec = message
        .spec
        .as_ref()
        .ok_or_else(|| ProtoError::Extension("index info without a definition".into()))?;
    let state = match IndexStateCode::try_from(message.state) {
        Ok(IndexStateCode::IsBuilding) => IndexState::Building {
            scanned: message.scanned,
        },
        Ok(IndexStateCode::IsReady) => IndexState::Ready,
        Ok(IndexStateCode::IsFailed) => IndexState::Failed {
            reason: message.failure_reason.clone(),
        },
        Ok(IndexStateCode::IsDropping) => IndexState::Dropping,
        _ => {
            return Err(ProtoError::Extension(format!(
                "unknown index state {}",
                message.state
            )))
        }
    };
    Ok(IndexInfo {
        spec: index_spec_from_proto(spec)?,
        state,
        entries: message.entries,
        undecodable: message.undecodable,
        oversized: message.oversized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::key;

    #[test]
    fn aggregates_and_index_infos_round_trip() {
        let aggregate = Aggregate {
            count: 3,
            skipped: 1,
            sum: Number::Int(-170_141_183_460_469_231_731_687_303_715_884_105_728),
            min: Some(Number::Float(-0.5)),
            max: None,
        };
        let wire = aggregate_to_proto(&aggregate, Some(vec![1, 2]));
        assert_eq!(
            aggregate_from_proto(&wire).expect("valid"),
            (aggregate, Some(vec![1, 2]))
        );
        let info = IndexInfo {
            spec: IndexSpec::new("by_email", key!["users"], &["email"]).unique(),
            state: IndexState::Failed {
                reason: "duplicate".into(),
            },
            entries: 4,
            undecodable: 1,
            oversized: 2,
        };
        let wire = index_info_to_proto(&info).expect("encodes");
        assert_eq!(index_info_from_proto(&wire).expect("decodes"), info);
    }

    #[test]
    fn bad_wire_values_are_errors() {
        let text = ScanNumber {
            kind: Some(scan_number::Kind::Integer("1e3".into())),
        };
        assert!(number_from_proto(&text).is_err());
        assert!(number_from_proto(&ScanNumber { kind: None }).is_err());
        let spec = IndexSpecMessage {
            name: "x y".into(),
            prefix: vec![0x02, b'p', 0],
            fields: vec!["a".into()],
            unique: false,
        };
        assert!(index_spec_from_proto(&spec).is_err());
        let spec = IndexSpecMessage {
            prefix: vec![0x99],
            name: "x".into(),
            ..spec
        };
        assert!(index_spec_from_proto(&spec).is_err());
    }
}
