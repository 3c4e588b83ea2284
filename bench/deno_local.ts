// Embedded-KV baseline: the same workloads as cairn's Rust bench, run against Deno's own
// local KV (SQLite underneath), so the two sets of numbers can be put side by side.
//
//   tools/node_modules/.bin/deno run -A --unstable-kv bench/deno_local.ts \
//     [--dir DIR] [--scale F] [--keys N] [--ops WORKLOAD=N]... [--only W1,W2] [--keep]
//
// Output contract (shared with the Rust bench; parsers rely on it):
//   - lines starting with "#" are commentary;
//   - every other line is `<workload> <ops_per_s> p50_us=<n> p99_us=<n>`, all integers.
// Workload definitions live next to WORKLOADS below; change them only together with the
// Rust side.
//
// Deliberately no imports: the bench must run offline with nothing but the pinned binary.

import { randomIndex, report } from "./_measure.ts";

type Workload = "atomic_c1" | "atomic_c64" | "get" | "list" | "indexes" | "count" | "sum";

// Default sizes. `list` has no count of its own: it always walks the whole preloaded prefix.
const DEFAULT_KEYS = 1_000_000;
const DEFAULT_OPS: Record<Exclude<Workload, "list" | "count" | "sum">, number> = {
  atomic_c1: 2_000,
  atomic_c64: 50_000,
  get: 200_000,
  // Per run of the three (0, 1 and 3 index entries maintained by hand).
  indexes: 50_000,
};
/** Run by default, in this order. */
const DEFAULT_WORKLOADS: Workload[] = ["atomic_c1", "atomic_c64", "get", "list"];
/** Everything --only accepts, in the order they run. */
const ALL_WORKLOADS: Workload[] = [...DEFAULT_WORKLOADS, "indexes", "count", "sum"];

const VALUE_SIZE = 100;
const LOAD_BATCH = 1_000; // sets per atomic during preload (also Deno KV's mutation cap)
const C64_WRITERS = 64;
const LIST_BATCH = 100;

interface Options {
  dir?: string;
  keys: number;
  ops: Record<Exclude<Workload, "list" | "count" | "sum">, number>;
  only: Workload[];
  keep: boolean;
}

function usage(msg?: string): never {
  if (msg) console.error(`error: ${msg}`);
  console.error(
    "usage: deno run -A --unstable-kv bench/deno_local.ts [--dir DIR] [--scale F] " +
      "[--keys N] [--ops WORKLOAD=N]... [--only W1,W2] [--keep]\n" +
      "  --dir DIR    create the fresh database directory inside DIR (default: system temp)\n" +
      "  --scale F    multiply every op count and the preloaded key count by F (quick runs)\n" +
      "  --keys N     preloaded keys (default 1000000; also what `list` walks)\n" +
      "  --ops W=N    op count for one workload (atomic_c1, atomic_c64, get); overrides --scale\n" +
      "  --only LIST  comma-separated subset of: " + ALL_WORKLOADS.join(",") + "\n" +
      "  --keep       leave the database on disk afterwards",
  );
  Deno.exit(2);
}

function positiveInt(s: string | undefined, what: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n <= 0) usage(`${what} must be a positive integer, got ${s}`);
  return n;
}

