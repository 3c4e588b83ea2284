//! cairn's pure data model.
//!
//! Everything a cairn database, server or client must agree on, and nothing that does I/O:
//!
//! - [`Key`] and [`KeyPart`], with the order-preserving tuple codec of Deno KV ([`codec`]),
//! - [`KvValue`], the three value encodings, and the V8 numbers that `sum` understands ([`v8`]),
//! - [`Versionstamp`], the 10-byte commit identifier,
//! - [`AtomicWrite`] with its checks, mutations and enqueues, and the pure mutation semantics
//!   ([`mutation`]),
//! - [`Limits`], the request limits, and the bounds both implementations share ([`limits`]),
//! - the database API both the embedded database and the network client implement: the
//!   [`Kv`] trait ([`kv`]), the [`AtomicOperation`] builder ([`operation`]) and listing
//!   ([`list`]), keys-only listings, counts and aggregates ([`scan`]), and declared secondary
//!   indexes ([`index`]).
//!
//! This crate deliberately depends on no async runtime (the trait's futures are plain `std`
//! futures), no storage engine and no wire format.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![deny(clippy::unwrap_used, clippy::indexing_slicing)]

pub mod atomic;
pub mod codec;
pub mod index;
pub mod key;
pub mod kv;
pub mod limits;
pub mod list;
pub mod mutation;
pub mod operation;
pub mod queue;
pub mod scan;
pub mod text;
pub mod v8;
pub mod value;
pub mod versionstamp;

pub use atomic::{AtomicWrite, Check, Enqueue, Mutation, MutationKind};
pub use codec::{decode_key, encode_key, KeyDecodeError};
pub use index::{IndexInfo, IndexSpec, IndexState, KvIndexes};
pub use key::{Key, KeyPart};
pub use kv::{CommitResult, Entry, Kv, KvList, KvWatch, RequestError};
pub use limits::{LimitError, Limits};
pub use list::{ListOptions, ListPager, ListSelector, ReadRange};
pub use mutation::MutationError;
pub use operation::{AtomicOperation, EnqueueOptions};
pub use queue::{KvQueueListener, NackOutcome, QueueDelivery, QueueListenOptions, QueueStats};
pub use scan::{Aggregate, AggregateOptions, KeyEntry, KvKeyList, Number};
pub use value::{KvValue, ValueEncoding};
pub use versionstamp::Versionstamp;
