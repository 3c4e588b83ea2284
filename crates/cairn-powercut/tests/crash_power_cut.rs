//! Power cuts under the real on-disk database: fjall's files, cairn's transaction log and its
//! checkpoints, on the power-cut filesystem of this crate (a FUSE mount that keeps what was
//! not made durable by `fsync`/`fdatasync` in memory and drops it at a cut; its durability
//! model is in the crate's documentation).
//!
//! cairn-store's `crash_sigkill` kills a writer process, but a SIGKILL leaves the page cache,
//! and with it every unsynced write, in place; its `crash_power_loss` drops unsynced state,
//! but of `MemoryStorage`, not of the files the on-disk protocol writes. Here:
//!
//! 1. The test mounts the filesystem in its own process and starts a child (this test binary
//!    again, `--exact <test>` with `CAIRN_POWERCUT_CHILD=<database directory on the mount>`)
//!    that opens the database with `Database::open` and runs eight concurrent writers, as
//!    `crash_sigkill`'s child does: each atomic write checks its writer's counter `["w", w]`,
//!    sets it to `seq`, sets `["log", w, seq]` and sums `["total"]`, and every acknowledged
//!    write is reported as `ack <versionstamp> <w> <seq>` on the child's stdout, a pipe that
//!    outlives the child.
//! 2. After a random delay (5–300 ms after the database is open; one cycle in eight 0–30 ms
//!    after the start, during creation or recovery), SIGKILL. Then, in four cycles of eight,
//!    a power cut: the filesystem is unmounted, everything not durable is dropped, and it is
//!    mounted again; in three, the same after a random write-back of unsynced blocks, some
//!    torn; in one, no cut at all (a crash only: the next cut then also covers whatever the
//!    restart after it left unsynced).
//! 3. The test reopens the database itself and checks what `crash_sigkill` checks: every
//!    acknowledged write is there with its versionstamp; no write is partly visible (counter,
//!    log and total agree); versionstamps only grow across cuts; nothing seen after an earlier
//!    cut changes or disappears; each writer continued where the reopen left off.
//!
//! A database directory serves [`CYCLES_PER_DIRECTORY`] cycles, then a fresh one is used (the
//! first cycle of each creates a database under a cut).
//!
//! The negative control runs the same harness with the filesystem ignoring `fdatasync` of the
//! files under `tlog/` (the log's durability point; cairn's code unchanged): it must find
//! acknowledged writes lost.
//!
//! Parameters (environment variables): `CAIRN_POWERCUT_CYCLES` (default 24, about a minute
//! in a debug build) for the main test; the long run is `CAIRN_POWERCUT_CYCLES=500 cargo
//! test -p cairn-powercut --test crash_power_cut -- --nocapture`. `CAIRN_POWERCUT_SEED`
//! fixes the kill delays and the write-back (timing still differs between runs).
//! Name changes are durable only at their own directory's `fsync` (POSIX's letter, the
//! default); `CAIRN_POWERCUT_NAMES=journal` takes ext4's journal order instead (see
//! `docs/reliability.md`). `CAIRN_POWERCUT_TRACE=<file>` logs every name change, sync and cut.
//!
//! The filesystem needs `/dev/fuse` and root or `fusermount3` (Debian's `fuse3`, installed by
//! `scripts/test.sh`); without them the test fails, saying so: it never skips.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use cairn_model::key;
use cairn_powercut::{Config, CutReport, Mounted, Names};
use cairn_store::{
    CommitResult, Database, KeyPart, Kv, KvList, KvValue, ListOptions, ListSelector, Versionstamp,
};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const MAIN_TEST: &str = "power_cut_loses_no_acknowledged_write";
const CONTROL_TEST: &str = "power_cut_without_the_log_fdatasync_loses_writes";
/// Set (to the database directory) in the child process.
const CHILD_ENV: &str = "CAIRN_POWERCUT_CHILD";
const CYCLES_ENV: &str = "CAIRN_POWERCUT_CYCLES";
const SEED_ENV: &str = "CAIRN_POWERCUT_SEED";
const NAMES_ENV: &str = "CAIRN_POWERCUT_NAMES";
const TRACE_ENV: &str = "CAIRN_POWERCUT_TRACE";
const DEFAULT_CYCLES: u64 = 24;
/// Cycles on one database before a fresh one (each open replays fjall's whole journal).
const CYCLES_PER_DIRECTORY: u64 = 6;
/// A progress line every this many cycles (for the long run).
const PROGRESS_EVERY: u64 = 50;
/// Cycles the negative control may take to see a loss (a cycle killed before the first
/// acknowledgement, or one whose writes all reached a checkpoint, shows none).
const CONTROL_CYCLES_MAX: u64 = 30;
const WRITERS: u64 = 8;
/// A child that is never killed (the parent died) stops by itself after this long.
const CHILD_LIFETIME: Duration = Duration::from_secs(300);
/// Only a guard against hanging forever, not a timing assertion.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

