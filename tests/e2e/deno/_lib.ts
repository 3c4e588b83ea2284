// Helpers shared by the Deno end-to-end scripts (tests/e2e/deno/*.ts).
//
// Every script is run as
//   DENO_KV_ACCESS_TOKEN=<read-write token> [CAIRN_E2E_READ_ONLY_TOKEN=<token>] \
//     deno run -A --unstable-kv tests/e2e/deno/<script>.ts <url>
// against a running `cairn serve`; `crates/cairn/tests/e2e_clients.rs` does that for each
// script. A script prints `ok <check>` for every passing check and stops at the first failure
// with `FAIL <check>: <reason>` and exit status 1.
//
// A check that gets no answer within CHECK_TIMEOUT_MS fails too: the Deno client retries a 5xx
// answer or a network error forever, so a server bug can look like a hang.

export const CHECK_TIMEOUT_MS = 60_000;

const args = Deno.args;
if (args.length < 1) {
  console.error(
    "usage: deno run -A --unstable-kv <script>.ts <url>  (token in DENO_KV_ACCESS_TOKEN)",
  );
  Deno.exit(2);
}
/** The URL of the default database, e.g. `http://127.0.0.1:4512`. */
export const URL_DEFAULT: string = args[0];
/** The read-write access token the script was started with. */
export const TOKEN: string = Deno.env.get("DENO_KV_ACCESS_TOKEN") ?? "";
if (TOKEN === "") {
  console.error("DENO_KV_ACCESS_TOKEN must hold the server's read-write access token");
  Deno.exit(2);
}

/** The URL of the named database `name` on the same server (`<origin>/db/<name>`). */
export function dbUrl(name: string): string {
  return new URL(`/db/${name}`, URL_DEFAULT).toString();
}

/** A token from the environment, or a clear failure naming the variable. */
export function requireEnv(name: string): string {
  const value = Deno.env.get(name);
  if (value === undefined || value === "") {
    console.log(`FAIL setup: the environment variable ${name} is not set`);
    Deno.exit(1);
  }
  return value;
}

/**
 * Opens a KV Connect database. The Deno runtime reads the access token from
 * DENO_KV_ACCESS_TOKEN when the database is opened, so a different token is passed by
 * setting the variable for the duration of the open.
 */
export async function openKv(url: string = URL_DEFAULT, token: string = TOKEN): Promise<Deno.Kv> {
  Deno.env.set("DENO_KV_ACCESS_TOKEN", token);
  try {
    return await Deno.openKv(url);
  } finally {
    Deno.env.set("DENO_KV_ACCESS_TOKEN", TOKEN);
  }
}

class CheckFailure extends Error {}

/** Runs one named check: prints `ok <name>`, or `FAIL <name>: ...` and exits with status 1. */
export async function check(name: string, body: () => Promise<void>): Promise<void> {
  const timer = setTimeout(() => {
    console.log(
      `FAIL ${name}: no answer within ${CHECK_TIMEOUT_MS} ms (the client retries 5xx answers ` +
        `and network errors forever; see the server log)`,
    );
    Deno.exit(1);
  }, CHECK_TIMEOUT_MS);
  try {
    await body();
  } catch (e) {
    const reason = e instanceof CheckFailure ? e.message : `unexpected error: ${describeError(e)}`;
    console.log(`FAIL ${name}: ${reason}`);
    Deno.exit(1);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
}

export function fail(message: string): never {
  throw new CheckFailure(message);
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) fail(message);
}

export function assertEquals(actual: unknown, expected: unknown, what: string): void {
  if (!equal(actual, expected)) {
    fail(
      `${what}: expected ${show(expected)}, got ${show(actual)}${
        firstDifference(actual, expected)
      }`,
    );
  }
}

