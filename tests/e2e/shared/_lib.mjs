// Helpers of the end-to-end scenarios (tests/e2e/shared/*.mjs). Plain JavaScript that both the
// Deno runtime and Node.js load; nothing here depends on which one runs it (that is the client
// adapter's job: tests/e2e/deno/_lib.ts, tests/e2e/node/_lib.mjs).
//
// A scenario prints `ok <check>` for every passing check and stops at the first failure with
// `FAIL <check>: <reason>`; runScenario (_client.mjs) then exits with status 1.
//
// A check that gets no answer within CHECK_TIMEOUT_MS fails too: both clients retry a 5xx answer
// or a network error (the Deno runtime forever), so a server bug can look like a hang.

export const CHECK_TIMEOUT_MS = 60_000;

/** A failed assertion inside a check: its message is the reason printed with FAIL. */
class CheckFailure extends Error {}

/**
 * Thrown by check() once it has printed its FAIL line: ends the scenario, and runScenario (or
 * the adapter of a script that is not a scenario) exits with status 1.
 */
export class ScriptFailed extends Error {}

/** Runs one named check: prints `ok <name>`, or `FAIL <name>: ...` and throws ScriptFailed. */
export async function check(name, body) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new CheckFailure(
            `no answer within ${CHECK_TIMEOUT_MS} ms (the client retries 5xx answers and ` +
              `network errors; see the server log)`,
          ),
        ),
      CHECK_TIMEOUT_MS,
    );
  });
  try {
    // After a timeout the body may still be pending; the process exits before it matters.
    await Promise.race([body(), timeout]);
  } catch (e) {
    const reason = e instanceof CheckFailure ? e.message : `unexpected error: ${describeError(e)}`;
    console.log(`FAIL ${name}: ${reason}`);
    throw new ScriptFailed(`check failed: ${name}`);
  } finally {
    clearTimeout(timer);
  }
  console.log(`ok ${name}`);
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

/** The result of a commit that must have passed its checks. */
export function committed(res, what) {
  if (!res.ok) fail(`${what}: the commit failed its checks`);
  return res;
}

export function describeError(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** A value from the environment, or a failure naming the variable. */
export function requireEnv(client, name) {
  const value = client.env(name);
  if (value === undefined || value === "") {
    console.log(`FAIL setup: the environment variable ${name} is not set`);
    throw new ScriptFailed(`${name} is not set`);
  }
  return value;
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
 * -0 !== 0 and NaN === NaN), bytes by content (any Uint8Array, Node's Buffer included), other
 * objects by prototype and own enumerable properties. That covers KvU64 without naming a class:
 * both clients' KvU64 hold the number in an own enumerable bigint `value`.
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
  if (a instanceof Date) return Object.is(a.getTime(), b.getTime());
  if (a instanceof Map || a instanceof Set) return equal([...a.entries()], [...b.entries()]);
  if (Array.isArray(a)) return a.length === b.length && a.every((v, i) => equal(v, b[i]));
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => equal(a[k], b[k]));
}

/** A readable rendering that keeps bigint, -0, NaN, bytes and class instances (KvU64) apart. */
export function show(v) {
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "number") return Object.is(v, -0) ? "-0" : String(v);
  if (typeof v === "string") return JSON.stringify(v.length > 80 ? v.slice(0, 77) + "..." : v);
  if (typeof v !== "object" || v === null) return String(v);
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
  const proto = Object.getPrototypeOf(v);
  // A class instance shows its class, e.g. `KvU64{value: 5n}` (`_KvU64` under @deno/kv).
  const name = proto === Object.prototype || proto === null ? "" : proto.constructor?.name ?? "";
  return `${name}{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(", ")}}`;
}
