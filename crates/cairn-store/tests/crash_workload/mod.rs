//! The workload and the checks that cairn-store's `crash_sigkill` and cairn-powercut's
//! `crash_power_cut` share: a child process (the test binary again) in which eight writers
//! commit atomic writes and report each acknowledgement on stdout, the parent's side that
//! starts and SIGKILLs it, and the verification of the reopened database.
//!
//! Each writer `w`, in one atomic write: checks that `["w", w]` still has the versionstamp it
//! just read, sets `["w", w]` = `seq` (u64), sets `["log", w, seq]` = `seq` and sums
//! `["total"]` by 1, where `seq` is the counter's previous value plus one; once acknowledged,
//! the child writes `ack <versionstamp hex> <w> <seq>` with one `write` per line. Bytes in a
//! pipe outlive its writer: every acknowledgement made before the kill reaches the parent.
//!
//! [`Verifier`] checks a reopened database against the acknowledgements and against what
//! earlier cycles on the same database found: every acknowledged write present with its
//! versionstamp; no write partly visible (counter, log and total agree); nothing seen before
//! changed or gone; versionstamps only growing; each writer continuing where the reopen left
//! off. It returns what it found wrong instead of panicking, so that a negative control can
//! count lost writes.
//!
//! Not a test target (cargo builds only `tests/*.rs`): `crash_sigkill` includes it with
//! `mod crash_workload;`, cairn-powercut's test with a `#[path]` to this file.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::ops::RangeInclusive;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use cairn_model::key;
use cairn_store::{
    CommitResult, Database, KeyPart, Kv, KvList, KvValue, ListOptions, ListSelector, Versionstamp,
};
use rand::rngs::StdRng;
use rand::Rng;

/// Concurrent writer tasks in the child, each with its own counter key.
pub const WRITERS: u64 = 8;
/// A child that is never killed (the parent died) stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);
/// How long the parent waits for a child to open the database. Not a timing assertion: only
/// a guard against hanging forever.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// A `u64` from the environment, if set.
pub fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|e| panic!("{name}={value:?} is not a number: {e}")),
    )
}

// ---------------------------------------------------------------------------------------------
// Child: the writer loop.
// ---------------------------------------------------------------------------------------------

/// Writes one line to stdout with a single `write` (so a kill cannot tear it) and flushes it.
/// Exits the process if stdout is gone: the parent is not listening any more.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

/// Reports an error to the parent and stops.
fn child_fail(message: &str) -> ! {
    emit(&format!("error {message}"));
    std::process::exit(2);
}

/// The child process: opens the database in `dir` and writes until it is killed.
pub fn child_main(dir: &Path) {
    // Never outlive a vanished parent for long.
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(4);
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| child_fail(&format!("tokio runtime: {e}")));
    runtime.block_on(async {
        let db = Database::open(dir).unwrap_or_else(|e| child_fail(&format!("open: {e}")));
        // The harness has already printed "test <name> ... " without a line end: start a
        // line of our own.
        emit("\nready");
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| tokio::spawn(writer_loop(db.clone(), w)))
            .collect();
        for task in tasks {
            if let Err(e) = task.await {
                child_fail(&format!("writer task: {e}"));
            }
        }
    });
}

