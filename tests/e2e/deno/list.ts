// The list scenario (tests/e2e/shared/list.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/list.mjs";
import { main } from "./_lib.ts";

await main(run);