#[test]
fn power_cut_loses_no_acknowledged_write() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_main(Path::new(&dir));
    }
    let cycles = env_u64(CYCLES_ENV).unwrap_or(DEFAULT_CYCLES);
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    println!("power cut test: {cycles} cycles, seed {seed} (rerun with {SEED_ENV}={seed})");
    let names = match std::env::var(NAMES_ENV).as_deref() {
        Ok("journal") => Names::Journal,
        Err(_) | Ok("directory") => Names::Directory,
        Ok(other) => panic!("{NAMES_ENV}={other:?}: expected journal or directory"),
    };
    let config = Config {
        names,
        trace: std::env::var_os(TRACE_ENV).map(Into::into),
        ..Config::default()
    };
    let mut run = Run::new(config, MAIN_TEST, seed);
    let started = Instant::now();
    let mut totals = Totals::default();
    for cycle in 0..cycles {
        let outcome = run.cycle(cycle);
        assert!(
            outcome.problems.is_empty(),
            "{}: {} acknowledged writes lost; {:?}",
            outcome.ctx,
            outcome.lost,
            outcome.problems
        );
        totals.add(&outcome);
        if (cycle + 1) % PROGRESS_EVERY == 0 {
            println!(
                "power cut test: {} cycles, {} acknowledged writes checked, 0 lost",
                cycle + 1,
                totals.acks
            );
        }
    }
    println!(
        "power cut test: {cycles} cycles in {:.1} s: {} acknowledged writes checked, 0 lost; \
         {} cycles killed before the first acknowledgement; {} kills without a power cut; \
         {} cuts with write-back ({} unsynced blocks, {} written back, {} torn); {} files \
         rolled back; {}",
        started.elapsed().as_secs_f64(),
        totals.acks,
        totals.without_acks,
        totals.crashes_only,
        totals.write_back_cuts,
        totals.cut.write_back.dirty,
        totals.cut.write_back.written,
        totals.cut.write_back.torn,
        totals.cut.files_rolled_back,
        run.stats(),
    );
}

/// The negative control: with the log's `fdatasync` a no-op, power cuts must lose
/// acknowledged writes, and this harness must say so.
#[test]
fn power_cut_without_the_log_fdatasync_loses_writes() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child_main(Path::new(&dir));
    }
    let seed = env_u64(SEED_ENV).unwrap_or_else(rand::random);
    let config = Config {
        skip_fdatasync_in: Some("tlog".into()),
        ..Config::default()
    };
    let mut run = Run::new(config, CONTROL_TEST, seed);
    let mut checked = 0;
    for cycle in 0..CONTROL_CYCLES_MAX {
        let outcome = run.cycle(cycle);
        checked += outcome.acks;
        if outcome.lost > 0 {
            println!(
                "negative control (seed {seed}): after {} cycles, {} of {} acknowledged \
                 writes of the last cycle lost ({checked} checked in all); {}",
                cycle + 1,
                outcome.lost,
                outcome.acks,
                run.stats()
            );
            return;
        }
        assert!(
            outcome.problems.is_empty(),
            "{}: a problem other than lost writes: {:?}",
            outcome.ctx,
            outcome.problems
        );
    }
    panic!(
        "seed {seed}: with the log's fdatasync skipped, {CONTROL_CYCLES_MAX} power cuts lost \
         none of {checked} acknowledged writes: the harness cannot see losses"
    );
}

