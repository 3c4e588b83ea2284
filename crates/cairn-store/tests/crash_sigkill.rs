//! Crash test: SIGKILL in the middle of a stream of acknowledged atomic writes.
//!
//! The parent test re-executes this test binary (`std::env::current_exe()` with
//! `--exact <this test> --nocapture` and `CAIRN_CRASH_CHILD=<dir>`); in that child the same
//! test function runs a writer loop instead: it opens the on-disk (fjall) database in `<dir>`
//! and eight tokio tasks commit atomic writes as fast as they can. Each task `w` owns a counter
//! key and every write does, in one atomic operation:
//!
//! * check that `["w", w]` still has the versionstamp the task just read,
//! * set `["w", w]` = `seq` (u64), set `["log", w, seq]` = `seq`, sum `["total"]` by 1,
//!
//! where `seq` is the counter's previous value plus one. Once a commit is acknowledged the
//! child writes `ack <versionstamp hex> <w> <seq>` to its stdout with one `write` per line.
//! The parent reads those lines through a pipe: bytes already in a pipe survive the writer's
//! death, so every acknowledgement the child made before it died reaches the parent.
//!
//! The parent kills the child with SIGKILL (`Child::kill`) after a random delay (5–200 ms
//! after the child reported that the database is open; in one cycle out of eight, 0–30 ms
//! after the spawn instead, so that some kills land while the database is being opened or
//! recovered), reopens the directory itself (no child running) and verifies:
//!
//! 1. every acknowledged write is present, with the versionstamp it was acknowledged with;
//! 2. no atomic write is partly visible: for every writer, `["w", w]` = N implies that
//!    `["log", w, 1..=N]` exist and nothing above N does, the versionstamp of `["w", w]` is the
//!    one of `["log", w, N]`, and `["total"]` equals the number of log entries;
//! 3. versionstamps keep increasing across restarts: every write of a cycle (acknowledged or
//!    only found in the database afterwards) has a versionstamp greater than every versionstamp
//!    seen in earlier cycles, and nothing seen in an earlier cycle ever changes or disappears.
//!
//! It also checks that the child continued exactly where the parent's reopen left off (its
//! first acknowledged `seq` per writer is the recovered value plus one).
//!
//! A directory is reused for [`DEFAULT_CYCLES_PER_DIRECTORY`] cycles (so nine restarts of the
//! same database each), then the test moves on to a fresh one: every open replays the whole
//! fjall journal (this workload never fills a memtable), which in a debug build costs about
//! 75 µs per commit, so one ever-growing directory would make the run time quadratic in the
//! cycle count. Every first cycle of a directory also kills a child that is creating a
//! database.
//!
//! Parameters (environment variables):
//!
//! * `CAIRN_CRASH_CYCLES`: number of kill/reopen cycles, default 50 (the normal test run);
//!   set it to e.g. 1000 for a long run on demand:
//!   `CAIRN_CRASH_CYCLES=1000 cargo test -p cairn-store --test crash_sigkill -- --nocapture`
//!   (add `--release` to make each cycle cheaper and the child write faster). The 50-cycle
//!   run takes about 30 s in a debug build on two cores.
//! * `CAIRN_CRASH_CYCLES_PER_DIR`: cycles on one directory before a fresh one, default 10.
//! * `CAIRN_CRASH_SEED`: the seed of the kill delays (printed at the start and in every
//!   failure message). Timing still differs between runs, so a seed narrows a failure down
//!   rather than replaying it exactly.
//!
//! The child is killed in a `Drop` guard, so it dies even if the parent panics; it also exits
//! by itself once its stdout pipe is closed or after [`CHILD_LIFETIME`].

