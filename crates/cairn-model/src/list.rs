//! Listing, shared by the embedded database and the network client: selectors, options,
//! Deno-format cursors, and the [`ListPager`] that turns a listing into a sequence of range
//! reads.
//!
//! Cursors have Deno's format: URL-safe base64 of the last key's encoding with the selector's
//! common prefix removed. A cursor names a position, not a snapshot, so it can resume a listing
//! later, against a directory or a server alike.

use base64::Engine as _;

use crate::codec::try_encode_key;
use crate::kv::RequestError;
use crate::limits::LIST_BATCH_SIZE_DEFAULT;
use crate::{Key, Limits};

/// Which keys to list.
#[derive(Debug, Clone, PartialEq)]
pub enum ListSelector {
    /// Every key that starts with the prefix (the prefix key itself excluded).
    Prefix(Key),
    /// Keys with the prefix, from `start` (inclusive; a key under the prefix).
    PrefixStart {
        /// The prefix.
        prefix: Key,
        /// Inclusive start.
        start: Key,
    },
    /// Keys with the prefix, up to `end` (exclusive; a key under the prefix).
    PrefixEnd {
        /// The prefix.
        prefix: Key,
        /// Exclusive end.
        end: Key,
    },
    /// Keys in `[start, end)`.
    Range {
        /// Inclusive start.
        start: Key,
        /// Exclusive end.
        end: Key,
    },
}

/// The encoded bounds of a selector.
struct Bounds {
    start: Vec<u8>,
    end: Vec<u8>,
    /// What cursors are relative to.
    common_prefix: Vec<u8>,
}

impl ListSelector {
    fn bounds(&self) -> Result<Bounds, RequestError> {
        let with = |prefix: &Key, byte: u8| -> Result<Vec<u8>, RequestError> {
            let mut k = try_encode_key(prefix)?;
            k.push(byte);
            Ok(k)
        };
        let (start, end, common_prefix) = match self {
            ListSelector::Prefix(p) => (with(p, 0x00)?, with(p, 0xFF)?, try_encode_key(p)?),
            ListSelector::PrefixStart { prefix, start } => {
                let (p, s) = (try_encode_key(prefix)?, try_encode_key(start)?);
                strictly_under(&p, &s, "start")?;
                (s, with(prefix, 0xFF)?, p)
            }
            ListSelector::PrefixEnd { prefix, end } => {
                let (p, e) = (try_encode_key(prefix)?, try_encode_key(end)?);
                strictly_under(&p, &e, "end")?;
                (with(prefix, 0x00)?, e, p)
            }
            ListSelector::Range { start, end } => {
                let (s, e) = (try_encode_key(start)?, try_encode_key(end)?);
                let common = s
                    .iter()
                    .zip(&e)
                    .take_while(|(a, b)| a == b)
                    .map(|(a, _)| *a)
                    .collect();
                (s, e, common)
            }
        };
        Ok(Bounds {
            start,
            end,
            common_prefix,
        })
    }
}

impl ListSelector {
    /// The encoded `[start, end)` of the keys the selector covers.
    pub fn range(&self) -> Result<(Vec<u8>, Vec<u8>), RequestError> {
        let bounds = self.bounds()?;
        Ok((bounds.start, bounds.end))
    }
}

/// Deno's rule for a start or end key given with a prefix: it must lie strictly under the
/// prefix, or the listing would reach keys outside it.
fn strictly_under(prefix: &[u8], key: &[u8], which: &str) -> Result<(), RequestError> {
    if key.len() > prefix.len() && key.starts_with(prefix) {
        Ok(())
    } else {
        Err(RequestError::Argument(format!(
            "{which} key is not in the keyspace defined by prefix"
        )))
    }
}

/// How to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListOptions {
    /// Most entries in total; `None` = all.
    pub limit: Option<usize>,
    /// Descending key order.
    pub reverse: bool,
    /// Entries read per batch (at most the read limit's entries per read).
    pub batch_size: usize,
    /// Resume after the position a previous listing's cursor returned.
    pub cursor: Option<String>,
}

impl Default for ListOptions {
    fn default() -> Self {
        ListOptions {
            limit: None,
            reverse: false,
            batch_size: LIST_BATCH_SIZE_DEFAULT,
            cursor: None,
        }
    }
}

/// One range of a snapshot read, as KV Connect's `ReadRange`: `[start, end)`, at most `limit`
/// entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRange {
    /// Inclusive start (encoded; need not be a whole key).
    pub start: Vec<u8>,
    /// Exclusive end (encoded; need not be a whole key).
    pub end: Vec<u8>,
    /// Most entries returned.
    pub limit: usize,
    /// Descending order when true.
    pub reverse: bool,
}

/// The position of a listing: which range to read next, how many entries are still wanted,
/// and the cursor. Both the embedded iterator and the client's drive one of these; they
/// differ only in how a [`ReadRange`] is read.
#[derive(Debug, Clone)]
pub struct ListPager {
    start: Vec<u8>,
    end: Vec<u8>,
    common_prefix: Vec<u8>,
    reverse: bool,
    remaining: Option<usize>,
    batch_size: usize,
    exhausted: bool,
    last_key: Option<Vec<u8>>,
}