#[derive(Default)]
struct Totals {
    acks: u64,
    without_acks: u64,
    crashes_only: u64,
    write_back_cuts: u64,
    cut: CutReport,
}

impl Totals {
    fn add(&mut self, o: &Outcome) {
        self.acks += o.acks;
        self.without_acks += u64::from(o.acks == 0);
        self.crashes_only += u64::from(o.kind == Cut::None);
        self.write_back_cuts += u64::from(o.kind == Cut::WriteBack);
        self.cut.files_rolled_back += o.cut.files_rolled_back;
        self.cut.write_back.dirty += o.cut.write_back.dirty;
        self.cut.write_back.written += o.cut.write_back.written;
        self.cut.write_back.torn += o.cut.write_back.torn;
    }
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
// Parent: one mount, cycles of child, kill, cut, verify.
// ---------------------------------------------------------------------------------------------

struct Run {
    // Dropped first: the mount must outlive nothing that uses it.
    mounted: Mounted,
    _mountpoint: tempfile::TempDir,
    test_name: &'static str,
    seed: u64,
    rng: StdRng,
    runtime: tokio::runtime::Runtime,
    verifier: Verifier,
    directory: u64,
}

/// What one cycle found.
struct Outcome {
    ctx: String,
    acks: u64,
    lost: u64,
    problems: Vec<String>,
    kind: Cut,
    cut: CutReport,
}

/// What follows the kill of a cycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// Nothing: a process crash alone (the page cache survives), so that the next power cut
    /// also tests what a restart after a crash left unsynced.
    None,
    /// A power cut dropping everything unsynced.
    Clean,
    /// A power cut after a random, partly torn write-back of unsynced blocks.
    WriteBack,
}

impl Run {
    fn new(config: Config, test_name: &'static str, seed: u64) -> Run {
        let mountpoint = tempfile::tempdir().expect("temporary directory");
        let mounted = Mounted::new(mountpoint.path(), config)
            .unwrap_or_else(|e| panic!("the power-cut filesystem is needed for this test: {e}"));
        Run {
            mounted,
            _mountpoint: mountpoint,
            test_name,
            seed,
            rng: StdRng::seed_from_u64(seed),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"),
            verifier: Verifier::default(),
            directory: 0,
        }
    }

    fn stats(&self) -> String {
        let s = self.mounted.stats();
        format!(
            "filesystem: {} power cuts, {} file syncs, {} directory syncs, {} fdatasyncs skipped",
            s.power_cuts, s.fsyncs, s.fsyncdirs, s.fdatasyncs_skipped
        )
    }

    fn cycle(&mut self, cycle: u64) -> Outcome {
        let ctx = format!("seed {}, cycle {cycle}", self.seed);
        if cycle > 0 && cycle.is_multiple_of(CYCLES_PER_DIRECTORY) {
            self.next_directory();
        }
        let dir = self.mounted.path().join(format!("db{}", self.directory));
        let acks = run_child(self.test_name, &dir, &mut self.rng, &ctx);
        let kind = match self.rng.random_range(0..8) {
            0 => Cut::None,
            1..=4 => Cut::Clean,
            _ => Cut::WriteBack,
        };
        let mut cut_rng = StdRng::seed_from_u64(self.rng.random());
        let cut = match kind {
            Cut::None => Ok(CutReport::default()),
            Cut::Clean => self.mounted.power_cut(None),
            Cut::WriteBack => self
                .mounted
                .power_cut(Some(&mut cut_rng as &mut dyn rand::RngCore)),
        }
        .unwrap_or_else(|e| panic!("{ctx}: power cut: {e}"));
        let ctx = format!("{ctx} ({kind:?})");
        let (lost, problems) = self
            .runtime
            .block_on(self.verifier.verify(&dir, &acks, &ctx));
        Outcome {
            ctx,
            acks: acks.len() as u64,
            lost,
            problems,
            kind,
            cut,
        }
    }

