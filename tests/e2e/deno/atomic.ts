// The atomic scenario (tests/e2e/shared/atomic.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/atomic.mjs";
import { main } from "./_lib.ts";

await main(run);
