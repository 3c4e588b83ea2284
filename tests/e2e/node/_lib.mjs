// The Node.js client adapter for the end-to-end scenarios (tests/e2e/shared/*.mjs): each
// tests/e2e/node/<scenario>.mjs passes its scenario to main(), which runs it through the npm
// package @deno/kv. Every script is run as
//   [CAIRN_E2E_READ_ONLY_TOKEN=<token>] node tests/e2e/node/<script>.mjs <url> <token>
// against a running `cairn serve`; `crates/cairn/tests/e2e_clients.rs` does that for each
// script. tests/e2e/queue/node_enqueue.mjs, which is not a scenario, uses openKv, check, assert
// and finish from here directly.
//
// @deno/kv is loaded from tools/node_modules (installed by tools/install.sh), or from the
// node_modules of CAIRN_E2E_TOOLS_DIR when that is set. ESM resolution ignores NODE_PATH, so it
// is resolved with createRequire (the package's CommonJS build, same code as its ESM build).
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { runScenario } from "../shared/_client.mjs";
import { check as checkOrThrow, ScriptFailed } from "../shared/_lib.mjs";

export { assert } from "../shared/_lib.mjs";

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

const [, , urlArg, tokenArg] = process.argv;
if (!urlArg || !tokenArg) {
  console.error("usage: node <script>.mjs <url> <token>");
  process.exit(2);
}
const URL_DEFAULT = urlArg;
const TOKEN = tokenArg;

/** Opens a KV Connect database with @deno/kv. */
export async function openKv(url = URL_DEFAULT, token = TOKEN) {
  return await denoKv.openKv(url, { accessToken: token });
}

/** check() for scripts that are not scenarios: exits with status 1 at the first failure. */
export async function check(name, body) {
  try {
    await checkOrThrow(name, body);
  } catch (e) {
    if (e instanceof ScriptFailed) process.exit(1);
    throw e;
  }
}

/** Ends a script: closes the databases and exits (idle HTTP sockets must not keep it alive). */
export function finish(...kvs) {
  for (const kv of kvs) kv.close();
  process.exit(0);
}

/** @type {import("../shared/_client.mjs").Client} */
const client = {
  url: URL_DEFAULT,
  token: TOKEN,
  env: (name) => process.env[name],
  openKv,
  KvU64: denoKv.KvU64,
  exit: (code) => process.exit(code),

  // @deno/kv checks none of the KV Connect limits itself: every over-limit request reaches the
  // server, which refuses it with a 400 and a plain-text reason that the client throws as
  // "Unexpected response status: 400 <reason>".
  checksLimits: false,
  // @deno/kv 0.14.0 encodes the number -0 exactly like 0 (its packKeyPart writes -|x| and
  // flips the bytes only when `x < 0`, which is false for -0), so -0 and 0 are one key.
  negativeZeroKey: false,
  // @deno/kv 0.14.0 reads a prefix list from the prefix key on and drops that key only when it
  // is the first entry of a batch: a reverse list yields it last, and with batchSize 1 a forward
  // list reads it again forever. A client bug: the server answers exactly the ranges it is
  // asked for.
  prefixListSkipsPrefixKey: false,
  // @deno/kv's watch stream (without `raw`) holds back an initial state in which every watched
  // key is absent and reports only the changes after it.
  watchReportsAbsentInitialState: false,
  // @deno/kv 0.14.0 has no API for versionstamped keys (M_SET_SUFFIX_VERSIONSTAMPED_KEY): its
  // atomic operation knows only set/delete/sum/min/max, anything else is sent as M_UNSPECIFIED.
  versionstampedKeys: false,
};

/** Runs a scenario (`run` of tests/e2e/shared/<name>.mjs) through @deno/kv, then exits. */
export async function main(run) {
  await runScenario(client, run);
}
