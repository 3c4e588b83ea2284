// The limits scenario (tests/e2e/shared/limits.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/limits.mjs";
import { main } from "./_lib.ts";

await main(run);
