//! What a command can fail with, and the one place such a failure becomes an error reply
//! ([`Error::reply`]), with Redis's error codes where Redis has one.

use cairn_store::StoreError;

use crate::frame::Frame;

/// A command's failure. Nothing of a failed command is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Wrong number of arguments for the command.
    #[error("wrong number of arguments for '{0}' command")]
    Arity(String),
    /// Malformed options.
    #[error("syntax error")]
    Syntax,
    /// The key holds another type.
    #[error("Operation against a key holding the wrong kind of value")]
    WrongType,
    /// Not an integer, or out of range.
    #[error("value is not an integer or out of range")]
    NotInteger,
    /// An increment overflowed.
    #[error("increment or decrement would overflow")]
    Overflow,
    /// A hash field does not hold an integer.
    #[error("hash value is not an integer")]
    HashNotInteger,
    /// Not a number INCRBYFLOAT can add.
    #[error("value is not a valid float")]
    NotFloat,
    /// A hash field does not hold a number HINCRBYFLOAT can add.
    #[error("hash value is not a float")]
    HashNotFloat,
    /// A float increment reached infinity.
    #[error("increment would produce NaN or Infinity")]
    NotFinite,
    /// An expire time out of range.
    #[error("invalid expire time in '{0}' command")]
    InvalidExpire(String),
    /// Outside one of cairn's bounds (key, value or write size; hash size; reply size).
    #[error("{0}")]
    Limit(String),
    /// Any other failure with a message of its own (`ERR` code).
    #[error("{0}")]
    Other(String),
    /// The database's commit queue is full: nothing was written, retry later.
    #[error("{0}")]
    Overloaded(String),
    /// Another client kept changing the keys this command read.
    #[error("the keys this command read kept changing under other clients' writes; nothing was written, retry")]
    Conflict,
    /// The database failed.
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Error {
    /// The error reply.
    pub fn reply(&self) -> Frame {
        let code = match self {
            Error::WrongType => "WRONGTYPE",
            Error::Overloaded(_) | Error::Conflict => "TRYAGAIN",
            Error::Store(e) if matches!(e.root(), StoreError::Overloaded(_)) => "TRYAGAIN",
            // A write to a replica: Redis's own code for it, which its clients recognize.
            Error::Store(e) if matches!(e.root(), StoreError::ReadOnlyReplica { .. }) => "READONLY",
            _ => "ERR",
        };
        Frame::Error(format!("{code} {self}"))
    }
}

/// What commands return.
pub type Result<T> = std::result::Result<T, Error>;
