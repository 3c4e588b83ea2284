//! cairn's Redis protocol front end: RESP2, and RESP3 after `HELLO 3`, on the databases and
//! with the access tokens of a cairn server. Every write is durable before its reply.
//!
//! Layered as tokio's mini-redis: framing (`frame.rs`, `parse.rs`) → commands (`cmd/`, one
//! file per group, run against a `View` of the database) → the connection (`connection.rs`)
//! → the listener (`listener.rs`). Writes of every connection go through one writer per
//! database (`writer.rs`), which evaluates all waiting commands in order and commits them as
//! one atomic write. How Redis keys map onto tuple keys is in `keyspace.rs` and
//! docs/resp.md; every bound in `limits.rs`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cmd;
pub mod connection;
pub mod error;
pub mod float;
pub mod frame;
pub mod glob;
pub mod keyspace;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod parse;
pub mod view;
pub mod writer;

pub use listener::{database_name, serve};