impl ListPager {
    /// Checks the selector and options (batch size within the read limit, cursor inside the
    /// selector's range) and positions the listing at its start or at the cursor.
    pub fn new(
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<ListPager, RequestError> {
        let Bounds {
            mut start,
            mut end,
            common_prefix,
        } = selector.bounds()?;
        if options.batch_size == 0 || options.batch_size > limits.entries_per_read_max {
            return Err(RequestError::Argument(format!(
                "batch size must be between 1 and {}, got {}",
                limits.entries_per_read_max, options.batch_size
            )));
        }
        if let Some(cursor) = &options.cursor {
            let tail = base64::engine::general_purpose::URL_SAFE
                .decode(cursor)
                .map_err(|e| RequestError::Argument(format!("invalid cursor: {e}")))?;
            let mut position = common_prefix.clone();
            position.extend_from_slice(&tail);
            if position < start || position >= end {
                return Err(RequestError::Argument(
                    "cursor is out of the selector's range".into(),
                ));
            }
            if options.reverse {
                end = position;
            } else {
                position.push(0);
                start = position;
            }
        }
        Ok(ListPager {
            start,
            end,
            common_prefix,
            reverse: options.reverse,
            remaining: options.limit,
            batch_size: options.batch_size,
            exhausted: false,
            last_key: None,
        })
    }

    /// The next range to read, or `None` when the listing is complete.
    pub fn next_range(&self) -> Option<ReadRange> {
        if self.exhausted || self.remaining == Some(0) {
            return None;
        }
        let limit = self
            .remaining
            .map_or(self.batch_size, |n| n.min(self.batch_size));
        Some(ReadRange {
            start: self.start.clone(),
            end: self.end.clone(),
            limit,
            reverse: self.reverse,
        })
    }

    /// Records the keys one read of [`ListPager::next_range`] returned, in order: the next
    /// range starts after the last of them, and fewer than asked for ends the listing.
    pub fn advance<'a>(&mut self, asked: usize, keys: impl IntoIterator<Item = &'a [u8]>) {
        let mut got = 0;
        let mut last = None;
        for key in keys {
            got += 1;
            last = Some(key);
        }
        if got < asked {
            self.exhausted = true;
        }
        if let Some(last) = last {
            if self.reverse {
                self.end = last.to_vec();
            } else {
                self.start = last.to_vec();
                self.start.push(0);
            }
        }
    }

    /// Records that `key` was handed to the caller (for the limit and the cursor).
    pub fn returned(&mut self, key: &[u8]) {
        if let Some(n) = self.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
        self.last_key = Some(key.to_vec());
    }

    /// True once the limit is reached: no further entry may be returned.
    pub fn limit_reached(&self) -> bool {
        self.remaining == Some(0)
    }

    /// A cursor for the position after the last entry returned (empty before the first).
    pub fn cursor(&self) -> String {
        match &self.last_key {
            Some(key) => {
                let tail = key.get(self.common_prefix.len()..).unwrap_or_default();
                base64::engine::general_purpose::URL_SAFE.encode(tail)
            }
            None => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key;

    fn pager(selector: ListSelector, options: ListOptions) -> ListPager {
        ListPager::new(&selector, options, &Limits::default()).expect("valid listing")
    }

    #[test]
    fn prefix_bounds_exclude_the_prefix_key() {
        let p = pager(ListSelector::Prefix(key!["a"]), ListOptions::default());
        let range = p.next_range().expect("a first range");
        assert_eq!(range.start, b"\x02a\x00\x00");
        assert_eq!(range.end, b"\x02a\x00\xff");
        assert_eq!(range.limit, LIST_BATCH_SIZE_DEFAULT);
    }

    #[test]
    fn start_outside_prefix_is_refused() {
        let selector = ListSelector::PrefixStart {
            prefix: key!["a"],
            start: key!["b"],
        };
        let err = ListPager::new(&selector, ListOptions::default(), &Limits::default())
            .expect_err("must be refused");
        assert_eq!(
            err.to_string(),
            "invalid argument: start key is not in the keyspace defined by prefix"
        );
    }

    #[test]
    fn pages_follow_the_last_key_and_stop_short() {
        let options = ListOptions {
            batch_size: 2,
            limit: Some(3),
            ..Default::default()
        };
        let mut p = pager(ListSelector::Prefix(key!["a"]), options);
        let first = p.next_range().expect("first");
        assert_eq!(first.limit, 2);
        let keys: [&[u8]; 2] = [b"\x02a\x00\x02x\x00", b"\x02a\x00\x02y\x00"];
        p.advance(first.limit, keys);
        for k in keys {
            p.returned(k);
        }
        let second = p.next_range().expect("second");
        assert_eq!(second.start, b"\x02a\x00\x02y\x00\x00");
        assert_eq!(second.limit, 1, "only one more is wanted");
        assert_eq!(p.cursor(), "AnkA");
        p.advance(second.limit, []);
        assert!(p.next_range().is_none());
    }

    #[test]
    fn cursor_resumes_after_its_key() {
        let options = ListOptions {
            cursor: Some("AnkA".into()),
            ..Default::default()
        };
        let p = pager(ListSelector::Prefix(key!["a"]), options);
        let range = p.next_range().expect("a range");
        assert_eq!(range.start, b"\x02a\x00\x02y\x00\x00");
        let reverse = ListOptions {
            cursor: Some("AnkA".into()),
            reverse: true,
            ..Default::default()
        };
        let p = pager(ListSelector::Prefix(key!["a"]), reverse);
        let range = p.next_range().expect("a range");
        assert_eq!(range.end, b"\x02a\x00\x02y\x00");
    }

    #[test]
    fn bad_cursor_and_batch_size_are_refused() {
        for options in [
            ListOptions {
                cursor: Some("%%%".into()),
                ..Default::default()
            },
            ListOptions {
                batch_size: 0,
                ..Default::default()
            },
            ListOptions {
                batch_size: 1001,
                ..Default::default()
            },
        ] {
            let result = ListPager::new(
                &ListSelector::Prefix(key!["a"]),
                options,
                &Limits::default(),
            );
            assert!(matches!(result, Err(RequestError::Argument(_))));
        }
    }
}
