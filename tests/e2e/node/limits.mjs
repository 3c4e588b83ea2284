// The limits scenario (tests/e2e/shared/limits.mjs) through @deno/kv on Node.js.
import { run } from "../shared/limits.mjs";
import { main } from "./_lib.mjs";

await main(run);
