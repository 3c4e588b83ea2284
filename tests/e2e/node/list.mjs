// The list scenario (tests/e2e/shared/list.mjs) through @deno/kv on Node.js.
import { run } from "../shared/list.mjs";
import { main } from "./_lib.mjs";

await main(run);