    /// Removes the database directory (durably, so that the filesystem forgets it) and starts
    /// over in a fresh one.
    fn next_directory(&mut self) {
        let root = self.mounted.path().to_path_buf();
        let dir = root.join(format!("db{}", self.directory));
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove the old database");
        }
        std::fs::File::open(&root)
            .and_then(|d| d.sync_all())
            .expect("fsync the mount's root");
        self.directory += 1;
        self.verifier = Verifier::default();
    }
}

// ---------------------------------------------------------------------------------------------
// Child: the writer loop (as in cairn-store's crash_sigkill).
// ---------------------------------------------------------------------------------------------

/// Writes one line to stdout with a single `write` (so a kill cannot tear it). Exits the
/// process if stdout is gone: the parent is not listening any more.
fn emit(line: &str) {
    let mut out = std::io::stdout().lock();
    let mut bytes = Vec::with_capacity(line.len() + 1);
    bytes.extend_from_slice(line.as_bytes());
    bytes.push(b'\n');
    if out.write_all(&bytes).and_then(|()| out.flush()).is_err() {
        std::process::exit(3);
    }
}

fn child_fail(message: &str) -> ! {
    emit(&format!("error {message}"));
    std::process::exit(2);
}

fn child_main(dir: &Path) {
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
        // The harness has printed "test <name> ... " without a line end: start a new line.
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
            CommitResult::CheckFailed { .. } => {
                child_fail(&format!("check of w{w} failed at seq {next}"));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Parent: run a child, kill it, collect its acknowledgements.
// ---------------------------------------------------------------------------------------------

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

fn run_child(test_name: &str, dir: &Path, rng: &mut StdRng, ctx: &str) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut child = KillOnDrop(
        Command::new(exe)
            .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
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
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(5..=300)));
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
         (exited before the kill: {exited:?}); last lines: {:?}",
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
#[derive(Default)]
struct Verifier {
    /// Every log entry ever found, `(writer, seq)` → versionstamp; must never change.
    known: HashMap<(u64, u64), Versionstamp>,
    /// Each writer's counter at the last reopen.
    counters: [u64; WRITERS as usize],
    /// The greatest versionstamp seen so far (acknowledged or found in the database).
    max_seen: Option<Versionstamp>,
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
    /// Reopens the database and checks it against `acks` and earlier cycles. Returns the
    /// number of acknowledged writes missing and every problem found (lost writes included).
    async fn verify(&mut self, dir: &Path, acks: &[Ack], ctx: &str) -> (u64, Vec<String>) {
        let mut problems = self.check_acks_alone(acks);
        let found = match Database::open(dir) {
            Ok(db) => {
                let found = read_all(&db).await;
                db.close();
                found
            }
            Err(e) => Err(format!("reopening after the power cut failed: {e}")),
        };
        let found = match found {
            Ok(found) => found,
            Err(e) => {
                problems.push(e);
                return (0, problems);
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
        (lost, problems)
    }

    /// No write partly visible; nothing seen before lost or changed; versionstamps only grow.
    fn check_consistency(&self, found: &Found) -> Vec<String> {
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
                    "w{w} went back from {before} to {} across a power cut",
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
                        "versionstamp went back across a power cut: log/{w}/{seq} has {vs}, \
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

    /// Checks that need only the acknowledgements and what earlier cycles found.
    fn check_acks_alone(&self, acks: &[Ack]) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(first) = acks.iter().map(|a| a.versionstamp).min() {
            if Some(first) <= self.max_seen {
                problems.push(format!(
                    "versionstamp went back across a power cut: acknowledged {first}, but {:?} \
                     was seen before",
                    self.max_seen
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
            for (expected, ack) in (self.counters[w as usize] + 1..).zip(mine) {
                if ack.seq != expected {
                    problems.push(format!(
                        "w{w} acknowledged seq {} where {expected} was expected",
                        ack.seq
                    ));
                    break;
                }
            }
        }
        problems
    }
}