use cairn_store::{Kv, KvList};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use cairn_model::key;
use cairn_store::{
    CommitResult, Database, KeyPart, KvValue, ListOptions, ListSelector, Versionstamp,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The name of the test function below: what the child is started with.
const TEST_NAME: &str = "sigkill_loses_no_acknowledged_write";
/// Set (to the database directory) in the child process.
const CHILD_ENV: &str = "CAIRN_CRASH_CHILD";
const CYCLES_ENV: &str = "CAIRN_CRASH_CYCLES";
const SEED_ENV: &str = "CAIRN_CRASH_SEED";
const PER_DIRECTORY_ENV: &str = "CAIRN_CRASH_CYCLES_PER_DIR";
const DEFAULT_CYCLES: u64 = 50;
/// Cycles on one database directory before the test starts over in a fresh one (see the
/// module docs: this keeps each cycle's cost bounded).
const DEFAULT_CYCLES_PER_DIRECTORY: u64 = 10;
/// Concurrent writer tasks in the child, each with its own counter key.
const WRITERS: u64 = 8;
/// A child that is never killed (the parent died) stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);
/// How long the parent waits for a child to open the database before giving up. Not a timing
/// assertion: only a guard against hanging forever.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn sigkill_loses_no_acknowledged_write() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        child_main(Path::new(&dir));
        return;
    }
    let cycles = env_u64(CYCLES_ENV).unwrap_or(DEFAULT_CYCLES);
    let per_directory = env_u64(PER_DIRECTORY_ENV)
        .unwrap_or(DEFAULT_CYCLES_PER_DIRECTORY)
        .max(1);
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    println!(
        "crash test: {cycles} cycles, {per_directory} per directory, seed {seed} \
         (rerun with {SEED_ENV}={seed})"
    );

    let mut rng = StdRng::seed_from_u64(seed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let mut totals = Totals::default();
    let mut cycle = 0;
    while cycle < cycles {
        let dir = tempfile::tempdir().expect("temporary directory");
        let mut verifier = Verifier::default();
        for _ in 0..per_directory.min(cycles - cycle) {
            let ctx = format!("seed {seed}, cycle {cycle}");
            let acks = run_child(dir.path(), &mut rng, &ctx);
            runtime.block_on(verifier.verify(dir.path(), &acks, &ctx));
            totals.acks += acks.len() as u64;
            totals.cycles_without_acks += u64::from(acks.is_empty());
            cycle += 1;
        }
        totals.recovered += verifier.known.len() as u64;
    }
    println!(
        "crash test: {cycles} cycles in {:.1} s: {} acknowledged writes verified, {} writes \
         recovered, {} cycles killed before the first acknowledgement",
        started.elapsed().as_secs_f64(),
        totals.acks,
        totals.recovered,
        totals.cycles_without_acks,
    );
}

#[derive(Default)]
struct Totals {
    acks: u64,
    recovered: u64,
    cycles_without_acks: u64,
}

