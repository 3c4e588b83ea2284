// KV Connect benchmark: drives a remote database (cairn serve, or the reference `denokv`
// server) from the Deno runtime's own KV Connect client, so both servers are measured through
// exactly the client users have.
//
//   DENO_KV_ACCESS_TOKEN=... tools/node_modules/.bin/deno run -A --unstable-kv \
//     bench/remote.ts <url> [--duration S] [--ops N] [--warmup S] [--keys N]
//     [--concurrency N] [--only W1,W2] [--server-pid PID]
//
// Output contract (same as bench/deno_local.ts; bench/compare.sh parses it):
//   - lines starting with "#" are commentary;
//   - every other line is `<workload> <ops_per_s> p50_us=<n> p99_us=<n>`, all integers.
// An op is one client call as the user sees it (one HTTP round trip, two for `atomic`), and
// its latency runs from the call to the settled promise, so queueing inside the client and
// the server is part of it.
//
// On Linux each workload also gets a commentary line `# <workload> cpu_us_per_op client=<n>
// [server=<n>]`: CPU time per measured op of this Deno process and (with --server-pid, for a
// server on the same machine) of the server. Client and server share the machine's cores, so
// this tells whether a figure measures the server or the client (a client at ~1 core is the
// bottleneck: its JavaScript runs on one thread).
//
// Deliberately no imports: the bench must run offline with nothing but the pinned binary.

import { randomIndex, report } from "./_measure.ts";

type Workload = "set" | "get" | "atomic" | "sum" | "list";
const ALL_WORKLOADS: Workload[] = ["set", "get", "atomic", "sum", "list"];

const VALUE_SIZE = 100;
const LOAD_BATCH = 1_000; // sets per atomic during preload (the mutation cap per atomic write)
const LOAD_PARALLEL = 4; // preload batches in flight: quick, without timing anything
const LIST_LIMIT = 100;
const SUM_COUNTERS = 1_000;
const STALL_MS = 30_000; // no completed request for this long = the server is stuck (see below)

interface Options {
  url: string;
  durationS: number; // measured seconds per workload (ignored when `ops` is set)
  ops?: number; // fixed op count per workload instead of a duration
  warmupS: number; // unmeasured seconds before each workload
  keys: number; // preloaded keys, read by get/atomic/list
  concurrency: number;
  serverPid?: number; // for the server CPU figure
  only: Workload[];
}

function usage(msg?: string): never {
  if (msg) console.error(`error: ${msg}`);
  console.error(
    "usage: DENO_KV_ACCESS_TOKEN=T deno run -A --unstable-kv bench/remote.ts <url> [options]\n" +
      "  --duration S     measured seconds per workload (default 5)\n" +
      "  --ops N          fixed op count per workload instead of --duration\n" +
      "  --warmup S       unmeasured seconds of the same workload first (default 1; 0 = none)\n" +
      "  --keys N         keys preloaded for get/atomic/list (default 10000)\n" +
      "  --concurrency N  operations in flight (default 64)\n" +
      "  --server-pid PID also report the server's CPU time per op (Linux, same machine)\n" +
      "  --only LIST      comma-separated subset of: " + ALL_WORKLOADS.join(","),
  );
  Deno.exit(2);
}

function positiveInt(s: string | undefined, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) usage(`${what} must be a positive integer, got ${s}`);
  return n;
}

function nonNegative(s: string | undefined, what: string): number {
  const n = Number(s);
  if (!(n >= 0)) usage(`${what} must be a number >= 0, got ${s}`);
  return n;
}

function parseArgs(args: string[]): Options {
  let url: string | undefined;
  const opts: Omit<Options, "url"> = {
    durationS: 5,
    warmupS: 1,
    keys: 10_000,
    concurrency: 64,
    only: ALL_WORKLOADS,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    // `--flag value` and `--flag=value` both work.
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => inline ?? args[++i] ?? usage(`${flag} needs a value`);
    switch (flag) {
      case "--duration":
        opts.durationS = nonNegative(value(), "--duration");
        if (opts.durationS === 0) usage("--duration must be > 0");
        break;
      case "--ops":
        opts.ops = positiveInt(value(), "--ops");
        break;
      case "--warmup":
        opts.warmupS = nonNegative(value(), "--warmup");
        break;
      case "--keys":
        opts.keys = positiveInt(value(), "--keys");
        break;
      case "--concurrency":
        opts.concurrency = positiveInt(value(), "--concurrency");
        break;
      case "--server-pid":
        opts.serverPid = positiveInt(value(), "--server-pid");
        break;
      case "--only": {
        const names = value().split(",").filter((s) => s !== "");
        for (const n of names) {
          if (!ALL_WORKLOADS.includes(n as Workload)) usage(`--only: unknown workload ${n}`);
        }
        opts.only = ALL_WORKLOADS.filter((w) => names.includes(w));
        break;
      }
      case "-h":
      case "--help":
        usage();
        break;
      default:
        if (a.startsWith("-") || url !== undefined) usage(`unexpected argument ${a}`);
        url = a;
    }
  }
  if (url === undefined) usage("missing <url>");
  // `list` reads LIST_LIMIT keys from a random start, so it needs at least that many.
  if (opts.only.includes("list") && opts.keys < LIST_LIMIT) {
    usage(`--keys must be >= ${LIST_LIMIT} for the list workload`);
  }
  return { url, ...opts };
}

