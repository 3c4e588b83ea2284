// Helpers shared by the Node.js end-to-end scripts (tests/e2e/node/*.mjs), which drive a
// running `cairn serve` through the npm package @deno/kv.
//
// Every script is run as
//   [CAIRN_E2E_READ_ONLY_TOKEN=<token>] node tests/e2e/node/<script>.mjs <url> <token>
// `crates/cairn/tests/e2e_clients.rs` does that for each script. A script prints
// `ok <check>` for every passing check and stops at the first failure with
// `FAIL <check>: <reason>` and exit status 1.
//
// @deno/kv is loaded from tools/node_modules (installed by tools/install.sh), or from the
// node_modules of CAIRN_E2E_TOOLS_DIR when that is set. ESM resolution ignores NODE_PATH, so it
// is resolved with createRequire (the package's CommonJS build, same code as its ESM build).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CHECK_TIMEOUT_MS = 60_000;

const toolsDir = process.env.CAIRN_E2E_TOOLS_DIR ??
  path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../tools");
let denoKv;
try {
  denoKv = createRequire(path.join(toolsDir, "package.json"))("@deno/kv");
} catch (e) {
  console.log(
    `FAIL setup: cannot load @deno/kv from ${toolsDir}/node_modules (run tools/install.sh): ${e}`,
  );
  process.exit(1);
}
export const { KvU64 } = denoKv;

const [, , urlArg, tokenArg] = process.argv;
if (!urlArg || !tokenArg) {
  console.error("usage: node <script>.mjs <url> <token>");
  process.exit(2);
}
/** The URL of the default database, e.g. `http://127.0.0.1:4512`. */
export const URL_DEFAULT = urlArg;
/** The read-write access token the script was started with. */
export const TOKEN = tokenArg;

/** The URL of the named database `name` on the same server (`<origin>/db/<name>`). */
export function dbUrl(name) {
  return new URL(`/db/${name}`, URL_DEFAULT).toString();
}

/** A value from the environment, or a clear failure naming the variable. */
export function requireEnv(name) {
  const value = process.env[name];
  if (value === undefined || value === "") {
    console.log(`FAIL setup: the environment variable ${name} is not set`);
    process.exit(1);
  }
  return value;
}

/** Opens a KV Connect database with @deno/kv. */
export async function openKv(url = URL_DEFAULT, token = TOKEN) {
  return await denoKv.openKv(url, { accessToken: token });
}

class CheckFailure extends Error {}

/** Runs one named check: prints `ok <name>`, or `FAIL <name>: ...` and exits with status 1. */
export async function check(name, body) {
  const timer = setTimeout(() => {
    console.log(
      `FAIL ${name}: no answer within ${CHECK_TIMEOUT_MS} ms (the client retries 5xx answers ` +
        `and network errors; see the server log)`,
    );
    process.exit(1);
  }, CHECK_TIMEOUT_MS);
  try {
    await body();
  } catch (e) {
    const reason = e instanceof CheckFailure ? e.message : `unexpected error: ${describeError(e)}`;
    console.log(`FAIL ${name}: ${reason}`);
    process.exit(1);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
}

/** Ends the script: closes the database and exits (idle HTTP sockets must not keep it alive). */
export function finish(...kvs) {
  for (const kv of kvs) kv.close();
  process.exit(0);
}

export function fail(message) {
  throw new CheckFailure(message);
}

export function assert(condition, message) {
  if (!condition) fail(message);
}

export function assertEquals(actual, expected, what) {
  if (!equal(actual, expected)) {
    fail(
      `${what}: expected ${show(expected)}, got ${show(actual)}${
        firstDifference(actual, expected)
      }`,
    );
  }
}

/** For two arrays: where they first differ (long arrays are shown truncated). */
function firstDifference(actual, expected) {
  if (!Array.isArray(actual) || !Array.isArray(expected)) return "";
  const i = expected.findIndex((x, i) => i >= actual.length || !equal(actual[i], x));
  const at = i === -1 ? expected.length : i;
  return `; lengths ${actual.length} and ${expected.length}, first difference at [${at}]: ` +
    `expected ${at < expected.length ? show(expected[at]) : "nothing"}, ` +
    `got ${at < actual.length ? show(actual[at]) : "nothing"}`;
}

/** Expects `body` to throw an error whose message matches `pattern`; returns the error. */
export async function assertRejects(body, pattern, what) {
  let result;
  try {
    result = await body();
  } catch (e) {
    const message = describeError(e);
    if (!pattern.test(message)) {
      fail(`${what}: the error ${JSON.stringify(message)} does not match ${pattern}`);
    }
    return e;
  }
  return fail(
    `${what}: expected an error matching ${pattern}, but it succeeded with ${show(result)}`,
  );
}

export function describeError(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Every entry of a list iterator, in order. */
export async function collect(iter) {
  const out = [];
  for await (const entry of iter) out.push(entry);
  return out;
}

/** Resolves with `promise`, or fails the check after `ms` milliseconds. */
export async function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns true, at most `attempts` times `intervalMs` apart. Used where
 * the server promises "promptly" (expiry): the bound makes a broken server fail, while a slow
 * machine only takes longer; nothing asserts how long it took.
 */
export async function eventually(what, probe, attempts = 200, intervalMs = 50) {
  for (let i = 0; i < attempts; i++) {
    if (await probe()) return;
    await sleep(intervalMs);
  }
  fail(`${what}: still not the case after ${attempts} attempts ${intervalMs} ms apart`);
}

export const VERSIONSTAMP = /^[0-9a-f]{20}$/;

/**
 * Structural equality with the distinctions that matter for KV: numbers by Object.is (so
 * -0 !== 0 and NaN === NaN), bytes by content (any Uint8Array, Buffer included), KvU64 by value.
 */
export function equal(a, b) {
  if (typeof a !== typeof b) return false;
  if (typeof a === "number") return Object.is(a, b);
  if (typeof a !== "object" || a === null || b === null) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length &&
      a.every((byte, i) => byte === b[i]);
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof KvU64) return a.value === b.value;
  if (a instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (a instanceof Map || a instanceof Set) return equal([...a.entries()], [...b.entries()]);
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => equal(a[k], b[k]));
}

/** A readable rendering that keeps bigint, -0, NaN, bytes and KvU64 apart. */
export function show(v) {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v);
  if (typeof v !== "object" || v === null) return String(v);
  if (v instanceof KvU64) return `KvU64(${v.value}n)`;
  if (v instanceof Uint8Array) {
    const head = [...v.slice(0, 16)].join(",");
    return `Uint8Array[${head}${v.length > 16 ? `,... (${v.length} bytes)` : ""}]`;
  }
  if (v instanceof Date) return `Date(${v.toISOString()})`;
  if (v instanceof Map) return `Map(${show([...v.entries()])})`;
  if (v instanceof Set) return `Set(${show([...v.values()])})`;
  if (Array.isArray(v)) {
    const items = v.length > 12
      ? [...v.slice(0, 12).map(show), `... (${v.length} items)`]
      : v.map(show);
    return `[${items.join(", ")}]`;
  }
  return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(", ")}}`;
}
