// The expire_watch scenario (tests/e2e/shared/expire_watch.mjs) through the Deno runtime's KV Connect client.
import { run } from "../shared/expire_watch.mjs";
import { main } from "./_lib.ts";

await main(run);
