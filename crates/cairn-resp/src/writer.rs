//! One writer per database: every write command and every EXEC of the Redis front end goes
//! through it, in arrival order. It takes all the operations waiting (first waiting, briefly,
//! for the clients its last batch answered: `Gather`), evaluates them one
//! after another on an [`Overlay`] (the published snapshot plus what earlier ones wrote) and
//! commits the result as **one atomic write**, with a check on every key it read; then it
//! answers each operation. So read-modify-write commands (INCR, APPEND, SETNX, HSET, …)
//! see the latest value without locks, many of them share one durable commit (group commit
//! a level above cairn's own), and a write is answered only once it is durable.
//!
//! A failed check means another client of the database (KV Connect) changed a key the batch
//! read: the batch is evaluated again, at most `WRITER_CONFLICT_RETRIES_MAX` times. A
//! command that fails is rolled back alone (a command is all or nothing; in EXEC the others
//! go on, as in Redis). Operations that would take the atomic write past the database's
//! limits wait for the next batch; one that alone exceeds them is refused.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::pin::Pin;
use std::time::{Duration, Instant};

use cairn_model::{
    AtomicWrite, Check, CommitResult, Key, KvValue, LimitError, Limits, Mutation, MutationKind,
    Versionstamp,
};
use cairn_store::Database;
use tokio::sync::{mpsc, oneshot};

use crate::cmd;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::keyspace::head_key;
use crate::limits::{
    WRITER_BATCH_OPS_MAX, WRITER_CONFLICT_RETRIES_MAX, WRITER_GATHER_BACKOFF_MAX,
    WRITER_GATHER_WAIT_MS, WRITER_QUEUE_OPS_MAX,
};
use crate::view::{read_children, read_point, Slot, View};

/// Connections, by id. The ids are the server's own counter, so a fast hash will do:
/// SipHash was a measurable part of a SET's instructions (three lookups per operation).
type Clients = HashSet<u64, foldhash::fast::RandomState>;

/// One operation for a database's writer.
pub struct WriteOp {
    /// The connection it came from.
    pub client: u64,
    /// One command, or the commands of an EXEC.
    pub commands: Vec<Vec<Vec<u8>>>,
    /// For an EXEC: the watched keys and the versions WATCH saw (`None`: absent). The
    /// transaction runs only if they are unchanged.
    pub transaction: Option<Vec<(Vec<u8>, Option<Versionstamp>)>>,
    /// Where the reply goes.
    pub reply: oneshot::Sender<Frame>,
}

/// A handle on one database's writer task.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::Sender<WriteOp>,
}

impl Writer {
    /// Starts the writer of `db` on the current runtime; it ends when the last handle is
    /// dropped.
    pub fn start(db: Database, limits: Limits) -> Writer {
        let (sender, receiver) = mpsc::channel(WRITER_QUEUE_OPS_MAX);
        tokio::spawn(run(db, limits, receiver));
        Writer { sender }
    }

    /// Queues `op`, waiting (asynchronously) for room; `Err` if the writer has stopped.
    pub async fn submit(&self, op: WriteOp) -> std::result::Result<(), WriteOp> {
        self.sender.send(op).await.map_err(|e| e.0)
    }
}

async fn run(db: Database, limits: Limits, mut receiver: mpsc::Receiver<WriteOp>) {
    let mut waiting: VecDeque<WriteOp> = VecDeque::new();
    let mut gather = Gather::default();
    loop {
        if waiting.is_empty() {
            match receiver.recv().await {
                Some(op) => waiting.push_back(op),
                None => return,
            }
        }
        // The clients the last batch answered that have not sent again yet.
        let mut awaited = gather.awaited();
        // Operations of `waiting` already compared with `awaited`.
        let mut seen = 0;
        // When the wait began, and its one timer: armed only if there is a wait.
        let mut wait: Option<(Instant, Pin<Box<tokio::time::Sleep>>)> = None;
        loop {
            while waiting.len() < WRITER_BATCH_OPS_MAX {
                match receiver.try_recv() {
                    Ok(op) => waiting.push_back(op),
                    Err(_) => break,
                }
            }
            if !awaited.is_empty() {
                for op in waiting.iter().skip(seen) {
                    awaited.remove(&op.client);
                }
                seen = waiting.len();
                if let (true, Some((started, _))) = (awaited.is_empty(), &wait) {
                    gather.came_back(started.elapsed());
                }
            }
            if awaited.is_empty() || waiting.len() >= WRITER_BATCH_OPS_MAX {
                break;
            }
            let (_, sleep) = wait.get_or_insert_with(|| {
                let timer = tokio::time::sleep(Duration::from_millis(WRITER_GATHER_WAIT_MS));
                (Instant::now(), Box::pin(timer))
            });
            tokio::select! {
                biased;
                op = receiver.recv() => match op {
                    Some(op) => waiting.push_back(op),
                    // Closed: this batch is the last.
                    None => break,
                },
                () = sleep.as_mut() => {
                    gather.missed();
                    break;
                }
            }
        }
        let committing = Instant::now();
        let answered = run_batch(&db, &limits, &mut waiting).await;
        gather.round(answered, committing.elapsed());
    }
}

