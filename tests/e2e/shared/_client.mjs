// What a scenario (tests/e2e/shared/<name>.mjs, `export async function run(client)`) gets from
// the runtime that runs it, and how that runtime runs it. Each scenario is written once; its
// entry points tests/e2e/deno/<name>.ts (the Deno runtime, Deno.openKv) and
// tests/e2e/node/<name>.mjs (Node.js with the npm package @deno/kv) hand it to their client
// adapter (tests/e2e/deno/_lib.ts, tests/e2e/node/_lib.mjs), which builds a Client and calls
// runScenario.
//
// The two clients differ in a few ways that the scenarios must know about. Each such difference
// is a capability flag below, set with its reason in the adapters; a scenario branches on the
// flag by name, so nothing is skipped without saying why.

import { describeError, ScriptFailed } from "./_lib.mjs";

/**
 * @typedef {object} Client
 * @property {string} url The URL of the server's default database, e.g. `http://127.0.0.1:4512`.
 * @property {string} token The read-write access token the script was started with.
 * @property {(name: string) => string | undefined} env A variable of the environment.
 * @property {(url?: string, token?: string) => Promise<any>} openKv Opens a KV Connect
 *   database (by default `url` with `token`).
 * @property {new (value: bigint) => { value: bigint }} KvU64 The client's KvU64 class.
 * @property {(code: number) => never} exit Ends the process now.
 *
 * Capability flags:
 * @property {boolean} checksLimits The client refuses a request over a KV Connect limit (key,
 *   value, mutation, check and getMany counts) itself, before sending anything; otherwise the
 *   server's 400 with a plain-text reason is what the scenario sees.
 * @property {boolean} negativeZeroKey The number -0 is a key part distinct from 0.
 * @property {boolean} prefixListSkipsPrefixKey A prefix list is correct when the prefix key
 *   itself holds an entry (it is not under its own prefix).
 * @property {boolean} watchReportsAbsentInitialState A watch reports its initial state also when
 *   every watched key is absent.
 * @property {boolean} versionstampedKeys The client can write versionstamped keys
 *   (`kv.commitVersionstamp()` as the last part of a set's key).
 */

/**
 * Runs `run(client)`, then ends the process: status 0 when every check passed, 1 at the first
 * failed check (which printed its FAIL line) or any error outside a check. Exiting explicitly
 * also ends what a client may still hold open (Node's idle HTTP sockets keep it alive).
 *
 * @param {Client} client
 * @param {(client: Client) => Promise<void>} run
 */
export async function runScenario(client, run) {
  try {
    await run(client);
  } catch (e) {
    if (!(e instanceof ScriptFailed)) {
      console.log(`FAIL outside any check: unexpected error: ${describeError(e)}`);
    }
    client.exit(1);
  }
  client.exit(0);
}