async fn writer_loop(db: Database, w: u64) {
    let counter = key!["w", w];
    let total = key!["total"];
    loop {
        let current = db
            .get(&counter)
            .await
            .unwrap_or_else(|e| child_fail(&format!("get w{w}: {e}")));
        let (seq, versionstamp) = match current {
            None => (0, None),
            Some(entry) => match entry.value {
                KvValue::U64(n) => (n, Some(entry.versionstamp)),
                other => child_fail(&format!("w{w} holds {other:?}")),
            },
        };
        let next = seq + 1;
        let result = db
            .atomic()
            .check(&counter, versionstamp)
            .set(&counter, KvValue::U64(next))
            .set(&key!["log", w, next], KvValue::U64(next))
            .sum(&total, 1)
            .commit()
            .await
            .unwrap_or_else(|e| child_fail(&format!("commit w{w} seq {next}: {e}")));
        match result {
            CommitResult::Committed { versionstamp } => {
                emit(&format!("ack {} {w} {next}", versionstamp.to_hex()));
            }
            // Only this task writes its counter: a failed check means the read did not see
            // the task's own previous write.
            CommitResult::CheckFailed { .. } => {
                child_fail(&format!("check of w{w} failed at seq {next}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: run a child, kill it, collect its acknowledgements.
// ---------------------------------------------------------------------------------------------

/// One acknowledged commit, as the child reported it.
#[derive(Debug, Clone, Copy)]
pub struct Ack {
    pub versionstamp: Versionstamp,
    pub writer: u64,
    pub seq: u64,
}

/// Kills (SIGKILL) and reaps the child when dropped, also when the parent panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a parent starts its child: the test function to run (`--exact`), and the variable
/// that tells it to be the child (set to the database directory).
pub struct ChildSpec {
    pub test_name: &'static str,
    pub env: &'static str,
    /// How long after the database is open the child is killed, in ms.
    pub kill_after_ms: RangeInclusive<u64>,
}

/// Starts a child writer on `dir`, SIGKILLs it at a random moment (one cycle in eight 0–30 ms
/// after the start, so that some kills land while the database is being created or
/// recovered) and returns its acknowledgements.
pub fn run_child(spec: &ChildSpec, dir: &Path, rng: &mut StdRng, ctx: &str) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", spec.test_name, "--nocapture", "--test-threads=1"])
            .env(spec.env, dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the child test process"),
    );
    let stdout = child.0.stdout.take().expect("child stdout is piped");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });

    let mut lines = Vec::new();
    if rng.random_ratio(1, 8) {
        // Early kill: possibly while the database is being created or recovered.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..=30)));
    } else {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    let ready = line == "ready";
                    lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{ctx}: the child did not open the database in {READY_TIMEOUT:?}")
                }
                // The child died: reported below with its exit status.
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        let delay = rng.random_range(spec.kill_after_ms.clone());
        std::thread::sleep(Duration::from_millis(delay));
    }

    let exited = child.0.try_wait().expect("poll the child");
    child.0.kill().expect("kill the child");
    let status = child.0.wait().expect("reap the child");
    reader.join().expect("pipe reader thread");
    lines.extend(rx.try_iter());

    let errors: Vec<_> = lines.iter().filter(|l| l.starts_with("error ")).collect();
    assert!(errors.is_empty(), "{ctx}: the child reported {errors:?}");
    assert!(
        exited.is_none() && status.signal() == Some(9),
        "{ctx}: the child was not killed by SIGKILL but ended with {status} \
         (exited before the kill: {exited:?}); {} lines of output, the last ones: {:?}",
        lines.len(),
        &lines[lines.len().saturating_sub(10)..]
    );
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("ack "))
        .map(|rest| parse_ack(rest).unwrap_or_else(|| panic!("{ctx}: bad ack line {rest:?}")))
        .collect()
}

fn parse_ack(rest: &str) -> Option<Ack> {
    let mut parts = rest.split(' ');
    let versionstamp = parts.next()?.parse().ok()?;
    let writer = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    if parts.next().is_some() || writer >= WRITERS {
        return None;
    }
    Some(Ack {
        versionstamp,
        writer,
        seq,
    })
}

// ---------------------------------------------------------------------------------------------
// Parent: verify the reopened database.
// ---------------------------------------------------------------------------------------------

/// What earlier cycles on the same database established.
pub struct Verifier {
    /// What ended the child's run, for the messages ("restart", "power cut").
    event: &'static str,
    /// Every log entry ever found, `(writer, seq)` → versionstamp; must never change.
    known: HashMap<(u64, u64), Versionstamp>,
    /// Each writer's counter at the last reopen.
    counters: [u64; WRITERS as usize],
    /// The greatest versionstamp seen so far (acknowledged or found in the database).
    max_seen: Option<Versionstamp>,
}

/// What one verification found.
pub struct Verdict {
    /// Acknowledged writes missing or different.
    pub lost: u64,
    /// Everything wrong (lost writes included); empty when all held.
    pub problems: Vec<String>,
}

/// What the reopened database holds.
struct Found {
    counters: [(u64, Option<Versionstamp>); WRITERS as usize],
    total: Option<(u64, Versionstamp)>,
    logs: Vec<BTreeMap<u64, Versionstamp>>,
    entries: u64,
}

fn as_u64(value: &KvValue, what: &str) -> Result<u64, String> {
    match value {
        KvValue::U64(n) => Ok(*n),
        other => Err(format!("{what} holds {other:?}, not a u64")),
    }
}

/// A non-negative integer key part.
fn int_part(part: &KeyPart) -> Option<u64> {
    match part {
        KeyPart::Int(i) => i.to_string().parse().ok(),
        _ => None,
    }
}

async fn read_all(db: &Database) -> Result<Found, String> {
    let mut counters = [(0u64, None::<Versionstamp>); WRITERS as usize];
    for (w, slot) in counters.iter_mut().enumerate() {
        let entry = db
            .get(&key!["w", w as u64])
            .await
            .map_err(|e| format!("get w{w}: {e}"))?;
        if let Some(entry) = entry {
            *slot = (
                as_u64(&entry.value, &format!("w{w}"))?,
                Some(entry.versionstamp),
            );
        }
    }
    let total = match db
        .get(&key!["total"])
        .await
        .map_err(|e| format!("get total: {e}"))?
    {
        Some(e) => Some((as_u64(&e.value, "total")?, e.versionstamp)),
        None => None,
    };
    let mut logs: Vec<BTreeMap<u64, Versionstamp>> = vec![BTreeMap::new(); WRITERS as usize];
    let mut listing = db
        .list(ListSelector::Prefix(key!["log"]), ListOptions::default())
        .map_err(|e| format!("list log: {e}"))?;
    let mut entries = 0u64;
    while let Some(entry) = listing.next().await {
        let entry = entry.map_err(|e| format!("listing log: {e}"))?;
        let (w, seq) = match entry.key.0.as_slice() {
            [_, w, seq] => (int_part(w), int_part(seq)),
            _ => (None, None),
        };
        let (Some(w), Some(seq)) = (w, seq) else {
            return Err(format!("unexpected log key {:?}", entry.key));
        };
        if w >= WRITERS {
            return Err(format!("log key of unknown writer {w}"));
        }
        let value = as_u64(&entry.value, &format!("log/{w}/{seq}"))?;
        if value != seq {
            return Err(format!("log/{w}/{seq} holds {value}"));
        }
        logs[w as usize].insert(seq, entry.versionstamp);
        entries += 1;
    }
    Ok(Found {
        counters,
        total,
        logs,
        entries,
    })
}

impl Verifier {
    /// A verifier for a fresh database; `event` names what ends each child's run.
    pub fn new(event: &'static str) -> Verifier {
        Verifier {
            event,
            known: HashMap::new(),
            counters: [0; WRITERS as usize],
            max_seen: None,
        }
    }

    /// Writes found in the database so far (acknowledged or not).
    #[allow(
        dead_code,
        reason = "crash_sigkill's summary; the power-cut test prints none"
    )]
    pub fn recovered(&self) -> u64 {
        self.known.len() as u64
    }

    /// Reopens the database and checks it against `acks` and earlier cycles.
    pub async fn verify(&mut self, dir: &Path, acks: &[Ack], ctx: &str) -> Verdict {
        let mut problems = self.check_acks_alone(acks);
        let found = match Database::open(dir) {
            Ok(db) => {
                let found = read_all(&db).await;
                db.close();
                found
            }
            Err(e) => Err(format!("reopening after the {} failed: {e}", self.event)),
        };
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                problems.push(e);
                return Verdict { lost: 0, problems };
            }
        };
        problems.extend(self.check_consistency(&found));
        let lost = self.check_acks_present(&found, acks, &mut problems);
        if !problems.is_empty() {
            println!(
                "{ctx}: {} problems, the first: {}",
                problems.len(),
                problems[0]
            );
        }
        // Remember.
        for (w, log) in found.logs.iter().enumerate() {
            for (&seq, &vs) in log.range(self.counters[w] + 1..) {
                self.known.insert((w as u64, seq), vs);
            }
            self.counters[w] = found.counters[w].0;
        }
        let newest = found.logs.iter().filter_map(|l| l.values().last()).max();
        let max_ack = acks.iter().map(|a| a.versionstamp).max();
        self.max_seen = self.max_seen.max(newest.copied()).max(max_ack);
        Verdict { lost, problems }
    }

    /// No write partly visible; nothing seen before lost or changed; versionstamps only grow.
    fn check_consistency(&self, found: &Found) -> Vec<String> {
        let event = self.event;
        let mut problems = Vec::new();
        let mut newest: Option<Versionstamp> = None;
        for (w, log) in found.logs.iter().enumerate() {
            let (n, counter_vs) = found.counters[w];
            let seqs: Vec<u64> = log.keys().copied().collect();
            if seqs != (1..=n).collect::<Vec<u64>>() {
                problems.push(format!(
                    "partial write: w{w} = {n} but its log holds {} entries, first {:?}, last {:?}",
                    seqs.len(),
                    seqs.first(),
                    seqs.last()
                ));
            }
            if n > 0 && counter_vs != log.get(&n).copied() {
                problems.push(format!(
                    "partial write: w{w} and log/{w}/{n} have different versionstamps"
                ));
            }
            let stamps: Vec<Versionstamp> = log.values().copied().collect();
            if !stamps.windows(2).all(|p| p[0] < p[1]) {
                problems.push(format!("the versionstamps of w{w}'s log do not increase"));
            }
            newest = newest.max(stamps.last().copied());
        }
        let (total_n, total_vs) = found.total.map_or((0, None), |(n, vs)| (n, Some(vs)));
        if total_n != found.entries {
            problems.push(format!(
                "partial write: total = {total_n} but there are {} log entries",
                found.entries
            ));
        }
        if total_vs != newest {
            problems.push("partial write: total was not written by the newest write".into());
        }
        for (w, &before) in self.counters.iter().enumerate() {
            if found.counters[w].0 < before {
                problems.push(format!(
                    "w{w} went back from {before} to {} across a {event}",
                    found.counters[w].0
                ));
            }
        }
        for (&(w, seq), &vs) in &self.known {
            let now = found.logs[w as usize].get(&seq).copied();
            if now != Some(vs) {
                problems.push(format!(
                    "log/{w}/{seq}, seen before with versionstamp {vs}, is now {now:?}"
                ));
            }
        }
        for (w, log) in found.logs.iter().enumerate() {
            for (&seq, &vs) in log.range(self.counters[w] + 1..) {
                if Some(vs) <= self.max_seen {
                    problems.push(format!(
                        "versionstamp went back across a {event}: log/{w}/{seq} has {vs}, \
                         but {:?} was seen before",
                        self.max_seen
                    ));
                }
            }
        }
        problems
    }

    /// Every acknowledged write is present with its versionstamp; returns how many are not.
    fn check_acks_present(&self, found: &Found, acks: &[Ack], problems: &mut Vec<String>) -> u64 {
        let mut lost = 0;
        for ack in acks {
            let there = found.logs[ack.writer as usize].get(&ack.seq).copied();
            if there != Some(ack.versionstamp) {
                if lost == 0 {
                    problems.push(format!(
                        "acknowledged write w{} seq {} ({}) is missing or different (w{} = {})",
                        ack.writer,
                        ack.seq,
                        ack.versionstamp,
                        ack.writer,
                        found.counters[ack.writer as usize].0
                    ));
                }
                lost += 1;
            }
        }
        if lost > 1 {
            problems.push(format!("{lost} acknowledged writes lost in all"));
        }
        lost
    }

    /// Checks that need only the acknowledgements and what earlier cycles found: the first
    /// acknowledged write is newer than everything seen before, no two share a versionstamp,
    /// and each writer continued from the counter the parent recovered, one seq at a time.
    fn check_acks_alone(&self, acks: &[Ack]) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(first) = acks.iter().map(|a| a.versionstamp).min() {
            if Some(first) <= self.max_seen {
                problems.push(format!(
                    "versionstamp went back across a {}: acknowledged {first}, but {:?} was \
                     seen before",
                    self.event, self.max_seen
                ));
            }
        }
        let mut stamps: Vec<Versionstamp> = acks.iter().map(|a| a.versionstamp).collect();
        stamps.sort_unstable();
        if !stamps.windows(2).all(|p| p[0] < p[1]) {
            problems.push("two acknowledged writes share a versionstamp".into());
        }
        for w in 0..WRITERS {
            let mine = acks.iter().filter(|a| a.writer == w);
            let mut previous: Option<Versionstamp> = None;
            for (expected, ack) in (self.counters[w as usize] + 1..).zip(mine) {
                if ack.seq != expected {
                    problems.push(format!(
                        "w{w} acknowledged seq {} where {expected} was expected",
                        ack.seq
                    ));
                    break;
                }
                if Some(ack.versionstamp) <= previous {
                    problems.push(format!("w{w}'s versionstamps do not increase"));
                    break;
                }
                previous = Some(ack.versionstamp);
            }
        }
        problems
    }
}