function parseArgs(args: string[]): Options {
  let scale = 1;
  let keys: number | undefined;
  const explicitOps: Partial<Record<Workload, number>> = {};
  const opts: Omit<Options, "keys" | "ops"> = { only: DEFAULT_WORKLOADS, keep: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    // Accept both `--flag value` and `--flag=value` (split at the first "=", so
    // `--ops=get=5` still means workload get, 5 ops).
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const [flag, inline] = eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = () => inline ?? args[++i] ?? usage(`${flag} needs a value`);
    switch (flag) {
      case "--dir":
        opts.dir = value();
        break;
      case "--scale": {
        const v = value();
        scale = Number(v);
        if (!(scale > 0)) usage(`--scale must be > 0, got ${v}`);
        break;
      }
      case "--keys":
        keys = positiveInt(value(), "--keys");
        break;
      case "--ops": {
        const [name, n] = value().split("=");
        if (!(name in DEFAULT_OPS)) usage(`--ops: unknown workload ${name}`);
        explicitOps[name as Workload] = positiveInt(n, `--ops ${name}`);
        break;
      }
      case "--only": {
        const names = value().split(",").filter((s) => s !== "");
        for (const n of names) {
          if (!ALL_WORKLOADS.includes(n as Workload)) usage(`--only: unknown workload ${n}`);
        }
        // Keep the canonical order regardless of how they were listed.
        opts.only = ALL_WORKLOADS.filter((w) => names.includes(w));
        break;
      }
      case "--keep":
        opts.keep = true;
        break;
      case "-h":
      case "--help":
        usage();
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  const scaled = (n: number) => Math.max(1, Math.round(n * scale));
  const ops = { ...DEFAULT_OPS };
  for (const w of Object.keys(ops) as (keyof typeof ops)[]) {
    ops[w] = explicitOps[w] ?? scaled(DEFAULT_OPS[w]);
  }
  return { ...opts, keys: keys ?? scaled(DEFAULT_KEYS), ops };
}

// ---------------------------------------------------------------------------------------
// Measurement helpers

/**
 * Random unsigned 64-bit keys, drawn in bulk: getRandomValues is capped at 64 KiB per call,
 * and calling it once per op would put crypto overhead inside the timed loop.
 */
function* randomU64(): Generator<bigint, never> {
  const buf = new BigUint64Array(8192);
  for (;;) {
    crypto.getRandomValues(buf);
    yield* buf;
  }
}

// ---------------------------------------------------------------------------------------
// Workloads

// Contents are irrelevant to the contract; non-zero bytes avoid any chance of a
// storage layer special-casing zero pages.
const VALUE = new Uint8Array(VALUE_SIZE).map((_, i) => (i * 31 + 7) & 0xff);

async function preload(kv: Deno.Kv, keys: number) {
  const t0 = performance.now();
  for (let base = 0; base < keys; base += LOAD_BATCH) {
    const op = kv.atomic();
    const end = Math.min(keys, base + LOAD_BATCH);
    for (let i = base; i < end; i++) op.set(["bench", BigInt(i)], VALUE);
    const res = await op.commit();
    if (!res.ok) throw new Error(`preload batch at ${base} failed`);
  }
  const s = (performance.now() - t0) / 1000;
  console.log(`# loaded ${keys} keys in ${s.toFixed(2)} s (${Math.round(keys / s)} keys/s)`);
}

/**
 * One guarded insert: the check against versionstamp null makes this a real
 * read-check-write transaction rather than a blind set. Random 64-bit keys never collide
 * in practice, so a failed check means the store is broken, not that we were unlucky.
 */
async function guardedInsert(kv: Deno.Kv, id: bigint): Promise<number> {
  const key = ["bench_w", id];
  const t0 = performance.now();
  const res = await kv.atomic().check({ key, versionstamp: null }).set(key, VALUE).commit();
  const dt = performance.now() - t0;
  if (!res.ok) throw new Error(`atomic check failed for ${key}`);
  return dt;
}

/** `writers` async loops in this one isolate share a quota of `total` commits. */
async function atomicWorkload(kv: Deno.Kv, name: Workload, writers: number, total: number) {
  const lat = new Float64Array(total);
  const ids = randomU64();
  let next = 0;
  const writer = async () => {
    // Claiming the slot before awaiting is what keeps the loops from overshooting `total`.
    for (let slot = next++; slot < total; slot = next++) {
      lat[slot] = await guardedInsert(kv, ids.next().value);
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: writers }, writer));
  report(name, total, performance.now() - t0, lat);
}

async function getWorkload(kv: Deno.Kv, keys: number, total: number) {
  const lat = new Float64Array(total);
  const t0 = performance.now();
  for (let n = 0; n < total; n++) {
    const i = randomIndex(keys);
    const s = performance.now();
    const entry = await kv.get(["bench", BigInt(i)]);
    lat[n] = performance.now() - s;
    if (entry.versionstamp === null) throw new Error(`get: key ${i} missing`);
  }
  report("get", total, performance.now() - t0, lat);
}

/**
 * Entries/s over the whole prefix. Latency samples are the gaps between every 100th entry,
 * which with batchSize 100 approximates one round trip to the store per sample (the
 * iterator fetches the next batch when the previous one is used up).
 */
async function listWorkload(kv: Deno.Kv, keys: number) {
  const lat = new Float64Array(Math.ceil(keys / LIST_BATCH));
  let samples = 0;
  let seen = 0;
  const t0 = performance.now();
  let mark = t0;
  for await (const _ of kv.list({ prefix: ["bench"] }, { batchSize: LIST_BATCH })) {
    if (++seen % LIST_BATCH === 0) {
      const now = performance.now();
      lat[samples++] = now - mark;
      mark = now;
    }
  }
  const elapsed = performance.now() - t0;
  if (seen !== keys) throw new Error(`list: saw ${seen} entries, expected ${keys}`);
  report("list", seen, elapsed, lat.subarray(0, samples));
}

/**
 * The Deno KV way to index: every atomic write sets its index entries itself. `indexes` runs
 * `atomic_c64` (guarded insert of an object under a fresh key) with 0, 1 (unique email,
 * `[name, email]` checked absent) and 3 (+ team, + team and score) such entries, as cairn's
 * `indexes` workload maintains the same indexes declared.
 */
async function indexWorkloads(kv: Deno.Kv, total: number) {
  for (const indexes of [0, 1, 3]) {
    const prefix = `bench_i${indexes}`;
    const lat = new Float64Array(total);
    const ids = randomU64();
    let next = 0;
    const writer = async () => {
      for (let slot = next++; slot < total; slot = next++) {
        const id = ids.next().value;
        const key = [prefix, id];
        const email = `user${String(id).padStart(20, "0")}@example.com`;
        const team = `team${id % 1000n}`;
        const score = Number(id % 100_000n);
        const t0 = performance.now();
        const op = kv.atomic().check({ key, versionstamp: null })
          .set(key, { email, team, score, pad: "xxxxxxxxxxxx" });
        if (indexes >= 1) {
          op.check({ key: [`${prefix}_email`, email], versionstamp: null })
            .set([`${prefix}_email`, email], key);
        }
        if (indexes >= 3) {
          op.set([`${prefix}_team`, team, id], key)
            .set([`${prefix}_team_score`, team, score, id], key);
        }
        const res = await op.commit();
        lat[slot] = performance.now() - t0;
        if (!res.ok) throw new Error(`indexed insert of ${key} failed`);
      }
    };
    const t0 = performance.now();
    await Promise.all(Array.from({ length: C64_WRITERS }, writer));
    report(`atomic_c64_idx${indexes}`, total, performance.now() - t0, lat);
  }
}

/** Counting a prefix the Deno KV way: listing it. One sample: the whole count. */
async function countWorkload(kv: Deno.Kv, keys: number) {
  const t0 = performance.now();
  let n = 0;
  for await (const _ of kv.list({ prefix: ["bench"] }, { batchSize: 1000 })) n++;
  const elapsed = performance.now() - t0;
  if (n !== keys) throw new Error(`count: saw ${n} entries, expected ${keys}`);
  report("count", n, elapsed, Float64Array.of(elapsed));
}

/** Summing KvU64 values the Deno KV way: listing them (loaded first, outside the timing). */
async function sumWorkload(kv: Deno.Kv, keys: number) {
  for (let base = 0; base < keys; base += LOAD_BATCH) {
    const op = kv.atomic();
    for (let i = base; i < Math.min(keys, base + LOAD_BATCH); i++) {
      op.set(["bench_n", BigInt(i)], new Deno.KvU64(BigInt(i)));
    }
    if (!(await op.commit()).ok) throw new Error(`sum preload at ${base} failed`);
  }
  const t0 = performance.now();
  let sum = 0n;
  let n = 0;
  for await (const e of kv.list<Deno.KvU64>({ prefix: ["bench_n"] }, { batchSize: 1000 })) {
    sum += e.value.value;
    n++;
  }
  const elapsed = performance.now() - t0;
  if (sum !== BigInt(keys) * BigInt(keys - 1) / 2n) throw new Error(`sum: got ${sum}`);
  report("sum", n, elapsed, Float64Array.of(elapsed));
}

// ---------------------------------------------------------------------------------------

async function dirSize(path: string): Promise<number> {
  let total = 0;
  for await (const e of Deno.readDir(path)) {
    if (e.isFile) total += (await Deno.stat(`${path}/${e.name}`)).size;
  }
  return total;
}

async function main() {
  const opts = parseArgs(Deno.args);
  console.log(`# deno ${Deno.version.deno} (v8 ${Deno.version.v8}) ${Deno.build.target}`);

  // Always a brand-new directory, even under --dir, so no run ever sees a previous one's data.
  const dir = await Deno.makeTempDir({ dir: opts.dir, prefix: "cairn-bench-deno-" });
  const path = `${dir}/kv.sqlite3`;
  console.log(
    `# db ${path}; keys=${opts.keys} ops=${JSON.stringify(opts.ops)} only=${opts.only.join(",")}`,
  );

  const kv = await Deno.openKv(path);
  try {
    await preload(kv, opts.keys);
    for (const w of opts.only) {
      switch (w) {
        case "atomic_c1":
          await atomicWorkload(kv, w, 1, opts.ops.atomic_c1);
          break;
        case "atomic_c64":
          await atomicWorkload(kv, w, C64_WRITERS, opts.ops.atomic_c64);
          break;
        case "get":
          await getWorkload(kv, opts.keys, opts.ops.get);
          break;
        case "list":
          await listWorkload(kv, opts.keys);
          break;
        case "indexes":
          await indexWorkloads(kv, opts.ops.indexes);
          break;
        case "count":
          await countWorkload(kv, opts.keys);
          break;
        case "sum":
          await sumWorkload(kv, opts.keys);
          break;
      }
    }
  } finally {
    kv.close();
    console.log(`# db size on disk ${(await dirSize(dir) / 2 ** 20).toFixed(1)} MiB`);
    if (opts.keep) console.log(`# kept ${dir}`);
    else await Deno.remove(dir, { recursive: true });
  }
}

await main();
