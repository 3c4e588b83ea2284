// The key_types scenario (tests/e2e/shared/key_types.mjs) through @deno/kv on Node.js.
import { run } from "../shared/key_types.mjs";
import { main } from "./_lib.mjs";

await main(run);
