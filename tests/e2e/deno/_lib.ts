// The Deno runtime's client adapter for the end-to-end scenarios (tests/e2e/shared/*.mjs):
// each tests/e2e/deno/<scenario>.ts passes its scenario to main(), which runs it through
// Deno.openKv. Every script is run as
//   DENO_KV_ACCESS_TOKEN=<read-write token> [CAIRN_E2E_READ_ONLY_TOKEN=<token>] \
//     deno run -A --unstable-kv tests/e2e/deno/<script>.ts <url>
// against a running `cairn serve`; `crates/cairn/tests/e2e_clients.rs` does that for each
// script.
import { type Client, runScenario } from "../shared/_client.mjs";

const args = Deno.args;
if (args.length < 1) {
  console.error(
    "usage: deno run -A --unstable-kv <script>.ts <url>  (token in DENO_KV_ACCESS_TOKEN)",
  );
  Deno.exit(2);
}
const URL_DEFAULT: string = args[0];
const TOKEN: string = Deno.env.get("DENO_KV_ACCESS_TOKEN") ?? "";
if (TOKEN === "") {
  console.error("DENO_KV_ACCESS_TOKEN must hold the server's read-write access token");
  Deno.exit(2);
}

/**
 * Opens a KV Connect database. The Deno runtime reads the access token from
 * DENO_KV_ACCESS_TOKEN when the database is opened, so a different token is passed by
 * setting the variable for the duration of the open.
 */
async function openKv(url: string = URL_DEFAULT, token: string = TOKEN): Promise<Deno.Kv> {
  Deno.env.set("DENO_KV_ACCESS_TOKEN", token);
  try {
    return await Deno.openKv(url);
  } finally {
    Deno.env.set("DENO_KV_ACCESS_TOKEN", TOKEN);
  }
}

const client: Client = {
  url: URL_DEFAULT,
  token: TOKEN,
  env: (name: string) => Deno.env.get(name),
  openKv,
  KvU64: Deno.KvU64,
  exit: (code: number): never => Deno.exit(code),

  // The runtime enforces the KV Connect limits itself (keys, values, mutations, checks, getMany
  // counts) and throws before sending anything, so the scenarios see its messages, not the
  // server's; the Node.js adapter is the one that reaches the server's own refusals.
  checksLimits: true,
  // -0 keys, prefix lists and all-absent watch states work as the protocol says
  // (tests/e2e/node/_lib.mjs has where @deno/kv differs).
  negativeZeroKey: true,
  prefixListSkipsPrefixKey: true,
  watchReportsAbsentInitialState: true,
  // Undocumented: a set whose key ends with the symbol kv.commitVersionstamp() is sent as
  // M_SET_SUFFIX_VERSIONSTAMPED_KEY.
  versionstampedKeys: true,
};

/** Runs a scenario (`run` of tests/e2e/shared/<name>.mjs) through the Deno runtime, then exits. */
export async function main(run: (client: Client) => Promise<void>): Promise<void> {
  await runScenario(client, run);
}
