//! Listing over the network: the shared [`ListPager`] decides the ranges, each batch is one
//! snapshot read.

use std::collections::VecDeque;

use cairn_model::{Entry, KvList, Limits, ListOptions, ListPager, ListSelector};
use cairn_proto::EntryParts;

use crate::error::{ClientError, Result};
use crate::{decode_entry, Client};

/// A listing in progress against a server; see [`cairn_model::Kv::list`]. Each batch is one
/// snapshot read, so a listing is consistent per batch.
pub struct RemoteList {
    client: Client,
    pager: ListPager,
    buffer: VecDeque<EntryParts>,
}

impl RemoteList {
    pub(crate) fn new(
        client: Client,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<RemoteList> {
        Ok(RemoteList {
            client,
            pager: ListPager::new(selector, options, limits)?,
            buffer: VecDeque::new(),
        })
    }

    async fn refill(&mut self) -> Result<()> {
        let Some(range) = self.pager.next_range() else {
            return Ok(());
        };
        let asked = range.limit;
        let batch = match self.client.snapshot_read(vec![range]).await {
            Ok(mut ranges) => ranges.pop().unwrap_or_default(),
            Err(e) => {
                // Ends the listing: a later call must not skip past the failed batch.
                self.pager.advance(usize::MAX, []);
                return Err(e);
            }
        };
        if batch.len() > asked {
            self.pager.advance(usize::MAX, []);
            return Err(ClientError::Protocol(format!(
                "asked for at most {asked} entries, got {}",
                batch.len()
            )));
        }
        self.pager
            .advance(asked, batch.iter().map(|(key, _, _)| key.as_slice()));
        self.buffer.extend(batch);
        Ok(())
    }
}

impl KvList for RemoteList {
    type Error = ClientError;

    async fn next(&mut self) -> Option<Result<Entry>> {
        if self.pager.limit_reached() {
            return None;
        }
        if self.buffer.is_empty() {
            if let Err(e) = self.refill().await {
                return Some(Err(e));
            }
        }
        let parts = self.buffer.pop_front()?;
        self.pager.returned(&parts.0);
        Some(decode_entry(parts))
    }

    fn cursor(&self) -> String {
        self.pager.cursor()
    }
}
