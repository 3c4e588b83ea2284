//! MULTI/EXEC/DISCARD and WATCH/UNWATCH, on the connection's side: what a transaction holds
//! until EXEC. At EXEC the queued commands go to the database's writer as one operation, so
//! they are evaluated together and committed in one atomic write; WATCH records each key's
//! versionstamp, and the writer runs the transaction only if every watched key still has it
//! (that check is also one of the atomic write's checks). Otherwise EXEC answers the null
//! array, as Redis does.

use cairn_model::Versionstamp;

use crate::error::Error;
use crate::frame::Frame;
use crate::limits::{MULTI_COMMANDS_MAX, PIPELINE_BYTES_MAX, WATCH_KEYS_MAX};

/// A transaction being queued (between MULTI and EXEC).
#[derive(Default)]
pub struct Multi {
    /// The queued commands.
    pub commands: Vec<Vec<Vec<u8>>>,
    /// A command was refused while queueing: EXEC will discard the transaction.
    pub failed: bool,
    bytes: usize,
}

impl Multi {
    /// Queues `args`; refuses (and fails the transaction) past the bounds.
    pub fn queue(&mut self, args: Vec<Vec<u8>>) -> Frame {
        let size: usize = args.iter().map(|a| a.len() + 16).sum();
        if self.commands.len() >= MULTI_COMMANDS_MAX || self.bytes + size > PIPELINE_BYTES_MAX {
            self.failed = true;
            return Error::Limit(format!(
                "transaction too large: at most {MULTI_COMMANDS_MAX} commands and \
                 {PIPELINE_BYTES_MAX} bytes between MULTI and EXEC"
            ))
            .reply();
        }
        self.bytes += size;
        self.commands.push(args);
        Frame::Simple("QUEUED".into())
    }

    /// Answers a refused command: the transaction will be discarded.
    pub fn refuse(&mut self, reply: Frame) -> Frame {
        self.failed = true;
        reply
    }
}

/// Keys a connection watches, in one database.
#[derive(Default)]
pub struct Watched {
    /// The database index they were watched in.
    pub index: Option<u32>,
    /// Each key's head version when watched (`None`: absent).
    pub keys: Vec<(Vec<u8>, Option<Versionstamp>)>,
}

impl Watched {
    /// Adds a key seen at `version`, unless the bound is reached.
    pub fn add(
        &mut self,
        index: u32,
        name: Vec<u8>,
        version: Option<Versionstamp>,
    ) -> Result<(), Frame> {
        if self.index.is_some_and(|i| i != index) {
            return Err(Frame::err(
                "cairn watches keys of one database at a time: UNWATCH (or EXEC) before \
                 watching keys after SELECT",
            ));
        }
        if self.keys.len() >= WATCH_KEYS_MAX {
            return Err(Error::Limit(format!(
                "at most {WATCH_KEYS_MAX} watched keys per connection (each is one check of \
                 the EXEC's atomic write)"
            ))
            .reply());
        }
        self.index = Some(index);
        self.keys.push((name, version));
        Ok(())
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.index = None;
        self.keys.clear();
    }
}

/// EXEC after a failed queueing.
pub fn exec_abort() -> Frame {
    Frame::Error("EXECABORT Transaction discarded because of previous errors.".into())
}
