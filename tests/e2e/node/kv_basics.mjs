// The kv_basics scenario (tests/e2e/shared/kv_basics.mjs) through @deno/kv on Node.js.
import { run } from "../shared/kv_basics.mjs";
import { main } from "./_lib.mjs";

await main(run);