// ---------------------------------------------------------------------------------------
// Measurement helpers (the shared ones are in bench/_measure.ts)

/**
 * CPU seconds (user + system, all threads) a process has used so far, from /proc/<pid>/stat;
 * undefined where there is no procfs. Ticks are USER_HZ, 100 on every Linux we run on.
 */
function cpuSeconds(pid: number | "self"): number | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // Fields after the parenthesised command name (which may hold spaces): state is the
    // first, utime and stime are the 12th and 13th.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Grows by doubling so a duration-bound run needs no size guess up front. */
class Samples {
  buf = new Float64Array(1 << 14);
  len = 0;
  push(v: number) {
    if (this.len === this.buf.length) {
      const next = new Float64Array(this.buf.length * 2);
      next.set(this.buf);
      this.buf = next;
    }
    this.buf[this.len++] = v;
  }
  view(): Float64Array {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Runs `op` from `concurrency` async loops in this one isolate. The loops stop when the
 * deadline passes or when `total` ops have been claimed (whichever mode is set); an op that
 * is already in flight at the deadline still completes and counts, so the elapsed time is
 * measured to when the last one settles.
 */
async function drive(
  concurrency: number,
  limit: { deadlineMs: number } | { total: number },
  op: () => Promise<void>,
  samples: Samples,
): Promise<{ ops: number; elapsedMs: number }> {
  let claimed = 0;
  const more = "total" in limit
    // Claiming the slot before awaiting is what keeps the loops from overshooting `total`.
    ? () => claimed++ < limit.total
    : () => performance.now() < limit.deadlineMs;
  const loop = async () => {
    while (more()) {
      const s = performance.now();
      await op();
      samples.push(progress() - s);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsedMs = performance.now() - t0;
  return { ops: samples.len, elapsedMs };
}

/**
 * Stall detector. The client retries 5xx answers and network errors forever, so a sick server
 * would otherwise hang the bench silently; instead, if no op completes for STALL_MS, it fails
 * with a reason. Every completed request counts as progress.
 */
let lastProgress = performance.now();
const progress = () => (lastProgress = performance.now());
function startStallMonitor(): ReturnType<typeof setInterval> {
  return setInterval(() => {
    const idle = performance.now() - lastProgress;
    if (idle > STALL_MS) {
      console.error(
        `remote.ts: no request completed for ${Math.round(idle / 1000)} s ` +
          "(server stalled, or the client keeps retrying 5xx/network errors)",
      );
      Deno.exit(1);
    }
  }, 1000);
}

// ---------------------------------------------------------------------------------------
// Workloads

// Contents are irrelevant; a Uint8Array travels as VE_BYTES, so no V8 serialization cost.
const VALUE = new Uint8Array(VALUE_SIZE).map((_, i) => (i * 31 + 7) & 0xff);

const preloadKey = (i: number): Deno.KvKey => ["k", BigInt(i)];

async function preload(kv: Deno.Kv, keys: number) {
  const t0 = performance.now();
  let next = 0;
  const loader = async () => {
    for (let base = next; base < keys; base = next) {
      next += LOAD_BATCH;
      const op = kv.atomic();
      const end = Math.min(keys, base + LOAD_BATCH);
      for (let i = base; i < end; i++) op.set(preloadKey(i), VALUE);
      const res = await op.commit();
      if (!res.ok) throw new Error(`preload batch at ${base} failed`);
      progress();
    }
  };
  await Promise.all(Array.from({ length: LOAD_PARALLEL }, loader));
  const s = (performance.now() - t0) / 1000;
  console.log(`# loaded ${keys} keys in ${s.toFixed(2)} s (${Math.round(keys / s)} keys/s)`);
}

/** Sum of all counters: the `sum` workload is checked by the change in this total. */
async function counterTotal(kv: Deno.Kv): Promise<bigint> {
  let total = 0n;
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["counter"] }, { batchSize: 1000 })) {
    total += e.value.value;
    progress();
  }
  return total;
}

/** State a workload's ops share; `conflicts` is only used by `atomic`. */
interface Ctx {
  kv: Deno.Kv;
  keys: number;
  conflicts: number;
}

/** One op of each workload. Each verifies its result: a fast wrong answer is no result. */
const OPS: Record<Workload, (c: Ctx) => Promise<void>> = {
  // Blind write of a fresh-ish key: the pure commit path.
  set: async ({ kv }) => {
    const res = await kv.set(["r", BigInt(randomIndex(2 ** 32))], VALUE);
    if (!res.ok) throw new Error("set: not ok");
  },
  // Point read of a key that exists.
  get: async ({ kv, keys }) => {
    const i = randomIndex(keys);
    const e = await kv.get(preloadKey(i));
    if (e.versionstamp === null) throw new Error(`get: key ${i} missing`);
  },
  // Optimistic read-modify-write: read, then commit guarded by the versionstamp just read.
  // Keys are drawn from the whole preloaded set, so two of the 64 in-flight ops rarely pick
  // the same key; a lost race is a conflict (counted), not an error.
  atomic: async (c) => {
    const i = randomIndex(c.keys);
    const key = preloadKey(i);
    const e = await c.kv.get(key);
    if (e.versionstamp === null) throw new Error(`atomic: key ${i} missing`);
    const res = await c.kv.atomic().check(e).set(key, VALUE).commit();
    if (!res.ok) c.conflicts++;
  },
  // Commutative increment on a 1000-counter set: no checks, so never a conflict.
  sum: async ({ kv }) => {
    const res = await kv.atomic().sum(["counter", BigInt(randomIndex(SUM_COUNTERS))], 1n)
      .commit();
    if (!res.ok) throw new Error("sum: not ok");
  },
  // One page of 100 entries from a random start inside the preloaded prefix. With limit =
  // batchSize = 100 the client sends exactly one snapshot_read per list.
  list: async ({ kv, keys }) => {
    const start = randomIndex(keys - LIST_LIMIT + 1);
    let n = 0;
    const it = kv.list({ prefix: ["k"], start: preloadKey(start) }, {
      limit: LIST_LIMIT,
      batchSize: LIST_LIMIT,
    });
    for await (const _ of it) n++;
    if (n !== LIST_LIMIT) throw new Error(`list from ${start}: ${n} entries`);
  },
};

async function runWorkload(w: Workload, ctx: Ctx, opts: Options) {
  const op = () => OPS[w](ctx);
  const before = w === "sum" ? await counterTotal(ctx.kv) : 0n;
  let sumOps = 0;

  if (opts.warmupS > 0) {
    // Warm-up: the client opens its connections for all the loops and the server fills its
    // caches, so the first measured workload does not pay for that. Its sums count too.
    const warm = new Samples();
    await drive(
      opts.concurrency,
      { deadlineMs: performance.now() + opts.warmupS * 1000 },
      op,
      warm,
    );
    sumOps += warm.len;
  }
  ctx.conflicts = 0;
  const lat = new Samples();
  const limit = opts.ops !== undefined
    ? { total: opts.ops }
    : { deadlineMs: performance.now() + opts.durationS * 1000 };
  const cpu0 = [cpuSeconds("self"), opts.serverPid && cpuSeconds(opts.serverPid)];
  const { ops, elapsedMs } = await drive(opts.concurrency, limit, op, lat);
  const cpu1 = [cpuSeconds("self"), opts.serverPid && cpuSeconds(opts.serverPid)];
  sumOps += ops;
  report(w, ops, elapsedMs, lat.view());
  const perOp = (i: number) => {
    const [a, b] = [cpu0[i], cpu1[i]];
    return a === undefined || b === undefined ? undefined : Math.round((b - a) * 1e6 / ops);
  };
  if (perOp(0) !== undefined) {
    const server = perOp(1) !== undefined ? ` server=${perOp(1)}` : "";
    console.log(`# ${w} cpu_us_per_op client=${perOp(0)}${server}`);
  }

  if (w === "atomic") {
    const pct = (100 * ctx.conflicts / ops).toFixed(2);
    console.log(`# atomic conflicts=${ctx.conflicts} of ${ops} (${pct}%)`);
  }
  if (w === "sum") {
    // Every acknowledged sum must be in the database, no more, no less.
    const delta = (await counterTotal(ctx.kv)) - before;
    if (delta !== BigInt(sumOps)) {
      throw new Error(`sum: counters grew by ${delta}, but ${sumOps} sums were acknowledged`);
    }
    console.log(`# sum check: counters grew by ${delta} = acknowledged sums`);
  }
}

async function main() {
  const opts = parseArgs(Deno.args);
  if (!Deno.env.get("DENO_KV_ACCESS_TOKEN")) {
    console.error("error: set DENO_KV_ACCESS_TOKEN to the server's access token");
    Deno.exit(2);
  }
  console.log(`# deno ${Deno.version.deno} (v8 ${Deno.version.v8}) ${Deno.build.target}`);
  const mode = opts.ops !== undefined ? `ops=${opts.ops}` : `duration=${opts.durationS}s`;
  console.log(
    `# url ${opts.url}; keys=${opts.keys} concurrency=${opts.concurrency} ${mode} ` +
      `warmup=${opts.warmupS}s only=${opts.only.join(",")}`,
  );

  const monitor = startStallMonitor();
  const kv = await Deno.openKv(opts.url);
  try {
    const needsKeys = opts.only.some((w) => w === "get" || w === "atomic" || w === "list");
    if (needsKeys) await preload(kv, opts.keys);
    const ctx: Ctx = { kv, keys: opts.keys, conflicts: 0 };
    for (const w of opts.only) await runWorkload(w, ctx, opts);
  } finally {
    kv.close();
    clearInterval(monitor);
  }
}

try {
  await main();
} catch (e) {
  // A one-line reason on stderr and a non-zero status: compare.sh shows it and stops.
  console.error(`remote.ts: ${e instanceof Error ? e.message : e}`);
  Deno.exit(1);
}
