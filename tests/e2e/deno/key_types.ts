// The key_types scenario (tests/e2e/shared/key_types.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/key_types.mjs";
import { main } from "./_lib.ts";

await main(run);
