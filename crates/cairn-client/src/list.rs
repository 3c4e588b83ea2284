//! Listing over the network: the shared [`ListPager`] decides the ranges, each batch is one
//! request (a snapshot read for entries, a keys-only scan for keys).

use std::collections::VecDeque;

use cairn_model::{Entry, KvList, Limits, ListOptions, ListPager, ListSelector, ReadRange};
use cairn_proto::EntryParts;

use crate::error::{ClientError, Result};
use crate::{decode_entry, Client};

/// What a paged listing reads from the server, one batch per request.
pub(crate) trait Page: Sized {
    /// What the batch is called in a protocol error ("entries", "keys").
    const WHAT: &'static str;
    /// The row's encoded key (the pager resumes after the last one returned).
    fn key(&self) -> &[u8];
    /// Up to `range.limit` rows of the range.
    async fn read(client: &Client, range: ReadRange) -> Result<Vec<Self>>;
}

impl Page for EntryParts {
    const WHAT: &'static str = "entries";
    fn key(&self) -> &[u8] {
        &self.0
    }
    async fn read(client: &Client, range: ReadRange) -> Result<Vec<Self>> {
        Ok(client
            .snapshot_read(vec![range])
            .await?
            .pop()
            .unwrap_or_default())
    }
}

/// A listing read from a server in batches: the part entry and keys-only listings share.
pub(crate) struct PagedReader<R> {
    client: Client,
    pager: ListPager,
    buffer: VecDeque<R>,
}

impl<R: Page> PagedReader<R> {
    pub(crate) fn new(
        client: Client,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<Self> {
        Ok(PagedReader {
            client,
            pager: ListPager::new(selector, options, limits)?,
            buffer: VecDeque::new(),
        })
    }

    /// The next row, reading the next batch when the buffer is empty.
    pub(crate) async fn next_row(&mut self) -> Option<Result<R>> {
        if self.pager.limit_reached() {
            return None;
        }
        if self.buffer.is_empty() {
            let range = self.pager.next_range()?;
            let asked = range.limit;
            let batch = R::read(&self.client, range).await.and_then(|batch| {
                if batch.len() > asked {
                    return Err(ClientError::Protocol(format!(
                        "asked for at most {asked} {}, got {}",
                        R::WHAT,
                        batch.len()
                    )));
                }
                Ok(batch)
            });
            match batch {
                Ok(batch) => {
                    self.pager.advance(asked, batch.iter().map(R::key));
                    self.buffer.extend(batch);
                }
                Err(e) => {
                    // Ends the listing: a later call must not skip past the failed batch.
                    self.pager.advance(usize::MAX, []);
                    return Some(Err(e));
                }
            }
        }
        let row = self.buffer.pop_front()?;
        self.pager.returned(row.key());
        Some(Ok(row))
    }

    pub(crate) fn cursor(&self) -> String {
        self.pager.cursor()
    }
}

/// A listing in progress against a server; see [`cairn_model::Kv::list`]. Each batch is one
/// snapshot read, so a listing is consistent per batch.
pub struct RemoteList {
    reader: PagedReader<EntryParts>,
}

impl RemoteList {
    pub(crate) fn new(
        client: Client,
        selector: &ListSelector,
        options: ListOptions,
        limits: &Limits,
    ) -> Result<RemoteList> {
        Ok(RemoteList {
            reader: PagedReader::new(client, selector, options, limits)?,
        })
    }
}

impl KvList for RemoteList {
    type Error = ClientError;

    async fn next(&mut self) -> Option<Result<Entry>> {
        Some(self.reader.next_row().await?.and_then(decode_entry))
    }

    fn cursor(&self) -> String {
        self.reader.cursor()
    }
}