/// Which clients a batch waits for before it commits: group commit's `commit_delay`, decided
/// by what the clients did in the last rounds instead of configured.
///
/// With N clients each waiting for its reply, a writer that commits whatever is waiting
/// settles into two groups of N/2 that take turns: one commits while the other's clients
/// read their replies and send again. Each commit then carries half the clients. Waiting,
/// after the first operation, for the clients the last batch answered to send again makes
/// one group of N: half the commits (and syncs) for the same operations (`bench/README.md`,
/// "Redis protocol"). The wait ends when they are all back, or after
/// [`WRITER_GATHER_WAIT_MS`]. A wait that runs out, or that took longer than two commits,
/// means those clients do not come straight back (they think between commands, as
/// applications do): waiting only adds latency there, so the next waits are skipped, for
/// twice as many batches after each such wait, up to [`WRITER_GATHER_BACKOFF_MAX`]; a quick
/// wait starts over. A lone client never waits (its own next command is the batch's first).
#[derive(Debug, Default)]
struct Gather {
    /// The clients (connections) the last batch answered.
    answered: Clients,
    /// Batches still to commit without waiting.
    skip: usize,
    /// Batches to skip after the next wait that runs out (doubled each time).
    backoff: usize,
    /// How long the last batch took to commit.
    commit: Duration,
}

impl Gather {
    /// The clients to wait for (none: commit what is there).
    fn awaited(&self) -> Clients {
        if self.skip > 0 {
            Clients::default()
        } else {
            self.answered.clone()
        }
    }

    /// Every client waited for came back, after `waited`: waiting pays if that was quick.
    fn came_back(&mut self, waited: Duration) {
        if waited <= self.commit * 2 {
            self.backoff = 0;
        } else {
            self.missed();
        }
    }

    /// The wait ran out first.
    fn missed(&mut self) {
        self.backoff = (self.backoff * 2).clamp(1, WRITER_GATHER_BACKOFF_MAX);
        // This batch's round counts as the first skipped.
        self.skip = self.backoff + 1;
    }

    /// A batch answered the operations of `answered` (their clients); its commit took
    /// `commit`.
    fn round(&mut self, answered: Clients, commit: Duration) {
        self.answered = answered;
        self.commit = commit;
        self.skip = self.skip.saturating_sub(1);
    }
}

/// Evaluates a prefix of `waiting` into one atomic write, commits it, answers those
/// operations and removes them from `waiting`.
async fn run_batch(db: &Database, limits: &Limits, waiting: &mut VecDeque<WriteOp>) -> Clients {
    let mut attempt = 0;
    let (taken, outcome, replies) = loop {
        let mut overlay = Overlay::new(db, limits);
        let mut replies = Vec::new();
        for op in waiting.iter() {
            let mark = overlay.mark();
            let reply = execute(op, &mut overlay);
            if let Some(bound) = overlay.over_limits() {
                overlay.rollback(mark);
                if replies.is_empty() {
                    // Alone too large: refused, and the batch goes on without it.
                    replies.push(
                        Error::Limit(format!(
                            "this command's writes do not fit in one atomic write: {bound}"
                        ))
                        .reply(),
                    );
                    continue;
                }
                break;
            }
            replies.push(reply);
        }
        let taken = replies.len();
        let write = overlay.into_write();
        if write.mutations.is_empty() {
            break (taken, Ok(()), replies);
        }
        match db.try_atomic_write(write).await {
            Ok(CommitResult::Committed { .. }) => break (taken, Ok(()), replies),
            Ok(CommitResult::CheckFailed { .. }) if attempt < WRITER_CONFLICT_RETRIES_MAX => {
                attempt += 1;
            }
            Ok(CommitResult::CheckFailed { .. }) => break (taken, Err(Error::Conflict), replies),
            Err(e) => break (taken, Err(Error::Store(e)), replies),
        }
    };
    let failure = outcome.err().map(|e| e.reply());
    let mut clients = Clients::default();
    for (op, reply) in waiting.drain(..taken).zip(replies) {
        clients.insert(op.client);
        let _ = op.reply.send(failure.clone().unwrap_or(reply));
    }
    clients
}

