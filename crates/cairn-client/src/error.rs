//! Errors of the network client.

use cairn_model::{LimitError, RequestError};

/// Why an operation of [`crate::Client`] failed. Messages are the server's own words where
/// it gave some (a 4xx body is a plain-text reason).
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Refused before anything was sent (a key that cannot be encoded, a bad cursor, …).
    #[error(transparent)]
    Request(#[from] RequestError),
    /// Refused before anything was sent: over a limit of the client's [`cairn_model::Limits`].
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// The URL is not one the client can use.
    #[error("invalid database URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The access token was refused (401 or 403 from the metadata exchange or data path).
    #[error("access denied ({status}): {message}")]
    Unauthorized {
        /// The HTTP status.
        status: u16,
        /// The server's reason.
        message: String,
    },
    /// The server refused the request as invalid (a 4xx other than 401/403): over a limit,
    /// a mutation that cannot apply, a malformed request. Nothing was written.
    #[error("{message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The server's reason.
        message: String,
    },
    /// The endpoint does not accept writes (`AW_WRITE_DISABLED`, e.g. a read replica or a
    /// read-only token).
    #[error("writes are disabled on this endpoint")]
    WriteDisabled,
    /// The endpoint does not serve reads now (`SR_READ_DISABLED`).
    #[error("reads are disabled on this endpoint")]
    ReadDisabled,
    /// The server kept failing (5xx; for a write only cairn's `503` marked not applied) or
    /// could not be reached for the whole retry budget. An atomic write or enqueue failing so
    /// was not applied.
    #[error("server unavailable after retrying for {retried_ms} ms: {last}")]
    Unavailable {
        /// How long the client retried.
        retried_ms: u64,
        /// The last failure seen.
        last: String,
    },
    /// A write may have reached the server but no answer says what became of it: the
    /// connection broke or timed out after sending, or a 5xx came without cairn's promise
    /// that nothing was applied (a proxy's 502/504, a storage failure after the write was
    /// applied). It may or may not have committed; it was not retried, because retrying
    /// could apply it twice. Read the data to find out.
    #[error("the outcome of the write is unknown: {0}")]
    OutcomeUnknown(String),
    /// A queue acknowledgement named a delivery whose lease the server does not hold any
    /// more (it expired, the message was handed out again, or it was settled already; 409).
    /// Nothing changed.
    #[error("queue delivery not held: {0}")]
    DeliveryNotHeld(String),
    /// The server's answer did not follow the protocol.
    #[error("protocol violation by the server: {0}")]
    Protocol(String),
}

/// Shorthand for results of client operations.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
