// The access scenario (tests/e2e/shared/access.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/access.mjs";
import { main } from "./_lib.ts";

await main(run);