/// Runs one operation on the overlay; a failed command leaves nothing behind.
fn execute(op: &WriteOp, overlay: &mut Overlay<'_>) -> Frame {
    let Some(watched) = &op.transaction else {
        return run_one(
            op.commands.first().map(Vec::as_slice).unwrap_or_default(),
            overlay,
        );
    };
    for (name, version) in watched {
        match overlay.unchanged(&head_key(name), *version) {
            Ok(true) => {}
            Ok(false) => return Frame::NullArray,
            Err(e) => return e.reply(),
        }
    }
    Frame::Array(
        op.commands
            .iter()
            .map(|args| run_one(args, overlay))
            .collect(),
    )
}

fn run_one(args: &[Vec<u8>], overlay: &mut Overlay<'_>) -> Frame {
    let mark = overlay.mark();
    match cmd::run(args, overlay) {
        Ok(frame) => frame,
        Err(e) => {
            overlay.rollback(mark);
            e.reply()
        }
    }
}

/// What an atomic write built so far counts against the database's limits.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    mutations: usize,
    checks: usize,
    bytes: usize,
    key_bytes: usize,
}

/// One key in the overlay.
#[derive(Debug, Clone)]
struct Entry {
    /// Its state now (after this batch's writes so far).
    current: Option<Slot>,
    /// Read from the snapshot by a point read: what the atomic write checks.
    read: Option<Option<Versionstamp>>,
    /// Written by this batch.
    dirty: bool,
}

impl Entry {
    fn add_to(&self, key_len: usize, totals: &mut Totals, sign: bool) {
        let mut t = Totals::default();
        if self.read.is_some() {
            t.checks = 1;
            t.key_bytes += key_len;
            t.bytes += key_len;
        }
        if self.dirty {
            t.mutations = 1;
            t.key_bytes += key_len;
            t.bytes += key_len + self.current.as_ref().map_or(0, |s| s.value.byte_len());
        }
        if sign {
            totals.mutations += t.mutations;
            totals.checks += t.checks;
            totals.bytes += t.bytes;
            totals.key_bytes += t.key_bytes;
        } else {
            totals.mutations -= t.mutations;
            totals.checks -= t.checks;
            totals.bytes -= t.bytes;
            totals.key_bytes -= t.key_bytes;
        }
    }
}

/// An entry's state before a change: its encoded key, and the key and entry it had.
type Undo = (Vec<u8>, Option<(Key, Entry)>);

/// A point to roll back to.
pub struct Mark {
    undo: usize,
    totals: Totals,
}

/// The snapshot plus the writes of the batch so far; becomes one atomic write.
pub struct Overlay<'a> {
    db: &'a Database,
    limits: &'a Limits,
    now_ms: u64,
    /// By encoded key.
    entries: BTreeMap<Vec<u8>, (Key, Entry)>,
    /// Encoded prefixes whose children were all read into `entries`.
    loaded: HashSet<Vec<u8>>,
    /// Earlier states of changed entries, newest last.
    undo: Vec<Undo>,
    totals: Totals,
}

impl<'a> Overlay<'a> {
    fn new(db: &'a Database, limits: &'a Limits) -> Self {
        use cairn_model::Kv as _;
        Overlay {
            db,
            limits,
            now_ms: db.now_ms(),
            entries: BTreeMap::new(),
            loaded: HashSet::new(),
            undo: Vec::new(),
            totals: Totals::default(),
        }
    }

    fn mark(&self) -> Mark {
        Mark {
            undo: self.undo.len(),
            totals: self.totals,
        }
    }

