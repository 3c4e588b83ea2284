// The expire_watch scenario (tests/e2e/shared/expire_watch.mjs) through @deno/kv on Node.js.
import { run } from "../shared/expire_watch.mjs";
import { main } from "./_lib.mjs";

await main(run);
