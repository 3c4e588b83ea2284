// The access scenario (tests/e2e/shared/access.mjs) through @deno/kv on Node.js.
import { run } from "../shared/access.mjs";
import { main } from "./_lib.mjs";

await main(run);