    fn rollback(&mut self, mark: Mark) {
        while self.undo.len() > mark.undo {
            if let Some((encoded, old)) = self.undo.pop() {
                match old {
                    Some(old) => self.entries.insert(encoded, old),
                    None => self.entries.remove(&encoded),
                };
            }
        }
        self.totals = mark.totals;
    }

    /// Replaces the entry of `encoded`, keeping the totals and the undo log.
    fn replace(&mut self, encoded: Vec<u8>, key: Key, entry: Entry) {
        let len = encoded.len();
        entry.add_to(len, &mut self.totals, true);
        // The entry replaced goes to the undo log as it is (moved, not copied).
        let old = self.entries.insert(encoded.clone(), (key, entry));
        if let Some((_, old)) = &old {
            old.add_to(len, &mut self.totals, false);
        }
        self.undo.push((encoded, old));
    }

    /// Which of the database's limits the write built so far breaks, if any.
    fn over_limits(&self) -> Option<String> {
        let (t, l) = (&self.totals, self.limits);
        if t.mutations > l.mutations_per_write_max {
            Some(format!(
                "{} keys written (at most {})",
                t.mutations, l.mutations_per_write_max
            ))
        } else if t.checks > l.checks_per_write_max {
            Some(format!(
                "{} keys read (at most {})",
                t.checks, l.checks_per_write_max
            ))
        } else if t.bytes > l.write_bytes_max {
            Some(format!("{} bytes (at most {})", t.bytes, l.write_bytes_max))
        } else if t.key_bytes > l.write_key_bytes_max {
            Some(format!(
                "{} bytes of keys (at most {})",
                t.key_bytes, l.write_key_bytes_max
            ))
        } else {
            None
        }
    }

    /// True if `key` has `version` and was not written by this batch (WATCH's test).
    fn unchanged(&mut self, key: &Key, version: Option<Versionstamp>) -> Result<bool> {
        if self
            .entries
            .get(&key.encode())
            .is_some_and(|(_, e)| e.dirty)
        {
            return Ok(false);
        }
        Ok(self.get(key)?.and_then(|s| s.versionstamp) == version)
    }

    /// True if `key` lies under a prefix whose children were all read.
    fn under_loaded_prefix(&self, key: &Key) -> bool {
        match key.parts() {
            [first, _] => self.loaded.contains(&Key(vec![first.clone()]).encode()),
            _ => false,
        }
    }

    fn into_write(self) -> AtomicWrite {
        let mut write = AtomicWrite::default();
        for (encoded, (_, entry)) in self.entries {
            if let Some(versionstamp) = entry.read {
                write.checks.push(Check {
                    key: encoded.clone(),
                    versionstamp,
                });
            }
            if entry.dirty {
                let (kind, expire_at_ms) = match entry.current {
                    Some(slot) => (MutationKind::Set(slot.value), slot.expire_at_ms),
                    None => (MutationKind::Delete, None),
                };
                write.mutations.push(Mutation {
                    key: encoded,
                    kind,
                    expire_at_ms,
                });
            }
        }
        write
    }
}

