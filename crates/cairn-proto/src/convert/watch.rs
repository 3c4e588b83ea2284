//! Watches: `Watch` → checked keys, key states → `WatchOutput`.

use cairn_model::{LimitError, Limits};

use crate::convert::value::{kv_entry_to_proto, EntryParts};
use crate::error::ProtoError;
use crate::messages as pb;

/// The keys of a `Watch`, in request order, after checking them against `limits`: at most
/// `watch_keys_max` keys ([`LimitError::TooManyKeys`]), each at most `key_bytes_max` bytes
/// ([`LimitError::KeyTooLarge`]). Keys are not decoded: watching a key that cannot exist is
/// harmless (denokv checks sizes only, too).
pub fn watch_from_proto(watch: pb::Watch, limits: &Limits) -> Result<Vec<Vec<u8>>, ProtoError> {
    let count = watch.keys.len();
    if count > limits.watch_keys_max {
        return Err(LimitError::TooManyKeys {
            count,
            max: limits.watch_keys_max,
        }
        .into());
    }
    watch
        .keys
        .into_iter()
        .map(|key| {
            if key.key.len() > limits.key_bytes_max {
                return Err(LimitError::KeyTooLarge {
                    len: key.key.len(),
                    max: limits.key_bytes_max,
                }
                .into());
            }
            Ok(key.key)
        })
        .collect()
}

/// A `Watch` for these encoded keys (the client side).
pub fn watch_to_proto(keys: Vec<Vec<u8>>) -> pb::Watch {
    pb::Watch {
        keys: keys.into_iter().map(|key| pb::WatchKey { key }).collect(),
    }
}

/// The state of one watched key in a frame of the watch stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchKeyChange {
    /// Not changed since the previous frame.
    Unchanged,
    /// Changed (or first reported): its entry now, `None` if the key does not exist.
    Changed(Option<EntryParts>),
}

/// A `WatchOutput` with `SR_SUCCESS` and one state per watched key, in request order.
pub fn watch_output(keys: Vec<WatchKeyChange>) -> pb::WatchOutput {
    let keys = keys
        .into_iter()
        .map(|change| match change {
            WatchKeyChange::Unchanged => pb::WatchKeyOutput {
                changed: false,
                entry_if_changed: None,
            },
            WatchKeyChange::Changed(entry) => pb::WatchKeyOutput {
                changed: true,
                entry_if_changed: entry.map(kv_entry_to_proto),
            },
        })
        .collect();
    pb::WatchOutput {
        status: pb::SnapshotReadStatus::SrSuccess.into(),
        keys,
    }
}

/// The `WatchOutput` of an endpoint that cannot serve reads now: `SR_READ_DISABLED`, no keys.
pub fn watch_output_read_disabled() -> pb::WatchOutput {
    pb::WatchOutput {
        status: pb::SnapshotReadStatus::SrReadDisabled.into(),
        keys: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_model::{KvValue, Versionstamp};

    fn watch(keys: Vec<Vec<u8>>) -> pb::Watch {
        watch_to_proto(keys)
    }

    #[test]
    fn keys_convert_in_order() {
        let keys = vec![b"\x02a\x00".to_vec(), b"\x02b\x00".to_vec()];
        assert_eq!(
            watch_from_proto(watch(keys.clone()), &Limits::default()),
            Ok(keys)
        );
    }

    #[test]
    fn too_many_keys_are_refused() {
        let limits = Limits::default();
        let at_max = watch(vec![b"k".to_vec(); limits.watch_keys_max]);
        assert!(watch_from_proto(at_max, &limits).is_ok());
        let over = watch(vec![b"k".to_vec(); limits.watch_keys_max + 1]);
        let err = watch_from_proto(over, &limits).expect_err("11 keys");
        assert_eq!(
            err,
            ProtoError::Limit(LimitError::TooManyKeys { count: 11, max: 10 })
        );
        assert_eq!(err.to_string(), "too many keys: 11 (at most 10)");
    }

    #[test]
    fn oversized_key_is_refused() {
        let limits = Limits::default();
        let at_max = watch(vec![vec![1; limits.key_bytes_max]]);
        assert!(watch_from_proto(at_max, &limits).is_ok());
        let over = watch(vec![b"k".to_vec(), vec![1; limits.key_bytes_max + 1]]);
        assert_eq!(
            watch_from_proto(over, &limits),
            Err(ProtoError::Limit(LimitError::KeyTooLarge {
                len: 2049,
                max: 2048
            }))
        );
    }

    #[test]
    fn output_reports_each_key() {
        let entry = (
            b"\x02a\x00".to_vec(),
            KvValue::Bytes(vec![1]),
            Versionstamp::new(1, 0),
        );
        let out = watch_output(vec![
            WatchKeyChange::Changed(Some(entry)),
            WatchKeyChange::Changed(None),
            WatchKeyChange::Unchanged,
        ]);
        assert_eq!(out.status, pb::SnapshotReadStatus::SrSuccess as i32);
        let states: Vec<_> = out
            .keys
            .iter()
            .map(|k| {
                (
                    k.changed,
                    k.entry_if_changed.as_ref().map(|e| e.value.clone()),
                )
            })
            .collect();
        assert_eq!(states, [(true, Some(vec![1])), (true, None), (false, None)]);
        assert_eq!(
            watch_output_read_disabled().status,
            pb::SnapshotReadStatus::SrReadDisabled as i32
        );
    }
}
