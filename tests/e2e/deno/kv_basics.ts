// The kv_basics scenario (tests/e2e/shared/kv_basics.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/kv_basics.mjs";
import { main } from "./_lib.ts";

await main(run);