impl View for Overlay<'_> {
    fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn limits(&self) -> &Limits {
        self.limits
    }

    fn get(&mut self, key: &Key) -> Result<Option<Slot>> {
        let encoded = key.encode();
        if let Some((_, entry)) = self.entries.get(&encoded) {
            return Ok(entry.current.clone());
        }
        // A key too long to be written cannot exist (and could not be checked).
        if encoded.len() > self.limits.key_bytes_max || self.under_loaded_prefix(key) {
            return Ok(None);
        }
        let slot = read_point(self.db, key)?;
        let entry = Entry {
            read: Some(slot.as_ref().and_then(|s| s.versionstamp)),
            current: slot.clone(),
            dirty: false,
        };
        self.replace(encoded, key.clone(), entry);
        Ok(slot)
    }

    fn children(&mut self, prefix: &Key, limit: usize) -> Result<Vec<(Key, Slot)>> {
        let encoded = prefix.encode();
        if !self.loaded.contains(&encoded) {
            let rows = read_children(self.db, prefix, limit)?;
            if rows.len() < limit {
                self.loaded.insert(encoded.clone());
            }
            for (key, slot) in rows {
                // Read with the prefix, not checked: cached like the snapshot has it (no undo
                // needed: it is what the snapshot holds).
                self.entries.entry(key.encode()).or_insert((
                    key,
                    Entry {
                        current: Some(slot),
                        read: None,
                        dirty: false,
                    },
                ));
            }
        }
        let mut start = encoded.clone();
        start.push(0x00);
        let mut end = encoded;
        end.push(0xFF);
        Ok(self
            .entries
            .range(start..end)
            .filter_map(|(_, (key, entry))| entry.current.clone().map(|s| (key.clone(), s)))
            .take(limit)
            .collect())
    }

    fn put(&mut self, key: &Key, value: KvValue, expire_at_ms: Option<u64>) -> Result<()> {
        let encoded = key.encode();
        // Sizes only: a key encoded here is well formed (the pipeline checks it again).
        if encoded.len() > self.limits.key_bytes_max {
            return Err(Error::Limit(
                LimitError::KeyTooLarge {
                    len: encoded.len(),
                    max: self.limits.key_bytes_max,
                }
                .to_string(),
            ));
        }
        self.limits
            .check_value(value.byte_len())
            .map_err(|e| Error::Limit(e.to_string()))?;
        let read = self.entries.get(&encoded).and_then(|(_, e)| e.read);
        let entry = Entry {
            current: Some(Slot {
                value,
                expire_at_ms,
                versionstamp: None,
            }),
            read,
            dirty: true,
        };
        self.replace(encoded, key.clone(), entry);
        Ok(())
    }

    fn delete(&mut self, key: &Key) -> Result<()> {
        let encoded = key.encode();
        let read = self.entries.get(&encoded).and_then(|(_, e)| e.read);
        let entry = Entry {
            current: None,
            read,
            dirty: true,
        };
        self.replace(encoded, key.clone(), entry);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{Clients, Gather};
    use crate::limits::WRITER_GATHER_BACKOFF_MAX;

    const MS: Duration = Duration::from_millis(1);

    fn clients(ids: &[u64]) -> Clients {
        ids.iter().copied().collect()
    }

    #[test]
    fn a_batch_waits_for_the_clients_the_last_one_answered() {
        let mut gather = Gather::default();
        assert!(gather.awaited().is_empty(), "nothing known yet: no wait");
        gather.round(clients(&[1, 2, 3]), MS);
        assert_eq!(gather.awaited(), clients(&[1, 2, 3]));
    }

    #[test]
    fn waits_that_run_out_are_skipped_for_longer_and_longer() {
        let mut gather = Gather::default();
        gather.round(clients(&[1, 2]), MS);
        let mut waits = 0;
        for _ in 0..1000 {
            if !gather.awaited().is_empty() {
                // Clients that think between commands: the wait always runs out.
                waits += 1;
                gather.missed();
            }
            gather.round(clients(&[1, 2]), MS);
        }
        // Skips of 1, 2, 4, …, then WRITER_GATHER_BACKOFF_MAX batches between waits.
        assert!(
            waits <= 8 + 1000 / WRITER_GATHER_BACKOFF_MAX,
            "{waits} waits in 1000 batches"
        );
        assert!(waits >= 1000 / (WRITER_GATHER_BACKOFF_MAX + 1));
    }

    #[test]
    fn a_wait_that_succeeds_starts_over() {
        let mut gather = Gather::default();
        gather.round(clients(&[1, 2]), MS);
        gather.missed();
        gather.round(clients(&[1, 2]), MS);
        assert!(gather.awaited().is_empty(), "the next batch does not wait");
        gather.round(clients(&[1, 2]), MS);
        assert_eq!(gather.awaited(), clients(&[1, 2]), "then it tries again");
        gather.came_back(MS);
        gather.round(clients(&[1, 2]), MS);
        assert_eq!(
            gather.backoff, 0,
            "and a wait that succeeded resets the backoff"
        );
        assert_eq!(gather.awaited(), clients(&[1, 2]));
    }

    #[test]
    fn clients_that_come_back_slowly_count_as_a_wait_that_ran_out() {
        let mut gather = Gather::default();
        gather.round(clients(&[1, 2]), MS);
        gather.came_back(MS * 3);
        gather.round(clients(&[1, 2]), MS);
        assert!(
            gather.awaited().is_empty(),
            "slower than two commits: skipped"
        );
    }
}