fn env_u64(name: &str) -> Option<u64> {
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

fn child_main(dir: &Path) {
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
struct Ack {
    versionstamp: Versionstamp,
    writer: u64,
    seq: u64,
}

/// Kills (SIGKILL) and reaps the child when dropped, also when the parent panics.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a child writer on `dir`, kills it at a random moment, returns its acknowledgements.
fn run_child(dir: &Path, rng: &mut StdRng, ctx: &str) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, dir)
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
        // Early kill: possibly while the database is still opening or recovering.
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
        std::thread::sleep(Duration::from_millis(rng.random_range(5..=200)));
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

/// What earlier cycles established.
#[derive(Default)]
struct Verifier {
    /// Every log entry ever found, `(writer, seq)` → versionstamp; must never change.
    known: HashMap<(u64, u64), Versionstamp>,
    /// Each writer's counter at the last reopen.
    counters: [u64; WRITERS as usize],
    /// The greatest versionstamp seen so far (acknowledged or found in the database).
    max_seen: Option<Versionstamp>,
}

/// A `u64` value, or a failure naming what held something else.
fn as_u64(value: &KvValue, what: &str, ctx: &str) -> u64 {
    match value {
        KvValue::U64(n) => *n,
        other => panic!("{ctx}: {what} holds {other:?}, not a u64"),
    }
}

/// A non-negative integer key part.
fn int_part(part: &KeyPart) -> Option<u64> {
    match part {
        KeyPart::Int(i) => i.to_string().parse().ok(),
        _ => None,
    }
}

impl Verifier {
    async fn verify(&mut self, dir: &Path, acks: &[Ack], ctx: &str) {
        self.check_acks_alone(acks, ctx);

        let db = Database::open(dir)
            .unwrap_or_else(|e| panic!("{ctx}: reopening after SIGKILL failed: {e}"));

        // The counters and the total.
        let mut counters = [(0u64, None::<Versionstamp>); WRITERS as usize];
        for (w, slot) in counters.iter_mut().enumerate() {
            let entry = db
                .get(&key!["w", w as u64])
                .await
                .unwrap_or_else(|e| panic!("{ctx}: get w{w}: {e}"));
            if let Some(entry) = entry {
                *slot = (
                    as_u64(&entry.value, &format!("w{w}"), ctx),
                    Some(entry.versionstamp),
                );
            }
        }
        let total = db
            .get(&key!["total"])
            .await
            .unwrap_or_else(|e| panic!("{ctx}: get total: {e}"));
        let total = total.map(|e| (as_u64(&e.value, "total", ctx), e.versionstamp));

        // Every log entry, per writer by seq.
        let mut logs: Vec<BTreeMap<u64, Versionstamp>> = vec![BTreeMap::new(); WRITERS as usize];
        let mut listing = db
            .list(ListSelector::Prefix(key!["log"]), ListOptions::default())
            .unwrap_or_else(|e| panic!("{ctx}: list log: {e}"));
        let mut entries = 0u64;
        while let Some(entry) = listing.next().await {
            let entry = entry.unwrap_or_else(|e| panic!("{ctx}: listing log: {e}"));
            let parts = &entry.key.0;
            let (w, seq) = match parts.as_slice() {
                [_, w, seq] => (int_part(w), int_part(seq)),
                _ => (None, None),
            };
            let (Some(w), Some(seq)) = (w, seq) else {
                panic!("{ctx}: unexpected log key {:?}", entry.key)
            };
            assert!(w < WRITERS, "{ctx}: log key of unknown writer {w}");
            let value = as_u64(&entry.value, &format!("log/{w}/{seq}"), ctx);
            assert_eq!(value, seq, "{ctx}: log/{w}/{seq} holds {value}");
            logs[w as usize].insert(seq, entry.versionstamp);
            entries += 1;
        }
        db.close();

        // (2) No write is partly visible.
        let mut newest: Option<Versionstamp> = None;
        for (w, log) in logs.iter().enumerate() {
            let (n, counter_vs) = counters[w];
            let seqs: Vec<u64> = log.keys().copied().collect();
            let expected: Vec<u64> = (1..=n).collect();
            assert!(
                seqs == expected,
                "{ctx}: partial write: w{w} = {n} but its log holds {} entries, first {:?}, \
                 last {:?}",
                seqs.len(),
                seqs.first(),
                seqs.last()
            );
            if n > 0 {
                assert_eq!(
                    counter_vs,
                    log.get(&n).copied(),
                    "{ctx}: partial write: w{w} and log/{w}/{n} have different versionstamps"
                );
            }
            let stamps: Vec<Versionstamp> = log.values().copied().collect();
            assert!(
                stamps.windows(2).all(|p| p[0] < p[1]),
                "{ctx}: the versionstamps of w{w}'s log do not increase with seq"
            );
            newest = newest.max(stamps.last().copied());
        }
        let (total_n, total_vs) = total.map_or((0, None), |(n, vs)| (n, Some(vs)));
        assert_eq!(
            total_n, entries,
            "{ctx}: partial write: total = {total_n} but there are {entries} log entries"
        );
        assert_eq!(
            total_vs, newest,
            "{ctx}: partial write: total was not written by the newest write"
        );

        // Nothing found earlier is lost or changed; (3) everything new is newer than all that
        // was seen before.
        for (w, &before) in self.counters.iter().enumerate() {
            assert!(
                counters[w].0 >= before,
                "{ctx}: w{w} went back from {before} to {} across a restart",
                counters[w].0
            );
        }
        for (&(w, seq), &vs) in &self.known {
            let now = logs[w as usize].get(&seq).copied();
            assert_eq!(
                now,
                Some(vs),
                "{ctx}: log/{w}/{seq}, seen before with versionstamp {vs}, is now {now:?}"
            );
        }
        for (w, log) in logs.iter().enumerate() {
            for (&seq, &vs) in log.range(self.counters[w] + 1..) {
                assert!(
                    Some(vs) > self.max_seen,
                    "{ctx}: versionstamp went back across a restart: log/{w}/{seq} has {vs}, \
                     but {:?} was seen before",
                    self.max_seen
                );
            }
        }

        // (1) Every acknowledged write is present, with its versionstamp.
        for ack in acks {
            let found = logs[ack.writer as usize].get(&ack.seq).copied();
            assert_eq!(
                found,
                Some(ack.versionstamp),
                "{ctx}: acknowledged write w{} seq {} ({}) is missing or different (w{} = {})",
                ack.writer,
                ack.seq,
                ack.versionstamp,
                ack.writer,
                counters[ack.writer as usize].0
            );
        }

        // Remember.
        for (w, log) in logs.iter().enumerate() {
            for (&seq, &vs) in log.range(self.counters[w] + 1..) {
                self.known.insert((w as u64, seq), vs);
            }
            self.counters[w] = counters[w].0;
        }
        let max_ack = acks.iter().map(|a| a.versionstamp).max();
        self.max_seen = self.max_seen.max(newest).max(max_ack);
    }

    /// Checks that need only the acknowledgements and what earlier cycles found.
    fn check_acks_alone(&self, acks: &[Ack], ctx: &str) {
        // (3) The first acknowledged write of this run is newer than everything seen before.
        if let Some(first) = acks.iter().map(|a| a.versionstamp).min() {
            assert!(
                Some(first) > self.max_seen,
                "{ctx}: versionstamp went back across a restart: acknowledged {first}, but \
                 {:?} was seen before",
                self.max_seen
            );
        }
        let mut stamps: Vec<Versionstamp> = acks.iter().map(|a| a.versionstamp).collect();
        stamps.sort_unstable();
        assert!(
            stamps.windows(2).all(|p| p[0] < p[1]),
            "{ctx}: two acknowledged writes share a versionstamp"
        );
        // Each writer continued from the counter the parent recovered, one seq at a time.
        for w in 0..WRITERS {
            let mine = acks.iter().filter(|a| a.writer == w);
            let mut previous: Option<Versionstamp> = None;
            for (expected, ack) in (self.counters[w as usize] + 1..).zip(mine) {
                assert_eq!(
                    ack.seq, expected,
                    "{ctx}: w{w} acknowledged seq {} where {expected} was expected",
                    ack.seq
                );
                assert!(
                    Some(ack.versionstamp) > previous,
                    "{ctx}: w{w}'s versionstamps do not increase"
                );
                previous = Some(ack.versionstamp);
            }
        }
    }
}

/// The negative control: the same harness, with the database directory lost after the kill
/// (what a dead disk would leave), must report lost writes. A harness that cannot fail proves
/// nothing. (Syncs switched off would not do here: a SIGKILL leaves the page cache, and with
/// it every unsynced write, in place; the power-loss test has that control.)
#[test]
fn the_harness_reports_a_lost_directory() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let mut rng = StdRng::seed_from_u64(env_u64(SEED_ENV).unwrap_or(1));
    // Until a child was killed after some acknowledgements (an early kill may come first).
    for cycle in 0..20 {
        let dir = tempfile::tempdir().expect("temporary directory");
        let ctx = format!("negative control, cycle {cycle}");
        let acks = run_child(dir.path(), &mut rng, &ctx);
        if acks.is_empty() {
            continue;
        }
        std::fs::remove_dir_all(dir.path()).expect("lose the directory");
        std::fs::create_dir(dir.path()).expect("an empty directory in its place");
        let mut verifier = Verifier::default();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(verifier.verify(dir.path(), &acks, &ctx));
        }));
        assert!(
            caught.is_err(),
            "the harness did not notice that {} acknowledged writes were lost",
            acks.len()
        );
        return;
    }
    panic!("no child acknowledged a write before its kill in 20 tries");
}