/** For two arrays: where they first differ (long arrays are shown truncated). */
function firstDifference(actual: unknown, expected: unknown): string {
  if (!Array.isArray(actual) || !Array.isArray(expected)) return "";
  const i = expected.findIndex((x, i) => i >= actual.length || !equal(actual[i], x));
  const at = i === -1 ? expected.length : i;
  return `; lengths ${actual.length} and ${expected.length}, first difference at [${at}]: ` +
    `expected ${at < expected.length ? show(expected[at]) : "nothing"}, ` +
    `got ${at < actual.length ? show(actual[at]) : "nothing"}`;
}

/** Expects `body` to throw an error whose message matches `pattern`; returns the error. */
export async function assertRejects(
  body: () => Promise<unknown>,
  pattern: RegExp,
  what: string,
): Promise<Error> {
  let result: unknown;
  try {
    result = await body();
  } catch (e) {
    const message = describeError(e);
    if (!pattern.test(message)) {
      fail(`${what}: the error ${JSON.stringify(message)} does not match ${pattern}`);
    }
    return e as Error;
  }
  return fail(
    `${what}: expected an error matching ${pattern}, but it succeeded with ${show(result)}`,
  );
}

/** The result of a commit that must have passed its checks. */
export function committed(
  res: Deno.KvCommitResult | Deno.KvCommitError,
  what: string,
): Deno.KvCommitResult {
  if (!res.ok) fail(`${what}: the commit failed its checks`);
  return res;
}

export function describeError(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Every entry of a list iterator, in order. */
export async function collect<T>(iter: Deno.KvListIterator<T>): Promise<Deno.KvEntry<T>[]> {
  const out: Deno.KvEntry<T>[] = [];
  for await (const entry of iter) out.push(entry);
  return out;
}

/** Resolves with `promise`, or fails the check after `ms` milliseconds. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckFailure(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Polls `probe` until it returns true, at most `attempts` times `intervalMs` apart. Used where
 * the server promises "promptly" (expiry): the bound makes a broken server fail, while a slow
 * machine only takes longer; nothing asserts how long it took.
 */
export async function eventually(
  what: string,
  probe: () => Promise<boolean>,
  attempts = 200,
  intervalMs = 50,
): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await probe()) return;
    await sleep(intervalMs);
  }
  fail(`${what}: still not the case after ${attempts} attempts ${intervalMs} ms apart`);
}

export const VERSIONSTAMP = /^[0-9a-f]{20}$/;

/**
 * Structural equality with the distinctions that matter for KV: numbers by Object.is (so
 * -0 !== 0 and NaN === NaN), bytes by content (any Uint8Array), Deno.KvU64 by value.
 */
export function equal(a: unknown, b: unknown): boolean {
  if (typeof a !== typeof b) return false;
  if (typeof a === "number") return Object.is(a, b);
  if (typeof a !== "object" || a === null || b === null) return a === b;
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && a.length === b.length &&
      a.every((byte, i) => byte === b[i]);
  }
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  if (Object.getPrototypeOf(x) !== Object.getPrototypeOf(y)) return false;
  if (x instanceof Deno.KvU64) return x.value === (y as unknown as Deno.KvU64).value;
  if (x instanceof Date) return Object.is(x.getTime(), (y as unknown as Date).getTime());
  if (x instanceof Map || x instanceof Set) {
    return equal([...x.entries()], [...(y as unknown as Map<unknown, unknown>).entries()]);
  }
  if (Array.isArray(x)) {
    const ya = y as unknown as unknown[];
    return x.length === ya.length && x.every((v, i) => equal(v, ya[i]));
  }
  const keys = Object.keys(x);
  return keys.length === Object.keys(y).length && keys.every((k) => equal(x[k], y[k]));
}

/** A readable rendering that keeps bigint, -0, NaN, bytes and KvU64 apart. */
export function show(v: unknown): string {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v);
  if (typeof v !== "object" || v === null) return String(v);
  if (v instanceof Deno.KvU64) return `KvU64(${v.value}n)`;
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
