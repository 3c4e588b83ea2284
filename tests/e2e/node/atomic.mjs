// The atomic scenario (tests/e2e/shared/atomic.mjs) through @deno/kv on Node.js.
import { run } from "../shared/atomic.mjs";
import { main } from "./_lib.mjs";

await main(run);
